"""The jobs' state machine alone: every decision from a job and a clock, no store, no I/O."""

from __future__ import annotations

import dataclasses

import pytest

from assay.errors import InvalidState
from assay.runner import states
from assay.runner.entities import Job, JobSpec, JobState, Result

LEASE = 30_000


def _job(**spec: object) -> Job:
    return Job("j1", JobSpec("python", "m:f", **spec))  # type: ignore[arg-type]


def _running(job: Job, now: int = 1_000, worker: str = "w1") -> Job:
    return states.claim(job, now, worker, LEASE, f"run{job.attempt + 1}")


def test_a_claim_starts_an_attempt_with_its_run_and_lease() -> None:
    job = _running(_job())
    assert job.state is JobState.RUNNING and job.attempt == 1 and job.run_id == "run1"
    assert job.worker == "w1" and job.lease_expires == 1_000 + LEASE and job.started_at == 1_000
    with pytest.raises(InvalidState, match="cannot be claimed"):
        states.claim(job, 2_000, "w2", LEASE, "x")


def test_a_job_backing_off_is_not_claimable_before_its_time() -> None:
    job = dataclasses.replace(_job(), not_before=5_000)
    assert not states.claimable(job, 4_999) and states.claimable(job, 5_000)


def test_heartbeats_renew_only_the_holders_lease() -> None:
    job = _running(_job())
    renewed = states.heartbeat(job, 20_000, "w1", LEASE)
    assert renewed.lease_expires == 20_000 + LEASE
    with pytest.raises(InvalidState, match="no longer holds"):
        states.heartbeat(job, 20_000, "w2", LEASE)
    with pytest.raises(InvalidState, match="no longer holds"):
        states.heartbeat(job, 1_000 + LEASE + 1, "w1", LEASE)  # too late: the lease passed


def test_success_ends_the_job_and_clears_the_lease_but_keeps_who_ran_it() -> None:
    done = states.finish(_running(_job()), 2_000, "w1", Result.SUCCEEDED)
    assert done.state is JobState.SUCCEEDED and done.lease_expires is None
    assert done.finished_at == 2_000 and done.error is None
    assert done.worker == "w1" and not states.holds(done, "w1", 2_000)


def test_every_end_keeps_the_last_attempts_worker_and_a_new_claim_replaces_it() -> None:
    job = _running(_job(max_attempts=2, backoff_s=0))
    retried = states.finish(job, 2_000, "w1", Result.FAILED)
    assert retried.state is JobState.QUEUED and retried.worker == "w1"
    assert not states.holds(retried, "w1", 2_000)
    again = _running(retried, 3_000, worker="w2")
    assert again.worker == "w2"
    failed = states.finish(again, 4_000, "w2", Result.TIMED_OUT)
    assert failed.state is JobState.FAILED and failed.worker == "w2"
    cancelled = states.finish(states.cancel(_running(_job()), 2_000), 2_500, "w1", Result.CANCELLED)
    assert cancelled.state is JobState.CANCELLED and cancelled.worker == "w1"
    lost = states.expire(_running(_job(), worker="w3"), 1_000 + LEASE + 1)
    assert lost.job.state is JobState.FAILED and lost.job.worker == "w3"
    assert "'w3' stopped renewing" in (lost.job.error or "")


def test_failures_and_timeouts_retry_with_doubling_backoff_then_fail() -> None:
    job = _running(_job(max_attempts=3, backoff_s=10))
    first = states.finish(job, 2_000, "w1", Result.FAILED, "ValueError: x")
    assert (
        first.state is JobState.QUEUED
        and first.not_before == 2_000 + 10_000
        and first.error == "ValueError: x"
    )
    assert first.finished_at is None
    second = states.finish(_running(first, 12_000), 13_000, "w1", Result.TIMED_OUT)
    assert second.state is JobState.QUEUED and second.not_before == 13_000 + 20_000
    assert second.error == "timed out"
    third = states.finish(_running(second, 40_000), 41_000, "w1", Result.FAILED)
    assert third.state is JobState.FAILED and third.attempt == 3 and third.finished_at == 41_000


def test_backoff_is_capped() -> None:
    job = dataclasses.replace(_job(backoff_s=600, max_attempts=50), attempt=20)
    assert states.backoff_ms(job) == int(states.MAX_BACKOFF_S * 1000)


def test_a_timeout_names_the_limit() -> None:
    job = _running(_job(timeout_s=90))
    assert states.finish(job, 2_000, "w1", Result.TIMED_OUT).error == "timed out after 90 s"


def test_an_expired_lease_counts_as_a_failed_attempt_and_kills_its_run() -> None:
    job = _running(_job(max_attempts=2, backoff_s=0))
    assert not states.expired(job, 1_000 + LEASE)
    with pytest.raises(InvalidState, match="live lease"):
        states.expire(job, 1_000 + LEASE)
    step = states.expire(job, 1_000 + LEASE + 1)
    assert step.end_run == "KILLED" and step.job.state is JobState.QUEUED
    assert "stopped renewing its lease" in (step.job.error or "")
    again = states.expire(_running(step.job, 40_000), 40_000 + LEASE + 1)
    assert again.job.state is JobState.FAILED and again.job.attempt == 2
    # A late report from the worker that lost the lease changes nothing.
    with pytest.raises(InvalidState):
        states.finish(again.job, 99_000, "w1", Result.SUCCEEDED)


def test_cancel_ends_a_queued_job_and_flags_a_running_one() -> None:
    queued = states.cancel(_job(), 500)
    assert queued.state is JobState.CANCELLED and queued.finished_at == 500
    running = states.cancel(_running(_job()), 2_000)
    assert running.state is JobState.RUNNING and running.cancel_requested
    ended = states.finish(running, 2_500, "w1", Result.CANCELLED)
    assert ended.state is JobState.CANCELLED and ended.error == "cancelled"
    assert states.cancel(ended, 3_000) == ended
    # A cancelled job whose worker died ends CANCELLED, not retried.
    lost = states.expire(running, 1_000 + LEASE + 1)
    assert lost.job.state is JobState.CANCELLED and lost.end_run == "KILLED"
    flagged = dataclasses.replace(_job(), cancel_requested=True)
    assert not states.claimable(flagged, 10**12)
