"""A sweep across a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes on loopback,
20 trials, every child run with its metrics in one embedded SQLite store (WAL: written by both workers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import assay
from assay.entities import RunStatus
from assay.runner.engines import open_engine
from assay.sdk.client import Client
from processes import dask_cluster

TESTS = Path(__file__).parent


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    with dask_cluster(tmp_path, 2, [str(TESTS.parent / "src"), str(TESTS)]) as address:
        yield address


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
