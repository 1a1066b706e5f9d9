"""``run_task``: one attempt at a notebook or a Python function inside its tracked run, in this process.

Every engine calls it where the work runs (a local worker's child process, a Dask worker). The run is
created here with the id the task carries (``Task.run_id``, decided when a job is claimed), tagged with the
task's tags, and ended here with the status the work earned:

- ``NOTEBOOK``: the notebook runtime (``assay.notebooks.execute``) runs the job's copy of the notebook
  (``Task.source``, else ``Task.target`` read now) with its parameters, as ``assay run`` would; what
  its cells print (stdout and stderr, as they print it) and the kernel's own output join the attempt's.
  A run-wide time limit (``timeout_s``) that passes ends the run KILLED and the task TIMED_OUT.
- ``PYTHON``: ``pkg.module:function`` is imported (the task's ``cwd`` first on ``sys.path``) and called
  with the params as keyword arguments, the params being the run's. The run is the process's active run
  meanwhile (``assay.sdk.fluent.activate``): ``assay.log_metric`` inside the function logs into it, and
  ``assay.start_run(nested=True)`` starts a child of it. What the function returns is logged as metrics:
  a number as the metric ``result``, a mapping's numeric values under their keys (other values are
  ignored). An exception ends the run FAILED, with the traceback as the artifact ``error/traceback.txt``
  and the ``assay.error`` tag; a ``KeyboardInterrupt`` ends it KILLED.

The attempt's stdout and stderr (``assay.runner.output``) are shipped to the job's log as they come when
the task is a job's, and stored in every case as the run's artifact ``logs/output.log`` (unless there were
none: an attempt that printed nothing has no such file, which saves a no-op job a third of its cost).

An engine that may run a task more than once (Dask, after losing a worker) marks it ``may_rerun``: each
execution first follows the task's chain of runs (a lost execution's run names the run that replaced it)
to its last run: an ended one's result is returned as the store holds it; an unended one (running, or
reaped for a silent heartbeat) is ended KILLED and the task runs in a fresh run (``assay.runner.rerun``
says why).

An engine that has to kill the process running a task (a cancel, a timeout, a lost lease) or finds it
dead calls ``abandon``: it ends the task's current run (the last of its chain) and stores the output the
process left, as ``run_task`` would have.
"""

from __future__ import annotations

import contextlib
import importlib
import numbers
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.entities import RunStatus
from assay.errors import AssayError, Conflict, InvalidInput, NotFound
from assay.runner import output
from assay.runner.entities import NOTEBOOK, PYTHON, RERUN_OF_TAG, Result, default_run_name
from assay.runner.task import Task, TaskResult

if TYPE_CHECKING:
    from assay.sdk.client import Client

#: The artifact an attempt's stdout and stderr are stored as.
LOG_ARTIFACT = "logs/output.log"
#: The metric a function's bare number is logged as.
RESULT_METRIC = "result"

#: Called with the process group of each notebook kernel a task starts (the local engine kills it with
#: the task's process, since a kernel runs in a session of its own).
kernel_started: Callable[[int], None] | None = None

_experiments: dict[tuple[str, str, str], str] = {}
_clients: dict[str, Client] = {}
_lock = threading.Lock()


def run_task(task: Task) -> TaskResult:
    """Execute ``task`` in its run (see the module docstring); never raises for a failure of the work."""
    lost: str | None = None  # the run of a lost execution this one replaces
    if task.may_rerun:  # an engine that runs a task again after losing it (``assay.runner.rerun``)
        decided = _decide_rerun(task)
        if isinstance(decided, TaskResult):
            return decided
        if decided.run_id != task.run_id:  # the run of the chain it replaces is tagged on it
            lost, task = decided.tags[RERUN_OF_TAG], decided
    path = output.path_of(task.run_id)
    sink = _log_sink(task, _shipped(task) if lost and task.job_id else 0)
    try:
        with output.Capture(path, sink) as capture, _directory(task.cwd):
            if lost:
                print(f"assay: the task ran again in run {task.run_id}: the execution in run {lost} was lost")
            try:
                client = _client(task.tracking_uri)
                if task.kind == NOTEBOOK:
                    from assay.runner.notebook import run_notebook

                    result, error, touched = run_notebook(task, client, path, _experiment_id, kernel_started)
                elif task.kind == PYTHON:
                    result, error, touched = _python(task, client)
                else:
                    raise InvalidInput(f"unknown task kind {task.kind!r}: use {NOTEBOOK!r} or {PYTHON!r}")
            except Exception as exc:  # an error of assay's, not of the work
                traceback.print_exc()
                _fail(task, _one_line(exc))
                return TaskResult(task.run_id, Result.FAILED, _one_line(exc))
        try:
            data = capture.data()
            if data:  # an attempt that printed nothing stores no empty file (a no-op job costs less)
                client.writer.queue_artifact(_log_write(task.run_id, data))
            client.flush()
        except Exception as exc:  # the store refused the run (its id taken) or is away
            return TaskResult(task.run_id, Result.FAILED, f"the run could not be stored: {_one_line(exc)}")
        return TaskResult(task.run_id, result, error, _metrics(client, task.run_id) if touched else {})
    finally:
        path.unlink(missing_ok=True)


