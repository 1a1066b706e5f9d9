"""The ``Jobs`` conformance suite: the runner's queue, logs and schedules, run on every implementation
through the ``services`` fixture (embedded SQLite, PostgreSQL, and a server with auth on, as a non-admin
owner of "default"). Workers are played by the test itself: what a worker process does is tested with
real worker processes in the project's own tests.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from assay import Client, InvalidInput, InvalidState, NotFound
from assay.entities import RunStatus
from assay.errors import Conflict
from assay.runner.entities import Ended, Job, JobSpec, JobState, Result, ScheduleSpec
from assay.services import Services

__all__ = [
    "test_a_lost_lease_is_refused_and_expires_into_a_retry_or_a_failure",
    "test_bad_specs_are_refused_before_anything_is_queued",
    "test_cancel_ends_a_queued_job_and_flags_a_running_one",
    "test_claims_follow_priority_then_age_and_never_hand_a_job_out_twice",
    "test_concurrent_claimers_share_the_queue_without_overlap",
    "test_failures_retry_with_backoff_until_attempts_run_out",
    "test_logs_arrive_in_order_once_and_follow_a_running_attempt",
    "test_schedules_are_named_per_project_paused_resumed_and_deleted",
    "test_schedules_fire_each_due_time_once_by_their_missed_policy",
]

MINUTE = 60_000


def _spec(target: str = "pkg.mod:fn", **kw: object) -> JobSpec:
    return JobSpec("python", target, **kw)  # type: ignore[arg-type]


def _worker() -> str:
    return f"test:{uuid.uuid4().hex[:8]}"


def test_claims_follow_priority_then_age_and_never_hand_a_job_out_twice(services: Services) -> None:
    jobs = services.jobs
    low = jobs.submit(_spec(params={"i": 1}))
    high = jobs.submit(_spec(priority=5, params={"i": 2}))
    later = jobs.submit(_spec(params={"i": 3}))
    assert {j.job_id for j in jobs.list_jobs(states=[JobState.QUEUED])} >= {low.job_id, high.job_id}
    w = _worker()
    first = jobs.claim(w, 2, 30)
    assert [j.job_id for j in first] == [high.job_id, low.job_id]
    assert all(j.state is JobState.RUNNING and j.attempt == 1 and j.run_id for j in first)
    assert first[0].worker == w and first[0].lease_expires is not None
    assert first[0].spec.params == {"i": 2}
    assert [j.job_id for j in jobs.claim(_worker(), 5, 30)] == [later.job_id]
    assert jobs.claim(_worker(), 5, 30) == []
    got = jobs.get_job(high.job_id)
    assert got.state is JobState.RUNNING and got.run_id == first[0].run_id
    done = jobs.finish(high.job_id, w, Result.SUCCEEDED)
    assert done.state is JobState.SUCCEEDED and done.finished_at is not None
    shown = jobs.get_job(high.job_id)
    assert shown.state is JobState.SUCCEEDED and shown.worker == w  # who ran it stays known
    # An end carried by the next claim: finished in the claim's transaction; one refused (the job is
    # another worker's) is dropped, and the claim goes on.
    nxt = jobs.submit(_spec(params={"i": 4}))
    taken = jobs.claim(
        w, 1, 30, ended=[Ended(low.job_id, Result.FAILED, "boom"), Ended(later.job_id, Result.SUCCEEDED)]
    )
    assert [j.job_id for j in taken] == [nxt.job_id]
    failed = jobs.get_job(low.job_id)
    assert failed.state is JobState.FAILED and failed.error == "boom"
    assert jobs.get_job(later.job_id).state is JobState.RUNNING  # not w's to end


def test_concurrent_claimers_share_the_queue_without_overlap(services: Services) -> None:
    jobs = services.jobs
    submitted = {jobs.submit(_spec(params={"i": i})).job_id for i in range(40)}
    taken: list[str] = []
    lock = threading.Lock()

    def claimer() -> None:
        w = _worker()
        while True:
            got = jobs.claim(w, 3, 30)
            if not got:
                return
            for job in got:
                jobs.finish(job.job_id, w, Result.SUCCEEDED)
            with lock:
                taken.extend(j.job_id for j in got)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(taken) == sorted(submitted)  # every job once, none twice
    assert {j.state for j in jobs.list_jobs(limit=100)} == {JobState.SUCCEEDED}


def test_failures_retry_with_backoff_until_attempts_run_out(services: Services) -> None:
    jobs = services.jobs
    job = jobs.submit(_spec(max_attempts=2, backoff_s=0.5))
    w = _worker()
    (claimed,) = jobs.claim(w, 1, 30)
    after = jobs.finish(job.job_id, w, Result.FAILED, "ValueError: boom")
    assert after.state is JobState.QUEUED and after.error == "ValueError: boom"
    assert after.not_before > 0
    assert jobs.claim(w, 1, 30) == []  # backing off
    deadline = time.time() + 10
    again: list[Job] = []
    while not again and time.time() < deadline:
        time.sleep(0.1)
        again = jobs.claim(w, 1, 30)
    assert again and again[0].attempt == 2 and again[0].run_id != claimed.run_id
    final = jobs.finish(job.job_id, w, Result.TIMED_OUT)
    assert final.state is JobState.FAILED and "timed out" in (final.error or "")


def test_a_lost_lease_is_refused_and_expires_into_a_retry_or_a_failure(services: Services) -> None:
    jobs = services.jobs
    client = Client()
    exp = client.get_or_create_experiment("jobs-tests")
    job = jobs.submit(_spec(max_attempts=2, backoff_s=0))
    dead = _worker()
    (claimed,) = jobs.claim(dead, 1, 1)
    assert claimed.run_id is not None
    # The dead worker had created its attempt's run before it died.
    client.create_run(exp.experiment_id, run_id=claimed.run_id, capture_git=False, capture_environment=False)
    client.flush()
    time.sleep(1.3)
    live = _worker()
    retried = jobs.claim(live, 1, 30)  # expires the passed lease first, then takes the retry
    assert [j.job_id for j in retried] == [job.job_id] and retried[0].attempt == 2
    with pytest.raises(InvalidState, match="no longer holds"):
        jobs.finish(job.job_id, dead, Result.SUCCEEDED)
    assert jobs.heartbeat(dead, [job.job_id], 30) == {job.job_id: "lost"}
    assert jobs.heartbeat(live, [job.job_id], 30) == {}
    run = client.get_run(claimed.run_id)
    assert run.info.status is RunStatus.KILLED and "stopped renewing its lease" in run.tags["assay.error"]
    jobs.finish(job.job_id, live, Result.SUCCEEDED)
    once = jobs.submit(_spec())
    jobs.claim(dead, 5, 1)
    assert jobs.expire_leases() == []  # not yet
    time.sleep(1.3)
    (expired,) = jobs.expire_leases()  # what a scheduler's tick does when no worker claims
    assert expired.job_id == once.job_id and expired.state is JobState.FAILED
    assert jobs.claim(live, 5, 30) == []  # nothing left to retry
    failed = jobs.get_job(once.job_id)
    assert failed.state is JobState.FAILED and "lease" in (failed.error or "")
    # Its worker died before its task wrote the run: the expiry created it, ended, to say what happened.
    assert failed.run_id is not None
    never_written = client.get_run(failed.run_id)
    assert never_written.info.status is RunStatus.KILLED and never_written.info.name == "fn"
    assert never_written.tags["assay.job.id"] == once.job_id and "lease" in never_written.tags["assay.error"]


def test_cancel_ends_a_queued_job_and_flags_a_running_one(services: Services) -> None:
    jobs = services.jobs
    queued = jobs.submit(_spec())
    running = jobs.submit(_spec())
    w = _worker()
    jobs.claim(w, 1, 30)
    first_claimed = queued.job_id
    other = running.job_id
    flagged = jobs.cancel(first_claimed)
    assert flagged.state is JobState.RUNNING and flagged.cancel_requested
    assert jobs.heartbeat(w, [first_claimed], 30) == {first_claimed: "cancel"}
    ended = jobs.finish(first_claimed, w, Result.CANCELLED)
    assert ended.state is JobState.CANCELLED
    gone = jobs.cancel(other)
    assert gone.state is JobState.CANCELLED and gone.finished_at is not None
    assert jobs.claim(w, 5, 30) == []
    assert jobs.cancel(other).state is JobState.CANCELLED  # cancelling again changes nothing
    with pytest.raises(NotFound, match="no job"):
        jobs.cancel("0" * 32)


def test_logs_arrive_in_order_once_and_follow_a_running_attempt(services: Services) -> None:
    jobs = services.jobs
    job = jobs.submit(_spec())
    w = _worker()
    jobs.claim(w, 1, 30)
    jobs.append_log(job.job_id, 1, 0, b"epoch 1\n")
    jobs.append_log(job.job_id, 1, 0, b"epoch 1\n")  # a chunk resent after a timeout
    first = jobs.read_log(job.job_id)
    assert first.data == b"epoch 1\n" and first.next_offset == 8 and not first.complete
    jobs.append_log(job.job_id, 1, 8, b"epoch 2\n\xff binary ok\n")
    more = jobs.read_log(job.job_id, offset=first.next_offset)
    assert more.data == b"epoch 2\n\xff binary ok\n"
    part = jobs.read_log(job.job_id, attempt=1, offset=2, limit=5)
    assert part.data == b"och 1" and part.next_offset == 7
    jobs.finish(job.job_id, w, Result.SUCCEEDED)
    done = jobs.read_log(job.job_id, offset=more.next_offset)
    assert done.data == b"" and done.complete
    with pytest.raises(InvalidInput):
        jobs.append_log(job.job_id, 0, 0, b"x")


def test_bad_specs_are_refused_before_anything_is_queued(services: Services) -> None:
    jobs = services.jobs
    bad = [
        (JobSpec("shell", "ls"), "kind"),
        (_spec(""), "target"),
        (_spec("no_function_here"), "pkg.module:function"),
        (_spec(priority=10_000), "priority"),
        (_spec(timeout_s=-1), "timeout"),
        (_spec(max_attempts=0), "attempts"),
        (_spec(params={"x": object()}), "JSON"),
        (_spec(params={"bad key!": 1}), "param key"),
    ]
    for spec, words in bad:
        with pytest.raises(InvalidInput, match=words):
            jobs.submit(spec)
    with pytest.raises((NotFound, InvalidInput, Exception), match="project"):
        jobs.submit(_spec(project="no-such-project"))
    assert jobs.list_jobs() == []
    with pytest.raises(InvalidInput, match="does not parse"):
        jobs.add_schedule(ScheduleSpec("s", "61 * * * *", _spec()))
    with pytest.raises(InvalidInput, match="time zone"):
        jobs.add_schedule(ScheduleSpec("s", "0 2 * * *", _spec(), tz="Mars/Olympus"))
    with pytest.raises(InvalidInput, match="policy"):
        jobs.add_schedule(ScheduleSpec("s", "0 2 * * *", _spec(), missed="sometimes"))
    # A name is one path segment of the schedule's routes: no '/', space, '%' nor a leading '.'.
    for name in ("a/b", "default/nightly", "..", "a b", "50%", " x", ""):
        with pytest.raises(InvalidInput, match="use 1-128 letters, digits"):
            jobs.add_schedule(ScheduleSpec(name, "0 2 * * *", _spec()))
    assert jobs.list_schedules() == []


def test_schedules_are_named_per_project_paused_resumed_and_deleted(services: Services) -> None:
    jobs = services.jobs
    now = int(time.time() * 1000)
    nightly = jobs.add_schedule(ScheduleSpec("nightly", "0 2 * * *", _spec(), tz="Europe/Paris"), now=now)
    assert nightly.next_due_at is not None and nightly.next_due_at > now
    with pytest.raises(Conflict, match="already has a schedule"):
        jobs.add_schedule(ScheduleSpec("nightly", "0 3 * * *", _spec()))
    assert [s.name for s in jobs.list_schedules()] == ["nightly"]
    got = jobs.get_schedule("nightly")
    assert (
        got.spec.cron == "0 2 * * *" and got.spec.tz == "Europe/Paris" and got.spec.job.target == "pkg.mod:fn"
    )
    paused = jobs.pause_schedule("nightly", True)
    assert paused.paused and paused.next_due_at is None
    assert jobs.next_due() is None
    resumed = jobs.pause_schedule("nightly", False)
    assert not resumed.paused and resumed.next_due_at is not None
    assert jobs.next_due() == resumed.next_due_at
    jobs.delete_schedule("nightly")
    with pytest.raises(NotFound, match="no schedule"):
        jobs.get_schedule("nightly")


def test_schedules_fire_each_due_time_once_by_their_missed_policy(services: Services) -> None:
    jobs = services.jobs
    start = (int(time.time() * 1000) // MINUTE) * MINUTE
    skip = jobs.add_schedule(ScheduleSpec("every-minute", "* * * * *", _spec()), now=start)
    catch = jobs.add_schedule(
        ScheduleSpec("catch-up", "* * * * *", _spec(), missed="catchup", max_catchup=3), now=start
    )
    assert skip.next_due_at == start + MINUTE
    assert jobs.fire_due(now=start + 30_000) == []
    # Five due times have come while no scheduler ran: skip fires the latest, catchup the latest three.
    later = start + 5 * MINUTE + 10_000
    fired = jobs.fire_due(now=later)
    by_schedule: dict[str | None, list[int | None]] = {}
    for job in fired:
        by_schedule.setdefault(job.schedule, []).append(job.due_at)
    assert by_schedule == {
        "every-minute": [start + 5 * MINUTE],
        "catch-up": [start + 3 * MINUTE, start + 4 * MINUTE, start + 5 * MINUTE],
    }
    assert jobs.fire_due(now=later) == []  # each due time once
    assert jobs.get_schedule("every-minute").next_due_at == start + 6 * MINUTE
    assert jobs.get_schedule("catch-up").last_due_at == start + 5 * MINUTE
    # Two schedulers at the same due time: one job between them.
    at = start + 6 * MINUTE
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(len(jobs.fire_due(now=at)))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(results) == 2  # one per schedule
    queued = jobs.list_jobs(schedule="every-minute")
    assert sorted(j.due_at or 0 for j in queued) == [start + 5 * MINUTE, start + 6 * MINUTE]
    assert catch.schedule_id != skip.schedule_id
