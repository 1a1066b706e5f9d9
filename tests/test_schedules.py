"""Schedules end to end: ``assay schedule`` against a real store, the missed-fire policy with the clock
passed as ``now``, paused and deleted schedules, the scheduler loop, and two scheduler processes firing
one schedule at once (exactly one job per due time). On SQLite, PostgreSQL and over HTTP (``services``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner, Result

from assay.cli.main import app
from assay.runner.entities import CATCHUP, PYTHON, SKIP, Job, JobSpec, JobState, ScheduleSpec
from assay.runner.scheduler import Scheduler, wake_at
from assay.services import Services

runner = CliRunner()
MINUTE = 60_000
#: 2025-06-02 00:00:00 UTC: a Monday, far from any DST change.
T0 = 1_748_822_400_000


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def ok(*args: str) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def _notebook(path: Path) -> str:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("lr: float = 0.1\nrows: int = 3")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print(lr * rows)")]
    nbformat.write(nb, path)
    return str(path)


def _spec(name: str, cron: str = "* * * * *", missed: str = SKIP, max_catchup: int = 10) -> ScheduleSpec:
    return ScheduleSpec(name, cron, JobSpec(PYTHON, "math:sqrt", {"x": 4}), "UTC", missed, max_catchup)


# ---- the command line ------------------------------------------------------------------------------------


def test_schedule_commands(services: Services, tracking_uri: str, tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "nightly.ipynb")
    added = ok(
        "schedule", "add", nb, "--cron", "0 2 * * *", "--tz", "Europe/Paris", "--name", "nightly",
        "-p", "lr", "0.5", "--missed", "catchup", "--max-catchup", "3", "--priority", "5", "--retries", "2",
    )  # fmt: skip
    assert added.stdout.startswith(
        "schedule nightly (project default) added: 0 2 * * * in Europe/Paris, next at"
    )
    assert "02:00:00 CE" in added.stdout and "assay worker" in added.stderr
    s = services.jobs.get_schedule("nightly", "default")
    assert (s.spec.cron, s.spec.tz, s.spec.missed, s.spec.max_catchup) == (
        "0 2 * * *",
        "Europe/Paris",
        CATCHUP,
        3,
    )
    job = s.spec.job
    assert job.kind == "notebook" and dict(job.params) == {"lr": 0.5} and job.priority == 5
    assert job.max_attempts == 3
    if not tracking_uri.startswith("http"):  # a server sends a notebook's bytes to workers only
        assert job.source is not None  # the notebook as added, as `assay submit` keeps it
        cells = [c.source for c in nbformat.reads(job.source.decode(), as_version=4).cells]
        assert cells == [c.source for c in nbformat.read(nb, as_version=4).cells]
    ok("schedule", "add", "json:dumps", "--cron", "*/15 * * * *", "--name", "quarter", "-p", "obj=16")
    assert dict(services.jobs.get_schedule("quarter", "default").spec.job.params) == {"obj": 16}

    listing = ok("schedule", "ls").stdout
    assert "nightly" in listing and "quarter" in listing and "Europe/Paris" in listing
    nxt = ok("schedule", "next", "nightly", "-n", "3").stdout.strip().splitlines()
    assert len(nxt) == 3 and all(line.endswith(("02:00:00 CET", "02:00:00 CEST")) for line in nxt)

    assert ok("schedule", "pause", "nightly").stdout == "schedule nightly (project default) paused\n"
    assert services.jobs.get_schedule("nightly", "default").paused
    assert "was paused already" in ok("schedule", "pause", "nightly").stdout
    assert "paused" in ok("schedule", "ls").stdout
    assert "resumed: next at" in ok("schedule", "resume", "nightly").stdout
    assert not services.jobs.get_schedule("nightly", "default").paused
    assert "was not paused: next at" in ok("schedule", "resume", "nightly").stdout
    assert ok("schedule", "delete", "quarter").stdout == "schedule quarter (project default) deleted\n"
    assert [s.name for s in services.jobs.list_schedules()] == ["nightly"]
    gone = invoke("schedule", "pause", "quarter")
    assert gone.exit_code == 1 and gone.stderr.startswith("error: ") and "quarter" in gone.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--cron", "0 25 * * *"], "does not parse"),
        (["--cron", "nightly"], "does not parse"),
        (["--cron", "0 2 30 2 *"], "never comes"),
        (["--cron", "0 2 * * *", "--tz", "Paris"], "unknown time zone"),
        (["--cron", "0 2 * * *", "--missed", "sometimes"], "missed-fire policy"),
        (["--cron", "0 2 * * *", "--missed", "catchup", "--max-catchup", "0"], "max_catchup"),
        (["--cron", "0 2 * * *", "-p", "lr", "fast"], "lr"),
        (["--cron", "0 2 * * *", "-p", "nope", "1"], "nope"),
    ],
)
def test_bad_input_is_one_line_and_stores_nothing(
    sqlite_uri: str, tmp_path: Path, args: list[str], words: str
) -> None:
    from assay import bundle

    nb = _notebook(tmp_path / "nb.ipynb")
    result = invoke("schedule", "add", nb, "--name", "bad", *args)
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
    assert bundle.services().jobs.list_schedules() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no_such_module_here:main"], "does not import: ModuleNotFoundError"),
        (["json:no_such_function"], "has no 'no_such_function'"),
        (["json:dumps"], "missing a required argument: 'obj'"),
        (["json:dumps", "-p", "obj=1", "-p", "obj=2"], "parameter 'obj' is given twice"),
        (["hello"], "neither a notebook"),
        (["json:dumps", "--timeout", "soon"], "--timeout 'soon' is not a duration"),
        (["json:dumps", "--retries", "-1"], "retries must be from 0 to"),
        (["json:dumps", "--tag", "novalue"], "--tag takes NAME=VALUE"),
    ],
)
def test_a_job_submit_refuses_is_refused_with_its_message_before_anything_is_stored(
    sqlite_uri: str, args: list[str], message: str
) -> None:
    from assay import bundle

    target, *rest = args
    scheduled = invoke("schedule", "add", target, "--cron", "* * * * *", "--name", "x", *rest)
    submitted = invoke("submit", target, *rest)
    for result in (scheduled, submitted):
        assert result.exit_code == 1 and result.stdout == "", result.output
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
        assert message in result.stderr
    assert scheduled.stderr == submitted.stderr  # one code path, one message
    assert bundle.services().jobs.list_schedules() == [] and bundle.services().jobs.list_jobs() == []


@pytest.mark.parametrize("name", ["a/b", "default/nightly", "..", "a b"])
def test_a_name_outside_the_allowed_characters_is_refused_in_one_line(sqlite_uri: str, name: str) -> None:
    from assay import bundle

    result = invoke("schedule", "add", "json:dumps", "-p", "obj=1", "--cron", "0 2 * * *", "--name", name)
    assert result.exit_code == 1 and result.stdout == "", result.output
    assert result.stderr == (
        f"error: schedule name {name!r} is not valid: use 1-128 letters, digits, '.', '_', '@' or '-', "
        "starting with a letter or digit\n"
    )
    assert bundle.services().jobs.list_schedules() == []


# ---- firing: the policy, pause, delete ---------------------------------------------------------------------


def test_missed_due_times_skip_or_catch_up_bounded(services: Services) -> None:
    jobs = services.jobs
    jobs.add_schedule(_spec("skipper", missed=SKIP), now=T0)
    jobs.add_schedule(_spec("catcher", missed=CATCHUP, max_catchup=3), now=T0)
    assert jobs.fire_due(T0 + 30_000) == []  # the first due time is T0 + 1 min
    later = T0 + 10 * MINUTE + 30_000  # no scheduler for ten minutes: due times 1..10 came
    fired = jobs.fire_due(later)
    by = {name: sorted(j.due_at or 0 for j in fired if j.schedule == name) for name in ("skipper", "catcher")}
    assert by["skipper"] == [T0 + 10 * MINUTE]
    assert by["catcher"] == [T0 + m * MINUTE for m in (8, 9, 10)]
    assert all(j.state == JobState.QUEUED for j in fired)
    assert jobs.fire_due(later) == []  # asked again at the same time: nothing more
    assert jobs.get_schedule("skipper").next_due_at == T0 + 11 * MINUTE
    assert jobs.get_schedule("catcher").last_due_at == T0 + 10 * MINUTE
    again = jobs.fire_due(T0 + 11 * MINUTE)
    assert sorted(j.schedule or "" for j in again) == ["catcher", "skipper"]


def test_paused_schedules_do_not_fire_and_deleting_keeps_the_jobs(services: Services) -> None:
    jobs = services.jobs
    jobs.add_schedule(_spec("every-minute"), now=T0)
    first = jobs.fire_due(T0 + MINUTE)
    assert len(first) == 1
    paused = jobs.pause_schedule("every-minute", True)
    assert paused.paused
    assert jobs.fire_due(T0 + 5 * MINUTE) == []
    jobs.delete_schedule("every-minute")
    assert jobs.fire_due(T0 + 10 * MINUTE) == []
    kept = jobs.list_jobs(schedule="every-minute")
    assert [j.job_id for j in kept] == [first[0].job_id]
    assert jobs.get_job(first[0].job_id).schedule == "every-minute"


# ---- the loop --------------------------------------------------------------------------------------------


def test_wake_at_is_the_earliest_due_time_or_the_refresh() -> None:
    assert wake_at(3_000, 10_000) == 3_000
    assert wake_at(5_000, 4_000) == 4_000
    assert wake_at(None, 4_000) == 4_000


def test_the_scheduler_fires_each_second_of_a_seconds_schedule(services: Services) -> None:
    jobs = services.jobs
    jobs.add_schedule(_spec("tick", "* * * * * *", CATCHUP, 100))
    with Scheduler(jobs):
        time.sleep(3.5)
    fired = jobs.list_jobs(schedule="tick")
    due = [j.due_at for j in fired]
    assert len(due) == len(set(due)) and 2 <= len(due) <= 5  # liveness, generously bounded
    assert all(d is not None and d % 1000 == 0 for d in due)


# ---- two scheduler processes ---------------------------------------------------------------------------------

#: Real seconds the two schedulers run side by side over a once-a-second schedule.
RACE_S = 20


@pytest.mark.slow
@pytest.mark.parametrize(
    "tracking_uri", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_two_schedulers_fire_each_due_time_exactly_once(services: Services, tracking_uri: str) -> None:
    """Two ``assay scheduler`` processes over one store and a ``* * * * * *`` schedule for 20 s: each due
    time that came fired one job, never two (the store's compare-and-set), and none were lost."""
    jobs = services.jobs
    start = jobs.add_schedule(_spec("race", "* * * * * *", CATCHUP, 1000))
    env = {k: v for k, v in os.environ.items() if k not in ("ASSAY_TRACKING_URI",)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1] / "src"), env.get("PYTHONPATH", "")])
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "assay.cli.main", "--tracking-uri", tracking_uri, "scheduler"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        time.sleep(RACE_S)
        jobs.pause_schedule("race", True)
        time.sleep(1.5)  # a fire already begun finishes; nothing fires after the pause
    finally:
        outputs = []
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            _out, err = p.communicate(timeout=30)
            outputs.append(err)
            assert p.returncode == 0, err
    fired = jobs.list_jobs(schedule="race", limit=10_000)
    counts = Counter(j.due_at for j in fired)
    assert counts and max(counts.values()) == 1, [d for d, n in counts.items() if n > 1]
    due = sorted(d for d in counts if d is not None)
    assert due[0] == start.next_due_at
    assert due == list(range(due[0], due[-1] + 1, 1000))  # every second in between, none lost
    assert len(due) >= RACE_S // 2  # liveness: the processes started and fired (generous)
    per_process = [sum(line.startswith("fired race") for line in err.splitlines()) for err in outputs]
    assert sum(per_process) == len(fired), outputs
    assert all("scheduler stopped" in err for err in outputs)


