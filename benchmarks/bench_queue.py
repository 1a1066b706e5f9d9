"""Target: queue throughput >= 200 no-op Python jobs/s claimed and finished with 2 local workers, on SQLite
and on PostgreSQL.

``N`` jobs calling a function that does nothing are queued first; then the workers start (real ``assay
worker`` processes, each with its forkserver children). The clock reads the store's own timestamps: from
the moment the ``WARMUP``-th job is SUCCEEDED to the moment the last one is (the ``finished_at`` of each),
so the rate is the queue's steady state: the workers' and their slot processes' start-up (a few seconds
on a busy machine, a large share of a ten-second run) is left out. Each job is
a whole attempt: claimed under a lease, run in a child process as a tracked run (created with its id,
params, tags, ended FINISHED, its ``logs/output.log`` stored), finished in the store.

Three shapes of "2 local workers": one ``assay worker --concurrency 2`` (one claiming loop, two child
processes), two ``assay worker --concurrency 1`` processes claiming side by side, and two ``assay worker
--concurrency 4``: on PostgreSQL a no-op job waits on commits (each flushed to disk) more than on the CPU,
so more slots than cores overlap those waits.

No competitor runs in the same run: MLflow has no job queue (its Projects run one command per call, with
no queue, lease or worker), and a cron + papermill setup has none either.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c

N = int(os.environ.get("ASSAY_BENCH_QUEUE_JOBS", "2000"))
PG_ADMIN = os.environ.get("ASSAY_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "assay_bench_queue"
#: Jobs left out of the rate at the start: the slots' processes start and open the store meanwhile.
WARMUP = 20
MODULE = "def noop():\n    pass\n"


def pg_url() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_DB}")
    except Exception as exc:
        print(f"  (PostgreSQL not reachable: {exc})")
        return None
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"


def measure(uri: str, home: Path, workers: list[int]) -> float:
    """Jobs/s of ``N`` no-op jobs through workers of the given concurrencies, on the store ``uri``."""
    from assay import bundle
    from assay.runner.entities import JobState
    from assay.runner.submit import job_spec

    jobs = bundle.services(uri).jobs
    spec = job_spec("benchjobs:noop", cwd=str(home), project="default")
    queued = [jobs.submit(spec).job_id for _ in range(N)]
    env = {**os.environ, "ASSAY_TRACKING_URI": uri, "ASSAY_SYSTEM_METRICS": "0"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "assay.cli.main", "worker", "-c", str(n)],
            env=env,
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in workers
    ]
    try:
        while True:
            left = jobs.list_jobs(states=[JobState.QUEUED, JobState.RUNNING], limit=1)
            if not left:
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)
    done = [jobs.get_job(j) for j in queued]
    bad = [j for j in done if j.state is not JobState.SUCCEEDED]
    if bad:
        raise SystemExit(f"{len(bad)} job(s) did not succeed, e.g. {bad[0].job_id}: {bad[0].error}")
    # Steady state: from the end of the WARMUP-th job (every slot's process has started and opened the
    # store by then; a worker's start-up is not what a queue's throughput is) to the end of the last.
    ends = sorted(j.finished_at or 0 for j in done)
    return (N - WARMUP) / ((ends[-1] - ends[WARMUP - 1]) / 1000)


def main() -> None:
    home = c.fresh_dir("queue")
    c.quiet_assay_env(home)
    (home / "benchjobs.py").write_text(MODULE)
    sys.path.insert(0, str(home))
    os.chdir(home)
    stores = [("SQLite", lambda shape: str(home / f"{shape}.db"))]
    if pg_url() is not None:
        stores.append(("PostgreSQL", lambda shape: _fresh_pg()))
    print(
        f"queue: {N} no-op Python jobs claimed, run as tracked runs and finished (no competitor: see the docstring)"
    )
    for store, uri_of in stores:
        shapes = (
            ("1 worker x 2 slots", [2]),
            ("2 workers x 1 slot", [1, 1]),
            ("2 workers x 4 slots", [4, 4]),
        )
        for label, shape in shapes:
            rate = measure(uri_of(label.replace(" ", "")), home, shape)
            print(f"  {store + ', ' + label:<44} {rate:>8,.0f} jobs/s   target >= 200 jobs/s")


def _fresh_pg() -> str:
    from assay import bundle

    bundle.reset()
    url = pg_url()
    assert url is not None
    return url


if __name__ == "__main__":
    main()
