"""The module-level API (``assay.start_run``, ``assay.log_metric``, ...), familiar to MLflow users.

It keeps the current experiment and a stack of active runs for the process. ``log_metric`` is the hot
path: it looks up the active run's per-key buffer (validating a key the first time it is seen), checks the
value's type and appends one packed record (``writer.RECORD``); the background writer does the rest.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from assay import bundle
from assay.entities import Experiment, FileInfo, MetricHistory, Run, RunInfo, RunList, RunStatus
from assay.errors import InvalidInput, InvalidState
from assay.evaluation import Evaluation
from assay.registry.entities import DatasetUse, ModelVersion
from assay.sdk import attach, lifecycle
from assay.sdk.client import Client
from assay.sdk.writer import NO_STEP, RECORD, Appender, RunBuffer, bad_point
from assay.services import validation as v

_time = time.time


class ActiveRun:
    """A started run; use it as a context manager so it ends FINISHED, FAILED (exception) or KILLED (Ctrl-C)."""

    def __init__(self, client: Client, info: RunInfo, buffer: RunBuffer) -> None:
        self.client = client
        self.info = info
        self.buffer = buffer

    @property
    def id(self) -> str:
        return self.info.run_id

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, tp: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.buffer.closed:
            return
        if exc is None:
            end_run(RunStatus.FINISHED, run_id=self.id)
            return
        status = RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
        try:
            text = "".join(traceback.format_exception(tp, exc, tb))
            self.client.set_tags(self.id, {"assay.error": f"{type(exc).__name__}: {exc}"[:8000]})
            self.client.log_text(self.id, text, "error/traceback.txt")
        finally:
            end_run(status, run_id=self.id)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.info.name} ({self.id})>"


class _State:
    #: Guards the stack: the main thread and the SIGTERM shutdown thread may end runs at once.
    lock = threading.RLock()
    tracking_uri: str | None = None
    client: Client | None = None
    experiment_id: str | None = None
    stack: list[ActiveRun] = []
    hooked = False


_state = _State()
# The hot path reads these module globals directly: the buffer of the innermost active run (or None)
# and its dict of per-key append methods.
_cur: RunBuffer | None = None
_series: dict[str, Appender] | None = None
_pack = RECORD.pack


def _client() -> Client:
    if _state.client is None:
        _state.client = Client(_state.tracking_uri)
    return _state.client


def set_tracking_uri(uri: str | None) -> None:
    """Use another store (a SQLite path or postgresql:// URL) from now on; None: back to the default."""
    if _state.stack:
        raise InvalidState("end the active run before changing the tracking URI")
    _state.tracking_uri = uri
    _state.client = None
    _state.experiment_id = None


def get_tracking_uri() -> str:
    """The store runs are tracked in: set_tracking_uri's, else $ASSAY_TRACKING_URI, else $ASSAY_HOME/assay.db."""
    return _state.tracking_uri or bundle.default_tracking_uri()


def set_experiment(name: str, project: str | None = None) -> Experiment:
    """Make ``name`` the experiment new runs go to, creating it if needed (``Client.get_or_create_experiment``).

    With ``project`` (default ``$ASSAY_PROJECT``) it is that project's experiment of that name, created
    there if missing. Without either, it is the one experiment of that name you may read, found in its
    own project (or ``project/name``), else a new one in the project "default"."""
    exp = _client().get_or_create_experiment(v.check_name(name, "experiment"), project)
    _state.experiment_id = exp.experiment_id
    return exp


def chosen_experiment_id() -> str | None:
    """The experiment ``set_experiment`` chose for new runs of this process, or None if none was."""
    return _state.experiment_id


def _experiment_id(experiment: str | None) -> str:
    if experiment is not None:
        return set_experiment(experiment).experiment_id
    if _state.experiment_id is None:
        name = os.environ.get("ASSAY_EXPERIMENT", "Default")
        _state.experiment_id = _client().get_or_create_experiment(name).experiment_id
    return _state.experiment_id


def _on_exit(status: RunStatus) -> None:
    with _state.lock:
        while _state.stack:
            end_run(status)


def start_run(
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    experiment: str | None = None,
    nested: bool = False,
    log_system_metrics: bool | None = None,
    capture_git: bool | None = None,
    capture_environment: bool | None = None,
) -> ActiveRun:
    """Start a run and make it active; ``with assay.start_run(...) as run:`` ends it for you.

    A run started while another is active must say ``nested=True``; it becomes the other's child.
    """
    if _state.stack and not nested:
        raise InvalidState(
            f"run {_state.stack[-1].id} is already active: end it with assay.end_run(), "
            "or pass nested=True to start a child run"
        )
    client = _client()
    info = client.create_run(
        _experiment_id(experiment),
        name=name,
        params=params,
        tags=tags,
        parent_run_id=_state.stack[-1].id if _state.stack else attach.host_run_id(),
        capture_git=capture_git,
        capture_environment=capture_environment,
        log_system_metrics=log_system_metrics,
    )
    return activate(client, info)


def activate(client: Client, info: RunInfo) -> ActiveRun:
    """Make ``info``, a run this process just created with ``client.create_run``, the active run, as
    ``start_run`` does with its own: the runner creates a job's run with the id its claim decided, then
    the job's function logs into it with ``assay.log_metric``. End it with ``end_run`` or by leaving
    ``with activate(...)`` (FAILED with the traceback on an exception, as ``start_run``'s)."""
    if not _state.hooked:
        _state.hooked = True
        lifecycle.on_shutdown(_on_exit)
    run = ActiveRun(client, info, client.writer.buffer(info.run_id))
    with _state.lock:
        _state.stack.append(run)
        _set_current(run.buffer)
    return run


def _set_current(buf: RunBuffer | None) -> None:
    global _cur, _series
    _cur = buf
    _series = None if buf is None else buf.appenders


def end_run(status: str | RunStatus = RunStatus.FINISHED, run_id: str | None = None) -> None:
    """End the active run (or ``run_id``, which must be active) with ``status``; its points are written first."""
    with _state.lock:
        if not _state.stack:
            if lifecycle.terminating():
                return  # ended already by the SIGTERM shutdown thread
            raise InvalidState("no active run to end: start one with assay.start_run()")
        index = len(_state.stack) - 1
        if run_id is not None:
            ids = [r.id for r in _state.stack]
            if run_id not in ids:
                if lifecycle.terminating():
                    return  # ended already by the SIGTERM shutdown thread
                raise InvalidState(f"run {run_id} is not active in this process")
            index = ids.index(run_id)
        run = _state.stack[index]
        # Children end with their parent.
        for child in reversed(_state.stack[index + 1 :]):
            child.client.set_terminated(child.id, status)
        del _state.stack[index:]
        _set_current(_state.stack[-1].buffer if _state.stack else None)
        run.client.set_terminated(run.id, status)


def active_run() -> ActiveRun | None:
    """The innermost active run of this process, else the run it logs into for another process
    (``$ASSAY_RUN_ID``, see ``assay.sdk.attach``), or None."""
    if _state.stack:
        return _state.stack[-1]
    host = attach.host_run(_client)
    return None if host is None else ActiveRun(*host)


def _active() -> ActiveRun:
    run = active_run()
    if run is None:
        raise InvalidState(
            "no active run: start one with assay.start_run() (or use assay.Client with a run id)"
        )
    return run


def _no_run() -> RunBuffer:
    return _active().buffer


def _discard(_record: bytes) -> None:
    """Where points go after SIGTERM ended the runs (see ``_open_series``)."""


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None) -> None:
    """Log one point of metric ``key`` to the active run; costs well under a microsecond (it only buffers).

    ``step`` defaults to the key's previous step + 1 (0 first); ``timestamp`` is ms since the epoch.
    NaN and infinities are stored as such; anything but a real number raises InvalidInput.
    """
    try:
        append = _series[key]  # type: ignore[index]
    except (KeyError, TypeError):
        append = _open_series(key)
    if type(value) is not float:
        value = v.metric_value(key, value)
    if step is None:
        step = NO_STEP
    elif type(step) is not int:
        step = v.metric_step(key, step)
    try:
        append(_pack(value, step, _time() if timestamp is None else timestamp / 1000.0))
    except (struct.error, TypeError, OverflowError):
        raise bad_point(key, step, timestamp) from None


