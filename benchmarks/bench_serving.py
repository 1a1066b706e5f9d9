"""Target: a served single-row prediction of a 100-tree RandomForest over HTTP on loopback: p50 <= 1 ms,
p99 <= 3 ms, and >= 10x lower p50 than ``mlflow models serve --env-manager local`` on the same model; plus
the throughput of both servers with 8 concurrent clients.

Both servers run as their own processes (``assay serve`` on onnxruntime, and with ``--native``; MLflow's
scoring server), and one client in this process measures all of them the same way: a keep-alive HTTP/1.1
connection (the standard library's, whose own cost is tens of microseconds), one JSON record per request,
the clock around the whole request.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as c

SINGLE = 2000
CONCURRENT_S = 5.0
CLIENTS = 8


def _data() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=2000, n_features=10, random_state=0)
    import pandas as pd

    return pd.DataFrame(X, columns=[f"f{i}" for i in range(10)]), y


def _model() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    X, y = _data()
    return RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1).fit(X, y)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
            )
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


class _Client:
    """A keep-alive HTTP/1.1 client on the standard library's http.client: it costs tens of microseconds a
    request where httpx costs hundreds, so the figures are the servers', not the client's."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.path = parts.path
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        self.headers = {"Content-Type": "application/json"}

    def post(self, body: bytes) -> bytes:
        self.conn.request("POST", self.path, body, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
        return data

    def close(self) -> None:
        self.conn.close()


def _measure(url: str, body: Any) -> dict[str, float]:
    payload = json.dumps(body).encode()
    latencies = []
    client = _Client(url)
    for _ in range(200):  # warm-up
        client.post(payload)
    for _ in range(SINGLE):
        t0 = time.perf_counter()
        client.post(payload)
        latencies.append(time.perf_counter() - t0)
    client.close()
    latencies.sort()
    done = [0] * CLIENTS
    stop = threading.Event()

    def hammer(i: int) -> None:
        mine = _Client(url)
        while not stop.is_set():
            mine.post(payload)
            done[i] += 1
        mine.close()

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(CONCURRENT_S)
    stop.set()
    for t in threads:
        t.join()
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "rps": sum(done) / CONCURRENT_S,
    }


def _serve(cmd: list[str], health: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait(health, proc)
    except BaseException:
        proc.kill()
        raise
    return proc


def assay_side() -> dict[str, dict[str, float]]:
    home = c.fresh_dir("serving")
    c.quiet_assay_env(home)
    import assay

    X, _ = _data()
    with assay.start_run():
        info = assay.log_model(_model(), "model", input_example=X[:5])
    mv = assay.register_model(info.uri, "rf")
    results: dict[str, dict[str, float]] = {}
    modes = [("native", ["--native", "--trust-type", "sklearn.tree._tree.Tree"])]
    try:
        from assay import onnx as assay_onnx

        t0 = time.perf_counter()
        assay_onnx.convert(mv.uri, trusted_types=["sklearn.tree._tree.Tree"])
        print(
            f"  conversion + parity + latency card of the 100-tree forest: {time.perf_counter() - t0:.1f} s"
            " (target <= 10 s)"
        )
        modes.insert(0, ("onnxruntime", []))
    except (ImportError, AttributeError) as exc:
        print(f"  (assay.onnx not available: {exc}; serving the native model only)")
    body = {"records": X[:1].to_dict(orient="records")}
    env = dict(os.environ)
    for label, extra in modes:
        port = _port()
        proc = _serve(
            [str(Path(sys.executable).parent / "assay"), "serve", mv.uri, "--port", str(port), *extra],
            f"http://127.0.0.1:{port}/health",
            env,
        )
        try:
            results[label] = _measure(f"http://127.0.0.1:{port}/predict", body)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return results


def mlflow_model() -> str:
    """Log the same forest with MLflow in its venv; returns the model's local path."""
    out = subprocess.run(
        [c.MLFLOW_PYTHON, __file__, "--side", "mlflow"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")},
        cwd=str(c.fresh_dir("serving-mlflow-cwd")),
    )
    return str(json.loads(out.stdout.strip().splitlines()[-1])["path"])


def mlflow_side() -> None:
    import mlflow.sklearn

    path = c.fresh_dir("serving-mlflow") / "model"
    X, _ = _data()
    mlflow.sklearn.save_model(
        _model(), str(path), input_example=X[:5], skops_trusted_types=["sklearn.tree._tree.Tree"]
    )
    c.emit({"path": str(path)})


def main() -> None:
    if c.side() == "mlflow":
        mlflow_side()
        return
    print("serving: single-row predictions of a 100-tree RandomForest over HTTP on loopback")
    ours = assay_side()
    theirs = None
    if Path(c.MLFLOW_PYTHON).exists():
        X, _ = _data()
        path = mlflow_model()
        port = _port()
        mlflow_bin = str(Path(c.MLFLOW_PYTHON).parent / "mlflow")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
        env["PATH"] = f"{Path(mlflow_bin).parent}:{env.get('PATH', '')}"  # it execs its venv's uvicorn
        proc = _serve(
            [
                mlflow_bin,
                "models",
                "serve",
                "-m",
                path,
                "--env-manager",
                "local",
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
            ],
            f"http://127.0.0.1:{port}/ping",
            env,
        )
        try:
            theirs = _measure(
                f"http://127.0.0.1:{port}/invocations", {"dataframe_records": X[:1].to_dict(orient="records")}
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    else:
        print(f"  (mlflow venv not found at {c.MLFLOW_PYTHON}: run `make bench` to measure MLflow too)")
    for label, r in ours.items():
        m = theirs or {}
        c.row(f"p50, one row ({label})", r["p50_ms"], "ms", m.get("p50_ms"), "lower", "<= 1 ms, >= 10x")
        c.row(f"p99, one row ({label})", r["p99_ms"], "ms", m.get("p99_ms"), "lower", "<= 3 ms")
        c.row(f"throughput, {CLIENTS} clients ({label})", r["rps"], "req/s", m.get("rps"), "higher", "-")


if __name__ == "__main__":
    main()
