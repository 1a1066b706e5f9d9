"""Turning what a user gives (a notebook or ``pkg.module:function``, parameters, policy) into a checked
``JobSpec``, before anything is queued: every mistake a worker would only find later is refused here, in
one line (``InvalidInput``, ``NotFound``).

- a notebook must exist and be one; its parameters are checked against its ``parameters`` cell's schema
  (``assay.notebooks.launch.prepare``), and the job keeps a copy of its bytes, so what runs is what was
  submitted, wherever the worker is;
- an entry point must import (with the working directory first on ``sys.path``, as a worker running in
  that directory will have it) and be callable with the parameters as keyword arguments;
- priority, time limit, retries and backoff must be in range.

``assay submit`` and ``assay schedule add`` build their job with ``from_command_line`` (the same options
read the same way), the UI's launch form with ``job_spec`` and the notebook's stored content: one set of
checks, one set of messages, wherever a job comes from.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.runner.entities import NOTEBOOK, PYTHON, JobSpec
from assay.services.jobs import MAX_ATTEMPTS, MAX_PRIORITY, check_spec

ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)?", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def kind_of(target: str) -> str:
    """``NOTEBOOK`` for a ``.ipynb`` path or URL, ``PYTHON`` for ``pkg.module:function``."""
    if target.endswith(".ipynb") or ("://" in target) or Path(target).is_file():
        return NOTEBOOK
    if ENTRY_POINT.match(target):
        return PYTHON
    raise InvalidInput(
        f"{target!r} is neither a notebook (a .ipynb path or URL) nor an entry point 'pkg.module:function'"
    )


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds from ``90``, ``1.5``, ``10s``, ``5m``, ``1h``, ``1h30m``, ``250ms``, ``2d``."""
    raw = text.strip().replace(" ", "")
    total, pos = 0.0, 0
    for match in _DURATION.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
        pos = match.end()
    if not raw or pos != len(raw):
        raise InvalidInput(f"{what} {text!r} is not a duration: give seconds, or e.g. 10s, 5m, 1h, 1h30m")
    return total


def parse_parameters(items: Iterable[str]) -> dict[str, str]:
    """``-p NAME=VALUE`` items as a mapping; a name given twice is refused (a job takes one value)."""
    out: dict[str, str] = {}
    for key, value in parse_pairs(items):
        if key in out:
            raise InvalidInput(
                f"parameter {key!r} is given twice: a job takes one value (sweeps: assay sweep)"
            )
        out[key] = value
    return out


def parse_pairs(items: Iterable[str], what: str = "-p") -> list[tuple[str, str]]:
    """``NAME=VALUE`` items as pairs (InvalidInput naming the bad one)."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{what} takes NAME=VALUE, got {item!r}")
        out.append((key.strip(), value))
    return out


def python_value(text: str) -> Any:
    """A command-line value for a function: JSON when it reads as JSON (``3``, ``0.1``, ``true``,
    ``[1, 2]``, ``"x"``), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def from_command_line(
    target: str,
    parameters: Iterable[str] = (),
    *,
    tags: Iterable[str] = (),
    timeout: str | None = None,
    backoff: str = "10s",
    project: str | None = None,
    experiment: str | None = None,
    name: str | None = None,
    priority: int = 0,
    retries: int = 0,
) -> JobSpec:
    """The checked spec of a job as a command line gives it: ``-p NAME=VALUE`` items (typed as the
    notebook's schema says, or as JSON for a function), ``--tag KEY=VALUE`` items, and durations as text
    (``90s``, ``1h``). What ``assay submit`` queues and what ``assay schedule add`` fires."""
    values = parse_parameters(parameters)
    return job_spec(
        target,
        values,
        texts=values,
        project=project,
        experiment=experiment,
        name=name,
        priority=priority,
        timeout_s=None if timeout is None else parse_duration(timeout, "--timeout"),
        retries=retries,
        backoff_s=parse_duration(backoff, "--backoff"),
        tags=dict(parse_pairs(tags, "--tag")),
    )


