"""Web UI targets (issue 4), as server time: the app answers in-process (no network), timed per request.

- series endpoint of a 1,000,000-point metric returns <= 2,000 points in <= 50 ms;
- runs table page of an experiment of 10,000 runs (20 params, 10 metrics, 5 tags) <= 300 ms;
- compare view of 20 runs x 5 metrics x 100,000 points <= 1 s.

MLflow side (same run, its own venv): the requests its UI makes for the same views, against its Flask app
in-process: ``get-history-bulk-interval`` (which samples a series to at most 320 points), ``runs/search``
(100 runs per page, as its table loads them), and one bulk-interval call per metric for the compare view.
Logging 10 million points into MLflow would take about 20 minutes here, so its series and compare figures
use 1/10 of the points (100,000-point series; 20 runs x 5 metrics x 10,000 points); the ratios say so.
"""

from __future__ import annotations

import os
import sys
import time
import warnings

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c
import numpy as np

N_SERIES = 1_000_000
COMPARE_RUNS, COMPARE_METRICS, COMPARE_POINTS = 20, 5, 100_000
MLFLOW_SCALE = 10


def assay_side() -> dict[str, float]:
    home = c.fresh_dir("ui")
    c.quiet_assay_env(home)
    import bench_search

    from assay.entities import RunStatus, SeriesBatch
    from assay.query import encode_page_token
    from assay.server.app import create_app
    from assay.server.main import build_services

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    services = build_services(str(home / "ui.db"), str(home / "artifacts"))
    service = services.tracking
    exp = service.create_experiment("ui")
    steps = np.arange(N_SERIES)
    big = service.create_run(exp.experiment_id, name="big")
    for start in range(0, N_SERIES, 100_000):  # as a long training run writes it: in chunks
        s = steps[start : start + 100_000]
        service.log_series([SeriesBatch(big.run_id, "loss", s, s + 1, np.sin(s / 5000.0))])
    service.end_run(big.run_id, RunStatus.FINISHED)

    table = service.create_experiment("table")
    for params, metrics, tags in bench_search.dataset():
        r = service.create_run(table.experiment_id, params=params, tags=tags)
        batch = [
            SeriesBatch(r.run_id, k, np.array([0]), np.array([1]), np.array([v])) for k, v in metrics.items()
        ]
        service.log_series(batch)
        service.end_run(r.run_id, RunStatus.FINISHED)

    cmp_exp = service.create_experiment("compare")
    ids = []
    p = np.arange(COMPARE_POINTS)
    for i in range(COMPARE_RUNS):
        r = service.create_run(cmp_exp.experiment_id, params={"lr": i / 100})
        service.log_series(
            [
                SeriesBatch(r.run_id, f"m{k}", p, p + 1, np.cos(p / (1000.0 + i + k)))
                for k in range(COMPARE_METRICS)
            ]
        )
        service.end_run(r.run_id, RunStatus.FINISHED)
        ids.append(r.run_id)

    with TestClient(create_app(services), base_url="http://127.0.0.1") as http:

        def series() -> int:
            body = http.get(
                f"/api/v1/runs/{big.run_id}/metrics/loss/series", params={"max_points": 2000}
            ).json()
            return len(body["last"])

        def runs_page(page: int) -> str:
            query = {"o": "metrics.metric_0 desc", "filter": "params.param_0 != 'lr'", "page": page}
            response = http.get(f"/experiments/{table.experiment_id}", params=query)
            assert response.status_code == 200
            return response.text

        def compare() -> str:
            response = http.get("/compare", params={"run": ids})
            assert response.status_code == 200
            return response.text

        t_series, n = c.timeit(series, 9)
        assert n == 2000
        t_page, text = c.timeit(lambda: runs_page(1), 7)
        assert text.count('name="run"') == 50
        t_deep, _ = c.timeit(lambda: runs_page(60), 7)
        t_compare, text = c.timeit(compare, 5)
        assert text.count("#4477aa") >= 1
        huge = many_runs(service)

        def huge_page(**query: object) -> None:
            response = http.get(f"/experiments/{huge}", params=query)
            assert response.status_code == 200 and response.text.count('name="run"') == 50

        t_huge_first, _ = c.timeit(lambda: huge_page(), 5)
        t_huge_sorted, _ = c.timeit(lambda: huge_page(o="metrics.acc desc", filter="params.model = 'rf'"), 5)
        # page 1,000 as a user reaches it: the next link of page 999 (its cursor found once, untimed)
        newest = ["attributes.start_time desc"]  # the table's order (a token belongs to its order)
        cursor = service.search_runs([huge], None, newest, 50, encode_page_token(998 * 50))
        t_huge_deep, _ = c.timeit(lambda: huge_page(page=1000, at=cursor.next_page_token), 5)
    services.close()
    return {
        "series_s": t_series,
        "page_s": t_page,
        "deep_s": t_deep,
        "compare_s": t_compare,
        "huge_first_s": t_huge_first,
        "huge_sorted_s": t_huge_sorted,
        "huge_deep_s": t_huge_deep,
    }


