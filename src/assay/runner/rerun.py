"""A task that an engine may run more than once, and what each of its executions does first.

Dask runs a task again on another worker when the worker running it dies, or when the worker holding its
result dies before the driver fetched it. Every execution of the task carries the same run id, decided
before it was submitted. An execution that replaces a lost one runs in a fresh run, and the lost run is
tagged ``assay.rerun.as`` with the fresh run's id: the task's runs form a chain, from the run its id
names to the run of its latest execution. Each execution of a task marked ``Task.may_rerun`` (the Dask
engine marks its tasks) follows that chain first (``follow``: at most ``MAX_HOPS`` links; a chain that
loops or is longer fails the execution, and nothing runs) and looks at its last link:

- **no run has its id**: this is the first execution, or the one before was lost before it created its
  run: the task runs under that id (tagged ``assay.rerun.of`` with the run before it in the chain, if any).
- **the run has ended** (FINISHED, FAILED, or KILLED by a caller): an earlier execution did the work (its
  worker died holding the result), or the task was stopped meanwhile (a cancelled job's run is ended by
  its worker, so that a task starting late does not run). Nothing runs again; the result is the one the
  store holds, naming that run (a FINISHED run's result is SUCCEEDED with its metrics).
- **the run is unended**: RUNNING, or reaped, that is read (or written) KILLED because its heartbeat
  stopped, ended at its last heartbeat (``assay.services.tracking.was_reaped``); a reaped run may come
  back, so it has not ended. An earlier execution was lost mid-way. That run is tagged ``assay.rerun.as``
  with a fresh run id, then ended KILLED for good (should it have ended meanwhile, its lost execution
  being alive, the tag is removed and that end's result returned), keeping what it logged, with an
  ``assay.error`` saying why; the task runs again in the fresh run, with the same parent, params and
  tags, tagged ``assay.rerun.of`` with the run it replaces. A job's re-run continues the attempt's log
  after what the lost executions shipped.

The lost run is tagged before it is ended so that a stop (``assay.runner.execute.abandon``, which also
follows the chain) never finds the chain ending at a run already ended while its re-run starts: it follows
the tag to the fresh run and ends that one (creating it KILLED if the re-run has not yet).

Why a fresh run rather than the lost execution's: what the lost execution logged was accepted and stays
where it was logged, never logged twice (a re-run into the same run would add step 0, 1, ... again, with
other values, beside the first ones, and its params again). And a lost execution may not be dead, only cut
off from the scheduler: it cannot attach a single point to the re-run's run, since its own run has ended
and the store refuses its points. A sweep counts the trial once: the driver takes the run its result
names (the chain's last), and a resumed sweep skips the KILLED runs as it skips any killed trial. A job's
own ``run_id`` stays the first run; the later ones carry the job's id and attempt tags.

Not covered: a lost execution that is still alive and had not yet created its run when the re-run looked
(the two then race for the id, and the one that creates it second fails); a sweep cannot prune a re-run
(the driver watches the first run).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING

from assay.entities import Run, RunInfo, RunStatus
from assay.errors import InvalidState, NotFound
from assay.runner.entities import RERUN_AS_TAG, RERUN_OF_TAG, Result
from assay.runner.task import Task, TaskResult
from assay.services.tracking import was_reaped

if TYPE_CHECKING:
    from assay.sdk.client import Client

#: How many ``assay.rerun.as`` links ``follow`` walks at most. Dask gives up on a task whose workers die
#: long before (its ``distributed.scheduler.allowed-failures`` is 3 by default): a longer chain was made
#: by hand.
MAX_HOPS = 100


@dataclasses.dataclass(frozen=True)
class ChainEnd:
    """The last link of a task's chain of runs: its id, the run (None while no run has that id) and the
    run it replaces (None for the task's first run)."""

    run_id: str
    run: Run | None
    of: str | None


def follow(client: Client, run_id: str) -> ChainEnd:
    """The last run of the chain starting at ``run_id``, each run tagged ``assay.rerun.as`` leading to the
    run named there. ``InvalidState`` (one line) for a chain that loops or has more than ``MAX_HOPS``
    links."""
    seen = {run_id}
    of: str | None = None
    for _ in range(MAX_HOPS + 1):
        try:
            run = client.get_run(run_id)
        except NotFound:
            return ChainEnd(run_id, None, of)
        after = run.tags.get(RERUN_AS_TAG)
        if not after:
            return ChainEnd(run_id, run, of)
        if after in seen:
            raise InvalidState(
                f"the runs of this task re-run each other in a loop: run {run_id} is tagged "
                f"{RERUN_AS_TAG}={after}, a run before it; fix or delete that tag"
            )
        seen.add(after)
        of, run_id = run_id, after
    raise InvalidState(
        f"this task's chain of re-runs has more than {MAX_HOPS} links ({RERUN_AS_TAG} tags), "
        f"up to run {of}: it is not run again"
    )


def unended(info: RunInfo) -> bool:
    """The run has not ended for good: RUNNING, or reaped for a silent heartbeat (it may come back)."""
    return info.end_time is None or was_reaped(info)


def decide(task: Task, client: Client) -> Task | TaskResult:
    """Before an execution of ``task``: the task to run (itself, or itself in another run of its chain),
    or the result an earlier execution left in the store (see the module docstring)."""
    try:
        end = follow(client, task.run_id)
    except InvalidState as exc:
        return TaskResult(task.run_id, Result.FAILED, exc.message)
    if end.run is None:
        return task if end.of is None else _replacing(task, end.run_id, end.of)
    if not unended(end.run.info):
        return stored_result(end.run)
    lost, fresh = end.run_id, uuid.uuid4().hex
    client.set_tags(lost, {RERUN_AS_TAG: fresh})
    try:
        client.backend.end_run(lost, RunStatus.KILLED)
    except InvalidState:  # it ended meanwhile: the lost execution was alive and ended its run
        client.delete_tag(lost, RERUN_AS_TAG)
        return stored_result(client.get_run(lost))
    reason = (
        "the process running this task was lost (its engine's worker died or was cut off): "
        f"the task ran again as run {fresh}"
    )
    client.set_tags(lost, {"assay.error": reason})
    return _replacing(task, fresh, lost)


def _replacing(task: Task, run_id: str, lost: str) -> Task:
    """``task`` in the run ``run_id``, which replaces the run ``lost``."""
    return dataclasses.replace(task, run_id=run_id, tags={**task.tags, RERUN_OF_TAG: lost})


def stored_result(run: Run) -> TaskResult:
    """The result of a task whose run has ended, as the store has it."""
    status = run.info.status
    if status is RunStatus.FINISHED:
        return TaskResult(run.info.run_id, Result.SUCCEEDED, None, run.metrics)
    error = run.tags.get("assay.error") or f"its run ended {status.value}"
    return TaskResult(run.info.run_id, Result.FAILED, error, run.metrics)
