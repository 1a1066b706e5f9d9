"""Target: creating runs (20 params, 10 metrics, 5 tags each) through ``start_run`` in a loop,
automatic capture on (git, environment; system metrics sampling off in both tools), >= 2,000 runs/s.

Two clocks: the loop as the caller sees it, and the loop plus the ``assay.flush()`` after it, which returns
once every run is committed, so durable and visible to any other process (another process then counts
them, outside the clock). The second is the figure that counts: the background writer may still be
catching up when the loop ends. MLflow writes each call synchronously, so its one figure is both.

MLflow side: ``mlflow.start_run`` with ``log_params``, ``log_metrics``, ``set_tags`` on its SQLite store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c

PARAMS = {f"param_{i}": i * 0.5 for i in range(20)}
TAGS = {f"tag_{i}": f"value {i}" for i in range(5)}
METRICS = {f"metric_{i}": i / 10 for i in range(10)}


def assay_side(n: int) -> tuple[float, float]:
    home = c.fresh_dir("runs")
    c.quiet_assay_env(home)
    os.chdir(c.ROOT)  # inside the assay git checkout, so git capture has something to record
    import assay

    assay.set_experiment("runs")
    with assay.start_run(params=PARAMS, tags=TAGS):  # warm-up: first capture of git and packages
        assay.log_metrics(METRICS, step=0)
    t0 = time.perf_counter()
    for i in range(n):
        with assay.start_run(name=f"run-{i}", params=PARAMS, tags=TAGS):
            assay.log_metrics(METRICS, step=0)
    in_caller = time.perf_counter() - t0
    assay.flush()  # returns once every run is committed: durable and visible to other processes
    durable = time.perf_counter() - t0
    seen = subprocess.run(
        [sys.executable, "-c", "import assay; print(len(assay.search_runs(experiment='runs')))"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ASSAY_TRACKING_URI": assay.get_tracking_uri()},
    ).stdout.strip()
    assert seen == str(n + 1), f"another process sees {seen} runs, not {n + 1}"
    runs = assay.search_runs(experiment="runs", max_results=1)
    assert "assay.git.commit" in runs[0].tags and len(runs[0].metrics) == 10
    return n / in_caller, n / durable


def mlflow_side(n: int) -> None:
    home = c.fresh_dir("runs-mlflow")
    import mlflow

    os.chdir(c.ROOT)
    mlflow.set_tracking_uri(f"sqlite:///{home}/mlflow.db")
    mlflow.set_experiment("runs")
    t0 = time.perf_counter()
    for i in range(n):
        with mlflow.start_run(run_name=f"run-{i}"):
            mlflow.log_params(PARAMS)
            mlflow.log_metrics(METRICS, step=0)
            mlflow.set_tags(TAGS)
    c.emit({"runs_per_s": n / (time.perf_counter() - t0)})


def main() -> None:
    if c.side() == "mlflow":
        mlflow_side(int(sys.argv[-1]))
        return
    print("run creation: start_run with 20 params, 10 metrics, 5 tags, capture on")
    n = 12_000
    in_caller, durable = assay_side(n)
    m = c.mlflow_side(__file__, "100")
    mlflow = m and m["runs_per_s"]
    c.row(f"{n:,} runs, durable (loop + flush)", durable, "runs/s", mlflow, "higher", ">= 2,000 runs/s")
    c.row("  the loop alone, in the caller", in_caller, "runs/s", mlflow, "higher", "-")


if __name__ == "__main__":
    main()