def abandon(
    task: Task,
    status: RunStatus,
    reason: str,
    *,
    output_here: bool = True,
    started_tags: Mapping[str, str] | None = None,
) -> None:
    """End the current run of a task whose process was killed or died (``status``, with ``reason`` as its
    ``assay.error``; a run the process never got to write is created so, to say what happened), ship
    and store the output it left. A run that ended already keeps its status; a run reaped for a silent
    heartbeat has not ended (it may come back) and is ended so for good.

    The current run is the last of the task's chain (``assay.runner.rerun.follow``): once an engine ran
    the task again after losing it, the task's own run has ended KILLED and names the run that replaced
    it (``assay.rerun.as``); a replacing run not created yet is created so, tagged ``assay.rerun.of``.

    ``output_here=False``: the task ran elsewhere (a Dask worker), its output file is not this process's
    to read: only the run is ended. ``started_tags`` are set on the run too when the task had started it
    (the run was found unended), to say what may still happen to it."""
    from assay.runner import rerun

    path = output.path_of(task.run_id)
    run_id = task.run_id
    try:
        if output_here:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as f:
                f.write(f"\nassay: {reason}\n".encode())
            sink = _log_sink(task)
            if sink is not None:
                shipper = output.Shipper(path, sink)
                shipper.sent = _shipped(task)
                shipper.close()
        client = _client(task.tracking_uri)
        end = rerun.follow(client, task.run_id)
        run_id = end.run_id
        extra: Mapping[str, str] = {}
        if end.run is not None:
            running = rerun.unended(end.run.info)
            extra = (started_tags or {}) if running else {}
        else:
            tags = dict(task.tags) if end.of is None else {**task.tags, RERUN_OF_TAG: end.of}
            try:
                client.create_run(
                    _experiment_id(client, task),
                    name=task.name or default_name(task),
                    params=task.params,
                    tags=tags,
                    parent_run_id=task.parent_run_id,
                    capture_git=False,
                    capture_environment=False,
                    log_system_metrics=False,
                    run_id=run_id,
                )
                client.flush()
            except Conflict:  # the task created it meanwhile: it has started
                running = rerun.unended(client.get_run(run_id).info)
                extra = (started_tags or {}) if running else {}
            else:
                running = True
        if running:
            client.set_tags(run_id, {"assay.error": reason[:8000], **extra})
            client.set_terminated(run_id, status)
        if output_here:
            client.writer.artifact(_log_write(run_id, path.read_bytes()))
        client.flush()
    except AssayError as exc:
        print(
            f"assay: the run {run_id} of a stopped task could not be ended: {exc.message}",
            file=sys.stderr,
        )
    finally:
        if output_here:
            path.unlink(missing_ok=True)


def default_name(task: Task) -> str:
    """A task's run name when it has none: the function's name, or the notebook's stem."""
    return default_run_name(task.kind, task.target)


# ---- the two kinds -----------------------------------------------------------------------------------


def _python(task: Task, client: Any) -> tuple[Result, str | None, bool]:
    from assay.sdk import fluent, handover

    if not fluent._state.stack and fluent.get_tracking_uri() != task.tracking_uri:
        fluent.set_tracking_uri(task.tracking_uri)
    info = client.create_run(
        _experiment_id(client, task),
        name=task.name or default_name(task),
        params=task.params,
        tags={"assay.entry_point": task.target, **task.tags},
        parent_run_id=task.parent_run_id,
        run_id=task.run_id,
    )
    if task.job_id is None:
        # A sweep's trial is written before its function runs: a driver resumed after a crash must see
        # every trial started before it (and end those left running), or one could finish twice.
        client.flush()
    # A job's run is not: a short job's run is written once, created and ended in one batch; a longer
    # one's within the writer's interval. A worker killed before that leaves no run, and the lease's
    # expiry creates it KILLED (``Jobs``); a subprocess handed the run waits for it (``assay.sdk.attach``);
    # a run the store refuses (its id taken) fails the attempt at its end.
    run = fluent.activate(client, info)
    # A subprocess the function starts logs into the run too (``assay.sdk.attach``).
    env = {**handover.handover(run.id), handover.TRACKING_URI: handover.absolute_uri(task.tracking_uri)}
    try:
        with _environment(env):
            fn = task.function or resolve(task.target)
            value = fn(**task.params)
    except BaseException as exc:
        if not (isinstance(exc, SystemExit) and exc.code in (0, None)):
            message = f"{type(exc).__name__}: {exc}"
            tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
            text = "".join(traceback.format_exception(type(exc), exc, tb))
            sys.stderr.write(text)
            client.set_tags(run.id, {"assay.error": message[:8000]})
            client.log_text(run.id, text, "error/traceback.txt")
            killed = isinstance(exc, KeyboardInterrupt)
            fluent.end_run(RunStatus.KILLED if killed else RunStatus.FAILED, run_id=run.id)
            return Result.FAILED, _one_line(exc), bool(run.buffer.series)
        value = None
    try:
        for key, number in metrics_of(value).items():
            client.log_metric(run.id, key, number)
    except AssayError as exc:  # a returned key that is no valid metric name
        print(f"assay: the returned metrics were not logged: {exc.message}", file=sys.stderr)
    touched = bool(run.buffer.series)
    fluent.end_run(RunStatus.FINISHED, run_id=run.id)
    return Result.SUCCEEDED, None, touched


