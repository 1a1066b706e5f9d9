"""Rows to entities and back: the conversions between assay's tables and its entities.

Searches build thousands of entities at a time, so these are written for speed (positional access,
dict lookups for enums, the garbage collector paused for a burst of acyclic allocations).
"""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from assay.entities import Lifecycle, NewRun, Run, RunEnd, RunInfo, RunStatus
from assay.errors import NotFound
from assay.store.sql import docs
from assay.store.sql.schema import runs

DOC_COLUMNS = (runs.c.params_doc, runs.c.tags_doc, runs.c.metrics_doc)
RUN_COLUMNS = (
    runs.c.run_id,
    runs.c.experiment_id,
    runs.c.name,
    runs.c.status,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.user_name,
    runs.c.artifact_uri,
    runs.c.lifecycle,
    runs.c.parent_run_id,
    runs.c.heartbeat_at,
)


# A number as written in a filter: optional sign, ASCII digits with an optional point and exponent, or
# inf/infinity/nan in any case. Python's float() also takes '1_000', ' 7 ' and non-ASCII digits: not numbers.
_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:inf|infinity|nan))")


def as_number(value: str) -> float | None:
    """The number a param or tag value reads as, or None (NaN counts as none: it orders nowhere)."""
    if _NUMBER.fullmatch(value) is None:
        return None
    x = float(value)
    return None if math.isnan(x) else x


def nan_if_none(x: float | None) -> float:
    return math.nan if x is None else float(x)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, if it runs, for a burst of acyclic allocations."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_STATUS = {s.value: s for s in RunStatus}
_LIFECYCLE = {x.value: x for x in Lifecycle}


def run_info(row: Any) -> RunInfo:
    """A RunInfo from a row of RUN_COLUMNS (positional: searches build thousands of these)."""
    return RunInfo(
        row[0],
        str(row[1]),
        row[2],
        _STATUS[row[3]],
        row[4],
        row[5],
        row[6],
        row[7],
        _LIFECYCLE[row[8]],
        row[9],
        row[10],
    )


def run_from_row(row: Any) -> Run:
    """A Run from a row of RUN_COLUMNS followed by the three documents."""
    return Run(run_info(row), docs.unpack_kv(row[11]), docs.unpack_kv(row[12]), docs.unpack_metrics(row[13]))


class ExperimentClosed(Exception):
    """Raised inside ``apply`` when a new run's experiment is deleted or gone: nothing is written, and the
    caller says which, from the experiment itself."""

    def __init__(self, experiment_id: str) -> None:
        super().__init__(experiment_id)
        self.experiment_id = experiment_id


class EndRefused(Exception):
    """Raised by ``apply`` when a run to end is not running; the transaction is rolled back."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id


def run_row(
    r: NewRun, artifact_uri: str, end: RunEnd | None = None, metrics_doc: bytes | None = None
) -> dict[str, Any]:
    """The runs row of a new run: RUNNING, or already ended by ``end`` (created and ended in one batch),
    with the summary document of the metrics its creating batch logs (``docs.pack_metrics``)."""
    return {
        "run_id": r.run_id,
        "experiment_id": int(r.experiment_id),
        "name": r.name,
        "status": RunStatus.RUNNING.value if end is None else end.status.value,
        "start_time": r.start_time,
        "end_time": None if end is None else end.end_time,
        "user_name": r.user,
        "artifact_uri": artifact_uri,
        "lifecycle": Lifecycle.ACTIVE.value,
        "parent_run_id": r.parent_run_id,
        "heartbeat_at": r.start_time if r.heartbeats and end is None else None,
        "params_doc": docs.pack_kv(r.params),
        "tags_doc": docs.pack_kv(r.tags),
        "metrics_doc": metrics_doc,
    }


def kv_rows(run_pk: int, items: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"run_pk": run_pk, "key": k, "value": v, "num_value": as_number(v)} for k, v in items.items()]


def experiment_pk(experiment_id: str) -> int:
    """The integer key of an experiment id; NotFound for one that is not a whole number."""
    try:
        pk = int(experiment_id)
    except ValueError:
        raise NotFound(f"no experiment with id {experiment_id!r}: ids are whole numbers") from None
    if not 0 <= pk < 2**63:
        raise NotFound(f"no experiment with id {experiment_id!r}")
    return pk
