"""The jobs' state machine: every decision about a job (claim, heartbeat, finish, retry, expire, cancel)
as a pure function from a job and the time to the job after it. No I/O: the store reads the rows, applies
these functions inside its transaction, and writes back what they return; the tests drive them alone.

States and transitions (``now`` in ms; an attempt is one claim)::

    QUEUED --claim--> RUNNING                      (attempt += 1, a new run id, lease = now + lease)
    RUNNING --heartbeat--> RUNNING                 (lease renewed; tells the worker to stop on a cancel)
    RUNNING --finish(succeeded)--> SUCCEEDED
    RUNNING --finish(failed | timed_out)--> QUEUED (not_before = now + backoff)  if attempts remain
                                        \\--> FAILED                             otherwise
    RUNNING --expire (lease passed)--> QUEUED | FAILED  as a failure; its run is ended KILLED
    RUNNING --finish(cancelled)--> CANCELLED
    QUEUED --cancel--> CANCELLED
    RUNNING --cancel--> RUNNING with cancel_requested (the worker stops it, then finishes it CANCELLED)

An attempt's end clears its lease but keeps its ``worker``: the job's history (``assay jobs show``, the UI)
still says which worker ran the last attempt. Holding a job takes RUNNING and a live lease as well as the
name (``holds``), so the name left on an ended job grants nothing; the next claim replaces it.

A finish or heartbeat from a worker that no longer holds the lease (it expired and the job was requeued
or claimed again) is refused: so a job never has two live attempts, and a late report never overwrites
a newer attempt. A worker that cannot renew its lease stops the attempt itself before the lease ends.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from assay.errors import InvalidState
from assay.runner.entities import Job, JobState, Result

#: Longest wait between two attempts, whatever the backoff and the attempt number.
MAX_BACKOFF_S = 3600.0


@dataclass(frozen=True, slots=True)
class Step:
    """A job after a decision, and what else the store must do in the same transaction."""

    job: Job
    #: end this run (the attempt's) with this status if it is still running: "KILLED" or None
    end_run: str | None = None


def backoff_ms(job: Job) -> int:
    """How long a failed attempt ``job.attempt`` waits before the next: ``backoff_s * 2 ** (attempt - 1)``."""
    seconds = job.spec.backoff_s * (2 ** max(job.attempt - 1, 0))
    return int(min(seconds, MAX_BACKOFF_S) * 1000)


def claimable(job: Job, now: int) -> bool:
    """Whether a worker may take ``job`` now."""
    return job.state is JobState.QUEUED and job.not_before <= now and not job.cancel_requested


def claim(job: Job, now: int, worker: str, lease_ms: int, run_id: str) -> Job:
    """``worker`` takes ``job`` for its next attempt, whose run will be ``run_id``."""
    if not claimable(job, now):
        raise InvalidState(f"job {job.job_id} is {job.state.value} and cannot be claimed")
    return dataclasses.replace(
        job,
        state=JobState.RUNNING,
        attempt=job.attempt + 1,
        run_id=run_id,
        worker=worker,
        lease_expires=now + lease_ms,
        started_at=now,
        finished_at=None,
    )


def holds(job: Job, worker: str, now: int) -> bool:
    """Whether ``worker`` still holds ``job``'s lease at ``now``."""
    return (
        job.state is JobState.RUNNING
        and job.worker == worker
        and job.lease_expires is not None
        and job.lease_expires >= now
    )


def _held(job: Job, worker: str, now: int) -> None:
    if not holds(job, worker, now):
        raise InvalidState(
            f"worker {worker!r} no longer holds job {job.job_id} (it is {job.state.value}"
            + (f", held by {job.worker!r}" if job.state is JobState.RUNNING and job.worker != worker else "")
            + "): the attempt must stop"
        )


def heartbeat(job: Job, now: int, worker: str, lease_ms: int) -> Job:
    """Renew ``worker``'s lease on ``job``; refused (InvalidState) if it was lost. The worker reads
    ``cancel_requested`` on the returned job to learn it must stop."""
    _held(job, worker, now)
    return dataclasses.replace(job, lease_expires=now + lease_ms)


def _failed(job: Job, now: int, error: str) -> Job:
    if job.attempt < job.spec.max_attempts:
        return dataclasses.replace(
            job,
            state=JobState.QUEUED,
            lease_expires=None,
            error=error,
            not_before=now + backoff_ms(job),
        )
    return dataclasses.replace(job, state=JobState.FAILED, lease_expires=None, error=error, finished_at=now)


def finish(job: Job, now: int, worker: str, result: Result, error: str | None = None) -> Job:
    """``worker`` reports how its attempt ended; a failure or timeout is retried while attempts remain."""
    _held(job, worker, now)
    if result is Result.SUCCEEDED:
        return dataclasses.replace(
            job, state=JobState.SUCCEEDED, lease_expires=None, error=None, finished_at=now
        )
    if result is Result.CANCELLED:
        return dataclasses.replace(
            job,
            state=JobState.CANCELLED,
            lease_expires=None,
            error=error or "cancelled",
            finished_at=now,
        )
    if result is Result.TIMED_OUT:
        limit = job.spec.timeout_s
        return _failed(job, now, error or (f"timed out after {limit:g} s" if limit else "timed out"))
    return _failed(job, now, error or "failed")


def expired(job: Job, now: int) -> bool:
    """Whether ``job``'s worker let its lease pass (it died, hung, or lost the store)."""
    return job.state is JobState.RUNNING and job.lease_expires is not None and job.lease_expires < now


def expire(job: Job, now: int) -> Step:
    """The lease of a RUNNING job passed: the attempt counts as failed (retried by policy, or a cancel
    asked meanwhile ends the job CANCELLED), and its run is ended KILLED."""
    if not expired(job, now):
        raise InvalidState(f"job {job.job_id} holds a live lease and cannot be expired")
    lost = f"its worker {job.worker!r} stopped renewing its lease (died, hung or lost the store)"
    if job.cancel_requested:
        after = dataclasses.replace(
            job, state=JobState.CANCELLED, lease_expires=None, error="cancelled", finished_at=now
        )
    else:
        after = _failed(job, now, lost)
    return Step(after, end_run="KILLED")


def cancel(job: Job, now: int) -> Job:
    """Ask to cancel: a QUEUED job ends CANCELLED at once; a RUNNING one is flagged for its worker, which
    stops it within a heartbeat. Cancelling a finished job changes nothing."""
    if job.state is JobState.QUEUED:
        return dataclasses.replace(
            job, state=JobState.CANCELLED, error="cancelled before it ran", finished_at=now, not_before=0
        )
    if job.state is JobState.RUNNING:
        return dataclasses.replace(job, cancel_requested=True)
    return job