# ---- helpers -------------------------------------------------------------------------------------------


def resolve(target: str) -> Callable[..., Any]:
    """The function ``pkg.module:function`` names (InvalidInput, one line, if it cannot be had)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidInput(f"entry point {target!r} must be 'pkg.module:function'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise InvalidInput(f"entry point {target!r} does not import: {_one_line(exc)}") from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise InvalidInput(f"entry point {target!r}: module {module_name!r} has no {attr!r}")
    if not callable(obj):
        raise InvalidInput(f"entry point {target!r} is a {type(obj).__name__}, not a callable")
    fn: Callable[..., Any] = obj
    return fn


def metrics_of(value: Any) -> dict[str, float]:
    """What a function's return value logs: a number as ``result``, a mapping's numeric values."""
    if _number(value):
        return {RESULT_METRIC: float(value)}
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items() if _number(v)}
    return {}


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def warm(uri: str) -> None:
    """Open the store at ``uri`` and read what a run records of its environment, before any task needs them
    (a worker's child does so while it waits for its first task)."""
    from assay.sdk import capture

    _client(uri).backend.get_experiment_by_name("Default")
    capture.environment()


def _client(uri: str) -> Client:
    """One Client per store for the tasks of this process (it remembers the experiments it checked)."""
    from assay.sdk.client import Client

    found = _clients.get(uri)
    if found is None:
        found = _clients[uri] = Client(uri)
    return found


def _experiment_id(client: Any, task: Task) -> str:
    """The task's experiment, looked up once per process (a worker runs many tasks of one experiment)."""
    name = task.experiment or os.environ.get("ASSAY_EXPERIMENT") or "Default"
    key = (client.tracking_uri, task.project, name)
    found = _experiments.get(key)
    if found is None:
        found = client.get_or_create_experiment(name, task.project).experiment_id
        with _lock:
            _experiments[key] = found
    return found


def _decide_rerun(task: Task) -> Task | TaskResult:
    from assay.runner import rerun

    try:
        return rerun.decide(task, _client(task.tracking_uri))
    except Exception as exc:  # the store is away: the execution goes on, and its end says what happened
        print(
            f"assay: could not check for an earlier execution of the task: {_one_line(exc)}", file=sys.stderr
        )
        return task


def _log_sink(task: Task, base: int = 0) -> output.Ship | None:
    """Where the task's output goes as it comes: its job's log, when it is a job's (from ``base`` on: a
    re-run continues the log of the execution it replaces)."""
    if task.job_id is None:
        return None
    job_id, attempt, uri = task.job_id, task.attempt, task.tracking_uri

    def ship(offset: int, data: bytes) -> None:
        from assay import bundle

        bundle.services(uri).jobs.append_log(job_id, attempt, base + offset, data)

    return ship


def _shipped(task: Task) -> int:
    """How much of the task's output its job's log holds already."""
    from assay import bundle

    assert task.job_id is not None
    jobs = bundle.services(task.tracking_uri).jobs
    offset = 0
    try:
        while True:
            chunk = jobs.read_log(task.job_id, task.attempt, offset)
            if not chunk.data:
                return offset
            offset = chunk.next_offset
    except AssayError:
        return offset


def _fail(task: Task, reason: str) -> None:
    """End the task's run FAILED if it was created and is still running."""
    from assay.sdk import fluent
    from assay.sdk.client import Client

    with contextlib.suppress(Exception):
        if any(r.id == task.run_id for r in fluent._state.stack):
            fluent.end_run(RunStatus.FAILED, run_id=task.run_id)
            return
        client = Client(task.tracking_uri)
        if client.get_run(task.run_id).info.status is RunStatus.RUNNING:
            client.set_tags(task.run_id, {"assay.error": reason[:8000]})
            client.set_terminated(task.run_id, RunStatus.FAILED)


def _log_write(run_id: str, data: bytes) -> Any:
    from assay.sdk.writer import ArtifactWrite

    return ArtifactWrite(run_id, LOG_ARTIFACT, data=data)


def _metrics(client: Any, run_id: str) -> dict[str, float]:
    try:
        metrics: dict[str, float] = client.get_run(run_id).metrics
        return metrics
    except (AssayError, NotFound):
        return {}


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in before.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextlib.contextmanager
def _directory(cwd: str | None) -> Iterator[None]:
    """Run in ``cwd`` (when it exists on this machine), with it first on ``sys.path``, as the submitter."""
    if not cwd or not Path(cwd).is_dir():
        yield
        return
    before = os.getcwd()
    os.chdir(cwd)
    sys.path.insert(0, cwd)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(cwd)
        os.chdir(before)


def _one_line(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, AssayError) else f"{type(exc).__name__}: {exc}"
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
