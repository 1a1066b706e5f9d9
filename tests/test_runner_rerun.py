"""A task run more than once with the same arguments, as Dask does when the worker running it dies (or
when the worker holding its result dies before the driver fetched it): ``run_task`` called again on one
task, the earlier calls in child processes that die mid-task, or that ran to their end. Real runs in a
real store.

A re-run must not fail on its run id being taken, and nothing accepted may be lost, logged twice or
attached to another execution's run; every execution decides on the last run of the task's chain of
re-runs, and a stop (the worker's ``FuturesEngine``) ends that run (see ``assay.runner.rerun``).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from assay import Client, RunStatus, bundle
from assay.embedded.tracking import TrackingService
from assay.entities import Run
from assay.runner import engines, execute, rerun
from assay.runner.entities import ATTEMPT_TAG, JOB_TAG, PYTHON, RERUN_AS_TAG, RERUN_OF_TAG, JobSpec, Result
from assay.runner.execute import LOG_ARTIFACT, run_task
from assay.runner.task import Task, TaskResult
from assay.runner.worker import UNSTOPPED_TAG, FuturesEngine, task_of
from assay.services.tracking import was_reaped

MODULE = """
import os, pathlib, sys, time
import assay

def once_lost(marks, x=1.0):
    '''Logs progress, then, the first time it runs, dies (its process ends at once, as with kill -9).'''
    assay.log_metric("progress", x, step=0)
    assay.flush()
    print("progress logged in", os.getpid(), flush=True)
    first = pathlib.Path(marks) / "first"
    if not first.exists():
        first.write_text(str(os.getpid()))
        os._exit(9)
    return {"loss": x * 2}

def counted(marks, x=1.0):
    '''Counts its executions in a file.'''
    path = pathlib.Path(marks) / "count"
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    assay.log_metric("progress", x, step=0)
    return {"loss": x * 2}

def dies(marks, times, x=1.0):
    '''Logs progress, counts its executions, and dies (as with kill -9) in the first ``times`` of them.'''
    assay.log_metric("progress", x, step=0)
    assay.flush()
    path = pathlib.Path(marks) / "count"
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    if n <= int(times):
        os._exit(9)
    return {"loss": x * 2}

