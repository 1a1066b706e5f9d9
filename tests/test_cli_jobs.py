"""``assay submit``, ``assay worker`` and ``assay jobs``: output, and bad input answered in one line before
anything is queued. Driven with Typer's CliRunner against a real embedded store; the one test that needs a
worker starts a real ``assay worker`` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner, Result

from assay import bundle
from assay.cli.main import app
from assay.runner.entities import JobState
from assay.runner.entities import Result as Outcome

runner = CliRunner()

MODULE = """
import os, time

def train(lr=0.1, layers=(1,)):
    return {"lr": lr}

def chatty(gate):
    print("first line", flush=True)
    while not os.path.exists(gate):
        time.sleep(0.05)
    print("last line", flush=True)

NOT_CALLABLE = 1

def typed(lr: float, depth: int = 3, name: str = "x"):
    return {"lr": lr}
"""


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.fixture
def workdir(sqlite_uri: str, tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "jobmod.py").write_text(MODULE)
    book = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("lr: float = 0.1  # learning rate\nepochs = 3")
    params.metadata["tags"] = ["parameters"]
    book.cells = [params, nbformat.v4.new_code_cell("print(lr)")]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, tmp_path / "nb.ipynb")
    (tmp_path / "bad.ipynb").write_text('{"not": "a notebook"}')
    yield tmp_path
    sys.modules.pop("jobmod", None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.ipynb"], "no notebook at"),
        (["bad.ipynb"], "is not a Jupyter notebook"),
        (["nb.ipynb", "-p", "lr", "fast"], "parameter 'lr': expected float, got 'fast'"),
        (["nb.ipynb", "-p", "nope=1"], "unknown parameter 'nope'"),
        (["nb.ipynb", "-p", "lr=1", "-p", "lr=2"], "parameter 'lr' is given twice"),
        (["nosuch_mod_xyz:main"], "does not import: ModuleNotFoundError"),
        (["jobmod:missing"], "has no 'missing'"),
        (["jobmod:NOT_CALLABLE"], "not a callable"),
        (["jobmod:train", "-p", "bogus=1"], "unexpected keyword argument 'bogus'"),
        (
            ["jobmod:typed", "-p", "lr", "fast"],
            "'lr' of 'jobmod:typed' is annotated float, but -p lr 'fast' is str",
        ),
        (["jobmod:typed", "-p", "lr=1", "-p", "depth=2.5"], "annotated int, but -p depth 2.5 is float"),
        (["hello"], "neither a notebook"),
        (["jobmod:train", "--priority", "5000"], "priority must be from"),
        (["jobmod:train", "--timeout", "soon"], "--timeout 'soon' is not a duration"),
        (["jobmod:train", "--timeout", "0"], "timeout must be more than 0 s"),
        (["jobmod:train", "--retries", "-1"], "retries must be from 0 to"),
        (["jobmod:train", "--backoff", "-3s"], "not a duration"),
        (["jobmod:train", "--tag", "novalue"], "--tag takes NAME=VALUE"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_queued(workdir: Path, args: list[str], message: str) -> None:
    result = invoke("submit", *args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert bundle.services().jobs.list_jobs() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["worker", "--engine", "spark"], "unknown engine 'spark'"),
        (["worker", "-c", "0"], "--concurrency must be at least 1"),
        (["worker", "--lease", "1"], "--lease must be at least 2 s"),
        (["worker", "--dask-scheduler", "tcp://127.0.0.1:1"], "goes with --engine dask"),
        (["jobs", "show", "nope"], "no job 'nope'"),
        (["jobs", "cancel", "nope"], "no job 'nope'"),
        (["jobs", "logs", "nope"], "no job 'nope'"),
        (["jobs", "ls", "--state", "bogus"], "unknown job state 'bogus'"),
    ],
)
def test_other_bad_input_is_one_line(workdir: Path, args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert message in result.stderr


def test_submit_list_show_and_cancel_a_queued_job(workdir: Path) -> None:
    assert "no jobs yet: queue one with assay submit" in invoke("jobs", "ls").stderr
    out = invoke("submit", "nb.ipynb", "-p", "lr", "0.5", "--priority", "3", "--retries", "2", "-e", "exp")
    assert out.exit_code == 0, out.output
    job_id = out.stdout.split()[2]
    assert out.stdout.startswith(f"queued job {job_id} (notebook ")
    py = json.loads(invoke("submit", "jobmod:train", "-p", "layers=[2, 3]", "--json").stdout)
    assert py["params"] == {"layers": [2, 3]} and py["state"] == "QUEUED"

    listed = invoke("jobs", "ls").stdout
    assert job_id in listed and "nb.ipynb" in listed and "jobmod:train" in listed and "QUEUED" in listed
    [row] = json.loads(invoke("jobs", "ls", "--state", "queued", "--json", "-n", "1").stdout)
    assert row["job_id"] == py["job_id"]  # newest first

    shown = invoke("jobs", "show", job_id[:10]).stdout
    assert "lr=0.5" in shown and "0 of 3" in shown and "exp" in shown
    detail = json.loads(invoke("jobs", "show", job_id, "--json").stdout)
    assert detail["priority"] == 3 and detail["max_attempts"] == 3 and detail["params"] == {"lr": 0.5}

    assert invoke("jobs", "cancel", job_id).stdout == f"cancelled job {job_id}\n"
    assert bundle.services().jobs.get_job(job_id).state is JobState.CANCELLED
    assert "had ended already" in invoke("jobs", "cancel", job_id).stdout
    assert invoke("jobs", "ls", "--state", "running").stderr == "no jobs match\n"
    assert invoke("jobs", "logs", job_id).stdout == ""


def test_show_names_the_worker_that_ran_a_finished_job(workdir: Path) -> None:
    job_id = invoke("submit", "jobmod:train").stdout.split()[2]
    jobs = bundle.services().jobs
    [claimed] = jobs.claim("host-a:4242", 1, 30)
    assert "worker" in invoke("jobs", "show", job_id).stdout  # while it runs
    jobs.finish(claimed.job_id, "host-a:4242", Outcome.SUCCEEDED)
    shown = invoke("jobs", "show", job_id).stdout
    assert "SUCCEEDED" in shown and "ran on" in shown and "host-a:4242" in shown
    assert json.loads(invoke("jobs", "show", job_id, "--json").stdout)["worker"] == "host-a:4242"


@pytest.mark.slow
def test_logs_follow_prints_a_running_jobs_output_until_it_ends(workdir: Path) -> None:
    gate = workdir / "gate"
    job_id = invoke("submit", "jobmod:chatty", "-p", f"gate={gate}").stdout.split()[2]
    env = {**os.environ, "ASSAY_SYSTEM_METRICS": "0"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "assay.cli.main", "worker"],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        follow = subprocess.Popen(
            [sys.executable, "-m", "assay.cli.main", "jobs", "logs", job_id, "--follow"],
            env=env,
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert follow.stdout is not None
        assert follow.stdout.readline() == "first line\n"  # while the job runs
        gate.touch()
        rest, _ = follow.communicate(timeout=60)
        assert rest == "last line\n" and follow.returncode == 0
    finally:
        worker.terminate()
        worker.wait(60)