@pytest.mark.slow
def test_a_scheduled_function_runs_to_success_through_assay_scheduler_and_assay_worker(
    sqlite_uri: str, tmp_path: Path
) -> None:
    """End to end, as a user sets it up: `assay schedule add` of an entry point, `assay scheduler` and
    `assay worker` processes on the store; a due time's job is claimed and its function runs as a tracked
    run, SUCCEEDED, its output in the job's log and the run tagged with the schedule. Bounded at 30 s."""
    from assay import bundle
    from assay.runner.entities import JOB_TAG, SCHEDULE_TAG

    (tmp_path / "ticks.py").write_text("def tick(note):\n    print('tick', note)\n")
    ok("schedule", "add", "ticks:tick", "--cron", "* * * * * *", "--name", "every-second", "-p", "note=hi")
    env = {**os.environ, "ASSAY_SYSTEM_METRICS": "0"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1] / "src"), env.get("PYTHONPATH", "")])
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "assay.cli.main", command],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in ("scheduler", "worker")
    ]
    jobs = bundle.services().jobs
    try:
        deadline = time.monotonic() + 30
        done: list[Job] = []
        while not done and time.monotonic() < deadline:
            time.sleep(0.2)
            done = jobs.list_jobs(schedule="every-second", states=[JobState.SUCCEEDED, JobState.FAILED])
        ok("schedule", "pause", "every-second")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        errors = [p.communicate(timeout=60)[1] for p in procs]
    assert done, errors
    job = done[-1]
    assert job.state is JobState.SUCCEEDED and job.due_at is not None, (job.error, errors)
    assert job.started_at is not None and job.started_at >= job.due_at
    assert "tick hi" in jobs.read_log(job.job_id).data.decode()
    run = bundle.services().tracking.get_run(job.run_id or "")
    assert run.info.status.value == "FINISHED" and run.params == {"note": "hi"}
    assert run.tags[JOB_TAG] == job.job_id and run.tags[SCHEDULE_TAG] == "every-second"
    listed = json.loads(ok("jobs", "ls", "--schedule", "every-second", "--json").stdout)
    assert job.job_id in [j["job_id"] for j in listed] and all(
        j["schedule"] == "every-second" for j in listed
    )
    assert "every-second for " in ok("jobs", "show", job.job_id).stdout
    assert all(p.returncode == 0 for p in procs), errors


