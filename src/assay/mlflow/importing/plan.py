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

Those decisions are made in the project imported into. An assay run id is unique in the whole store, so
an MLflow run is imported into one project only: when runs to import are held (imported earlier) by another
project, the import is refused before anything is written (``refuse_held_elsewhere``), rather than copied
under new ids, counted as present, or used by the target project's model versions. That holds for runs of a
project the caller may not read as well: the writer finds them apart (a search shows readable runs only)
and they are refused without naming their project.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from assay.access import DEFAULT_PROJECT
from assay.entities import MetricHistory, RunStatus
from assay.errors import Conflict
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
    #: The assay project holding it.
    project: str = DEFAULT_PROJECT


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


def refuse_held_elsewhere(
    runs: Sequence[MlflowRun],
    existing: Mapping[str, Existing],
    project: str,
    experiment_names: Mapping[str, str],
    unreadable: Collection[str] = (),
) -> None:
    """Raise ``Conflict`` if another project than ``project`` holds runs of ``runs`` imported from MLflow
    (runs deleted in MLflow aside: they are skipped anyway), or if a project the caller may not read holds
    runs of ``runs`` (``unreadable``: their MLflow run ids). The one-line message names that project (the
    first by name when several do; never one the caller may not read), how many runs it holds, of which
    MLflow experiments (``experiment_names``: MLflow experiment id -> name), and what to do instead."""
    elsewhere: dict[str, list[MlflowRun]] = {}
    hidden: list[MlflowRun] = []
    for run in runs:
        have = existing.get(run.run_id)
        if run.deleted:
            continue
        if have is not None and have.from_mlflow and have.project != project:
            elsewhere.setdefault(have.project, []).append(run)
        elif have is None and run.run_id in unreadable:
            hidden.append(run)
    if elsewhere:
        holder = min(elsewhere)
        more = sum(len(r) for p, r in elsewhere.items() if p != holder) + len(hidden)
        others = f" (and {more} more in other projects)" if more else ""
        raise Conflict(
            f"{_runs_of(elsewhere[holder], experiment_names)} in project {holder!r} already{others}: "
            "imported runs keep their MLflow ids, so each is imported into one project only; import into "
            f"--project {holder}, or choose other experiments with --experiment"
        )
    if hidden:
        raise Conflict(
            f"{_runs_of(hidden, experiment_names)} already in a project you may not read: imported runs "
            "keep their MLflow ids, so each is imported into one project only; ask an admin which project "
            "holds them and for a role there to import into it with --project, or choose other "
            "experiments with --experiment"
        )


def _runs_of(held: Sequence[MlflowRun], experiment_names: Mapping[str, str]) -> str:
    """A refusal's subject: "2 runs of MLflow experiments 'a', 'b' are" (or "1 run of ... is")."""
    names = sorted({experiment_names.get(r.experiment_id, r.experiment_id) for r in held})
    runs_of = f"{len(held)} runs" if len(held) > 1 else "1 run"
    experiments = "experiments" if len(names) > 1 else "experiment"
    verb = "are" if len(held) > 1 else "is"
    return f"{runs_of} of MLflow {experiments} {', '.join(map(repr, names))} {verb}"


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
