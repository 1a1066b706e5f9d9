"""``run_task`` (one attempt of a notebook or a function in its run), the local engine's slots, and the
checks ``assay submit`` makes before anything is queued. Real runs in a real store, real kernels and
real child processes; no queue here (``test_worker.py`` has the queue).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from assay import Client, RunStatus
from assay.errors import InvalidInput, NotFound
from assay.runner import submit
from assay.runner.entities import NOTEBOOK, PYTHON, Result
from assay.runner.execute import LOG_ARTIFACT, metrics_of, run_task
from assay.runner.slots import LocalEngine
from assay.runner.task import Task

MODULE = """
import os, subprocess, sys, time
import assay

def train(lr=0.1, epochs=3):
    for i in range(epochs):
        assay.log_metric("loss", 1.0 / (i + 1))
    print("python says", lr)
    sys.stdout.flush()
    os.system("echo the shell says hi")
    print("to stderr", file=sys.stderr)
    return {"val_auc": 0.9, "note": "not a number"}

def number():
    return 7

def boom(x=1):
    print("about to fail")
    raise ValueError(f"bad x={x}")

def nested():
    with assay.start_run(name="child", nested=True):
        assay.log_metric("inner", 1.0)
    return 1.5

def sleeper(pidfile):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(pidfile, "w") as f:
        f.write(str(child.pid))
    print("sleeping", flush=True)
    time.sleep(300)

def die():
    print("going", flush=True)
    os._exit(3)

NOT_CALLABLE = 3
"""


def nb(path: Path, *cells: str, params: str | None = None) -> Path:
    book = nbformat.v4.new_notebook()
    if params is not None:
        c = nbformat.v4.new_code_cell(params)
        c.metadata["tags"] = ["parameters"]
        book.cells.append(c)
    book.cells += [nbformat.v4.new_code_cell(s) for s in cells]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, path)
    return path


@pytest.fixture
def workdir(sqlite_uri: str, tmp_path: Path) -> Iterator[Path]:
    """A directory holding the module ``jobmod``, importable as a job's cwd."""
    (tmp_path / "jobmod.py").write_text(MODULE)
    yield tmp_path
    sys.modules.pop("jobmod", None)


def task(uri: str, target: str, cwd: Path, params: dict[str, object] | None = None, **kw: object) -> Task:
    kind = NOTEBOOK if target.endswith(".ipynb") else PYTHON
    run_id = uuid.uuid4().hex
    return Task(kind, target, params or {}, uri, run_id, cwd=str(cwd), **kw)  # type: ignore[arg-type]


def log_of(run_id: str) -> str:
    return Client().read_artifact(run_id, LOG_ARTIFACT).decode()


# ---- functions ---------------------------------------------------------------------------------------------


def test_a_function_runs_in_its_run_with_params_metrics_and_its_output(
    sqlite_uri: str, workdir: Path
) -> None:
    t = task(sqlite_uri, "jobmod:train", workdir, params={"lr": 0.5}, tags={"team": "a"}, experiment="jobs")
    done = run_task(t)
    assert done.result is Result.SUCCEEDED and done.error is None
    assert done.metrics == {"loss": pytest.approx(1 / 3), "val_auc": 0.9}
    run = Client().get_run(t.run_id)
    assert run.info.status is RunStatus.FINISHED
    assert run.info.name == "train"
    assert run.params == {"lr": "0.5"}
    assert run.tags["team"] == "a" and run.tags["assay.entry_point"] == "jobmod:train"
    assert Client().get_experiment(run.info.experiment_id).name == "jobs"
    text = log_of(t.run_id)
    for line in ("python says 0.5", "the shell says hi", "to stderr"):
        assert line in text  # Python-level, a subprocess's (fd level), and stderr


def test_a_bare_number_is_the_metric_result_and_a_nested_run_is_a_child(
    sqlite_uri: str, workdir: Path
) -> None:
    assert run_task(task(sqlite_uri, "jobmod:number", workdir)).metrics == {"result": 7.0}
    t = task(sqlite_uri, "jobmod:nested", workdir)
    assert run_task(t).metrics == {"result": 1.5}
    children = [r for r in Client().search_runs() if r.info.parent_run_id == t.run_id]
    assert [r.info.name for r in children] == ["child"]
    assert metrics_of({"a": 1, "b": True, "c": "x"}) == {"a": 1.0}


