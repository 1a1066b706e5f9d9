"""Team mode (issues 3 and 15), measured ahead of its targets: ingest over HTTP from one client >= 500,000
points/s, ``log_metric`` still <= 1 us in the caller while remote, run creation through a server >= 1,000
runs/s counted to durability (the creating loop and the flush after it), and search over HTTP on 10,000
runs, filter + order, top 100 <= 25 ms end to end.

assay: a real ``assay server --auth`` process on loopback over a fresh SQLite store; this process logs, as
a plain editor of a project with its API token (so every request pays the auth checks), through
the SDK with ``ASSAY_TRACKING_URI=http://...`` and flushes. MLflow side: a real ``mlflow server`` process,
logged to with ``MlflowClient.log_batch`` (1,000 metrics a call).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c

POINTS = 1_000_000
KEYS = [f"metric_{i}" for i in range(10)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def assay_side() -> dict[str, float]:
    home = c.fresh_dir("http-ingest")
    port = free_port()
    assay_bin = Path(sys.executable).parent / "assay"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    args = [
        "server",
        "--store",
        str(home / "server.db"),
        "--artifacts",
        str(home / "art"),
        "--port",
        str(port),
        "--auth",
    ]
    token = team_member_token(str(home / "server.db"))
    server = subprocess.Popen(
        [str(assay_bin), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/health", server)
        os.environ["ASSAY_HOME"] = str(home / "client")
        os.environ["ASSAY_TRACKING_URI"] = url
        os.environ["ASSAY_SYSTEM_METRICS"] = "0"
        os.environ["ASSAY_TRACKING_TOKEN"] = token
        os.environ["ASSAY_PROJECT"] = "bench"
        import assay

        assay.set_experiment("http")
        log_metric = assay.log_metric
        with assay.start_run(capture_git=False) as run:
            samples = []
            for b in range(200):  # caller cost, in batches of 1,000 calls
                t0 = time.perf_counter_ns()
                for i in range(1000):
                    log_metric("caller", 0.5, b * 1000 + i)
                samples.append((time.perf_counter_ns() - t0) / 1000)
            assay.flush()
            t0 = time.perf_counter()
            for step in range(POINTS // len(KEYS)):
                for k in KEYS:
                    log_metric(k, 0.5, step)
            assay.flush()
            rate = POINTS / (time.perf_counter() - t0)
        assert len(assay.get_metric_history(run.id, KEYS[0])) == POINTS // len(KEYS)
        runs_per_s, search_s = search_over_http(assay)
        return {
            "points_per_s": rate,
            "caller_ns": statistics.median(samples),
            "runs_per_s": runs_per_s,
            "search_s": search_s,
        }
    finally:
        server.terminate()
        server.wait(10)


def team_member_token(store: str) -> str:
    """Team mode as users meet it: the server requires tokens, and the client is a plain editor of a
    project (not an admin), so every request pays authentication and the project-role checks."""
    from assay.access import Role
    from assay.server.main import build_services

    services = build_services(store)
    try:
        admin = services.access  # the store's local admin
        admin.create_user("root", is_admin=True)
        token = admin.create_user("dev").secret
        admin.create_project("bench")
        admin.set_member("bench", "dev", Role.EDITOR)
        return token
    finally:
        services.close()


def search_over_http(assay: object) -> tuple[float, float]:
    """Create the search benchmark's 10,000 runs (20 params, 10 metrics, 5 tags) through the server, timed
    to durability (the flush returns once the server has committed them all); then time top-100 searches
    over HTTP. Returns (runs/s, seconds per search)."""
    import bench_search

    client = assay.Client()  # type: ignore[attr-defined]
    exp = client.get_or_create_experiment("search")
    data = bench_search.dataset()
    t0 = time.perf_counter()
    for params, metrics, tags in data:
        run = client.create_run(
            exp.experiment_id, params=params, tags=tags, capture_git=False, capture_environment=False
        )
        client.log_metrics(run.run_id, metrics, step=0)
        client.set_terminated(run.run_id)
    client.flush()
    runs_per_s = len(data) / (time.perf_counter() - t0)
    t, top = c.timeit(
        lambda: client.search_runs("search", bench_search.FILTER, bench_search.ORDER, max_results=100), 9
    )
    assert len(top) == 100
    return runs_per_s, t


def mlflow_side() -> None:
    home = c.fresh_dir("http-ingest-mlflow")
    port = free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen(
        [str(mlflow_bin), "server", "--backend-store-uri", f"sqlite:///{home}/mlflow.db",
         "--default-artifact-root", str(home / "art"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/health", server, timeout=120)
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        client = MlflowClient(url)
        run = client.create_run(client.create_experiment("http"))
        n = 50_000
        now = int(time.time() * 1000)
        t0 = time.perf_counter()
        for start in range(0, n, 1000):
            client.log_batch(
                run.info.run_id,
                metrics=[Metric(KEYS[i % 10], 0.5, now, i // 10) for i in range(start, start + 1000)],
            )
        rate = n / (time.perf_counter() - t0)
        # Run creation as bench_runs logs it: create, 20 params, 10 metrics and 5 tags in one log_batch, end.
        from mlflow.entities import Param, RunTag

        n_runs = 200
        t0 = time.perf_counter()
        for _ in range(n_runs):
            rid = client.create_run(run.info.experiment_id).info.run_id
            client.log_batch(
                rid,
                metrics=[Metric(f"metric_{j}", j / 10, now, 0) for j in range(10)],
                params=[Param(f"param_{j}", str(j)) for j in range(20)],
                tags=[RunTag(f"tag_{j}", "a") for j in range(5)],
            )
            client.set_terminated(rid)
        c.emit({"points_per_s": rate, "runs_per_s": n_runs / (time.perf_counter() - t0)})
    finally:
        server.terminate()
        server.wait(20)


def main() -> None:
    if c.side() == "mlflow":
        mlflow_side()
        return
    print(f"ingest over HTTP: {POINTS:,} points through log_metric against a server process on loopback")
    a = assay_side()
    m = c.mlflow_side(__file__)
    c.row(
        "points/s, one client",
        a["points_per_s"],
        "points/s",
        m and m["points_per_s"],
        "higher",
        ">= 500,000/s",
    )
    c.row("log_metric in the caller while remote", a["caller_ns"] / 1000, "us", None, "lower", "<= 1 us")
    c.row(
        "runs created through the server, durable",
        a["runs_per_s"],
        "runs/s",
        m and m["runs_per_s"],
        "higher",
        ">= 1,000 runs/s",
    )
    c.row("search 10,000 runs over HTTP, top 100", a["search_s"] * 1000, "ms", None, "lower", "<= 25 ms")


if __name__ == "__main__":
    main()