@pytest.mark.slow
def test_assay_server_fires_schedules_unless_told_not_to(tmp_path: Path) -> None:
    """``assay server`` runs the scheduler on a thread; ``--no-scheduler`` leaves it to another process."""
    from assay import bundle
    from processes import ServerProcess

    for flag, expect_jobs in (("--no-scheduler", False), (None, True)):
        store = str(tmp_path / f"store-{bool(flag)}" / "assay.db")
        jobs = bundle.services(store).jobs
        jobs.add_schedule(_spec("tick", "* * * * * *", CATCHUP, 100))
        server = ServerProcess(tmp_path, store, str(tmp_path / "artifacts"), [flag] if flag else [])
        server.start()
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not jobs.list_jobs(schedule="tick"):
                time.sleep(0.2)
            if not expect_jobs:
                time.sleep(2.5)  # due times came and went with no scheduler running
        finally:
            server.stop()
        assert bool(jobs.list_jobs(schedule="tick")) == expect_jobs
        bundle.reset()


def test_the_scheduler_expires_the_leases_of_dead_workers(sqlite_uri: str) -> None:
    from assay import bundle

    jobs = bundle.services().jobs
    job = jobs.submit(JobSpec(PYTHON, "time:sleep", {"secs": 60}))
    assert [j.job_id for j in jobs.claim("dead-worker", 1, lease_s=1)] == [job.job_id]
    with Scheduler(jobs):  # no schedule and no live worker: its ticks still end the lost attempt
        deadline = time.monotonic() + 15
        while jobs.get_job(job.job_id).state == JobState.RUNNING and time.monotonic() < deadline:
            time.sleep(0.2)
    assert jobs.get_job(job.job_id).state == JobState.FAILED
