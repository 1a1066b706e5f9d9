"""The unmodified MLflow client (3.17.2) against assay's server and against MLflow's own, in the same run.

Targets (issue 14): ``mlflow.log_metric`` (one HTTP call per point) >= 10x faster per call than MLflow's
server; ``mlflow.search_runs`` over 10,000 runs with a filter and an order >= 20x faster.

Both servers are real processes on loopback over SQLite, one worker each, no auth, holding the same
10,000 runs (``bench_search.dataset``: 20 params, 10 metrics, 5 tags each). The runs are made fast, not
through the MLflow API: assay's through its SDK on the store before the server starts, MLflow's with its
ORM models in bulk (as ``bench_search`` does). Everything timed is the MLflow client's public API, run in
the MLflow venv: the median of single ``log_metric`` calls inside an active run, and the median of
``mlflow.search_runs`` (a DataFrame of every match) over the 10,000 runs. The same two requests are also
timed over a plain keep-alive connection without MLflow's client: that is the servers' own share, since
the client's per-call work (and its JSON-to-protobuf parsing of a search answer) is the same whichever
server answers.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c
import bench_search
from bench_http import free_port, wait_for

CALLS = 500
QUIET = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
}


def measure(url: str) -> dict[str, float]:
    """Per-call ``mlflow.log_metric`` and ``mlflow.search_runs`` through MLflow's client at ``url``."""
    import mlflow

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("calls")
    with mlflow.start_run() as run:
        for i in range(50):  # warm the connection and the server
            mlflow.log_metric("warm", 0.5, step=i)
        samples = []
        for i in range(CALLS):
            t0 = time.perf_counter()
            mlflow.log_metric("loss", 0.5, step=i)
            samples.append(time.perf_counter() - t0)
        point = {"run_id": run.info.run_id, "key": "raw", "value": 0.5, "timestamp": 1}
        raw = RawHttp(url)  # a new connection per phase: an idle one may have been closed by the server
        raw_samples = [raw.post("runs/log-metric", {**point, "step": i})[0] for i in range(CALLS)]
    exp = mlflow.get_experiment_by_name("search")
    assert exp is not None
    want = bench_search.expected(bench_search.dataset())
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        found = mlflow.search_runs([exp.experiment_id], bench_search.FILTER, order_by=bench_search.ORDER)
        times.append(time.perf_counter() - t0)
        assert len(found) == want, (len(found), want)
    values = list(found["metrics.metric_1"])
    assert values == sorted(values, reverse=True)
    query = {
        "experiment_ids": [exp.experiment_id],
        "filter": bench_search.FILTER,
        "order_by": bench_search.ORDER,
    }
    raw = RawHttp(url)
    raw_search = [raw.post("runs/search", {**query, "max_results": bench_search.N_RUNS}) for _ in range(3)]
    assert all(len(body["runs"]) == want for _, body in raw_search)
    return {
        "log_metric_s": statistics.median(samples),
        "search_s": statistics.median(times),
        "raw_log_metric_s": statistics.median(raw_samples),
        "raw_search_s": statistics.median(t for t, _ in raw_search),
        "matched": want,
    }


class RawHttp:
    """The same calls without MLflow's client (a keep-alive standard-library connection): the server's share."""

    def __init__(self, url: str) -> None:
        import http.client

        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port))

    def post(self, path: str, body: dict[str, Any]) -> tuple[float, Any]:
        data = json.dumps(body).encode()
        t0 = time.perf_counter()
        self.conn.request("POST", f"/api/2.0/mlflow/{path}", data, {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        answer = response.read()
        elapsed = time.perf_counter() - t0
        assert response.status == 200, answer[:300]
        return elapsed, json.loads(answer)


def assay_store(home: Path) -> str:
    """A SQLite store holding the 10,000 runs, logged through assay's SDK."""
    c.quiet_assay_env(home)
    import assay

    client = assay.Client()
    exp = client.get_or_create_experiment("search")
    for params, metrics, tags in bench_search.dataset():
        run = client.create_run(
            exp.experiment_id, params=params, tags=tags, capture_git=False, capture_environment=False
        )
        client.log_metrics(run.run_id, metrics, step=0)
        client.set_terminated(run.run_id)
    client.flush()
    return str(home / "assay.db")


def mlflow_store(home: Path) -> str:
    """MLflow's SQLite store holding the same runs, inserted with its ORM (``bench_search.mlflow_side``)."""
    import uuid

    from mlflow import MlflowClient
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag

    uri = f"sqlite:///{home}/mlflow.db"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("search")
    store = client._tracking_client.store
    now = int(time.time() * 1000)
    objects: list[object] = []
    for i, (params, metrics, tags) in enumerate(bench_search.dataset()):
        rid = uuid.uuid4().hex
        objects.append(
            SqlRun(run_uuid=rid, name=f"run-{i}", experiment_id=int(exp_id), status="FINISHED",
                   start_time=now + i, end_time=now + i + 1, lifecycle_stage="active",
                   artifact_uri=f"{home}/{rid}", user_id="bench", source_type="LOCAL", source_name="",
                   entry_point_name="", source_version="")
        )  # fmt: skip
        objects += [SqlParam(key=k, value=v, run_uuid=rid) for k, v in params.items()]
        objects += [SqlTag(key=k, value=v, run_uuid=rid) for k, v in tags.items()]
        for table in (SqlMetric, SqlLatestMetric):
            objects += [
                table(key=k, value=v, timestamp=now, step=0, is_nan=False, run_uuid=rid)
                for k, v in metrics.items()
            ]
    with store.ManagedSessionMaker() as session:
        session.bulk_save_objects(objects)
    return uri


def mlflow_side() -> None:
    target = sys.argv[sys.argv.index("--target") + 1]
    if target != "mlflow":
        c.emit(measure(target))
        return
    home = c.fresh_dir("mlflow-client-mlflow")
    uri = mlflow_store(home)
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", uri,
         "--default-artifact-root", str(home / "art"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/health", server, timeout=120)
        c.emit(measure(url))
    finally:
        server.terminate()
        server.wait(20)


def main() -> None:
    if c.side() == "mlflow":
        mlflow_side()
        return
    os.environ.update(QUIET)
    print(
        f"the MLflow client against each server: {CALLS} single log_metric calls, and search_runs over "
        f"{bench_search.N_RUNS:,} runs, filter {bench_search.FILTER!r}, order {bench_search.ORDER}"
    )
    home = c.fresh_dir("mlflow-client-assay")
    store = assay_store(home)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "assay"), "server", "--store", store, "--artifacts", str(home / "art"),
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**env, "ASSAY_HOME": str(home)},
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/health", server)
        a = c.mlflow_side(__file__, "--target", url)
    finally:
        server.terminate()
        server.wait(20)
    if a is None:
        print("  the MLflow venv is needed on both sides: run scripts/ensure-mlflow-venv.sh")
        return
    m = c.mlflow_side(__file__, "--target", "mlflow")
    print(f"  ({a['matched']:,.0f} runs match)")
    rows = [
        ("mlflow.log_metric, one call", "log_metric_s", ">= 10x"),
        ("mlflow.search_runs, 10,000 runs", "search_s", ">= 20x"),
        ("  server's share: log-metric request", "raw_log_metric_s", "-"),
        ("  server's share: runs/search request", "raw_search_s", "-"),
    ]
    for label, key, target in rows:
        c.row(label, a[key] * 1000, "ms", None if m is None else m[key] * 1000, "lower", target)


if __name__ == "__main__":
    main()
