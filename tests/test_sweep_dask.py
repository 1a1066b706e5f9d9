"""A sweep across a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes on loopback,
20 trials, every child run with its metrics in one embedded SQLite store (WAL: written by both workers)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import assay
from assay.entities import RunStatus
from assay.runner.engines import open_engine
from assay.sdk.client import Client

TESTS = Path(__file__).parent
DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)])}
    log = (tmp_path / "dask.log").open("wb")
    common = {"env": env, "cwd": tmp_path, "stdout": log, "stderr": subprocess.STDOUT}
    procs = [
        subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **common
        )
    ]
    for i in range(2):
        procs.append(
            subprocess.Popen(
                [DASK, "worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{i}",
                 "--host", "127.0.0.1", "--local-directory", str(tmp_path / f"w{i}")],
                **common,
            )
        )  # fmt: skip
    try:
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=45)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


@pytest.mark.slow
def test_a_sweep_across_two_dask_workers(sqlite_uri: str, cluster: str) -> None:
    with open_engine("dask", 2, scheduler=cluster) as engine:
        assert engine.parallel == 2  # the cluster's workers
        result = assay.sweep(
            "sweep_targets:quadratic",
            {"x": assay.uniform(-1.0, 1.0), "y": assay.randint(0, 4)},
            trials=20,
            metric="loss",
            engine=engine,
        )
    assert len(result.trials) == 20 and all(t.state == "COMPLETE" for t in result.trials)
    runs = list(Client(sqlite_uri).search_runs(filter=f"attributes.parent_run_id = '{result.parent_run_id}'"))
    assert len(runs) == 20
    assert all(r.info.status is RunStatus.FINISHED and "loss" in r.metric_summaries for r in runs)
    assert {r.id for r in runs} == {t.run_id for t in result.trials}
