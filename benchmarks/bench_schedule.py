"""Target: schedule latency, due time to job start, at most 1 s.

End to end on a fresh SQLite store: a once-a-second schedule (``* * * * * *``) of a no-op Python function,
fired by the ``Scheduler`` loop that ``assay server`` and ``assay scheduler`` run (here on a thread of this
process), and a real ``assay worker`` process polling the same store, warm (a first job ran through it
before the schedule is added: a worker's start-up, a few seconds on a busy machine, is not a due time's
latency). Over 20 due times, from each job's due time:

- **to job queued**: the job's ``created_at`` (the scheduler's share: its wake-up and the store's fire
  transaction);
- **to job claimed**: the job's ``started_at`` (the worker's poll of the queue: an idle worker asks again
  after 0.05, 0.1, 0.2, 0.4 s, then every 0.5 s, so a job due a second after the last one is claimed
  0.25 to 0.5 s late);
- **to run start** (the target): the ``start_time`` of the job's run, written by the worker's child process
  when the function is about to run.

The worker's idle poll is the trade-off: it bounds the claim's share at ~0.5 s for a query every half
second per idle worker (``Worker(poll_s=...)``); the scheduler's share is a few milliseconds.

There is no competitor in the same run: MLflow has no scheduler. The usual setup it is paired with is cron
plus papermill: cron starts ``papermill`` at the minute (its resolution is one minute, a due time is hit
within a second or so of the minute turning), with nothing recorded of the firing, no missed-run policy
after a reboot beyond anacron's daily granularity, no guard against two hosts firing the same entry, and
no queue: the notebook starts in cron's own process on that host. Here a due time is fired once, whatever
number of schedulers run, into a queue any worker may take.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c

if TYPE_CHECKING:
    from assay.services.jobs import Jobs

DUE_TIMES = 20
MODULE = "def noop():\n    pass\n"


def main() -> None:
    home = c.fresh_dir("schedule")
    c.quiet_assay_env(home)
    (home / "benchjobs.py").write_text(MODULE)
    from assay import bundle
    from assay.runner.entities import SKIP, JobState, ScheduleSpec
    from assay.runner.scheduler import Scheduler
    from assay.runner.submit import job_spec

    uri = str(Path(home) / "assay.db")
    services = bundle.services(uri)
    jobs = services.jobs
    env = {**os.environ, "ASSAY_TRACKING_URI": uri, "ASSAY_SYSTEM_METRICS": "0"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "assay.cli.main", "worker"],
        env=env,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        spec = job_spec("benchjobs:noop", cwd=str(home))
        jobs.submit(spec)  # the worker's warm-up
        _drain(jobs, 60, "the warm-up job did not end within 60 s")
        jobs.add_schedule(ScheduleSpec("tick", "* * * * * *", spec, "UTC", SKIP, 1))
        with Scheduler(jobs):
            time.sleep(DUE_TIMES + 0.5)
        _drain(jobs, 20, "jobs still queued or running 20 s after the last due time")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    fired = sorted(jobs.list_jobs(schedule="tick", limit=1000), key=lambda j: j.due_at or 0)
    bad = [j for j in fired if j.state is not JobState.SUCCEEDED]
    if bad:
        raise SystemExit(f"{len(bad)} job(s) did not succeed, e.g. {bad[0].job_id}: {bad[0].error}")
    measured = fired[:DUE_TIMES]
    runs = {j.job_id: services.tracking.get_run(j.run_id or "") for j in measured}
    print(
        f"schedule latency over {len(measured)} due times of a per-second schedule: the scheduler's loop and "
        "one `assay worker` on SQLite"
    )
    for label, moment, target in (
        ("queued", lambda j: j.created_at, ""),
        ("claimed", lambda j: j.started_at or 0, ""),
        ("run start", lambda j: runs[j.job_id].info.start_time, "<= 1 s"),
    ):
        lags = [(moment(j) - (j.due_at or 0)) / 1000 for j in measured]
        p95 = statistics.quantiles(lags, n=20)[-1]
        for stat, value in (("p50", statistics.median(lags)), ("p95", p95), ("max", max(lags))):
            c.row(f"due time to {label}, {stat}", value, "s", None, "lower", target)
    print("  no competitor: MLflow has no scheduler (cron + papermill compared in words in the docstring)")


def _drain(jobs: Jobs, timeout: float, why: str) -> None:
    """Wait until no job is queued or running."""
    from assay.runner.entities import JobState

    deadline = time.monotonic() + timeout
    while jobs.list_jobs(states=[JobState.QUEUED, JobState.RUNNING], limit=1):
        if time.monotonic() > deadline:
            raise SystemExit(why)
        time.sleep(0.1)


if __name__ == "__main__":
    main()
