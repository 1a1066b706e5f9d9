"""One attempt to execute a notebook or a Python function inside a tracked run: the unit that the worker's
engines and the sweeps' engines (local processes, Dask) run, wherever they run.

``Task`` is plain data and pickles (Dask sends it with cloudpickle); ``run_task(task)`` executes it in
the current process and returns a ``TaskResult``. It never raises for a failure of the work itself: a
notebook cell or a function that raises ends the run FAILED and comes back as ``Result.FAILED`` with the
reason. See ``assay.runner.execute`` for the implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assay.runner.entities import Result


@dataclass(frozen=True)
class Task:
    """What to execute, and the run it logs into (created with ``run_id``, in ``experiment`` of
    ``project``, as a child of ``parent_run_id`` when set, tagged with ``tags``)."""

    #: ``assay.runner.entities.NOTEBOOK`` or ``PYTHON``
    kind: str
    #: a notebook's location, or ``pkg.module:function``
    target: str
    params: Mapping[str, Any]
    #: where the run is tracked: an embedded store's path or URL, or a server URL
    tracking_uri: str
    run_id: str
    project: str = "default"
    experiment: str | None = None
    name: str | None = None
    #: the notebook's bytes (a job's copy); None: read ``target``
    source: bytes | None = None
    cwd: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    parent_run_id: str | None = None
    timeout_s: float | None = None
    #: the job and attempt this task is (its output is shipped to the job's log); None for a sweep trial
    job_id: str | None = None
    attempt: int = 1
    #: for ``PYTHON``: a callable to call instead of importing ``target`` (pickled by value by Dask)
    function: Callable[..., Any] | None = None
    #: the engine may run this task more than once (Dask, after losing a worker): each execution first
    #: looks at the last run of its chain of re-runs in the store (``assay.runner.rerun``); set by the engine
    may_rerun: bool = False


@dataclass(frozen=True)
class TaskResult:
    """How a task ended: its run, the result, why it failed, and the run's latest metric values (a sweep
    reads its objective there)."""

    run_id: str
    result: Result
    error: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
