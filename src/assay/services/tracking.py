"""The tracking service's interface: experiments, runs, params, tags, metric series, search and artifacts.

``Tracking`` is the contract the SDK, the CLI, the server and the UI call. It has three implementations:
``assay.embedded.tracking.TrackingService`` in-process over the SQL store and an artifact root,
``assay.remote.RemoteTracking`` over HTTP, and ``assay.services.authorized.AuthorizedTracking``, which
checks a caller's roles in front of either. The pure rules every implementation applies (validating a new
run, a batch of points, a run's writability) live here too, once. Importing this module loads no storage
and no HTTP code.
"""

from __future__ import annotations

import getpass
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from assay.access import DEFAULT_PROJECT
from assay.entities import (
    Experiment,
    FileInfo,
    Lifecycle,
    MetricHistory,
    NewRun,
    Run,
    RunCount,
    RunEnd,
    RunInfo,
    RunList,
    RunStatus,
    SeriesBatch,
    WriteBatch,
)
from assay.errors import InvalidInput, InvalidState, NotFound
from assay.series import Downsampled, downsample
from assay.services import validation as v


def now_ms() -> int:
    return int(time.time() * 1000)


def batch_retention_ms() -> int:
    """How long applied batch ids are remembered to apply a resent batch once (ASSAY_BATCH_RETENTION_DAYS)."""
    return int(float(os.environ.get("ASSAY_BATCH_RETENTION_DAYS", "30")) * 86_400_000)


#: How often a service prunes the batch ids older than the retention window.
PRUNE_EVERY_MS = 3_600_000


def heartbeat_timeout_ms() -> int:
    """How long a RUNNING run may go without a heartbeat before it reads as KILLED (ASSAY_HEARTBEAT_TIMEOUT)."""
    return int(float(os.environ.get("ASSAY_HEARTBEAT_TIMEOUT", "20")) * 1000)


#: Runs that ``count_runs`` counts exactly, by default: an index walk of a few milliseconds.
EXACT_COUNT_UP_TO = 10_000


#: A new run's experiment named rather than numbered: ``by-name:<project>:<experiment name>``. A process
#: that has never reached its server starts runs this way; the server finds or creates the experiment when
#: the spooled batch arrives (``TrackingService.ingest``).
BY_NAME = "by-name:"


def experiment_by_name(name: str, project: str | None) -> str:
    """The experiment id that stands for "the experiment called ``name``" until a store resolves it."""
    return f"{BY_NAME}{project or DEFAULT_PROJECT}:{name}"


def split_by_name(experiment_id: str) -> tuple[str, str] | None:
    """(project, experiment name) of an id made by ``experiment_by_name``; None for a real id."""
    if not experiment_id.startswith(BY_NAME):
        return None
    project, sep, name = experiment_id[len(BY_NAME) :].partition(":")
    if not sep or not name:
        raise InvalidInput(f"experiment {experiment_id!r} is not {BY_NAME}<project>:<name>")
    return project, name


def was_reaped(info: RunInfo) -> bool:
    """A run marked KILLED because its heartbeat stopped (not ended by a caller): it may come back."""
    return (
        info.status is RunStatus.KILLED
        and info.heartbeat_at is not None
        and info.heartbeat_at == info.end_time
    )


def as_read(info: RunInfo, cutoff: int) -> RunInfo:
    """``info`` as a reader sees it: a RUNNING run whose last heartbeat is older than ``cutoff`` reads as
    KILLED, ended at that heartbeat, before the reaper (``assay.embedded.reaper``) writes it so. Reads
    never write; this keeps them right in between."""
    if info.status is RunStatus.RUNNING and info.heartbeat_at is not None and info.heartbeat_at < cutoff:
        return replace(info, status=RunStatus.KILLED, end_time=info.heartbeat_at)
    return info


