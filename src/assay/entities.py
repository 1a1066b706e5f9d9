"""The things assay stores, as frozen dataclasses: experiments, runs, metric points and summaries, artifacts.

Pure module: no I/O. Times are integer milliseconds since the Unix epoch (UTC), as in MLflow.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from assay.optional import require

if TYPE_CHECKING:
    import pandas


class RunStatus(enum.StrEnum):
    """Where a run is in its life. RUNNING is the only status that is not final."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_final(self) -> bool:
        return self is not RunStatus.RUNNING


class Lifecycle(enum.StrEnum):
    """Soft deletion: a deleted run or experiment is hidden from searches until restored."""

    ACTIVE = "active"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle: Lifecycle = Lifecycle.ACTIVE
    created_at: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)
    run_count: int | None = None
    last_activity: int | None = None
    project: str = "default"
    #: The caller's role in the project ("viewer", "editor", "owner") where roles apply (a team server,
    #: for a non-admin); None where the caller may do anything (an embedded store, an admin).
    role: str | None = None


@dataclass(frozen=True, slots=True)
class RunCount:
    """How many runs an experiment holds: ``n`` exactly, or with ``exact`` False an estimate (for a count
    too large to make on every page view: PostgreSQL's planner estimate)."""

    n: int
    exact: bool = True


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    user: str
    artifact_uri: str
    lifecycle: Lifecycle = Lifecycle.ACTIVE
    parent_run_id: str | None = None
    heartbeat_at: int | None = None

    @property
    def duration(self) -> int | None:
        """Milliseconds from start to end, or None while running."""
        return None if self.end_time is None else self.end_time - self.start_time


class MetricSummary(NamedTuple):
    """What the store keeps per (run, key) so searching and sorting never scan a series.

    A NamedTuple rather than a dataclass: searches build one per run and metric, and tuples build fast.
    """

    key: str
    last: float
    min: float
    max: float
    last_step: int
    last_timestamp: int
    num_points: int


@dataclass(frozen=True, slots=True)
class Run:
    """A run as read back: its info, params and tags as given, and a summary of each metric series."""

    info: RunInfo
    params: Mapping[str, str]
    tags: Mapping[str, str]
    metric_summaries: Mapping[str, MetricSummary]

    @property
    def id(self) -> str:
        return self.info.run_id

    @property
    def metrics(self) -> dict[str, float]:
        """The latest value (at the highest step) of each metric, as MLflow's ``run.data.metrics``."""
        return {k: s.last for k, s in self.metric_summaries.items()}


@dataclass(frozen=True, slots=True)
class MetricHistory:
    """One metric series in logged order: parallel numpy arrays of steps, timestamps (ms) and values."""

    key: str
    steps: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def to_pandas(self) -> pandas.DataFrame:
        """The series as a DataFrame (step, timestamp, value); needs pandas (``assay[pandas]``)."""
        pd = require("pandas", "pandas", "MetricHistory.to_pandas()")
        frame: pandas.DataFrame = pd.DataFrame(
            {"step": self.steps, "timestamp": self.timestamps, "value": self.values}
        )
        return frame


@dataclass(frozen=True, slots=True)
class SeriesBatch:
    """Points of one (run, key) series to append, as the background writer sends them to a sink."""

    run_id: str
    key: str
    steps: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class NewRun:
    """A run to create, as the SDK queues it: the id, clock and identity are decided by the caller."""

    run_id: str
    experiment_id: str
    name: str
    start_time: int
    user: str
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    parent_run_id: str | None = None
    #: Whether the run's process sends heartbeats. A run made by a client that never does (MLflow's) is
    #: created without one, so the reaper never marks it KILLED while it is merely quiet.
    heartbeats: bool = True


@dataclass(frozen=True, slots=True)
class RunEnd:
    """A run to end with ``status`` at ``end_time`` (ms)."""

    run_id: str
    status: RunStatus
    end_time: int


def split_parent(batch_id: str) -> str | None:
    """The id of the batch that ``batch_id`` was split from (``WriteBatch.split`` names the parts
    ``<batch id>.<index>``), or None for a whole batch."""
    parent, dot, index = batch_id.rpartition(".")
    return parent if dot and parent and index.isdigit() else None


def batch_created_ms(batch_id: str) -> int | None:
    """The creation time (ms) in a batch id ``t<ms, 12 hex digits>-<random>`` made by the SDK (also in
    the ids split from it); None for ids of another form.

    The store remembers applied ids for a retention window only; the time in the id lets it refuse a
    batch too old to be deduplicated instead of applying it a second time."""
    if not batch_id.startswith("t"):
        return None
    head = batch_id[1:].split("-", 1)[0]
    try:
        return int(head, 16) if len(head) == 12 else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """What the background writer sends in one go, applied in this order in one transaction:
    runs to create, then points to append, then runs to end."""

    new_runs: Sequence[NewRun] = ()
    series: Sequence[SeriesBatch] = ()
    ends: Sequence[RunEnd] = ()
    #: Set by the sender so a batch sent again (after a timeout, or replayed from the spool) is applied once.
    batch_id: str | None = None

    def __bool__(self) -> bool:
        return bool(self.new_runs or self.series or self.ends)

    def split(self) -> list[WriteBatch]:
        """One batch per operation, in order: used to isolate an operation the backend refuses."""
        parts = (
            [WriteBatch(new_runs=[r]) for r in self.new_runs]
            + [WriteBatch(series=[s]) for s in self.series]
            + [WriteBatch(ends=[e]) for e in self.ends]
        )
        if self.batch_id is None:
            return parts
        return [replace(p, batch_id=f"{self.batch_id}.{i}") for i, p in enumerate(parts)]


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One entry of an artifact listing; ``path`` is relative to the run's artifact root."""

    path: str
    is_dir: bool
    size: int | None


class RunList(list[Run]):
    """A page of search results: a list of runs plus the token for the next page (None at the end) and
    for the previous one (None on the first page)."""

    def __init__(
        self,
        runs: list[Run] | None = None,
        next_page_token: str | None = None,
        prev_page_token: str | None = None,
    ) -> None:
        super().__init__(runs or [])
        self.next_page_token = next_page_token
        self.prev_page_token = prev_page_token

    def to_pandas(self) -> pandas.DataFrame:
        """One row per run: ``run_id``, attributes, then ``params.*``, ``metrics.*`` and ``tags.*`` columns."""
        pd = require("pandas", "pandas", "RunList.to_pandas()")

        rows: list[dict[str, Any]] = []
        for run in self:
            i = run.info
            row: dict[str, Any] = {
                "run_id": i.run_id,
                "experiment_id": i.experiment_id,
                "name": i.name,
                "status": i.status.value,
                "start_time": pd.to_datetime(i.start_time, unit="ms", utc=True),
                "end_time": None if i.end_time is None else pd.to_datetime(i.end_time, unit="ms", utc=True),
                "duration_s": None if i.duration is None else i.duration / 1000.0,
                "user": i.user,
                "parent_run_id": i.parent_run_id,
            }
            row.update({f"params.{k}": v for k, v in run.params.items()})
            row.update({f"metrics.{k}": v for k, v in run.metrics.items()})
            row.update({f"tags.{k}": v for k, v in run.tags.items()})
            rows.append(row)
        frame: pandas.DataFrame = pd.DataFrame(rows)
        return frame
