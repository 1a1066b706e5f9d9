"""``assay.Client``: every tracking operation, explicit about run ids.

A Client is a thin layer over a ``Tracking`` backend (embedded or remote) plus the process's background
writer for that backend (``assay.sdk.session``, shared by every Client of the store): metrics, and the
params and tags of the runs this process writes, are buffered and written in batches (spooled when the
store cannot be reached); most other things are a direct call.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from assay import bundle
from assay.access import DEFAULT_PROJECT, Role
from assay.entities import (
    Experiment,
    FileInfo,
    Lifecycle,
    MetricHistory,
    Run,
    RunEnd,
    RunInfo,
    RunList,
    RunStatus,
)
from assay.errors import (
    Conflict,
    InvalidInput,
    InvalidState,
    MissingDependency,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from assay.evaluation import Evaluation, evaluate_model
from assay.registry.entities import Dataset, DatasetUse, ModelVersion
from assay.registry.uris import is_model_uri, parse_runs_uri
from assay.sdk import capture
from assay.sdk.session import SESSION
from assay.sdk.writer import NO_STEP, RECORD, ArtifactWrite, BackgroundWriter, RunBuffer, bad_point
from assay.series import Downsampled
from assay.services import validation as v
from assay.services.registry import Registry
from assay.services.tracking import (
    Tracking,
    check_run_id,
    check_writable,
    experiment_by_name,
    new_run,
    now_ms,
    split_by_name,
)

#: How long a client trusts that an experiment it checked still accepts runs.
_EXPERIMENT_TTL_S = 5.0
log = logging.getLogger("assay")


def _env_flag(name: str, default: bool = True) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() not in ("0", "false", "no", "off", "")


_digests: dict[str, str] = {}


def _digest(text: str) -> str:
    """The SHA-256 of a captured file, remembered for the few texts a process captures (its requirements, its
    git diff): every run of a loop would otherwise hash the same list of packages again."""
    found = _digests.get(text)
    if found is None:
        if len(_digests) >= 64:
            _digests.clear()
        found = _digests[text] = hashlib.sha256(text.encode()).hexdigest()
    return found


class Client:
    """Tracking operations on the store named by ``tracking_uri`` (default: $ASSAY_TRACKING_URI or ./.assay)."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri or bundle.default_tracking_uri()
        self.backend = bundle.get_backend(self.tracking_uri)
        self._writer: BackgroundWriter | None = None
        self._registry: Registry | None = None
        self._locations: dict[str, tuple[str, float]] = {}
        self._ids_by_name: dict[str, str] = {}

    @property
    def writer(self) -> BackgroundWriter:
        if self._writer is None:
            self._writer = SESSION.writer_for(self.backend, self.tracking_uri)
        return self._writer

    # ---- experiments ----------------------------------------------------------------------------------

    def create_experiment(self, name: str, project: str | None = None) -> Experiment:
        """A new experiment in ``project`` (default: ``$ASSAY_PROJECT``, else the project "default")."""
        return self.backend.create_experiment(name, project or os.environ.get("ASSAY_PROJECT") or None)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._read().get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str, project: str | None = None) -> Experiment | None:
        """The experiment ``name`` in ``project``; without it, the one of that name you may read, or
        ``project/name`` (``InvalidInput`` listing the candidates when several projects hold the name)."""
        return self._read().get_experiment_by_name(name, project)

    def get_or_create_experiment(self, name: str, project: str | None = None) -> Experiment:
        """The experiment ``name``, created if missing; safe when many processes race to create it.

        With a project (``project``, else ``$ASSAY_PROJECT``) it is that project's experiment of that name,
        created there. Without, it is the one experiment of that name you may read (or ``project/name``),
        else a new one in the project "default"; a name several projects hold is refused with the
        candidates listed.

        When the store cannot be reached, runs can still start: the experiment is named rather than
        numbered (``by-name:<project>:<name>``), its runs wait in the offline spool, and the store finds or
        creates it in that project when they arrive.
        """
        project = project or os.environ.get("ASSAY_PROJECT") or None
        try:
            exp = self.backend.get_experiment_by_name(name, project)
        except Unavailable as exc:  # unreachable: a connection or server failure, not a refusal
            log.warning(
                "assay: the tracking store is unreachable (%s); runs of experiment %r are kept in the local "
                "spool and created when it answers (or by `assay sync`)",
                exc,
                name,
            )
            return Experiment(experiment_by_name(name, project), name, "", project=project or DEFAULT_PROJECT)
        if exp is not None:
            return exp
        try:
            return self.create_experiment(name, project)
        except Conflict:
            # Another process created it between the lookup and the creation: use theirs.
            exp = self.backend.get_experiment_by_name(name, project or DEFAULT_PROJECT)
            if exp is None:
                raise
            return exp

    def list_experiments(self, include_deleted: bool = False, project: str | None = None) -> list[Experiment]:
        return self._read().list_experiments(include_deleted, project)

    def delete_experiment(self, experiment_id: str) -> None:
        self._locations.pop(str(experiment_id), None)
        self.backend.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.backend.restore_experiment(experiment_id)

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        """Give the experiment a new name (unique in its project); its id, runs and artifacts stay."""
        self.backend.rename_experiment(experiment_id, name)

    # ---- runs ---------------------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
        capture_git: bool | None = None,
        capture_environment: bool | None = None,
        log_system_metrics: bool | None = None,
        run_id: str | None = None,
    ) -> RunInfo:
        """Start a RUNNING run, recording git state, environment and (in the background) system metrics.

        ``run_id``: the new run's id when the caller decided it (a job's attempt is claimed with its run's
        id, so the run can be found and ended if the worker dies); default a new random one.

        Each capture defaults to on and can be switched off here or with ASSAY_CAPTURE_GIT=0,
        ASSAY_CAPTURE_ENVIRONMENT=0, ASSAY_SYSTEM_METRICS=0.
        """
        all_tags: dict[str, Any] = {}
        files: list[tuple[str, str, str]] = []  # (tag, artifact path, text)
        if capture_environment if capture_environment is not None else _env_flag("ASSAY_CAPTURE_ENVIRONMENT"):
            env = capture.environment()
            all_tags.update(env.tags)
            files.append(("assay.environment.requirements", "environment/requirements.txt", env.requirements))
        if capture_git if capture_git is not None else _env_flag("ASSAY_CAPTURE_GIT"):
            state = capture.git_state()
            if state is not None:
                all_tags.update(capture.git_tags(state))
                if state.diff:
                    files.append(("assay.git.diff", "git/diff.patch", state.diff))
        if run_id is None:
            run_id = uuid.uuid4().hex
        else:
            check_run_id(run_id)
        capture_tags, to_store = self._capture_files(run_id, files)
        all_tags.update(capture_tags)
        all_tags.update(tags or {})
        eid = str(experiment_id)
        location = self._location(eid)
        new = new_run(
            eid, name=name, params=params, tags=all_tags, parent_run_id=parent_run_id, run_id=run_id
        )
        # Written by the background writer with the runs around it, in one transaction.
        buf = self.writer.create(new)
        for path, text in to_store:  # after the creation is queued, so they are written after it
            self.writer.queue_artifact(ArtifactWrite(run_id, path, data=text.encode()))
        info = RunInfo(
            run_id=new.run_id,
            experiment_id=eid,
            name=new.name,
            status=RunStatus.RUNNING,
            start_time=new.start_time,
            end_time=None,
            user=new.user,
            artifact_uri=f"{location}/{new.run_id}/artifacts",
            parent_run_id=parent_run_id,
            heartbeat_at=new.start_time,
        )
        if log_system_metrics if log_system_metrics is not None else _env_flag("ASSAY_SYSTEM_METRICS"):
            SESSION.sampler().add(buf)
        return info

    def _capture_files(
        self, run_id: str, files: list[tuple[str, str, str]]
    ) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """Keep each captured file once per process and content: the first run that sees a given
        requirements list or git diff stores it as its artifact; every run gets a tag with its runs:/ URI."""
        captured = SESSION.captured_for(self.backend)
        tags = {}
        to_store = []
        for tag, path, text in files:
            key = (path, _digest(text))
            uri = captured.get(key)
            if uri is None:
                uri = captured[key] = f"runs:/{run_id}/{path}"
                to_store.append((path, text))
            tags[tag] = uri
        return tags, to_store

    def _location(self, experiment_id: str) -> str:
        """The artifact location of an experiment new runs may go to (checked once per client)."""
        if split_by_name(experiment_id) is not None:
            return f"{experiment_id}/(not yet created)"  # known once the store has created it
        hit = self._locations.get(experiment_id)
        if hit is not None and time.monotonic() - hit[1] < _EXPERIMENT_TTL_S:
            return hit[0]
        try:
            exp = self.backend.get_experiment(experiment_id)
        except Unavailable:
            if hit is None:
                raise
            return hit[0]  # the store is unreachable: the run is spooled, with the location last seen
        if exp.lifecycle is Lifecycle.DELETED:
            raise InvalidState(
                f"experiment {exp.name!r} is deleted: restore it (Client.restore_experiment) to start runs in it"
            )
        if exp.role is not None and not Role(exp.role).at_least(Role.EDITOR):
            # Refused here, before any training, rather than when the first batch reaches the server.
            raise PermissionDenied(
                f"you are a {exp.role} in project {exp.project!r}, which owns experiment {exp.name!r}; "
                f"starting runs needs editor: ask an owner of {exp.project!r} for it"
            )
        self._locations[experiment_id] = (exp.artifact_location, time.monotonic())
        return exp.artifact_location

    def _settle(self, run_id: str) -> str:
        """Write ``run_id``'s queued creation (by any Client of this store) before a direct call about it."""
        w = SESSION.writer_of(self.backend)
        if w is not None and w.unsent(run_id):
            w.flush()
        return run_id

    def _read(self) -> Tracking:
        """The backend, after writing what this process has queued, so that every Client of the process
        sees every write any of them accepted (run creations and ends, params, buffered points).

        Every writer of the process is checked, not just this client's: a Client made before a run
        started has none yet, and one store may be named by several URIs."""
        SESSION.flush_pending(self.backend)
        return self.backend

    def get_run(self, run_id: str) -> Run:
        return self._read().get_run(run_id)

    def _buffer(self, run_id: str) -> RunBuffer:
        buf = self.writer.buffers.get(run_id)
        if buf is None:
            check_writable(self._read().get_run_info(run_id))
            buf = self.writer.buffer(run_id)
        return buf

    def log_metric(
        self, run_id: str, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Buffer one point; ``timestamp`` is in ms since the epoch (default: now); ``step`` default: last + 1."""
        buf = self.writer.buffers.get(run_id) or self._buffer(run_id)
        if buf.closed:
            raise InvalidState(f"run {run_id} has ended; start a new run to log more")
        append = buf.appenders.get(key) or buf.open(v.check_key(key, "metric"))
        if type(value) is not float:
            value = v.metric_value(key, value)
        if step is None:
            step = NO_STEP
        elif type(step) is not int:
            step = v.metric_step(key, step)
        try:
            append(RECORD.pack(value, step, time.time() if timestamp is None else timestamp / 1000.0))
        except (struct.error, TypeError, OverflowError):
            raise bad_point(key, step, timestamp) from None

    def log_metrics(
        self, run_id: str, metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None
    ) -> None:
        ts = int(time.time() * 1000) if timestamp is None else timestamp
        for key, value in metrics.items():
            self.log_metric(run_id, key, value, step, ts)

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_params(run_id, {key: value})

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Add params (kept as text; one already logged must keep its value, else ``Conflict``).

        For a run this process writes they are queued with its points and written in the background
        (spooled when the store cannot be reached): bad keys or values, and a param this process logged
        with another value, are refused at once; a value logged elsewhere only the store can see: that
        param is set aside in the spool's ``rejected/`` with one error line (and raised by a ``flush`` that
        sends it), the others are written."""
        w = self.writer
        if not w.writes(run_id):
            self.backend.log_params(self._settle(run_id), params)
            return
        w.log_params(run_id, {v.check_key(k, "param"): v.param_value(k, val) for k, val in params.items()})

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.set_tags(run_id, {key: value})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        """Set tags, replacing earlier values; queued as ``log_params`` for a run this process writes."""
        w = self.writer
        if not w.writes(run_id):
            self.backend.set_tags(self._settle(run_id), tags)
            return
        w.set_tags(run_id, {v.check_key(k, "tag"): v.tag_value(k, val) for k, val in tags.items()})

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag (``NotFound`` if the run has none called ``key``). For a run this process writes it
        is sent after what is queued, and spooled (after a warning line) when the store cannot be reached."""
        w = self.writer
        if not w.writes(run_id):
            self.backend.delete_tag(self._settle(run_id), key)
            return
        w.delete_tag(run_id, v.check_key(key, "tag"))

    def set_terminated(self, run_id: str, status: str | RunStatus = RunStatus.FINISHED) -> None:
        """End a run: write its buffered points and its final status in one step."""
        try:
            final = RunStatus(status if isinstance(status, RunStatus) else str(status).upper())
        except ValueError:
            raise InvalidInput(f"unknown run status {status!r}: use FINISHED, FAILED or KILLED") from None
        if final is RunStatus.RUNNING:
            raise InvalidInput("a run ends with a final status: FINISHED, FAILED or KILLED")
        SESSION.stop_sampling(run_id)
        buf = self.writer.buffers.get(run_id)
        if buf is not None and not buf.closed:
            # A run of this process: queued after its last points, written with the next batch.
            self.writer.end(RunEnd(run_id, final, now_ms()))
        else:
            self.backend.end_run(self._settle(run_id), final)

    end_run = set_terminated

    def flush(self) -> None:
        """Write every buffered point now (also done in the background, at end of run and at exit)."""
        self.writer.flush()

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run: hidden from searches, refuses writes, restorable. A run of this process
        stops being buffered and heartbeated here."""
        if run_id in self.writer.buffers:
            self.writer.forget(run_id)
        self.backend.delete_run(self._settle(run_id))

    def restore_run(self, run_id: str) -> None:
        self.backend.restore_run(self._settle(run_id))

    def rename_run(self, run_id: str, name: str) -> None:
        """Give the run a new display name; its id stays."""
        self.backend.rename_run(self._settle(run_id), name)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        return self._read().get_metric_history(run_id, key)

    def get_metric_series(self, run_id: str, key: str, max_points: int = 1000) -> Downsampled:
        """The series ``key`` thinned for drawing to at most ``max_points`` buckets, each with its last
        point and the min/max of its values (see ``assay.series``); on a server only the buckets travel."""
        return self._read().get_metric_series(run_id, key, max_points)

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunList:
        """Runs matching ``filter`` in the named experiments (names or ids; default: all), ordered and paged."""
        ids = [
            self._experiment_id(e)
            for e in ([experiment] if isinstance(experiment, str) else experiment or [])
        ]
        if isinstance(order_by, str):
            order_by = [order_by]
        return self._read().search_runs(ids, filter, order_by, max_results, page_token, include_deleted)

    def _experiment_id(self, name_or_id: str) -> str:
        """The id of the experiment named ``name_or_id`` (or ``project/name``; else with that id). Names are
        remembered: an experiment keeps its name, project and id for life (a deleted one too), so a name
        resolves once per client."""
        known = self._ids_by_name.get(name_or_id)
        if known is not None:
            return known
        exp = self.backend.get_experiment_by_name(name_or_id)
        if exp is not None:
            self._ids_by_name[name_or_id] = exp.experiment_id
            return exp.experiment_id
        if str(name_or_id).isdigit():
            return self.backend.get_experiment(str(name_or_id)).experiment_id
        raise NotFound(f"no experiment named {name_or_id!r}")

    # ---- artifacts ----------------------------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy a local file or directory into the run's artifacts (under ``artifact_path``).

        When the store cannot be reached, a copy is kept in the offline spool and uploaded when it
        answers (or by ``assay sync``); this returns after a warning."""
        self.writer.artifact(ArtifactWrite(run_id, artifact_path, local=Path(local_path)))

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy the contents of ``local_dir`` (not the directory itself) under ``artifact_path``."""
        src = Path(local_dir)
        if not src.is_dir():
            raise NotFound(f"{str(src)!r} is not a directory")
        for child in sorted(src.iterdir()):
            self.writer.artifact(ArtifactWrite(run_id, artifact_path, local=child))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Save ``text`` as the artifact file ``artifact_file`` (spooled, as ``log_artifact``, when the
        store cannot be reached)."""
        self.writer.artifact(ArtifactWrite(run_id, artifact_file, data=text.encode()))

    def evaluate(
        self,
        run_id: str | None,
        model: Any,
        X: Any,
        y: Any,
        name: str = "eval",
        task: str | None = None,
        dataset_name: str | None = None,
    ) -> Evaluation:
        """Evaluate a fitted model, or the model a ``models:/`` or ``runs:/`` URI names, on (X, y), and log
        the results to the run (see ``assay.evaluate``). For a registered version the metrics are also kept
        in its performance history (``run_id`` may then be None). ``dataset_name`` fingerprints X as a
        dataset used in context "evaluation"."""
        v.check_key(name, "evaluation")
        if "/" in name:
            raise InvalidInput(
                f"evaluation name {name!r} cannot contain '/': it names the file evaluation/<name>.json"
            )
        version = None
        if isinstance(model, str):
            from assay.sdk import model_artifacts

            if is_model_uri(model):
                version = self.registry.resolve_uri(model)
            model = model_artifacts.load_model(model, client=self)
        elif run_id is None:
            raise InvalidInput("evaluate needs an active run, or a models:/ URI as the model")
        ev = evaluate_model(model, X, y, task)
        metrics = {f"{name}/{k}": val for k, val in ev.metrics.items()}
        dataset = None
        if dataset_name is not None:
            dataset = _dataset_of(X, dataset_name, None)
        if run_id is not None:
            self.log_metrics(run_id, metrics)
            self.log_dict(run_id, ev.to_json(), f"evaluation/{name}.json")
            if dataset is not None:
                self.registry.log_dataset(self._settle(run_id), dataset, "evaluation")
        if version is not None:
            self.registry.record_performance(
                version.qualified_name,
                version.version,
                metrics,
                name,
                None if run_id is None else self._settle(run_id),
                dataset,
            )
        return ev

    # ---- registry and datasets ---------------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        """The model registry of this client's store or server (``assay.services.registry.Registry``)."""
        if self._registry is None:
            self._registry = bundle.services(self.tracking_uri).registry
        return self._registry

    def register_model(
        self,
        model_uri: str,
        name: str,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        project: str | None = None,
    ) -> ModelVersion:
        """Register the model at ``model_uri`` (``runs:/<run_id>/<path>``, or a ``models:/`` URI to register
        the same model under another name) as the next version of ``name``, creating the model if needed.

        Model names are unique within a project: the model is ``name`` in ``project`` (or in the project
        ``name`` gives as ``project/name``), default the run's project."""
        clean = {str(k): str(val) for k, val in (tags or {}).items()}
        try:
            if is_model_uri(model_uri):
                model_uri = self.registry.resolve_uri(model_uri).source
            parse_runs_uri(model_uri)
            # Every write of the process first, the spool's too: the model's files may wait there.
            self._read()
            return self.registry.create_version(name, model_uri, description, clean, project)
        except Unavailable as exc:
            # The server numbers versions and reads the model's files: nothing to return offline.
            raise Unavailable(
                f"cannot register {model_uri} as {name!r}: {exc.message.rstrip('.')}. Registering needs "
                "the server, so it is not spooled: call register_model again once it answers (the run's "
                "writes wait in the local spool meanwhile; `assay sync` sends them if this process ends first)"
            ) from None

    def log_dataset(
        self,
        run_id: str,
        data: Any,
        name: str,
        context: str = "training",
        source: str | None = None,
    ) -> DatasetUse:
        """Fingerprint ``data`` (a DataFrame, array, Arrow table, or a file or directory path or URL) and
        record that the run used it in ``context``; see ``assay.log_dataset``."""
        dataset = _dataset_of(data, name, source)
        return self.registry.log_dataset(self._settle(run_id), dataset, context)

    def log_dict(self, run_id: str, data: Mapping[str, Any], artifact_file: str) -> None:
        """Save ``data`` as JSON, or YAML when ``artifact_file`` ends in .yaml/.yml."""
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            payload = yaml.safe_dump(dict(data), sort_keys=False).encode()
        else:
            payload = orjson.dumps(
                data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
            )
        self.writer.artifact(ArtifactWrite(run_id, artifact_file, data=payload))

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        """Save a matplotlib or plotly figure; the extension picks the format (png, svg, pdf, html, json)."""
        data = render_figure(figure, artifact_file)
        self.writer.artifact(ArtifactWrite(run_id, artifact_file, data=data))

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self._read().list_artifacts(run_id, path)

    def download_artifacts(
        self, run_id: str, path: str | None = None, dst: str | os.PathLike[str] = "."
    ) -> Path:
        return self._read().download_artifacts(run_id, path, dst)

    def read_artifact(self, run_id: str, path: str) -> bytes:
        return self._read().read_artifact(run_id, path)


def _dataset_of(data: Any, name: str, source: str | None) -> Dataset:
    """The registry's record of ``data``: its whole-content fingerprint (``assay.datasets``)."""
    from assay.datasets import fingerprint

    v.check_name(name, "dataset")
    profile = fingerprint(data, name=name, source=source)
    return Dataset(
        name=name,
        digest=profile.digest,
        kind=profile.kind,
        source=profile.source,
        rows=profile.rows,
        size_bytes=profile.size_bytes,
        schema=[c.to_dict() for c in profile.schema],
        stats={c.name: c.to_dict() for c in profile.stats},
    )


def render_figure(figure: Any, artifact_file: str) -> bytes:
    ext = artifact_file.rsplit(".", 1)[-1].lower() if "." in artifact_file else ""
    module = type(figure).__module__
    if module.startswith("matplotlib"):
        if ext not in ("png", "svg", "pdf", "jpg", "jpeg"):
            raise InvalidInput(f"matplotlib figures save as .png, .svg, .pdf or .jpg, not {artifact_file!r}")
        buf = io.BytesIO()
        figure.savefig(buf, format=ext, bbox_inches="tight")
        return buf.getvalue()
    if module.startswith("plotly"):
        if ext == "html":
            return str(figure.to_html(include_plotlyjs=True, full_html=True)).encode()
        if ext == "json":
            return str(figure.to_json()).encode()
        try:
            return bytes(figure.to_image(format=ext))
        except (ImportError, ValueError, RuntimeError) as exc:
            raise MissingDependency(
                f"plotly needs kaleido to save {artifact_file!r} as an image ({exc}); "
                "pip install kaleido, or log it as .html or .json"
            ) from exc
    raise InvalidInput(f"log_figure takes a matplotlib or plotly figure, got {type(figure).__name__}")