def test_an_exception_fails_the_run_with_its_traceback(sqlite_uri: str, workdir: Path) -> None:
    t = task(sqlite_uri, "jobmod:boom", workdir, params={"x": 2})
    done = run_task(t)
    assert done.result is Result.FAILED and done.error == "ValueError: bad x=2"
    run = Client().get_run(t.run_id)
    assert run.info.status is RunStatus.FAILED
    assert run.tags["assay.error"] == "ValueError: bad x=2"
    trace = Client().read_artifact(t.run_id, "error/traceback.txt").decode()
    assert "raise ValueError" in trace and "assay/runner" not in trace
    text = log_of(t.run_id)
    assert "about to fail" in text and "ValueError: bad x=2" in text


def test_an_entry_point_that_does_not_import_still_leaves_a_failed_run(
    sqlite_uri: str, workdir: Path
) -> None:
    t = task(sqlite_uri, "nosuchmodule_xyz:main", workdir)
    done = run_task(t)
    assert done.result is Result.FAILED and "does not import" in (done.error or "")
    assert Client().get_run(t.run_id).info.status is RunStatus.FAILED


# ---- notebooks -----------------------------------------------------------------------------------------------


def test_a_notebook_task_runs_the_jobs_copy_in_its_run(sqlite_uri: str, workdir: Path) -> None:
    path = nb(
        workdir / "train.ipynb",
        "import assay, os\nassay.log_metric('acc', lr * 2)\nos.system('echo kernel fd output')",
        params="lr = 0.1",
    )
    source = path.read_bytes()
    path.unlink()  # the job's copy is what runs
    parent = Client().create_run(Client().get_or_create_experiment("p").experiment_id, name="parent")
    t = task(sqlite_uri, str(path), workdir, params={"lr": 0.25}, source=source, parent_run_id=parent.run_id)
    done = run_task(t)
    assert done.result is Result.SUCCEEDED, done.error
    assert done.metrics["acc"] == 0.5
    run = Client().get_run(t.run_id)
    assert run.info.status is RunStatus.FINISHED and run.info.parent_run_id == parent.run_id
    assert run.params["lr"] == "0.25" and run.info.name == "train"
    names = {f.path for f in Client().list_artifacts(t.run_id)}
    assert {"notebook", "logs"} <= names
    assert "kernel fd output" in log_of(t.run_id)


@pytest.mark.slow
def test_a_notebook_past_its_time_limit_is_timed_out(sqlite_uri: str, workdir: Path) -> None:
    path = nb(workdir / "slow.ipynb", "import time\ntime.sleep(60)")
    t = task(sqlite_uri, str(path), workdir, timeout_s=2.0)
    done = run_task(t)
    assert done.result is Result.TIMED_OUT and "timed out" in (done.error or "")
    assert Client().get_run(t.run_id).info.status is RunStatus.KILLED


# ---- the local engine ----------------------------------------------------------------------------------------


