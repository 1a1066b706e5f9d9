"""Target: the metric history of a 1,000,000-point series in <= 100 ms (MLflow: 2.2 s for 100,000).

assay logs the series through the SDK (it is stored as packed chunks, compacted at the end of the run) and
reads it with ``get_metric_history``. MLflow logs 100,000 points with ``log_batch`` and reads them with
``MlflowClient.get_metric_history``; the ratio compares the time per point.
"""

from __future__ import annotations

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c

N = 1_000_000
N_MLFLOW = 100_000


def assay_side() -> dict[str, float]:
    c.quiet_assay_env(c.fresh_dir("history"))
    import assay

    assay.set_experiment("history")
    with assay.start_run() as run:
        log_metric = assay.log_metric
        for i in range(N):
            log_metric("loss", 1.0 / (i + 1), i)
    client = assay.Client()
    t_full, h = c.timeit(lambda: client.get_metric_history(run.id, "loss"), repeat=7)
    assert len(h) == N and h.steps[-1] == N - 1
    with assay.start_run() as small:
        for i in range(N_MLFLOW):
            log_metric("loss", 1.0 / (i + 1), i)
    t_small, h2 = c.timeit(lambda: client.get_metric_history(small.id, "loss"), repeat=7)
    assert len(h2) == N_MLFLOW
    return {"full_s": t_full, "small_s": t_small}


def mlflow_side() -> None:
    import time

    home = c.fresh_dir("history-mlflow")
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    run = client.create_run(client.create_experiment("history"))
    now = int(time.time() * 1000)
    for start in range(0, N_MLFLOW, 1000):
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("loss", 1.0 / (i + 1), now, i) for i in range(start, start + 1000)],
        )
    t, h = c.timeit(lambda: client.get_metric_history(run.info.run_id, "loss"), repeat=3)
    assert len(h) == N_MLFLOW
    c.emit({"small_s": t})


def main() -> None:
    if c.side() == "mlflow":
        mlflow_side()
        return
    print("metric history read")
    a = assay_side()
    m = c.mlflow_side(__file__)
    c.row(f"{N:,}-point series", a["full_s"] * 1000, "ms", None, "lower", "<= 100 ms")
    c.row(f"{N_MLFLOW:,}-point series", a["small_s"] * 1000, "ms", m and m["small_s"] * 1000, "lower", "-")
    if m:
        per_point = (m["small_s"] / N_MLFLOW) / (a["full_s"] / N)
        print(f"  per point, assay's 1M read vs MLflow's 100k read: {per_point:,.0f}x faster")


if __name__ == "__main__":
    main()
