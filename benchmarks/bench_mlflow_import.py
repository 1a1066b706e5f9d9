"""Target: ``assay import mlflow`` of an MLflow SQLite store at >= 200,000 metric points/s, end to end.

The store: MLflow 3.17.2 (its own venv) creates the schema, an experiment and RUNS finished runs with a few
params; the METRICS x STEPS points of each run are then inserted straight into MLflow's ``metrics`` and
``latest_metrics`` tables (what ``log_batch`` would write, without waiting minutes for it). assay's figure is
the wall time of the ``assay import mlflow`` command in a child process (start-up included), until it exits
with everything committed to a fresh assay store.

The competitor: MLflow has no importer between its own stores that keeps the runs (``mlflow
migrate-filestore`` only converts a file store), so its line is the copy one writes with ``MlflowClient``:
create each run in a second SQLite store, read every history with ``get_metric_history`` and write it with
``log_batch`` (1,000 points a call, its limit), on the first COPY_RUNS runs; points/s are compared.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c

RUNS, METRICS, STEPS = 100, 10, 1_000
COPY_RUNS = 5
T0 = 1_700_000_000_000


def build_side(root: str) -> None:
    """(MLflow venv) The schema, one experiment and RUNS ended runs; their ids."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    exp = client.create_experiment("bench", artifact_location=f"{root}/mlartifacts")
    ids = []
    for i in range(RUNS):
        run = client.create_run(exp, run_name=f"run-{i}", start_time=T0 + i)
        client.log_param(run.info.run_id, "i", str(i))
        client.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 10_000_000 + i)
        ids.append(run.info.run_id)
    c.emit({"run_ids": ids})


def copy_side(src: str, dst: str) -> None:
    """(MLflow venv) Copy the first COPY_RUNS runs with MlflowClient; the time and points copied."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    source, target = MlflowClient(src), MlflowClient(dst)
    exp = target.create_experiment("bench-copy")
    runs = source.search_runs([source.get_experiment_by_name("bench").experiment_id], max_results=COPY_RUNS)
    points = 0
    t0 = time.perf_counter()
    for run in runs:
        new = target.create_run(exp, run_name=run.info.run_name, start_time=run.info.start_time)
        rid = new.info.run_id
        target.log_batch(rid, params=[Param(k, v) for k, v in run.data.params.items()])
        for key in run.data.metrics:
            history = source.get_metric_history(run.info.run_id, key)
            points += len(history)
            for at in range(0, len(history), 1000):
                part = [Metric(m.key, m.value, m.timestamp, m.step) for m in history[at : at + 1000]]
                target.log_batch(rid, metrics=part)
        target.set_terminated(rid, run.info.status, end_time=run.info.end_time)
    c.emit({"seconds": time.perf_counter() - t0, "points": points})


def fill_metrics(db: Path, run_ids: list[str]) -> int:
    """Insert METRICS x STEPS points per run into MLflow's tables, as log_batch would store them."""
    rows = []
    latest = []
    for r, rid in enumerate(run_ids):
        for m in range(METRICS):
            key = f"metric_{m}"
            for s in range(STEPS):
                rows.append((key, (r + 1) / (s + 1 + m), T0 + s * 100, rid, s, 0))
            latest.append((key, (r + 1) / (STEPS + m), T0 + (STEPS - 1) * 100, rid, STEPS - 1, 0))
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
            latest,
        )
    return len(rows)


def main() -> None:
    if c.side() == "mlflow":
        args = sys.argv[sys.argv.index("--side") + 2 :]
        if args[0] == "build":
            build_side(args[1])
        else:
            copy_side(args[1], args[2])
        return
    print("assay import mlflow (SQLite store)")
    root = c.fresh_dir("mlflow-import")
    built = c.mlflow_side(__file__, "build", str(root))
    if built is None:
        print("  the MLflow venv is needed to build the store: run scripts/ensure-mlflow-venv.sh")
        return
    points = fill_metrics(root / "mlflow.db", built["run_ids"])
    target = root / "assay" / "assay.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.update({"ASSAY_HOME": str(root / "assay"), "ASSAY_SYSTEM_METRICS": "0", "COLUMNS": "120"})
    cmd = [sys.executable, "-m", "assay.cli.main", "--tracking-uri", str(target)]
    t0 = time.perf_counter()
    done = subprocess.run(
        [*cmd, "import", "mlflow", f"sqlite:///{root / 'mlflow.db'}"], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        print(f"  import failed:\n{done.stderr[-3000:]}")
        return
    with sqlite3.connect(target) as conn:
        held = conn.execute("SELECT coalesce(sum(count), 0) FROM latest_metrics").fetchone()[0]
    assert held == points, (held, points)
    rate = points / seconds
    copied = c.mlflow_side(
        __file__, "copy", f"sqlite:///{root / 'mlflow.db'}", f"sqlite:///{root / 'copy.db'}"
    )
    mlflow_rate = copied and copied["points"] / copied["seconds"]
    label = f"{RUNS} runs x {METRICS} metrics x {STEPS:,} steps"
    c.row(label, rate, "points/s", mlflow_rate, "higher", ">= 200,000 points/s")
    print(f"  {points:,} points in {seconds:.2f} s (process start-up included)")
    if copied:
        print(
            f"  MLflow: MlflowClient copy of {COPY_RUNS} runs ({copied['points']:,} points) "
            f"in {copied['seconds']:.1f} s"
        )
    print(json.dumps({"points": points, "seconds": round(seconds, 3), "points_per_s": round(rate)}))


if __name__ == "__main__":
    main()
