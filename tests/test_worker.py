"""``assay worker`` end to end: real worker processes (``python -m assay.cli.main worker``) working the
queue of a real store (SQLite, PostgreSQL, and a server over HTTP for the basic case), with real child
processes and kernels. Jobs are submitted through the services bundle, as ``assay submit`` does.

Bounds are liveness bounds ("within N seconds"), never timings.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from assay import Client, RunStatus, bundle
from assay.runner.entities import ATTEMPT_TAG, JOB_TAG, Job, JobState
from assay.runner.execute import LOG_ARTIFACT
from assay.runner.submit import job_spec
from assay.services.jobs import Jobs

pytestmark = pytest.mark.slow

#: The stores a test runs on (``tracking_uri``'s params): SQLite unless it says more.
SQLITE = pytest.mark.parametrize("tracking_uri", ["sqlite"], indirect=True)
EMBEDDED = pytest.mark.parametrize(
    "tracking_uri", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

MODULE = '''
import os, pathlib, time
import assay

def alive(pid):
    try:
        os.kill(pid, 0)
        return pathlib.Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False

def train(lr=0.1):
    assay.log_metric("loss", 0.5)
    print("training with", lr)
    return {"val_auc": 0.9}

def chatty(gate):
    print("first line", flush=True)
    while not os.path.exists(gate):
        time.sleep(0.05)
    print("second line", flush=True)

def sleeper(mark):
    pathlib.Path(mark).write_text(str(os.getpid()))
    print("sleeping", flush=True)
    time.sleep(600)

def flaky(counter):
    p = pathlib.Path(counter)
    n = int(p.read_text()) if p.exists() else 0
    p.write_text(str(n + 1))
    print("attempt", n + 1, flush=True)
    if n == 0:
        raise RuntimeError("the first attempt fails")
    return n + 1

def record(path, name):
    with open(path, "a") as f:
        f.write(name + "\\n")

def stubborn(marks):
    """Hangs on its first attempt; records each attempt's pid and whether an earlier one still runs."""
    d = pathlib.Path(marks)
    d.mkdir(exist_ok=True)
    earlier = sorted(d.glob("pid-*"))
    overlap = [f.name for f in earlier if alive(int(f.read_text()))]
    (d / f"pid-{len(earlier)}").write_text(str(os.getpid()))
    if overlap:
        (d / "overlap").write_text(",".join(overlap))
    if not earlier:
        print("the first attempt hangs", flush=True)
        time.sleep(600)
    return len(earlier)
