"""``assay worker --engine dask``: a real ``dask scheduler`` and one ``dask worker`` on loopback, a real
``assay worker`` process running claimed jobs as tasks on that cluster, a SQLite store they all write.

Dask cannot kill a running task: a job stopped (time limit, cancel) while its task runs is finished at
once, its run ended and tagged ``assay.job.unstopped``, and its task runs on to its end; one still
queued in Dask never starts. Bounds are liveness bounds, never timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assay import Client, RunStatus, bundle
from assay.runner.entities import JobState
from assay.runner.execute import LOG_ARTIFACT
from assay.runner.worker import UNSTOPPED_TAG
from assay.services.jobs import Jobs
from processes import dask_cluster
from test_worker import WorkerProcess, notebook, runs_of, submit, wait_until, workers  # noqa: F401

pytestmark = pytest.mark.slow

SRC = str(Path(__file__).parent.parent / "src")

MODULE = """
import os, pathlib, time
import assay

def train(lr=0.1):
    assay.log_metric("loss", lr / 2)
    print("training with", lr, "in", os.getpid())
    return {"val_auc": 0.9}

def nap(mark, seconds=1.0):
    pathlib.Path(mark).write_text(str(os.getpid()))
    time.sleep(seconds)
    assay.log_metric("after", 1.0)
    pathlib.Path(mark + ".done").write_text("")
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dask_cluster(tmp_path_factory.mktemp("dask"), 1, [SRC]) as address:
        yield address


@pytest.fixture
def jobs(sqlite_uri: str, tmp_path: Path) -> Jobs:
    """The store's jobs, with the module ``daskjobs`` in the working directory (the jobs' cwd)."""
    (tmp_path / "daskjobs.py").write_text(MODULE)
    return bundle.services(sqlite_uri).jobs


def test_a_dask_worker_runs_jobs_to_completion(
    jobs: Jobs,
    tmp_path: Path,
    cluster: str,
    workers: Callable[..., WorkerProcess],  # noqa: F811
) -> None:
    submitted = [
        submit(jobs, "daskjobs:train", params={"lr": 0.5}),
        submit(jobs, "daskjobs:train", params={"lr": 0.25}),
        submit(jobs, str(notebook(tmp_path / "train.ipynb")), params={"lr": "0.25"}, texts=["lr"]),
    ]
    w = workers("--engine", "dask", "--dask-scheduler", cluster)
    deadline = time.monotonic() + 55
    for job in submitted:
        done = wait_until(
            f"job {job.job_id} ends",
            lambda job=job: (found := jobs.get_job(job.job_id)).state.done and found,
            timeout=max(1.0, deadline - time.monotonic()),
            workers=[w],
        )
        assert done.state is JobState.SUCCEEDED, (done.error, w.output())
        [run] = runs_of(done).values()
        assert run.info.run_id == done.run_id and run.info.status is RunStatus.FINISHED
        assert UNSTOPPED_TAG not in run.tags
    first, second, nb = (runs_of(j)[1] for j in submitted)
    assert first.metrics == {"loss": 0.25, "val_auc": 0.9} and second.metrics["loss"] == 0.125
    assert nb.metrics["acc"] == 0.5
    text = Client().read_artifact(first.info.run_id, LOG_ARTIFACT).decode()
    assert (
        "training with 0.5" in text
        and "training with 0.5" in jobs.read_log(submitted[0].job_id).data.decode()
    )
    # the tasks ran in the Dask worker's process, not in this worker's
    assert f"in {w.proc.pid}" not in text
    assert "1 slot(s) on the dask engine at tcp://127.0.0.1" in w.output()


def test_a_stopped_job_ends_at_once_its_running_task_is_left_to_finish(
    jobs: Jobs,
    tmp_path: Path,
    cluster: str,
    workers: Callable[..., WorkerProcess],  # noqa: F811
) -> None:
    """A time limit stops a running task's job at once (the task runs on, its run says so); the job
    claimed next waits in Dask behind it, and a cancel of it means it never runs."""
    a_mark, b_mark = str(tmp_path / "a"), str(tmp_path / "b")
    a = submit(jobs, "daskjobs:nap", params={"mark": a_mark, "seconds": 6.0}, timeout_s=2.0, priority=1)
    b = submit(jobs, "daskjobs:nap", params={"mark": b_mark, "seconds": 0.1})
    w = workers("--engine", "dask", "--dask-scheduler", cluster, "-c", "1")
    timed_out = wait_until(
        "job a times out", lambda: (j := jobs.get_job(a.job_id)).state.done and j, timeout=40, workers=[w]
    )
    assert timed_out.state is JobState.FAILED and "timed out" in (timed_out.error or ""), w.output()
    assert Path(a_mark).exists() and not Path(a_mark + ".done").exists()  # it runs on
    run_a = Client().get_run(timed_out.run_id or "")
    assert run_a.info.status is RunStatus.KILLED and "timed out after 2 s" in run_a.tags["assay.error"]
    assert "cannot kill a task that has started" in run_a.tags[UNSTOPPED_TAG]

    wait_until("job b is claimed", lambda: jobs.get_job(b.job_id).state is JobState.RUNNING, workers=[w])
    assert not Path(b_mark).exists()  # queued in Dask behind a's task
    jobs.cancel(b.job_id)
    cancelled = wait_until(
        "job b is cancelled", lambda: (j := jobs.get_job(b.job_id)).state.done and j, timeout=15, workers=[w]
    )
    assert cancelled.state is JobState.CANCELLED
    run_b = Client().get_run(cancelled.run_id or "")
    assert run_b.info.status is RunStatus.KILLED and UNSTOPPED_TAG not in run_b.tags  # it never started

    wait_until("a's task finishes on its Dask worker", lambda: Path(a_mark + ".done").exists(), timeout=20)
    time.sleep(1.5)  # time enough for b's task to start, were it still queued in Dask
    assert not Path(b_mark).exists()
    run_a = Client().get_run(run_a.info.run_id)
    assert run_a.info.status is RunStatus.KILLED and "after" not in run_a.metrics  # refused: it had ended
