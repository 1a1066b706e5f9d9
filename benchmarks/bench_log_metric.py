"""Target: ``log_metric`` costs <= 1 us median in the caller, <= 4x a bare ``list.append`` of a tuple.

Measured per call over batches of 1,000 calls (the median batch), with the background writer running.
MLflow side: ``mlflow.log_metric`` on its SQLite store (synchronous, its default).
"""

from __future__ import annotations

import statistics
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c

BATCH = 1000


def per_call_ns(fn, batches: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for b in range(batches):
        t0 = time.perf_counter_ns()
        fn(b)
        samples.append((time.perf_counter_ns() - t0) / BATCH)
    return statistics.median(samples)


def assay_side() -> dict[str, float]:
    c.quiet_assay_env(c.fresh_dir("logmetric"))
    import assay

    assay.set_experiment("bench")
    lst: list[tuple[str, float, int, float]] = []
    append = lst.append
    now = time.time

    def bare(b: int) -> None:
        lst.clear()  # the strictest baseline: no growing list for the garbage collector to walk
        for i in range(BATCH):
            append(("loss", 0.5, i, now()))

    log_metric = assay.log_metric

    def logged(b: int) -> None:
        for i in range(BATCH):
            log_metric("loss", 0.5, i)

    with assay.start_run():
        bare(0)
        logged(0)
        base = per_call_ns(bare, 400)
        cost = per_call_ns(logged, 400)
        lst.clear()
    return {"append_ns": base, "log_metric_ns": cost}


def mlflow_side() -> None:
    home = c.fresh_dir("logmetric-mlflow")
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{home}/mlflow.db")
    mlflow.set_experiment("bench")
    with mlflow.start_run():
        mlflow.log_metric("loss", 0.5, step=0)
        samples = []
        for i in range(200):
            t0 = time.perf_counter_ns()
            mlflow.log_metric("loss", 0.5, step=i)
            samples.append(time.perf_counter_ns() - t0)
    c.emit({"log_metric_ns": statistics.median(samples)})


def main() -> None:
    if c.side() == "mlflow":
        mlflow_side()
        return
    print("log_metric: cost in the caller")
    a = assay_side()
    m = c.mlflow_side(__file__)
    c.row("bare list.append of a tuple (same process)", a["append_ns"] / 1000, "us", None, "lower", "-")
    c.row(
        "assay.log_metric",
        a["log_metric_ns"] / 1000,
        "us",
        m and m["log_metric_ns"] / 1000,
        "lower",
        "<= 1 us",
    )
    print(f"  log_metric / list.append = {a['log_metric_ns'] / a['append_ns']:.2f}x (target <= 4x)")


if __name__ == "__main__":
    main()
