"""``assay.run_notebook`` and the process's shared pool of warm kernels."""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from typing import Any

from assay.entities import Run, RunStatus
from assay.notebooks import kernels
from assay.notebooks.execute import NotebookFailed, Options, execute, prepare
from assay.notebooks.warm import KernelPool
from assay.sdk import fluent

_shared: list[KernelPool] = []


def shared_pool() -> KernelPool:
    """The process's pool of warm kernels (``warm=True``), started on first use and closed at exit."""
    if not _shared:
        pool = KernelPool()
        atexit.register(pool.close)
        _shared.append(pool)
    return _shared[0]


def run_notebook(
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    experiment: str | None = None,
    name: str | None = None,
    timeout: float | None = None,
    cell_timeout: float | None = None,
    kernel: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    tags: Mapping[str, Any] | None = None,
    warm: bool = False,
    pool: KernelPool | None = None,
    output: str | os.PathLike[str] | None = None,
    progress: bool = False,
    check: bool = True,
) -> Run:
    """Execute a notebook with papermill inside a new tracked run, and return the ended run.

    ``notebook``: a path or any fsspec URL (``s3://...``); it is never modified. ``parameters`` are checked
    against the schema of its ``parameters`` cell before any kernel starts (InvalidInput naming the
    problem and showing the schema), logged as the run's params (with the defaults), and injected as
    papermill does. ``assay.log_*`` calls inside the notebook log into the run. ``experiment``: by name
    (default: the one ``assay.set_experiment`` chose, else ``$ASSAY_EXPERIMENT``, else "Default");
    ``name``: the run's (default: the notebook's stem).

    ``timeout`` bounds the whole execution and ``cell_timeout`` each cell, in seconds: a cell that passes
    one is interrupted and the run ends KILLED. ``kernel``: a Jupyter kernel name (default: the notebook's).
    ``cwd``: the kernel's working directory (default: this process's, as papermill). ``warm``: take the
    kernel from this process's pool of warm kernels (or from ``pool``), see ``assay.notebooks.warm``.
    ``output``: also write the executed notebook there. The run keeps ``notebook/output.ipynb`` (the UI
    renders it when viewed; ``assay notebook html`` writes it as HTML), ``notebook/cells.json``,
    ``notebook/parameters.json`` and the metric ``notebook/cell_seconds``.

    With ``check`` (the default) a run that ends FAILED or KILLED raises ``NotebookFailed`` (an
    ``AssayError``; its ``run`` is the ended run); else the run is returned whatever its status.
    """
    launch = prepare(notebook, parameters)
    source: kernels.KernelSource = pool or (shared_pool() if warm else kernels.ColdKernels())
    options = Options(
        experiment=experiment,
        name=name,
        timeout=timeout,
        cell_timeout=cell_timeout,
        kernel=kernel,
        cwd=None if cwd is None else os.fspath(cwd),
        tags=tags,
        progress=progress,
        tracking_uri=fluent.get_tracking_uri(),
        output=None if output is None else os.fspath(output),
        experiment_id=None if experiment is not None else fluent.chosen_experiment_id(),
    )
    try:
        run, outcome = execute(launch, options, source)
    finally:
        if isinstance(source, kernels.ColdKernels):
            source.close()
    if check and run.info.status is not RunStatus.FINISHED:
        raise NotebookFailed(outcome.message or f"the notebook run ended {run.info.status.value}", run)
    return run


__all__ = ["KernelPool", "NotebookFailed", "run_notebook", "shared_pool"]