def many_runs(service: object, n: int = 100_000) -> str:
    """An experiment of ``n`` small runs (2 params, 2 metrics), written 1,000 runs a transaction."""
    from assay.entities import RunEnd, RunStatus, SeriesBatch, WriteBatch
    from assay.services.tracking import new_run

    exp = service.create_experiment("huge")  # type: ignore[attr-defined]
    rng = np.random.default_rng(3)
    for start in range(0, n, 1000):
        runs = [
            new_run(exp.experiment_id, params={"model": ("rf", "gb", "lr")[i % 3], "i": i}, start_time=1 + i)
            for i in range(start, start + 1000)
        ]
        one = np.array([0])
        series = [SeriesBatch(r.run_id, k, one, one, rng.random(1)) for r in runs for k in ("acc", "loss")]
        ends = [RunEnd(r.run_id, RunStatus.FINISHED, 2 + start) for r in runs]
        service.ingest(WriteBatch(new_runs=runs, series=series, ends=ends))  # type: ignore[attr-defined]
    return str(exp.experiment_id)


def mlflow_side() -> None:
    home = c.fresh_dir("ui-mlflow")
    os.environ["_MLFLOW_SERVER_FILE_STORE"] = f"sqlite:///{home}/mlflow.db"
    os.environ["_MLFLOW_SERVER_ARTIFACT_ROOT"] = str(home / "artifacts")
    os.environ["_MLFLOW_SERVER_SERVE_ARTIFACTS"] = "false"
    import bench_search
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    now = int(time.time() * 1000)

    def log_series(run_id: str, key: str, n: int) -> None:
        for start in range(0, n, 1000):
            points = [Metric(key, float(i), now + i, i) for i in range(start, min(n, start + 1000))]
            client.log_batch(run_id, metrics=points)

    big = client.create_run(client.create_experiment("ui")).info.run_id
    log_series(big, "loss", N_SERIES // MLFLOW_SCALE)
    table = client.create_experiment("table")
    for params, metrics, tags in bench_search.dataset():
        rid = client.create_run(table).info.run_id
        client.log_batch(
            rid,
            metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
    cmp_exp = client.create_experiment("compare")
    ids = []
    for _ in range(COMPARE_RUNS):
        rid = client.create_run(cmp_exp).info.run_id
        for k in range(COMPARE_METRICS):
            log_series(rid, f"m{k}", COMPARE_POINTS // MLFLOW_SCALE)
        ids.append(rid)

    from mlflow.server import app

    http = app.test_client()

    def bulk_interval(run_ids: str | list[str], key: str) -> None:
        query = {"run_ids": run_ids, "metric_key": key, "max_results": 320}
        response = http.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", query_string=query)
        assert response.status_code == 200, response.text

    def series() -> None:
        bulk_interval(big, "loss")

    def runs_page() -> None:
        body = {
            "experiment_ids": [table],
            "filter": "params.param_0 != 'lr'",
            "order_by": ["metrics.metric_0 DESC"],
            "max_results": 100,
        }
        assert http.post("/ajax-api/2.0/mlflow/runs/search", json=body).status_code == 200

    def compare() -> None:
        for k in range(COMPARE_METRICS):
            bulk_interval(ids, f"m{k}")

    t_series, _ = c.timeit(series, 5)
    t_page, _ = c.timeit(runs_page, 5)
    t_compare, _ = c.timeit(compare, 3)
    c.emit({"series_s": t_series, "page_s": t_page, "compare_s": t_compare})


def main() -> None:
    if c.side() == "mlflow":
        mlflow_side()
        return
    print("web UI, server time per request (in-process app, no network)")
    a = assay_side()
    m = c.mlflow_side(__file__)
    c.row(
        "series endpoint, 1M points -> 2,000",
        a["series_s"] * 1000,
        "ms",
        m and m["series_s"] * 1000,
        "lower",
        "<= 50 ms (MLflow: 100k points -> 320)",
    )
    c.row(
        "runs table page, 10,000 runs, filter + sort",
        a["page_s"] * 1000,
        "ms",
        m and m["page_s"] * 1000,
        "lower",
        "<= 300 ms (MLflow: runs/search, 100)",
    )
    print(f"  (the same page 60, 3,000 runs deep: {a['deep_s'] * 1000:.0f} ms)")
    print(
        f"  100,000 runs: first page {a['huge_first_s'] * 1000:.0f} ms, filtered + sorted by a metric "
        f"{a['huge_sorted_s'] * 1000:.0f} ms, page 1,000 (50,000 deep, by its next link) "
        f"{a['huge_deep_s'] * 1000:.0f} ms"
    )
    c.row(
        "compare, 20 runs x 5 metrics x 100k points",
        a["compare_s"] * 1000,
        "ms",
        m and m["compare_s"] * 1000,
        "lower",
        "<= 1,000 ms (MLflow: 10k points)",
    )


if __name__ == "__main__":
    main()