def _wait_for(engine: LocalEngine, timeout: float = 60.0) -> list[object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = engine.wait(1.0)
        if done:
            return list(done)
    pytest.fail("no task ended in time")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (ended, not yet reaped by init) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_slots_run_tasks_kill_a_stopped_one_with_its_subprocesses_and_report_a_dead_one(
    sqlite_uri: str, workdir: Path
) -> None:
    with LocalEngine(2, env={"ASSAY_SYSTEM_METRICS": "0"}) as engine:
        ok = task(sqlite_uri, "jobmod:number", workdir)
        engine.start("ok", ok)
        [done] = _wait_for(engine)
        assert done.key == "ok" and done.result.result is Result.SUCCEEDED  # type: ignore[attr-defined]

        pidfile = workdir / "child.pid"
        slow = task(sqlite_uri, "jobmod:sleeper", workdir, params={"pidfile": str(pidfile)})
        engine.start("slow", slow)
        deadline = time.monotonic() + 60
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        grandchild = int(pidfile.read_text())
        time.sleep(0.3)
        stopped = engine.stop("slow", Result.CANCELLED, "cancelled")
        assert stopped is not None and stopped.result.result is Result.CANCELLED
        deadline = time.monotonic() + 10
        while _alive(grandchild):
            assert time.monotonic() < deadline, "the task's subprocess outlived the stop"
            time.sleep(0.1)
        run = Client().get_run(slow.run_id)
        assert run.info.status is RunStatus.KILLED and run.tags["assay.error"] == "cancelled"
        assert "sleeping" in log_of(slow.run_id) and "assay: cancelled" in log_of(slow.run_id)

        dying = task(sqlite_uri, "jobmod:die", workdir)
        engine.start("die", dying)
        [died] = _wait_for(engine)
        assert died.result.result is Result.FAILED  # type: ignore[attr-defined]
        assert "exited with status 3" in (died.result.error or "")  # type: ignore[attr-defined]
        run = Client().get_run(dying.run_id)
        assert run.info.status is RunStatus.FAILED and "status 3" in run.tags["assay.error"]

        engine.start("again", task(sqlite_uri, "jobmod:number", workdir))  # the slot was replaced
        [again] = _wait_for(engine)
        assert again.result.result is Result.SUCCEEDED  # type: ignore[attr-defined]


# ---- submitting: checked before anything is queued -------------------------------------------------------------


def test_a_job_spec_is_built_and_checked(
    sqlite_uri: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)
    spec = submit.job_spec("jobmod:train", {"lr": "0.5", "epochs": "2"}, texts=["lr", "epochs"], retries=2)
    assert spec.kind == PYTHON and dict(spec.params) == {"lr": 0.5, "epochs": 2}
    assert spec.max_attempts == 3 and spec.cwd == str(workdir)
    path = nb(workdir / "n.ipynb", "print(lr)", params="lr: float = 0.1")
    spec = submit.job_spec(str(path), {"lr": "0.3"}, texts=["lr"], priority=5, timeout_s=60)
    assert spec.kind == NOTEBOOK and spec.params == {"lr": 0.3} and spec.source
    assert nbformat.reads(spec.source.decode(), as_version=4).cells[1].source == "print(lr)"
    assert submit.parse_duration("1h30m") == 5400 and submit.parse_duration("250ms") == 0.25
    assert submit.parse_duration("90") == 90


@pytest.mark.parametrize(
    ("target", "params", "kw", "problem"),
    [
        ("missing.ipynb", {}, {}, "no notebook at"),
        ("n.ipynb", {"lr": "abc"}, {}, "lr"),
        ("n.ipynb", {"nope": "1"}, {}, "nope"),
        ("nosuchmodule_xyz:main", {}, {}, "does not import"),
        ("jobmod:NOT_CALLABLE", {}, {}, "not a callable"),
        ("jobmod:missing", {}, {}, "has no 'missing'"),
        ("jobmod:train", {"bogus": "1"}, {}, "cannot be called with these parameters"),
        ("not a target", {}, {}, "neither a notebook"),
        ("jobmod:train", {}, {"priority": 5000}, "priority"),
        ("jobmod:train", {}, {"timeout_s": 0}, "timeout"),
        ("jobmod:train", {}, {"retries": -1}, "retries"),
        ("jobmod:train", {}, {"backoff_s": -1}, "backoff"),
    ],
)
def test_bad_input_is_one_line_before_anything_is_queued(
    sqlite_uri: str,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    params: dict[str, str],
    kw: dict[str, object],
    problem: str,
) -> None:
    monkeypatch.chdir(workdir)
    nb(workdir / "n.ipynb", "print(lr)", params="lr: float = 0.1")
    with pytest.raises((InvalidInput, NotFound)) as info:
        submit.job_spec(target, params, texts=params.keys(), **kw)  # type: ignore[arg-type]
    message = str(info.value)
    assert problem in message.splitlines()[0]
    with pytest.raises(InvalidInput, match="not a duration"):
        submit.parse_duration("soon")
