"""A sweep across a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes on loopback,
20 trials, every child run with its metrics in one embedded SQLite store (WAL: written by both workers);
and a trial whose worker dies mid-trial, which Dask runs again on the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import assay
from assay.entities import RunStatus
from assay.runner.engines import open_engine
from assay.runner.entities import RERUN_AS_TAG, RERUN_OF_TAG
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


@pytest.mark.slow
def test_a_trial_whose_dask_worker_dies_runs_again_in_a_fresh_run(
    sqlite_uri: str, cluster: str, tmp_path: Path
) -> None:
    """Dask runs the lost trial again on a worker left: it ends in a fresh run; the lost run ends KILLED
    with what it logged, once; the sweep counts every trial once."""
    (tmp_path / "marks").mkdir()
    with open_engine("dask", 2, scheduler=cluster) as engine:
        result = assay.sweep(
            "sweep_targets:dies_once",
            {"x": assay.uniform(-1.0, 1.0), "marks": str(tmp_path / "marks")},
            trials=6,
            metric="loss",
            engine=engine,
        )
    assert (tmp_path / "marks" / "died").exists()  # a worker did die mid-trial
    distributed = pytest.importorskip("distributed")
    with distributed.Client(cluster, timeout="30s") as dask:
        dask.wait_for_workers(2, timeout=60)  # its nanny restarted it: the cluster stops as it started
    assert len(result.trials) == 6 and all(t.state == "COMPLETE" for t in result.trials), result.trials
    client = Client(sqlite_uri)
    runs = {
        r.id: r for r in client.search_runs(filter=f"attributes.parent_run_id = '{result.parent_run_id}'")
    }
    [lost] = [r for r in runs.values() if r.info.status is not RunStatus.FINISHED]
    assert lost.info.status is RunStatus.KILLED
    fresh = runs[lost.tags[RERUN_AS_TAG]]
    assert fresh.info.status is RunStatus.FINISHED and fresh.tags[RERUN_OF_TAG] == lost.id
    assert fresh.tags["assay.sweep.trial"] == lost.tags["assay.sweep.trial"]
    h = client.get_metric_history(lost.id, "progress")
    assert h.steps.tolist() == [0] and "loss" not in lost.metric_summaries  # kept, once
    assert {t.run_id for t in result.trials} == {r.id for r in runs.values() if r.id != lost.id}
    assert client.get_run(result.parent_run_id).info.status is RunStatus.FINISHED
