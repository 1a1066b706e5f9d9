"""``assay.sweep``: run a notebook or a function over a search space, each trial a child run of one parent.

Everything that can be refused is refused before the parent run is created or a worker started: the
space, the method and its options, the engine's name, a notebook's parameters against its schema, and a
``pkg.module:function`` that does not import.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.runner.engines import Engine, Runner, check_engine, open_engine
from assay.runner.entities import NOTEBOOK, PYTHON
from assay.runner.space import Choice, Dimension, Space, space_of
from assay.runner.sweeps import config as c
from assay.runner.sweeps.driver import Driver, Listener, SweepState
from assay.runner.sweeps.outcome import TrialOutcome, ranked


@dataclass(frozen=True)
class SweepResult:
    """A sweep that ran to its end: its parent run, its trials best first, and the best one."""

    parent_run_id: str
    config: c.SweepConfig
    trials: Sequence[TrialOutcome]
    best: TrialOutcome | None
    #: how many trials were already finished when this call started (a resume)
    resumed: int = 0


@dataclass(frozen=True)
class Target:
    """What each trial runs: a notebook (its bytes travel with the task) or a Python function."""

    kind: str
    target: str
    function: Callable[..., Any] | None = None
    source: bytes | None = None


def resolve_target(target: str | os.PathLike[str] | Callable[..., Any]) -> Target:
    """A callable, a notebook path, or ``pkg.module:function`` (imported here: InvalidInput if it does not)."""
    if callable(target):
        module = getattr(target, "__module__", None) or "__main__"
        name = getattr(target, "__qualname__", None) or repr(target)
        return Target(PYTHON, f"{module}:{name}", function=target)
    text = os.fspath(target)
    if text.endswith(".ipynb") or Path(text).is_file():
        path = Path(text)
        if not path.is_file():
            raise InvalidInput(f"notebook {text} does not exist")
        return Target(NOTEBOOK, str(path.resolve()), source=path.read_bytes())
    module, sep, attr = text.partition(":")
    if not sep or not module or not attr:
        raise InvalidInput(f"{text!r} is neither a notebook (.ipynb) nor an entry point pkg.module:function")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as python -m does: a module beside the user is found
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except ImportError as exc:
        raise InvalidInput(f"entry point {text}: module {module!r} does not import ({exc})") from None
    except AttributeError:
        raise InvalidInput(f"entry point {text}: {module} has no {attr!r}") from None
    if not callable(obj):
        raise InvalidInput(f"entry point {text} is not a function")
    return Target(PYTHON, text)


def conform(space: Space, target: Target, texts: Sequence[str] = ()) -> Space:
    """For a notebook, the space with its values converted to its parameters' types (``fixed`` names in
    ``texts`` were typed on a command line), checked at every bound and choice against its schema."""
    if target.kind != NOTEBOOK:
        return space
    from assay.notebooks.launch import prepare

    schema = prepare(target.target).schema
    fixed = schema.bind(space.fixed, texts) if space.fixed else {}
    dims: dict[str, Dimension] = {}
    for name, dim in space.dimensions.items():
        if isinstance(dim, Choice):
            dims[name] = Choice(tuple(_convert(schema, name, v) for v in dim.options))
        else:
            dims[name] = dim
    conformed = Space(dims, fixed)
    for point in conformed.corners():
        schema.bind(point)
    return conformed


def _convert(schema: Any, name: str, value: Any) -> Any:
    try:
        return schema.convert(name, value)
    except InvalidInput as exc:
        if isinstance(value, str) or value is None:
            raise
        try:
            return schema.convert(name, str(value), text=True)
        except InvalidInput:
            raise exc from None


def default_method(space: Space, trials: int | None) -> str:
    """Grid when every dimension is a finite list and no trial count is given; else random."""
    finite = all(d.values() is not None for d in space.dimensions.values())
    return c.GRID if finite and trials is None else c.RANDOM


def sweep(
    target: str | os.PathLike[str] | Callable[..., Any],
    space: Mapping[str, Any] | Space | None = None,
    *,
    method: str | None = None,
    trials: int | None = None,
    metric: str | None = None,
    direction: str = c.MINIMIZE,
    params: Mapping[str, Any] | None = None,
    parallel: int = 1,
    engine: str | Engine = "local",
    scheduler: str | None = None,
    experiment: str | None = None,
    project: str | None = None,
    name: str | None = None,
    sampler: str = "tpe",
    pruner: str = "median",
    seed: int = 0,
    timeout: float | None = None,
    resume: str | None = None,
    tracking_uri: str | None = None,
    runner: Runner | None = None,
    listener: Listener | None = None,
    texts: Sequence[str] = (),
) -> SweepResult:
    """Run ``target`` (a function, a notebook path, or ``"pkg.module:function"``) once per point of
    ``space``, each trial a child run of a new parent run, and return the trials best first.

    ``space``: ``{"lr": assay.loguniform(1e-4, 1e-1), "depth": [3, 5], "epochs": 10}`` (a list is a
    choice, a fixed value is passed to every trial, see ``assay.runner.space``); ``params`` are more fixed
    values. ``method``: ``"grid"`` (every combination), ``"random"`` (``trials`` points, seeded by
    ``seed``) or ``"optuna"`` (``trials`` asked from an Optuna study with ``sampler``, default TPE, and
    ``pruner``); default: grid if every dimension is a list and ``trials`` is None, else random.
    ``metric``/``direction``: the objective, read from each trial's run (a function's returned number is
    logged as its metric, see ``assay.runner.execute``). ``parallel`` trials run at once on ``engine``
    (``"local"`` processes, ``"dask"``: a LocalCluster, or the cluster at ``scheduler``; or an ``Engine``).
    ``resume``: the parent run id of an interrupted sweep: its config is read back from the store and
    only the trials not finished are run (``target`` must be the same; ``space`` and method are ignored).
    Functions are called with the params as keyword arguments; they may call ``assay.should_prune()``
    between steps of a metric they log with steps (Optuna sweeps prune then).
    """
    if resume is not None:
        return resume_sweep(
            resume,
            function=target if callable(target) else None,
            parallel=parallel,
            engine=engine,
            scheduler=scheduler,
            tracking_uri=tracking_uri,
            runner=runner,
            listener=listener,
        )
    resolved = resolve_target(target)
    if isinstance(engine, str):
        check_engine(engine, parallel)
    if space is None:
        raise InvalidInput("a sweep needs a space: {'name': [values] or assay.loguniform(a, b), ...}")
    sp = space if isinstance(space, Space) else space_of(space, params)
    if isinstance(space, Space) and params:
        sp = space_of(dict(space.dimensions), {**space.fixed, **params})
    sp = conform(sp, resolved, texts)
    chosen = method or default_method(sp, trials)
    if chosen == c.GRID:
        count = len(sp.grid())
        if trials is not None and trials != count:
            raise InvalidInput(f"the grid has {count} points: leave --trials out, or use --random")
    elif trials is None:
        raise InvalidInput(
            f"{'an Optuna' if chosen == c.OPTUNA else 'a random'} sweep needs a number of trials (--trials N)"
        )
    else:
        count = trials
    cfg = c.SweepConfig(
        kind=resolved.kind,
        target=resolved.target,
        method=chosen,
        space=sp,
        trials=count,
        metric=metric,
        direction=direction,
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        project=project or "default",
        experiment=experiment,
        name=name,
        cwd=os.getcwd(),
        timeout_s=timeout,
    )
    if cfg.method == c.OPTUNA:
        cfg.space.to_optuna()  # Optuna is there (MissingDependency naming the extra otherwise)
    from assay.sdk.client import Client

    client = Client(tracking_uri)
    with engine if isinstance(engine, Engine) else open_engine(engine, parallel, scheduler, runner) as eng:
        driver = Driver(client, eng, resolved.function, resolved.source, listener)
        state = driver.run(driver.start(cfg))
    return _result(state)


def resume_sweep(
    parent_run_id: str,
    *,
    function: Callable[..., Any] | None = None,
    parallel: int = 1,
    engine: str | Engine = "local",
    scheduler: str | None = None,
    tracking_uri: str | None = None,
    runner: Runner | None = None,
    listener: Listener | None = None,
) -> SweepResult:
    """Run what is left of the sweep whose parent run is ``parent_run_id`` (see ``sweep``): its config
    is read from the store. A sweep of a function defined in ``__main__`` or a notebook needs ``function``
    again; a notebook is read again from its path."""
    if isinstance(engine, str):
        check_engine(engine, parallel)
    from assay.sdk.client import Client

    client = Client(tracking_uri)
    stored = Driver.stored_config(client, parent_run_id)
    if function is not None:
        resolved = resolve_target(function)
        if resolved.target != stored.target:
            raise InvalidInput(f"sweep {parent_run_id} runs {stored.target}, not {resolved.target}")
    elif stored.target.split(":", 1)[0] == "__main__":
        raise InvalidInput(
            f"sweep {parent_run_id} runs {stored.target}, a function of the program that started it: "
            "resume it from Python, assay.sweep(function, resume=...)"
        )
    else:
        resolved = resolve_target(stored.target)
    with engine if isinstance(engine, Engine) else open_engine(engine, parallel, scheduler, runner) as eng:
        driver = Driver(client, eng, resolved.function, resolved.source, listener)
        state = driver.run(driver.resume(parent_run_id))
    return _result(state)


def _result(state: SweepState) -> SweepResult:
    return SweepResult(
        state.parent_run_id,
        state.config,
        ranked(state.trials, state.config.direction),
        state.best,
        state.resumed,
    )
