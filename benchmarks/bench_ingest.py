"""Target: sustained ingest into the SQLite store >= 1,000,000 points/s (PostgreSQL figure reported too).

assay: ``log_metric`` in a loop over 10 keys, then ``flush``; the clock covers logging and every write.
MLflow side: ``MlflowClient.log_batch`` with 1,000 metrics a call (its fastest path) on its SQLite store.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c

POINTS = 3_000_000
KEYS = [f"metric_{i}" for i in range(10)]
PG_URL = os.environ.get("ASSAY_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/assay_bench")


def ingest(uri: str) -> float:
    import assay
    from assay.sdk.session import reset

    reset()
    assay.set_tracking_uri(uri)
    assay.set_experiment("ingest")
    log_metric = assay.log_metric
    keys = KEYS
    with assay.start_run():
        t0 = time.perf_counter()
        for step in range(POINTS // len(keys)):
            for k in keys:
                log_metric(k, 0.5, step)
        assay.flush()
        elapsed = time.perf_counter() - t0
    stored = sum(len(assay.get_metric_history(assay.search_runs()[0].id, k)) for k in keys)
    assert stored == POINTS, stored
    assay.set_tracking_uri(None)
    return POINTS / elapsed


def fresh_pg() -> str | None:
    try:
        import psycopg

        admin = PG_URL.rsplit("/", 1)[0] + "/postgres"
        db = PG_URL.rsplit("/", 1)[1]
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {db}")
        return PG_URL
    except Exception as exc:
        print(f"  (PostgreSQL not reachable, skipped: {exc})")
        return None


def mlflow_side() -> None:
    home = c.fresh_dir("ingest-mlflow")
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    exp = client.create_experiment("ingest")
    run = client.create_run(exp)
    n = 100_000
    now = int(time.time() * 1000)
    t0 = time.perf_counter()
    for start in range(0, n, 1000):
        batch = [Metric(KEYS[i % 10], 0.5, now, i // 10) for i in range(start, start + 1000)]
        client.log_batch(run.info.run_id, metrics=batch)
    c.emit({"points_per_s": n / (time.perf_counter() - t0)})


def main() -> None:
    if c.side() == "mlflow":
        mlflow_side()
        return
    print(f"ingest: {POINTS:,} points through log_metric + flush")
    c.quiet_assay_env(c.fresh_dir("ingest"))
    sqlite_rate = ingest(os.environ["ASSAY_TRACKING_URI"])
    m = c.mlflow_side(__file__)
    c.row("SQLite store", sqlite_rate, "points/s", m and m["points_per_s"], "higher", ">= 1,000,000/s")
    pg = fresh_pg()
    if pg:
        os.environ["ASSAY_ARTIFACT_ROOT"] = str(c.fresh_dir("ingest-pg-artifacts"))
        c.row("PostgreSQL store", ingest(pg), "points/s", m and m["points_per_s"], "higher", "reported")


if __name__ == "__main__":
    main()
