"""A task that an engine may run more than once, and what each of its executions does first.

Dask runs a task again on another worker when the worker running it dies, or when the worker holding its
result dies before the driver fetched it. Every execution of the task carries the same run id, decided
before it was submitted; the run with that id in the store says what the executions before this one did,
so each execution of a task marked ``Task.may_rerun`` (the Dask engine marks its tasks) reads it first:

- **no such run**: this is the first execution, or an earlier one was lost before it created the run:
  the task runs under its id.
- **the run has ended** (FINISHED, FAILED or KILLED): an earlier execution did the work (its worker died
  holding the result), or the task was stopped meanwhile (a cancelled job's run is ended by its worker,
  so that a task starting late does not run). Nothing runs again; the result is the one the store holds.
- **the run is unended** (RUNNING, or read KILLED because its heartbeat stopped): an earlier execution was
  lost mid-way. That run is ended KILLED and keeps what it logged, tagged ``assay.rerun.as`` with the run
  that replaces it; the task runs again in a fresh run, with the same parent, params and tags, tagged
  ``assay.rerun.of``. A job's re-run continues the attempt's log after what the lost execution shipped.

Why a fresh run rather than the lost execution's: what the lost execution logged was accepted and stays
where it was logged, never logged twice (a re-run into the same run would add step 0, 1, ... again, with
other values, beside the first ones, and its params again). And a lost execution may not be dead, only cut
off from the scheduler: it cannot attach a single point to the re-run's run, since its own run has ended
and the store refuses its points. A sweep counts the trial once: the driver takes the run its result
names, and a resumed sweep skips the KILLED run as it skips any killed trial. A job's own ``run_id`` stays
the first run; the fresh one carries the job's id and attempt tags.

Not covered: a lost execution that is still alive and had not yet created its run when the re-run looked
(the two then race for the id, and the one that creates it second fails); a sweep cannot prune a re-run
(the driver watches the first run).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING

from assay.entities import Run, RunStatus
from assay.errors import InvalidState, NotFound
from assay.runner.entities import RERUN_AS_TAG, RERUN_OF_TAG, Result
from assay.runner.task import Task, TaskResult

if TYPE_CHECKING:
    from assay.sdk.client import Client


def decide(task: Task, client: Client) -> Task | TaskResult:
    """Before an execution of ``task``: the task to run (itself, or itself in a fresh run), or the result
    an earlier execution left in the store (see the module docstring)."""
    try:
        run = client.get_run(task.run_id)
    except NotFound:
        return task
    if run.info.end_time is not None:
        return stored_result(run)
    fresh = uuid.uuid4().hex
    reason = (
        "the process running this task was lost (its engine's worker died or was cut off): "
        f"the task ran again as run {fresh}"
    )
    try:
        client.backend.end_run(task.run_id, RunStatus.KILLED)
    except InvalidState:  # it ended meanwhile: the lost execution was alive and ended its run
        return stored_result(client.get_run(task.run_id))
    client.set_tags(task.run_id, {"assay.error": reason, RERUN_AS_TAG: fresh})
    return dataclasses.replace(task, run_id=fresh, tags={**task.tags, RERUN_OF_TAG: task.run_id})


def stored_result(run: Run) -> TaskResult:
    """The result of a task whose run has ended, as the store has it."""
    status = run.info.status
    if status is RunStatus.FINISHED:
        return TaskResult(run.info.run_id, Result.SUCCEEDED, None, run.metrics)
    error = run.tags.get("assay.error") or f"its run ended {status.value}"
    return TaskResult(run.info.run_id, Result.FAILED, error, run.metrics)
