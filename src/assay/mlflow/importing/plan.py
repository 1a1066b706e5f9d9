"""What is new and what is already in assay, decided from the ids an import leaves behind.

Pure: no I/O. An imported run keeps its MLflow run id (MLflow's 32 hex digits are valid assay ids) and
carries the tags ``mlflow.run_id`` and ``mlflow.experiment_id``, so an import run again recognises it:

- a run assay does not have is created (``CREATE``);
- a run assay holds as ended, or deleted since, is left alone (``PRESENT``);
- a run assay holds as RUNNING was still running in MLflow at the last import (or that import stopped
  before ending it): its new points are appended and, if MLflow has ended it since, it is ended
  (``UPDATE``). So is one that assay reaped (KILLED for a silent heartbeat), which happens to a running
  run imported into a team server: the wire does not carry ``NewRun.heartbeats``. New points are those
  MLflow has and assay lacks, compared as (step, timestamp, value) with their multiplicity, so nothing is
  appended twice;
- a run deleted in MLflow, or whose id assay holds for a run that did not come from MLflow, is skipped.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from assay.entities import MetricHistory, RunStatus
from assay.mlflow.importing.sources import MlflowRun, MlflowSeries

#: The tags that tie an assay run to the MLflow run it came from.
RUN_ID_TAG = "mlflow.run_id"
EXPERIMENT_ID_TAG = "mlflow.experiment_id"
#: The version tag that ties an assay model version to its MLflow version number.
VERSION_TAG = "mlflow.version"


class Action(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    PRESENT = "present"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Existing:
    """What assay holds under an MLflow run's id."""

    status: RunStatus
    from_mlflow: bool
    #: KILLED by assay's reaper, not ended by anyone: it may still take points and be ended.
    reaped: bool = False
    #: Deleted in assay since it was imported: left as it is.
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class RunPlan:
    run: MlflowRun
    action: Action
    reason: str = ""


def plan_runs(runs: Sequence[MlflowRun], existing: Mapping[str, Existing]) -> list[RunPlan]:
    """One decision per MLflow run (see the module doc)."""
    out = []
    for run in runs:
        have = existing.get(run.run_id)
        if run.deleted:
            out.append(RunPlan(run, Action.SKIP, f"run {run.run_id} is deleted in MLflow"))
        elif not (0 < len(run.run_id) <= 32 and run.run_id.isascii() and run.run_id.isalnum()):
            out.append(RunPlan(run, Action.SKIP, f"run id {run.run_id!r} is not a valid assay run id"))
        elif have is None:
            out.append(RunPlan(run, Action.CREATE))
        elif not have.from_mlflow:
            reason = f"assay already has a run {run.run_id} that was not imported from MLflow"
            out.append(RunPlan(run, Action.SKIP, reason))
        elif (have.status is RunStatus.RUNNING or have.reaped) and not have.deleted:
            out.append(RunPlan(run, Action.UPDATE))
        else:
            out.append(RunPlan(run, Action.PRESENT))
    return out


def final_status(run: MlflowRun) -> RunStatus | None:
    """The assay status an MLflow run ends with, or None while it runs (RUNNING, SCHEDULED)."""
    try:
        status = RunStatus(run.status)
    except ValueError:
        return None
    return status if status.is_final else None


def _points(steps: np.ndarray, stamps: np.ndarray, values: np.ndarray) -> list[tuple[int, int, int]]:
    # Values compared by their bits, so NaN equals NaN.
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    return list(zip(steps.tolist(), stamps.tolist(), bits.tolist(), strict=True))


def new_points(source: MlflowSeries, held: MetricHistory) -> MlflowSeries | None:
    """The points of ``source`` that ``held`` lacks (counted with multiplicity), or None if none."""
    if len(held) == 0:
        return source
    have = Counter(_points(held.steps, held.timestamps, held.values))
    keep = np.zeros(len(source), dtype=bool)
    for i, p in enumerate(_points(source.steps, source.timestamps, source.values)):
        if have[p]:
            have[p] -= 1
        else:
            keep[i] = True
    if not keep.any():
        return None
    return MlflowSeries(
        source.run_id, source.key, source.steps[keep], source.timestamps[keep], source.values[keep]
    )