'''


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


class WorkerProcess:
    """``assay worker ARGS`` in a child process, its output in a file."""

    def __init__(self, root: Path, *args: str) -> None:
        self.log = root / f"worker-{time.monotonic_ns()}.log"
        env = {**os.environ, "ASSAY_SYSTEM_METRICS": "0"}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "assay.cli.main", "worker", *args],
                env=env,
                cwd=root,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        w = WorkerProcess(tmp_path, *args)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


@pytest.fixture
def jobs(tracking_uri: str, tmp_path: Path) -> Iterator[Jobs]:
    """The jobs of the store under test, with the module ``jobmod`` in the working directory."""
    (tmp_path / "jobmod.py").write_text(MODULE)
    yield bundle.services(tracking_uri).jobs
    sys.modules.pop("jobmod", None)


def submit(jobs: Jobs, target: str, **kw: Any) -> Job:
    params = kw.pop("params", {})
    return jobs.submit(job_spec(target, params, **kw))


def wait_until(what: str, check: Callable[[], Any], timeout: float = 90, workers: Any = ()) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    logs = "\n".join(w.output()[-3000:] for w in workers)
    pytest.fail(f"not within {timeout} s: {what}\n{logs}")


def ended(jobs: Jobs, job: Job) -> Callable[[], Job | None]:
    def check() -> Job | None:
        found = jobs.get_job(job.job_id)
        return found if found.state.done else None

    return check


def runs_of(job: Job) -> dict[int, Any]:
    """The runs of every attempt of ``job``, by attempt."""
    client = Client()
    found = client.search_runs(filter=f"tags.`{JOB_TAG}` = '{job.job_id}'")
    return {int(r.tags[ATTEMPT_TAG]): r for r in found}


def notebook(path: Path) -> Path:
    book = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("lr: float = 0.1")
    params.metadata["tags"] = ["parameters"]
    book.cells = [params, nbformat.v4.new_code_cell("import assay\nassay.log_metric('acc', lr * 2)")]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, path)
    return path


def test_a_notebook_job_and_a_python_job_run_to_completion(
    jobs: Jobs, tmp_path: Path, workers: Callable[..., WorkerProcess]
) -> None:
    nb = submit(jobs, str(notebook(tmp_path / "train.ipynb")), params={"lr": "0.25"}, texts=["lr"])
    fn = submit(jobs, "jobmod:train", params={"lr": 0.5}, experiment="jobs")
    w = workers("-c", "2")
    for job in (nb, fn):
        done = wait_until(f"job {job.job_id} ends", ended(jobs, job), workers=[w])
        assert done.state is JobState.SUCCEEDED, (done.error, w.output())
        [run] = runs_of(done).values()
        assert run.info.run_id == done.run_id and run.info.status is RunStatus.FINISHED
        assert LOG_ARTIFACT in {f.path for f in Client().list_artifacts(run.info.run_id, "logs")}
    nb_run, fn_run = runs_of(nb)[1], runs_of(fn)[1]
    assert nb_run.metrics["acc"] == 0.5 and nb_run.params["lr"] == "0.25"
    assert fn_run.metrics == {"loss": 0.5, "val_auc": 0.9} and fn_run.params == {"lr": "0.5"}
    assert "training with 0.5" in Client().read_artifact(fn_run.info.run_id, LOG_ARTIFACT).decode()
    assert "training with 0.5" in jobs.read_log(fn.job_id).data.decode()


@SQLITE
def test_the_log_is_readable_while_the_job_runs(
    jobs: Jobs, tmp_path: Path, workers: Callable[..., WorkerProcess]
) -> None:
    gate = tmp_path / "gate"
    job = submit(jobs, "jobmod:chatty", params={"gate": str(gate)})
    w = workers()
    wait_until(
        "the first line in the live log", lambda: b"first line" in jobs.read_log(job.job_id).data, workers=[w]
    )
    assert jobs.get_job(job.job_id).state is JobState.RUNNING
    gate.touch()
    done = wait_until("the job ends", ended(jobs, job), workers=[w])
    assert done.state is JobState.SUCCEEDED
    log = jobs.read_log(job.job_id)
    assert log.complete and log.data.decode().splitlines() == ["first line", "second line"]


@SQLITE
def test_a_notebooks_cell_output_streams_into_the_live_log(
    jobs: Jobs, tmp_path: Path, workers: Callable[..., WorkerProcess]
) -> None:
    """What a cell prints (stdout and stderr, through the kernel's messages, not its process's output)
    reaches the job's live log while the notebook still runs, then the stored log."""
    gate = tmp_path / "gate"
    book = nbformat.v4.new_notebook()
    book.cells = [
        nbformat.v4.new_code_cell(
            "import sys\nprint('cell says hello')\nprint('cell warns', file=sys.stderr)"
        ),
        nbformat.v4.new_code_cell(
            f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\nprint('past the gate')"
        ),
    ]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, tmp_path / "chatty.ipynb")
    job = submit(jobs, str(tmp_path / "chatty.ipynb"))
    w = workers()

    def live() -> bool:
        text = jobs.read_log(job.job_id).data.decode()
        return "cell says hello" in text and "cell warns" in text

    wait_until("the cell's output in the live log", live, workers=[w])
    assert jobs.get_job(job.job_id).state is JobState.RUNNING  # the notebook waits at the gate
    gate.touch()
    done = wait_until("the job ends", ended(jobs, job), workers=[w])
    assert done.state is JobState.SUCCEEDED, (done.error, w.output())
    log = jobs.read_log(job.job_id)
    assert log.complete and "past the gate" in log.data.decode()
    assert log.data.decode().count("cell says hello") == 1  # once, not also through the kernel's output
    printed = subprocess.run(
        [sys.executable, "-m", "assay.cli.main", "jobs", "logs", job.job_id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "cell says hello\n" in printed.stdout and "past the gate\n" in printed.stdout
    assert "past the gate" in Client().read_artifact(done.run_id or "", LOG_ARTIFACT).decode()


@SQLITE
def test_cancel_reaches_a_running_job_within_seconds_and_a_timeout_stops_one(
    jobs: Jobs, tmp_path: Path, workers: Callable[..., WorkerProcess]
) -> None:
    cancelled = submit(jobs, "jobmod:sleeper", params={"mark": str(tmp_path / "a.pid")})
    timed = submit(jobs, "jobmod:sleeper", params={"mark": str(tmp_path / "b.pid")}, timeout_s=5)
    w = workers("-c", "2")
    pid = int(
        wait_until(
            "the job runs",
            lambda: (tmp_path / "a.pid").exists() and (tmp_path / "a.pid").read_text(),
            workers=[w],
        )
    )
    jobs.cancel(cancelled.job_id)
    done = wait_until("the cancel reaches the job", ended(jobs, cancelled), timeout=15, workers=[w])
    assert done.state is JobState.CANCELLED
    wait_until("the job's process is gone", lambda: not alive(pid), timeout=10)
    run = runs_of(done)[1]
    assert run.info.status is RunStatus.KILLED and run.tags["assay.error"] == "cancelled"

    done = wait_until("the time limit stops the job", ended(jobs, timed), timeout=30, workers=[w])
    assert done.state is JobState.FAILED and done.error == "timed out after 5 s"
    run = runs_of(done)[1]
    assert run.info.status is RunStatus.KILLED
    assert (tmp_path / "b.pid").exists()  # it did run, for 5 s
    assert "sleeping" in Client().read_artifact(run.info.run_id, LOG_ARTIFACT).decode()


@SQLITE
def test_a_failed_attempt_is_retried_after_its_backoff(
    jobs: Jobs, tmp_path: Path, workers: Callable[..., WorkerProcess]
) -> None:
    job = submit(jobs, "jobmod:flaky", params={"counter": str(tmp_path / "n")}, retries=2, backoff_s=0.5)
    w = workers()
    done = wait_until("the job ends", ended(jobs, job), workers=[w])
    assert done.state is JobState.SUCCEEDED and done.attempt == 2
    runs = runs_of(done)
    assert runs[1].info.status is RunStatus.FAILED
    assert runs[1].tags["assay.error"] == "RuntimeError: the first attempt fails"
    assert runs[2].info.status is RunStatus.FINISHED and runs[2].metrics == {"result": 2.0}
    assert jobs.read_log(job.job_id, 1).data.decode().startswith("attempt 1")
    assert jobs.read_log(job.job_id, 2).data.decode() == "attempt 2\n"


@SQLITE
def test_higher_priorities_run_first(
    jobs: Jobs, tmp_path: Path, workers: Callable[..., WorkerProcess]
) -> None:
    order = tmp_path / "order"
    for name, priority in (("low", 1), ("high", 5), ("mid", 3), ("low2", 1)):
        submit(jobs, "jobmod:record", params={"path": str(order), "name": name}, priority=priority)
    w = workers("-c", "1")
    wait_until(
        "every job ends",
        lambda: all(j.state.done for j in jobs.list_jobs()),
        workers=[w],
    )
    assert order.read_text().split() == ["high", "mid", "low", "low2"]


@EMBEDDED
def test_a_worker_killed_mid_job_loses_it_to_another_never_twice_at_once(
    jobs: Jobs, tmp_path: Path, workers: Callable[..., WorkerProcess]
) -> None:
    retried = submit(jobs, "jobmod:stubborn", params={"marks": str(tmp_path / "r")}, retries=1, backoff_s=0.1)
    failed = submit(jobs, "jobmod:stubborn", params={"marks": str(tmp_path / "f")})  # no retry: fails
    first = workers("-c", "2", "--lease", "2")
    for marks in ("r", "f"):
        pid_file = tmp_path / marks / "pid-0"
        wait_until("the first attempts run", lambda p=pid_file: p.exists() and p.read_text(), workers=[first])
    pids = [int((tmp_path / m / "pid-0").read_text()) for m in ("r", "f")]
    first.proc.kill()  # kill -9: no cleanup, no finish
    first.proc.wait(10)
    for pid in pids:  # its children do not run on as orphans: the job will run elsewhere
        wait_until(f"the orphaned attempt {pid} is gone", lambda pid=pid: not alive(pid), timeout=10)

    second = workers("-c", "2", "--lease", "2")
    done = wait_until("the job is retried and ends", ended(jobs, retried), workers=[second])
    assert done.state is JobState.SUCCEEDED and done.attempt == 2
    assert not (tmp_path / "r" / "overlap").exists()
    runs = runs_of(done)
    assert runs[1].info.status is RunStatus.KILLED and runs[2].info.status is RunStatus.FINISHED
    assert "stopped renewing its lease" in runs[1].tags["assay.error"]

    lost = wait_until("the job without retries fails", ended(jobs, failed), workers=[second])
    assert lost.state is JobState.FAILED and "stopped renewing its lease" in (lost.error or "")
    assert runs_of(lost)[1].info.status is RunStatus.KILLED
    assert not (tmp_path / "f" / "pid-1").exists()  # never run again


@SQLITE
def test_sigterm_lets_running_jobs_end_within_the_grace_then_stops_them(
    jobs: Jobs, tmp_path: Path, workers: Callable[..., WorkerProcess]
) -> None:
    job = submit(jobs, "jobmod:sleeper", params={"mark": str(tmp_path / "s.pid")})
    w = workers("--grace", "1")
    wait_until("the job runs", lambda: (tmp_path / "s.pid").exists(), workers=[w])
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(30) == 0
    done = jobs.get_job(job.job_id)
    assert done.state is JobState.FAILED and done.error == "worker stopped"
    assert runs_of(done)[1].info.status is RunStatus.KILLED
    assert "stopped after 1 attempt" in w.output()