def job_spec(
    target: str,
    params: Mapping[str, Any] | None = None,
    *,
    texts: Iterable[str] = (),
    project: str | None = None,
    experiment: str | None = None,
    name: str | None = None,
    priority: int = 0,
    timeout_s: float | None = None,
    retries: int = 0,
    backoff_s: float = 10.0,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    cwd: str | None = None,
    notebook: bytes | None = None,
) -> JobSpec:
    """The checked spec of a job running ``target`` with ``params`` (names in ``texts`` were typed on a
    command line: a notebook reads them as its schema says, a function as JSON or text). ``retries``:
    attempts after the first; ``cwd``: the directory the job runs in (default: this one).

    ``notebook``: the notebook's JSON when it is not read from ``target`` (the UI launches the copy its
    latest execution stored; ``target`` then names it as is). Its job runs, unless ``cwd`` says otherwise,
    in the notebook's directory when that is a local path (where Jupyter starts its kernels), else in the
    worker's own."""
    _check_policy(priority, timeout_s, retries, backoff_s)
    values = dict(params or {})
    kind = NOTEBOOK if notebook is not None else kind_of(target)
    here = None if cwd is None and notebook is not None else str(Path(cwd or os.getcwd()).resolve())
    source = None
    if kind == NOTEBOOK:
        if here is None and "://" not in target:
            here = str(Path(target).expanduser().resolve().parent)
        target, values, source = _notebook(target, values, texts, notebook)
    else:
        typed = set(texts)
        values = {k: python_value(v) if k in typed and isinstance(v, str) else v for k, v in values.items()}
        _check_entry_point(target, values, here or os.getcwd())
    spec = JobSpec(
        kind=kind,
        target=target,
        params=values,
        project=project or os.environ.get("ASSAY_PROJECT") or "default",
        experiment=experiment,
        name=name,
        source=source,
        cwd=here,
        priority=priority,
        timeout_s=timeout_s,
        max_attempts=retries + 1,
        backoff_s=backoff_s,
        tags=dict(tags or {}),
        parent_run_id=parent_run_id,
    )
    return check_spec(spec)  # the rules every submission meets, wherever it comes from


def _check_policy(priority: int, timeout_s: float | None, retries: int, backoff_s: float) -> None:
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise InvalidInput(f"priority must be from -{MAX_PRIORITY} to {MAX_PRIORITY}, not {priority}")
    if timeout_s is not None and not timeout_s > 0:
        raise InvalidInput(f"timeout must be more than 0 s, not {timeout_s:g}")
    if not 0 <= retries < MAX_ATTEMPTS:
        raise InvalidInput(f"retries must be from 0 to {MAX_ATTEMPTS - 1}, not {retries}")
    if not backoff_s >= 0:
        raise InvalidInput(f"backoff must be 0 s or more, not {backoff_s:g}")


def _notebook(
    target: str, values: dict[str, Any], texts: Iterable[str], content: bytes | None
) -> tuple[str, dict[str, Any], bytes]:
    import nbformat

    from assay.notebooks import sources
    from assay.notebooks.launch import prepare
    from assay.notebooks.schema import schema_of

    if content is None:
        launch = prepare(target, values, texts)
        nb, target, values = launch.nb, launch.location, launch.values
    else:
        nb = sources.parse(content.decode("utf-8", errors="replace"), target)
        values = schema_of(nb, target).bind(values, texts)
    return target, values, nbformat.writes(nb).encode()  # type: ignore[no-untyped-call]


def _check_entry_point(target: str, values: Mapping[str, Any], cwd: str) -> None:
    from assay.runner.execute import resolve

    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        fn = resolve(target)
    finally:
        if added:
            sys.path.remove(cwd)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin without a signature: the call will tell
    try:
        signature.bind(**values)
    except TypeError as exc:
        raise InvalidInput(f"entry point {target!r} cannot be called with these parameters: {exc}") from None
    _check_annotations(target, signature, values)
    try:
        json.dumps(dict(values))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the parameters of {target!r} must be JSON values: {exc}") from None


#: Annotations a value is checked against at submit time, and what each accepts.
_SIMPLE_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
}


def _check_annotations(target: str, signature: inspect.Signature, values: Mapping[str, Any]) -> None:
    """Refuse a value the function's annotation (``int``, ``float``, ``bool``, ``str``, also as written in a
    module with ``from __future__ import annotations``) says it cannot take, before the job is queued."""
    for name, value in values.items():
        param = signature.parameters.get(name)
        if param is None or param.annotation is inspect.Parameter.empty:
            continue
        annotation = param.annotation
        label = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        accepted = _SIMPLE_TYPES.get(str(label))
        if accepted is None:
            continue
        # bool is an int to Python, but not to someone who annotated int or float
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
            raise InvalidInput(
                f"parameter {name!r} of {target!r} is annotated {label}, but -p {name} {value!r} is "
                f"{type(value).__name__}: give a value of type {label}"
            )