class Tracking(ABC):
    """What tracking offers, whatever the backend (embedded, remote, or in front of either as one caller).

    Contract for every implementation:

    - Thread-safe: any method may be called from any thread at once.
    - Errors: ``NotFound`` for unknown ids, ``InvalidInput`` for values that break a rule (the message
      says which and how to fix it), ``Conflict`` when a request contradicts stored data,
      ``InvalidState`` for writes to ended or deleted runs or experiments, ``PermissionDenied`` when the
      caller lacks the role (``AuthorizedTracking``, or a server), ``Unavailable`` when the store or
      server cannot be reached (nothing was applied; the same call may be made again).
    - Atomicity: a method that writes applies all of its change or none of it.
    - Visibility: once a write method returns, every reader of the same store sees the change.
    - Ids: experiment ids are whole numbers as text; run ids 1 to 32 ASCII letters and digits.
    """

    # experiments
    @abstractmethod
    def create_experiment(self, name: str, project: str | None = None) -> Experiment:
        """A new experiment in ``project`` (default: the project named "default"); ``Conflict`` if that
        project has one of this name already (names are unique per project), ``NotFound`` for an unknown
        project."""

    @abstractmethod
    def get_experiment(self, experiment_id: str, with_run_count: bool = True) -> Experiment:
        """The experiment, deleted or not, with its (exact) run count and last activity; with
        ``with_run_count`` False its ``run_count`` may be None, not counted (a caller that shows
        ``count_runs`` instead: an exact count reads every run of the experiment)."""

    def count_runs(self, experiment_id: str, exact_up_to: int = EXACT_COUNT_UP_TO) -> RunCount:
        """How many active runs the experiment holds: exactly up to ``exact_up_to``; beyond, an
        implementation may answer an estimate (``exact`` False) rather than read every run. This default
        counts exactly (``get_experiment``'s run count)."""
        return RunCount(self.get_experiment(experiment_id).run_count or 0)

    @abstractmethod
    def get_experiment_by_name(self, name: str, project: str | None = None) -> Experiment | None:
        """The experiment called ``name`` in ``project``, or None (deleted ones too: a name stays taken).

        Without ``project``: the one experiment of that name among those the caller may read, else
        ``project/name`` read as a name in a project; ``InvalidInput`` listing the candidates when several
        projects hold the name (``assay.services.experiment_names``). ``NotFound`` for an unknown
        ``project``."""

    @abstractmethod
    def list_experiments(
        self, include_deleted: bool = False, project: str | None = None, name: str | None = None
    ) -> list[Experiment]:
        """Experiments by id (only ``project``'s if given, only those called exactly ``name`` if given;
        deleted ones only if asked)."""

    @abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete: hidden from listings, refuses new runs, restorable; its runs are kept."""

    @abstractmethod
    def restore_experiment(self, experiment_id: str) -> None:
        """Undo ``delete_experiment``."""

    @abstractmethod
    def rename_experiment(self, experiment_id: str, name: str) -> None:
        """Give the experiment a new name (``Conflict`` if its project has one of that name); its id, runs
        and artifacts stay. Needs the project's owner, as deleting does."""

    # runs
    @abstractmethod
    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
        parent_run_id: str | None = None,
        run_id: str | None = None,
        start_time: int | None = None,
        user: str | None = None,
    ) -> RunInfo:
        """A RUNNING run (validated as ``new_run`` does); ``InvalidState`` in a deleted experiment,
        ``Conflict`` for a run id already used."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with its params, tags and metric summaries (last, min, max, step, count per key).
        A RUNNING run whose heartbeat stopped reads as KILLED."""

    @abstractmethod
    def get_run_info(self, run_id: str) -> RunInfo:
        """The run's attributes alone (status, times, artifact URI...), cheaper than ``get_run``."""

    @abstractmethod
    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        """Add params (values kept as text); one already logged must be given the same value again, else
        ``Conflict`` and nothing is written."""

    @abstractmethod
    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        """Set tags, replacing earlier values (an ended run may still be tagged; a deleted one not)."""

    @abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag; ``NotFound`` if the run has none called ``key``."""

    @abstractmethod
    def ingest(self, batch: WriteBatch) -> None:
        """Create runs, append points and end runs, in that order, all or nothing.

        What the SDK's background writer sends. Every operation is checked first (``check_batch``): new
        runs as by ``create_run``, points (valid key, at least one point, arrays of one length), ends (a
        final status, a time in range). Every run that receives points must exist (or be created in the
        same batch) and accept writes. A batch with a ``batch_id`` already applied is not applied again;
        one older than the store's retention window is refused (``InvalidState``).
        """

    def log_series(self, batches: Sequence[SeriesBatch]) -> None:
        """Append points to existing runs (a WriteBatch of series only)."""
        self.ingest(WriteBatch(series=batches))

    @abstractmethod
    def end_run(
        self, run_id: str, status: RunStatus, end_time: int | None = None, batches: Sequence[SeriesBatch] = ()
    ) -> None:
        """End a run with a final status (after appending ``batches``, in the same transaction);
        ``InvalidState`` if it has ended already (a run reaped for a silent heartbeat may still end)."""

    @abstractmethod
    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Record that ``run_ids`` are alive; a run reaped while its process was merely slow revives."""

    @abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Soft-delete: hidden from searches, refuses writes, restorable."""

    @abstractmethod
    def rename_run(self, run_id: str, name: str) -> None:
        """Give the run a new display name (its id stays; runs' names need not be unique)."""

    @abstractmethod
    def restore_run(self, run_id: str) -> None:
        """Undo ``delete_run``."""

    @abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every point of ``key`` in logged order (empty arrays if nothing was logged under it)."""

    def get_metric_series(self, run_id: str, key: str, max_points: int = 1000) -> Downsampled:
        """The series ``key`` for drawing: at most ``max_points`` buckets (``assay.series.downsample``)."""
        return downsample(self.get_metric_history(run_id, key), max_points)

    @abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str] = (),
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunList:
        """Runs of ``experiment_ids`` (every readable experiment when empty) matching ``filter`` (the
        search language, ``assay.query``), ordered by ``order_by``, one page at a time: pass the
        returned ``next_page_token`` back for the next. A filter that does not parse raises
        ``FilterSyntaxError`` with a caret under the offending character."""

    # artifacts
    @abstractmethod
    def write_artifact(self, run_id: str, path: str, data: bytes) -> None:
        """Write ``data`` as the artifact file ``path`` (relative to the run; parents created)."""

    @abstractmethod
    def upload_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None
    ) -> None:
        """Copy a local file or directory (with its name) under ``artifact_path``."""

    @abstractmethod
    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The entries directly under ``path`` (default: the run's root), directories first."""

    def check_artifact_write(self, run_id: str) -> None:
        """Raise what ``write_artifact`` would for the run itself (``NotFound``, ``PermissionDenied``),
        writing nothing: lets a large upload be refused before its body is read."""
        self.get_run_info(run_id)

    @abstractmethod
    def read_artifact(self, run_id: str, path: str) -> bytes:
        """The whole content of the artifact file ``path``; ``NotFound`` if it is not a file."""

    @abstractmethod
    def download_artifacts(self, run_id: str, path: str | None, dst: str | os.PathLike[str]) -> Path:
        """Copy the artifact file or directory ``path`` into the local directory ``dst``; the local path."""

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections; the default does nothing."""


def new_run(
    experiment_id: str,
    name: str | None = None,
    params: Mapping[str, object] | None = None,
    tags: Mapping[str, object] | None = None,
    parent_run_id: str | None = None,
    run_id: str | None = None,
    start_time: int | None = None,
    user: str | None = None,
) -> NewRun:
    """Validate a run to create and fill in its id, clock and user: a pure step the SDK runs at the call."""
    rid = run_id or uuid.uuid4().hex
    p = {v.check_key(k, "param"): v.param_value(k, val) for k, val in (params or {}).items()}
    t = {v.check_key(k, "tag"): v.tag_value(k, val) for k, val in (tags or {}).items()}
    new = NewRun(
        run_id=rid,
        experiment_id=str(experiment_id),
        name=v.check_name(name, "run") if name is not None else _default_run_name(rid),
        start_time=now_ms() if start_time is None else v.time_ms(start_time, "start_time"),
        user=user or _current_user(),
        params=p,
        tags=t,
        parent_run_id=parent_run_id,
    )
    check_run_id(rid)
    return new


def check_run_id(run_id: str) -> None:
    if not (0 < len(run_id) <= 32 and run_id.isascii() and run_id.isalnum()):
        raise InvalidInput(f"run id {run_id!r} must be 1 to 32 ASCII letters and digits")


def check_new_run(r: NewRun) -> None:
    """The invariants of a run to create, checked again where it is applied (it may come over the wire)."""
    check_run_id(r.run_id)
    v.check_name(r.name, "run")
    if not str(r.experiment_id).isdigit():
        raise NotFound(f"no experiment with id {r.experiment_id!r}: ids are whole numbers")
    for k, val in r.params.items():
        v.param_value(v.check_key(k, "param"), val)
    for k, val in r.tags.items():
        v.tag_value(v.check_key(k, "tag"), val)
    v.time_ms(r.start_time, f"the start time of run {r.run_id}")
    if not isinstance(r.user, str) or len(r.user) > v.MAX_NAME:
        raise InvalidInput(f"the user of run {r.run_id} must be a string of at most {v.MAX_NAME} characters")
    if r.parent_run_id is not None:
        check_run_id(r.parent_run_id)


def check_series(b: SeriesBatch) -> None:
    """The invariants of points to append: a valid key, at least one point, three arrays of one length
    and of the stored types, timestamps within 0 to 2**63 - 1 ms."""
    check_run_id(b.run_id)
    key = v.check_key(b.key, "metric")
    for name, a, kind in (
        ("steps", b.steps, "i"),
        ("timestamps", b.timestamps, "i"),
        ("values", b.values, "f"),
    ):
        if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype.kind != kind or a.dtype.itemsize != 8:
            raise InvalidInput(
                f"metric {key!r} of run {b.run_id}: {name} must be a 1-d array of 64-bit numbers"
            )
    n = b.values.shape[0]
    if not n:
        raise InvalidInput(f"metric {key!r} of run {b.run_id} has no points: send at least one")
    if b.steps.shape[0] != n or b.timestamps.shape[0] != n:
        raise InvalidInput(
            f"metric {key!r} of run {b.run_id} has {b.steps.shape[0]} steps, {b.timestamps.shape[0]} "
            f"timestamps and {n} values; they must be as many"
        )
    if (int(b.timestamps[0]) if n == 1 else int(b.timestamps.min())) < 0:  # min() of one costs 2 us
        raise InvalidInput(
            f"metric {key!r} of run {b.run_id}: timestamps are ms since the Unix epoch and cannot be negative"
        )


def check_end(e: RunEnd) -> None:
    check_run_id(e.run_id)
    if not RunStatus(e.status).is_final:
        raise InvalidInput("a run ends with a final status: FINISHED, FAILED or KILLED")
    v.time_ms(e.end_time, f"the end time of run {e.run_id}")


def check_batch(batch: WriteBatch) -> None:
    """Every operation of a batch to ingest checked before any is applied (it may come over the wire)."""
    for r in batch.new_runs:
        check_new_run(r)
    for b in batch.series:
        check_series(b)
    for e in batch.ends:
        check_end(e)


def check_writable(info: RunInfo) -> None:
    """InvalidState unless the run accepts writes: not deleted, and running (or reaped, so it may revive)."""
    if info.lifecycle is Lifecycle.DELETED:
        raise InvalidState(
            f"run {info.run_id} is deleted: restore it (assay runs restore {info.run_id}) first"
        )
    if info.status.is_final and not was_reaped(info):
        raise InvalidState(f"run {info.run_id} has ended ({info.status.value}); start a new run to log more")


_USER: list[str] = []


def _current_user() -> str:
    if not _USER:
        try:
            _USER.append(getpass.getuser())
        except (KeyError, OSError):
            _USER.append("unknown")
    return _USER[0]


_ADJ = ("amber", "brisk", "calm", "deft", "eager", "fair", "keen", "lucid", "merry", "noble", "quick", "sly")
_NOUN = (
    "otter",
    "heron",
    "lynx",
    "finch",
    "bison",
    "crane",
    "gecko",
    "ibex",
    "koala",
    "moth",
    "newt",
    "wren",
)


def _default_run_name(run_id: str) -> str:
    n = int(run_id[:8], 16) if all(c in "0123456789abcdef" for c in run_id[:8]) else hash(run_id)
    return f"{_ADJ[n % len(_ADJ)]}-{_NOUN[(n // 12) % len(_NOUN)]}-{n % 1000}"