def _open_series(key: str) -> Appender:
    """The slow path of log_metric: no active run, or the first point of ``key`` in this run."""
    if _cur is None and lifecycle.terminating():
        # SIGTERM arrived and the shutdown thread ended the runs; the training loop runs on for the
        # moments the cleanup takes. Its points go nowhere, rather than ending it in a traceback.
        return _discard
    buf = _cur if _cur is not None else _no_run()
    return buf.open(v.check_key(key, "metric"))


def log_metrics(metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None) -> None:
    """Log several metrics at one step and one timestamp."""
    ts = int(_time() * 1000) if timestamp is None else timestamp
    for key, value in metrics.items():
        log_metric(key, value, step, ts)


def log_param(key: str, value: Any) -> None:
    """Log a param of the active run (its value as text; re-logging a different value raises Conflict)."""
    run = _active()
    run.client.log_param(run.id, key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Log several params of the active run, all or nothing."""
    run = _active()
    run.client.log_params(run.id, params)


def set_tag(key: str, value: Any) -> None:
    """Set a tag of the active run (tags, unlike params, may change)."""
    run = _active()
    run.client.set_tag(run.id, key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set several tags of the active run."""
    run = _active()
    run.client.set_tags(run.id, tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    """Copy a file or a directory (with its name) into the active run's artifacts."""
    run = _active()
    run.client.log_artifact(run.id, local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    """Copy the contents of ``local_dir`` (not the directory itself) into the active run's artifacts."""
    run = _active()
    run.client.log_artifacts(run.id, local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    """Save ``text`` as an artifact file of the active run."""
    run = _active()
    run.client.log_text(run.id, text, artifact_file)


def evaluate(
    model: Any,
    X: Any,
    y: Any,
    name: str = "eval",
    task: str | None = None,
    dataset_name: str | None = None,
) -> Evaluation:
    """Evaluate a fitted model on (X, y) and log the results to the active run, for the UI to draw.

    The task is detected (``task=`` overrides: "classification" or "regression"). Classifiers get accuracy,
    the confusion matrix, ROC and precision-recall curves with AUC, and calibration; regressors RMSE, MAE,
    R², residuals, predicted vs actual and an error histogram; tree ensembles and linear models their
    feature importances or coefficients. Scalars are logged as metrics ``<name>/<metric>`` and everything
    as the artifact ``evaluation/<name>.json``. Returns the ``Evaluation``.

    ``model`` may be a URI: ``models:/churn/3`` (or ``@champion``) evaluates that registered version and
    adds the metrics to its performance history (no active run needed then); ``runs:/<id>/model`` a logged
    model. ``dataset_name`` also records X as a dataset the run used for evaluation.
    """
    if isinstance(model, str) and model.startswith("models:/") and not _state.stack:
        return _client().evaluate(None, model, X, y, name, task, dataset_name)
    run = _active()
    return run.client.evaluate(run.id, model, X, y, name, task, dataset_name)


def register_model(
    model_uri: str,
    name: str,
    description: str = "",
    tags: Mapping[str, Any] | None = None,
    project: str | None = None,
) -> ModelVersion:
    """Register the model logged at ``model_uri`` (``runs:/<run_id>/model``, as ``assay.log_model``
    returns) under ``name``; returns the new version, numbered from 1 and never reused. Model names are
    unique within a project: the model is ``name`` in the run's project, or in ``project`` (or the one
    ``name`` gives as ``project/name``), created there on first registration."""
    return _client().register_model(model_uri, name, description, tags, project)


def log_dataset(data: Any, name: str, context: str = "training", source: str | None = None) -> DatasetUse:
    """Record that the active run used ``data``: a pandas or polars DataFrame, a numpy array, an Arrow
    table, or a file or directory (a path or any fsspec URL). Its digest hashes the whole content (two
    datasets that differ in the last row differ), with the schema, row count and summary statistics.
    ``context`` says how the run used it ("training", "validation", "evaluation"...)."""
    run = _active()
    return run.client.log_dataset(run.id, data, name, context, source)


def log_dict(data: Mapping[str, Any], artifact_file: str) -> None:
    """Save ``data`` as a JSON artifact, or YAML when ``artifact_file`` ends in .yaml/.yml."""
    run = _active()
    run.client.log_dict(run.id, data, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    """Save a matplotlib or plotly figure as an artifact; the extension picks the format."""
    run = _active()
    run.client.log_figure(run.id, figure, artifact_file)


def flush() -> None:
    """Write every buffered point now."""
    _client().flush()


def get_run(run_id: str) -> Run:
    """A run with its info, params, tags and metric summaries (NotFound for an unknown id)."""
    return _client().get_run(run_id)


def get_metric_history(run_id: str, key: str) -> MetricHistory:
    """The whole series ``key`` of a run: numpy arrays of steps, timestamps (ms) and values, in logged order."""
    return _client().get_metric_history(run_id, key)


def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    max_results: int | None = None,
    page_token: str | None = None,
) -> RunList:
    """Runs matching ``filter`` (see README, "Search"); ``.to_pandas()`` on the result gives a DataFrame."""
    return _client().search_runs(experiment, filter, order_by, max_results, page_token)


def list_experiments() -> list[Experiment]:
    """The active experiments, with run counts and last activity."""
    return _client().list_experiments()


def list_artifacts(run_id: str, path: str | None = None) -> list[FileInfo]:
    """The artifact entries of a run directly under ``path`` (default: its root)."""
    return _client().list_artifacts(run_id, path)


def download_artifacts(
    run_id_or_uri: str, path: str | None = None, dst: str | os.PathLike[str] = "."
) -> os.PathLike[str]:
    """Download ``runs:/<id>/<path>`` (or a run id and a path) into ``dst``; returns the local path."""
    if run_id_or_uri.startswith("runs:/"):
        from assay.artifacts import parse_runs_uri

        if path is not None:
            raise InvalidInput("give either a runs:/ URI or a run id and a path, not both")
        run_id_or_uri, path = parse_runs_uri(run_id_or_uri)
    return _client().download_artifacts(run_id_or_uri, path, dst)


__all__ = [
    "ActiveRun",
    "active_run",
    "download_artifacts",
    "end_run",
    "flush",
    "get_metric_history",
    "get_run",
    "get_tracking_uri",
    "list_artifacts",
    "list_experiments",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