def lost_then_waits(marks):
    '''Logs progress and dies the first time; then says it started, and waits for the file ``go`` before
    logging more.'''
    assay.log_metric("progress", 1.0, step=0)
    assay.flush()
    first = pathlib.Path(marks) / "first"
    if not first.exists():
        first.write_text(str(os.getpid()))
        os._exit(9)
    (pathlib.Path(marks) / "started").write_text(str(os.getpid()))
    deadline = time.monotonic() + 120
    while not (pathlib.Path(marks) / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assay.log_metric("after", 1.0)
    return {"loss": 1.0}

def hangs_once(marks):
    '''Prints a line; the first time it runs it then waits to be killed.'''
    first = pathlib.Path(marks) / "first"
    if not first.exists():
        first.write_text(str(os.getpid()))
        print("the first execution's line", flush=True)
        time.sleep(600)
    print("the second execution's line", flush=True)
    return 1.0
"""

#: Runs the pickled task on stdin with ``run_task``, as an engine's worker process does.
CHILD = (
    "import pickle, sys; from assay.runner.execute import run_task; run_task(pickle.load(sys.stdin.buffer))"
)


@pytest.fixture
def workdir(sqlite_uri: str, tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "rerunmod.py").write_text(MODULE)
    (tmp_path / "marks").mkdir()
    yield tmp_path
    sys.modules.pop("rerunmod", None)


def trial(uri: str, workdir: Path, target: str, **params: object) -> Task:
    """A task as a sweep on the Dask engine sends it: a child of a parent run, that may run twice."""
    client = Client(uri)
    exp = client.get_or_create_experiment("sweeps").experiment_id
    parent = client.create_run(exp, name="parent", log_system_metrics=False).run_id
    client.flush()
    return Task(
        PYTHON,
        target,
        {"marks": str(workdir / "marks"), "x": 1.5, **params},
        uri,
        uuid.uuid4().hex,
        experiment="sweeps",
        cwd=str(workdir),
        tags={"assay.sweep.trial": "3"},
        parent_run_id=parent,
        may_rerun=True,
    )


def start_child(task: Task, workdir: Path) -> subprocess.Popen[bytes]:
    src = str(Path(__file__).parent.parent / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, cwd=workdir, env=env)
    assert child.stdin is not None
    child.stdin.write(pickle.dumps(task))
    child.stdin.close()
    return child


def history(run_id: str, key: str) -> list[tuple[int, float]]:
    h = Client().get_metric_history(run_id, key)
    return list(zip(h.steps.tolist(), h.values.tolist(), strict=True))


def test_a_rerun_after_a_lost_execution_logs_into_a_fresh_run(sqlite_uri: str, workdir: Path) -> None:
    t = trial(sqlite_uri, workdir, "rerunmod:once_lost")
    assert start_child(t, workdir).wait(60) == 9  # the first execution died mid-task
    assert Client().get_run(t.run_id).info.end_time is None  # its run was left unended

    again = run_task(t)  # the same task again, as Dask runs it on another worker
    assert again.result is Result.SUCCEEDED and again.error is None
    assert again.run_id != t.run_id and again.metrics == {"progress": 1.5, "loss": 3.0}

    lost = Client().get_run(t.run_id)
    assert lost.info.status is RunStatus.KILLED and lost.info.end_time is not None
    assert lost.tags[RERUN_AS_TAG] == again.run_id and again.run_id in lost.tags["assay.error"]
    assert history(t.run_id, "progress") == [(0, 1.5)]  # what it logged stays, once
    assert "loss" not in lost.metrics

    fresh = Client().get_run(again.run_id)
    assert fresh.info.status is RunStatus.FINISHED
    assert fresh.info.parent_run_id == t.parent_run_id and fresh.params == lost.params
    assert fresh.tags["assay.sweep.trial"] == "3" and fresh.tags[RERUN_OF_TAG] == t.run_id
    assert history(again.run_id, "progress") == [(0, 1.5)]
    assert "the task ran again" in Client().read_artifact(again.run_id, LOG_ARTIFACT).decode()
    children = Client().search_runs(filter=f"attributes.parent_run_id = '{t.parent_run_id}'")
    assert sorted(r.info.run_id for r in children) == sorted([t.run_id, again.run_id])


def test_a_rerun_of_a_finished_task_returns_its_stored_result_and_runs_nothing(
    sqlite_uri: str, workdir: Path
) -> None:
    t = trial(sqlite_uri, workdir, "rerunmod:counted")
    assert start_child(t, workdir).wait(60) == 0  # ran to its end; its result never reached the driver
    again = run_task(t)
    assert again.result is Result.SUCCEEDED and again.run_id == t.run_id
    assert again.metrics == {"progress": 1.5, "loss": 3.0}
    assert (workdir / "marks" / "count").read_text() == "1"  # the work did not run twice
    assert history(t.run_id, "progress") == [(0, 1.5)]
    assert len(Client().search_runs(filter=f"attributes.parent_run_id = '{t.parent_run_id}'")) == 1


def test_a_failed_task_is_not_run_again_either(sqlite_uri: str, workdir: Path) -> None:
    t = dataclasses.replace(
        trial(sqlite_uri, workdir, "rerunmod:counted"), params={"marks": "/nonexistent/x"}
    )
    first = run_task(t)
    assert first.result is Result.FAILED
    again = run_task(t)
    assert again.result is Result.FAILED and again.run_id == t.run_id and again.error == first.error


def test_a_jobs_rerun_continues_its_log_after_the_lost_executions(sqlite_uri: str, workdir: Path) -> None:
    jobs = bundle.services(sqlite_uri).jobs
    spec = JobSpec(PYTHON, "rerunmod:hangs_once", {"marks": str(workdir / "marks")}, cwd=str(workdir))
    job = jobs.submit(spec)
    [claimed] = jobs.claim("w", 1, 600)
    t = dataclasses.replace(task_of(claimed, sqlite_uri), may_rerun=True)
    child = start_child(t, workdir)
    try:
        deadline = time.monotonic() + 60
        while b"first execution" not in jobs.read_log(job.job_id).data:
            assert time.monotonic() < deadline, "the first execution's line never reached the job's log"
            assert child.poll() is None
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)  # its worker dies mid-task
        child.wait(30)

    again = run_task(t)
    assert again.result is Result.SUCCEEDED and again.run_id != claimed.run_id
    log = jobs.read_log(job.job_id, 1).data.decode()
    first, _, rest = log.partition("the first execution's line\n")
    assert first == "" and "the task ran again" in rest and rest.endswith("the second execution's line\n")
    fresh = Client().get_run(again.run_id)
    assert fresh.tags[JOB_TAG] == job.job_id and fresh.tags[ATTEMPT_TAG] == "1"
    assert fresh.tags[RERUN_OF_TAG] == claimed.run_id
    assert Client().get_run(claimed.run_id).info.status is RunStatus.KILLED


def until(what: str, check: Callable[[], object], timeout: float = 60) -> None:
    """Wait (a liveness bound, not a timing) until ``check()`` is true."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def chain(run_id: str) -> list[Run]:
    """The runs of a task, from its own run along the ``assay.rerun.as`` tags."""
    runs = [Client().get_run(run_id)]
    while RERUN_AS_TAG in runs[-1].tags:
        runs.append(Client().get_run(runs[-1].tags[RERUN_AS_TAG]))
    return runs


def executions(workdir: Path) -> str:
    return (workdir / "marks" / "count").read_text()


@pytest.mark.parametrize("reaped", ["read", "written"])
def test_a_rerun_after_the_heartbeat_timeout_runs_in_a_fresh_run(
    sqlite_uri: str, workdir: Path, monkeypatch: pytest.MonkeyPatch, reaped: str
) -> None:
    """The lost execution's run, silent past the heartbeat timeout, reads KILLED ended at its last
    heartbeat (``read``), or the reaper wrote it so (``written``): it has not ended, and may come back.
    The task runs again in a fresh run, and the lost run is ended KILLED for good."""
    monkeypatch.setenv("ASSAY_HEARTBEAT_TIMEOUT", "1")
    monkeypatch.setenv("ASSAY_HEARTBEAT_INTERVAL", "0.2")  # the runs of this process stay alive
    monkeypatch.setenv("ASSAY_REAP_INTERVAL", "3600")  # the reaper writes only when the test says
    t = trial(sqlite_uri, workdir, "rerunmod:dies", times=1)
    assert start_child(t, workdir).wait(60) == 9  # the first execution died mid-task
    until("its run reads KILLED", lambda: Client().get_run(t.run_id).info.status is RunStatus.KILLED)
    if reaped == "written":
        tracking = bundle.services(sqlite_uri).tracking
        assert isinstance(tracking, TrackingService) and tracking.reaper is not None
        assert tracking.reaper.reap_once(tracking.store) >= 1
    assert was_reaped(Client().get_run(t.run_id).info)

    again = run_task(t)  # Dask runs it again, after the heartbeat timeout
    assert again.result is Result.SUCCEEDED and again.error is None
    assert again.run_id != t.run_id and again.metrics == {"progress": 1.5, "loss": 3.0}
    assert executions(workdir) == "2"
    lost = Client().get_run(t.run_id)
    assert lost.info.status is RunStatus.KILLED and not was_reaped(lost.info)  # ended for good
    assert lost.tags[RERUN_AS_TAG] == again.run_id and again.run_id in lost.tags["assay.error"]
    assert Client().get_run(again.run_id).tags[RERUN_OF_TAG] == t.run_id
    Client().backend.heartbeat([t.run_id])  # the lost execution, alive after all, cannot revive it
    assert Client().get_run(t.run_id).info.status is RunStatus.KILLED


def test_an_execution_after_a_finished_rerun_returns_the_reruns_result(
    sqlite_uri: str, workdir: Path
) -> None:
    t = trial(sqlite_uri, workdir, "rerunmod:dies", times=1)
    assert start_child(t, workdir).wait(60) == 9  # lost mid-task
    assert start_child(t, workdir).wait(60) == 0  # ran again to its end; its worker died holding the result
    again = run_task(t)
    first, fresh = chain(t.run_id)
    assert fresh.info.status is RunStatus.FINISHED and first.info.status is RunStatus.KILLED
    assert again.run_id == fresh.info.run_id and again.result is Result.SUCCEEDED and again.error is None
    assert again.metrics == {"progress": 1.5, "loss": 3.0}
    assert executions(workdir) == "2"  # the work did not run a third time
    assert len(Client().search_runs(filter=f"attributes.parent_run_id = '{t.parent_run_id}'")) == 2


def test_a_rerun_lost_too_is_run_again_after_the_last_run_of_the_chain(
    sqlite_uri: str, workdir: Path
) -> None:
    t = trial(sqlite_uri, workdir, "rerunmod:dies", times=2)
    assert start_child(t, workdir).wait(60) == 9  # lost mid-task
    assert start_child(t, workdir).wait(60) == 9  # its re-run lost mid-task too
    again = run_task(t)
    assert again.result is Result.SUCCEEDED and again.error is None, again.error
    first, second, third = chain(t.run_id)
    assert again.run_id == third.info.run_id and again.metrics == {"progress": 1.5, "loss": 3.0}
    assert executions(workdir) == "3"
    assert [r.info.status for r in (first, second, third)] == [
        RunStatus.KILLED,
        RunStatus.KILLED,
        RunStatus.FINISHED,
    ]
    assert second.tags[RERUN_OF_TAG] == first.info.run_id and third.tags[RERUN_OF_TAG] == second.info.run_id
    assert third.info.run_id in second.tags["assay.error"]
    for run in (first, second, third):
        assert run.info.parent_run_id == t.parent_run_id and run.tags["assay.sweep.trial"] == "3"
        assert history(run.info.run_id, "progress") == [(0, 1.5)]  # each kept what it logged, once
    log = Client().read_artifact(third.info.run_id, LOG_ARTIFACT).decode()
    assert f"the execution in run {second.info.run_id} was lost" in log


def test_a_rerun_lost_before_it_created_its_run_runs_under_the_id_it_was_given(
    sqlite_uri: str, workdir: Path
) -> None:
    t = trial(sqlite_uri, workdir, "rerunmod:dies", times=1)
    assert start_child(t, workdir).wait(60) == 9
    # An execution decided to run again in a fresh run, and its worker died before it created that run.
    decided = rerun.decide(t, Client(sqlite_uri))
    assert isinstance(decided, Task) and decided.run_id != t.run_id
    again = run_task(t)
    assert again.result is Result.SUCCEEDED and again.run_id == decided.run_id
    assert [r.info.run_id for r in chain(t.run_id)] == [t.run_id, decided.run_id]
    assert Client().get_run(decided.run_id).tags[RERUN_OF_TAG] == t.run_id


def test_a_chain_of_reruns_that_loops_or_is_too_long_runs_nothing(
    sqlite_uri: str, workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    t = trial(sqlite_uri, workdir, "rerunmod:dies", times=0)
    client = Client()
    ids = [t.run_id, uuid.uuid4().hex, uuid.uuid4().hex]
    exp = client.get_or_create_experiment("sweeps").experiment_id
    for run_id in ids:
        client.create_run(exp, parent_run_id=t.parent_run_id, log_system_metrics=False, run_id=run_id)
    for before, after in zip(ids, [*ids[1:], ids[0]], strict=True):  # tags edited by hand: a loop
        client.set_tags(before, {RERUN_AS_TAG: after})
    client.flush()
    looped = run_task(t)
    assert looped.result is Result.FAILED and "in a loop" in (looped.error or "")
    execute.abandon(t, RunStatus.KILLED, "cancelled", output_here=False)  # says so, and raises nothing
    assert "in a loop" in capsys.readouterr().err

    client.delete_tag(ids[2], RERUN_AS_TAG)  # three runs, two links
    monkeypatch.setattr(rerun, "MAX_HOPS", 1)
    too_long = run_task(t)
    assert too_long.result is Result.FAILED and "more than 1 links" in (too_long.error or "")
    assert not (workdir / "marks" / "count").exists()  # the work never ran
    assert all(client.get_run(run_id).info.status is RunStatus.RUNNING for run_id in ids)


# ---- the worker's engine over Dask: a stop ends the task's current run ------------------------------


class HeldEngine(engines.Engine):
    """An engine as the worker sees Dask's: a task's future is pending until the test settles it (Dask's
    can be cancelled while the task runs); the executions are child processes the test starts, as Dask's
    workers would run them."""

    name = "dask"
    parallel = 1

    def __init__(self) -> None:
        self.futures: list[Future[TaskResult]] = []

    def submit(self, task: Task) -> Future[TaskResult]:
        self.futures.append(Future())
        return self.futures[-1]

    def close(self) -> None:
        pass


def job_task(uri: str, workdir: Path, target: str, **params: object) -> Task:
    """The task of a claimed job, as ``assay worker`` hands it to its engine."""
    jobs = bundle.services(uri).jobs
    jobs.submit(JobSpec(PYTHON, target, {"marks": str(workdir / "marks"), **params}, cwd=str(workdir)))
    [claimed] = jobs.claim("w", 1, 600)
    return task_of(claimed, uri)


def test_a_job_cancelled_after_its_rerun_started_ends_the_reruns_run(sqlite_uri: str, workdir: Path) -> None:
    task = job_task(sqlite_uri, workdir, "rerunmod:lost_then_waits")
    engine = FuturesEngine(HeldEngine())
    engine.start("job", task)
    executed = dataclasses.replace(task, may_rerun=True)  # as the Dask engine submits it
    assert start_child(executed, workdir).wait(60) == 9  # its Dask worker died mid-task
    rerun_child = start_child(executed, workdir)  # Dask runs it again on another worker
    try:
        until("the re-run started", lambda: (workdir / "marks" / "started").exists())
        done = engine.stop("job", Result.CANCELLED, "cancelled by its owner")
        assert done is not None and done.result.result is Result.CANCELLED
        (workdir / "marks" / "go").write_text("")  # the re-run goes on: Dask cannot kill it
        assert rerun_child.wait(60) == 0
    finally:
        if rerun_child.poll() is None:
            rerun_child.kill()
            rerun_child.wait(30)
    first, fresh = chain(task.run_id)
    assert first.info.status is RunStatus.KILLED and fresh.info.run_id in first.tags["assay.error"]
    assert fresh.info.status is RunStatus.KILLED and fresh.tags[RERUN_OF_TAG] == task.run_id
    assert fresh.tags["assay.error"] == "cancelled by its owner" and UNSTOPPED_TAG in fresh.tags
    assert fresh.metrics == {"progress": 1.0}  # what it logged after the stop was refused


def test_a_job_whose_rerun_dask_gave_up_on_ends_the_reruns_run_failed(sqlite_uri: str, workdir: Path) -> None:
    task = job_task(sqlite_uri, workdir, "rerunmod:dies", times=2)
    held = HeldEngine()
    engine = FuturesEngine(held)
    engine.start("job", task)
    executed = dataclasses.replace(task, may_rerun=True)
    assert start_child(executed, workdir).wait(60) == 9  # its Dask worker died mid-task
    assert start_child(executed, workdir).wait(60) == 9  # the re-run's too: Dask gives up on it
    [future] = held.futures
    future.set_exception(RuntimeError("KilledWorker: the task's workers died 2 times"))
    [done] = engine.wait(0)
    assert done.result.result is Result.FAILED and "lost the task" in (done.result.error or "")
    first, fresh = chain(task.run_id)
    assert first.info.status is RunStatus.KILLED
    assert fresh.info.status is RunStatus.FAILED and "KilledWorker" in fresh.tags["assay.error"]
