"""Sweeps end to end on local worker processes: grid, random and Optuna over a Python function, their
parent and child runs in the store, pruning, and a resume after the driver is killed with kill -9; a grid
sweep of a notebook, and ``assay.should_prune()`` in a function's and in a notebook's trial.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

import assay
from assay.entities import Run, RunStatus
from assay.errors import InvalidInput
from assay.runner.engines import Engine, open_engine
from assay.runner.entities import NOTEBOOK, PYTHON, Result
from assay.runner.execute import run_task
from assay.runner.sweeps import config as c
from assay.runner.task import Task
from assay.sdk.client import Client

TESTS = Path(__file__).parent


@pytest.fixture
def engine(sqlite_uri: str) -> Iterator[Engine]:
    with open_engine("local", 2) as eng:
        yield eng


def children(uri: str, parent: str) -> list[Run]:
    client = Client(uri)
    return list(client.search_runs(filter=f"attributes.parent_run_id = '{parent}'", max_results=1000))


def test_grid_sweep_of_a_function(sqlite_uri: str, engine: Engine) -> None:
    result = assay.sweep(
        "sweep_targets:quadratic", {"x": [0.1, 0.3], "y": [1, 2, 3]}, metric="loss", engine=engine
    )
    assert result.config.method == "grid" and len(result.trials) == 6
    assert result.best is not None and dict(result.best.params) == {"x": 0.3, "y": 2}
    runs = children(sqlite_uri, result.parent_run_id)
    assert len(runs) == 6
    assert {(r.params["x"], r.params["y"]) for r in runs} == {(x, y) for x in ("0.1", "0.3") for y in "123"}
    assert all(r.info.status is RunStatus.FINISHED and r.tags[c.STATE_TAG] == "COMPLETE" for r in runs)
    assert all("loss" in r.metric_summaries for r in runs)
    parent = Client(sqlite_uri).get_run(result.parent_run_id)
    assert parent.info.status is RunStatus.FINISHED and parent.tags[c.SWEEP_TAG] == "grid"
    assert parent.tags[c.BEST_RUN_TAG] == result.best.run_id
    assert parent.metric_summaries["loss"].last == pytest.approx(0.0)
    assert parent.params["space.x"] == "choice(0.1, 0.3)"
    stored = json.loads(Client(sqlite_uri).read_artifact(result.parent_run_id, c.CONFIG_ARTIFACT))
    assert stored["method"] == "grid" and stored["trials"] == 6


def test_random_sweep_is_seeded_and_failures_count(sqlite_uri: str, engine: Engine) -> None:
    space = {"x": assay.uniform(0.0, 1.0)}
    result = assay.sweep("sweep_targets:boom", space, trials=6, seed=3, engine=engine, metric="boom")
    assert len(result.trials) == 6
    failed = [t for t in result.trials if t.state == "FAIL"]
    assert failed and all(t.params["x"] > 0.5 and "too large" in (t.error or "") for t in failed)
    assert all(t.params["x"] <= 0.5 for t in result.trials if t.state == "COMPLETE")
    # the same seed proposes the same points
    assert sorted(t.params["x"] for t in result.trials) == sorted(
        assay.runner.space.space_of(space).sample(3, i)["x"] for i in range(6)
    )


def test_optuna_sweep_finds_the_minimum(sqlite_uri: str, engine: Engine) -> None:
    result = assay.sweep(
        "sweep_targets:quadratic",
        {"x": assay.uniform(-1.0, 1.0), "y": assay.randint(0, 4)},
        method="optuna",
        trials=16,
        metric="loss",
        direction="minimize",
        engine=engine,
    )
    assert len(result.trials) == 16 and all(t.state == "COMPLETE" for t in result.trials)
    assert result.best is not None and result.best.value is not None and result.best.value < 0.1
    values = [t.value for t in result.trials]
    assert values == sorted(values)  # best first
    assert len(children(sqlite_uri, result.parent_run_id)) == 16


def test_optuna_prunes_trials_that_report_steps(sqlite_uri: str) -> None:
    with open_engine("local", 1) as eng:
        result = assay.sweep(
            "sweep_targets:epochs",
            {"lr": assay.uniform(0.02, 0.9)},
            method="optuna",
            trials=12,
            metric="val_loss",
            sampler="random",
            engine=eng,
        )
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned, [(t.state, t.value) for t in result.trials]
    client = Client(sqlite_uri)
    for t in pruned:
        run = client.get_run(t.run_id)
        assert run.tags[c.PRUNE_TAG] == c.PRUNE_STOPPED and run.tags[c.STATE_TAG] == "PRUNED"
        assert run.metric_summaries["epochs_run"].last < 12  # it stopped early
    assert all(t.state in ("COMPLETE", "PRUNED") for t in result.trials)


#: a notebook trial: logs its objective by step, tags the run it sees as active, and asks about pruning
ASKS = """
import assay
run = assay.active_run()
assay.set_tag("seen_run", run.id)
for step in range(3):
    assay.log_metric("loss", (x - 0.3) ** 2 + y + 1.0 / (step + 1), step=step)
assay.log_metric("pruned", float(assay.should_prune()))
"""


def notebook(path: Path) -> Path:
    book = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x: float = 0.0\ny = 1")
    params.metadata["tags"] = ["parameters"]
    book.cells = [params, nbformat.v4.new_code_cell(ASKS)]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, path)
    return path


@pytest.mark.slow
def test_grid_sweep_of_a_notebook(sqlite_uri: str, tmp_path: Path, engine: Engine) -> None:
    nb = notebook(tmp_path / "trial.ipynb")
    result = assay.sweep(nb, {"x": [0.1, 0.3, 0.5]}, params={"y": 2}, metric="loss", engine=engine)
    assert len(result.trials) == 3 and all(t.state == "COMPLETE" for t in result.trials), result.trials
    assert result.best is not None and result.best.params["x"] == 0.3
    assert result.best.value == pytest.approx(2 + 1 / 3)  # the last step's value
    runs = children(sqlite_uri, result.parent_run_id)
    assert {r.id for r in runs} == {t.run_id for t in result.trials}
    for r in runs:
        assert r.info.status is RunStatus.FINISHED and r.params["y"] == "2"
        assert r.tags["seen_run"] == r.id  # assay.active_run() in the kernel is the trial's run
        assert r.tags[c.STATE_TAG] == "COMPLETE" and r.tags[c.PARENT_TAG] == result.parent_run_id
        assert r.metric_summaries["loss"].num_points == 3 and r.metrics["pruned"] == 0.0
    parent = Client(sqlite_uri).get_run(result.parent_run_id)
    assert parent.info.status is RunStatus.FINISHED and parent.tags[c.BEST_RUN_TAG] == result.best.run_id


@pytest.mark.slow
@pytest.mark.parametrize("kind", [PYTHON, NOTEBOOK])
def test_should_prune_in_a_trial_sees_the_drivers_request(sqlite_uri: str, tmp_path: Path, kind: str) -> None:
    """What the driver does to prune a trial (tags its run ``prune=requested``), the trial sees through
    ``assay.should_prune()``, in a function as in a notebook's kernel, and marks its run ``stopped``."""
    client = Client(sqlite_uri)
    exp = client.get_or_create_experiment("Default")
    parent = client.create_run(exp.experiment_id, tags={c.SWEEP_TAG: "optuna"}).run_id
    target = "sweep_targets:asks" if kind == PYTHON else str(notebook(tmp_path / "trial.ipynb"))
    task = Task(
        kind=kind,
        target=target,
        params={"x": 0.5} if kind == PYTHON else {"x": 0.5, "y": 1},
        tracking_uri=sqlite_uri,
        run_id=uuid.uuid4().hex,
        cwd=str(TESTS),
        tags={c.PARENT_TAG: parent, c.TRIAL_TAG: "0", c.PRUNE_TAG: c.PRUNE_REQUESTED},
        parent_run_id=parent,
    )
    result = run_task(task)
    assert result.result is Result.SUCCEEDED, result.error
    assert result.metrics["pruned"] == 1.0
    run = client.get_run(task.run_id)
    assert run.info.parent_run_id == parent and run.tags["seen_run"] == task.run_id
    assert run.tags[c.PRUNE_TAG] == c.PRUNE_STOPPED


def test_bad_input_is_refused_before_anything_runs(sqlite_uri: str) -> None:
    with pytest.raises(InvalidInput, match="unknown engine 'spark'"):
        assay.sweep("sweep_targets:quadratic", {"x": [1, 2]}, engine="spark")
    with pytest.raises(InvalidInput, match="does not import"):
        assay.sweep("sweep_targets_nope:quadratic", {"x": [1, 2]})
    with pytest.raises(InvalidInput, match="needs a number of trials"):
        assay.sweep("sweep_targets:quadratic", {"x": assay.uniform(0, 1)})
    with pytest.raises(InvalidInput, match="optimizes a metric"):
        assay.sweep("sweep_targets:quadratic", {"x": [1, 2]}, method="optuna", trials=2)
    assert not Client(sqlite_uri).search_runs()  # no parent run was created


DRIVER = """
import sys
sys.path.insert(0, {tests!r})
import assay
from assay.runner.engines import open_engine

if __name__ == "__main__":
    with open_engine("local", 2) as eng:
        assay.sweep("sweep_targets:slow_quadratic", {{"x": assay.uniform(-1.0, 1.0), "y": [1, 2, 3]}},
                    method={method!r}, trials=10, metric="loss", engine=eng, params={{"seconds": 0.4}})
"""


def _wait_for(predicate: object, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["optuna", "random"])
def test_a_killed_sweep_resumes_from_the_store(sqlite_uri: str, tmp_path: Path, method: str) -> None:
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER.format(tests=str(TESTS), method=method)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)])}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path)
    client = Client(sqlite_uri)

    def parent() -> str | None:
        found = client.search_runs(filter=f"tags.`{c.SWEEP_TAG}` = '{method}'")
        return found[0].info.run_id if found else None

    def some_finished() -> bool:
        pid = parent()
        done = [r for r in children(sqlite_uri, pid) if r.info.status is RunStatus.FINISHED] if pid else []
        return len(done) >= 3

    try:
        _wait_for(some_finished)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    pid = parent()
    assert pid is not None
    before = {r.info.run_id for r in children(sqlite_uri, pid) if r.info.status is RunStatus.FINISHED}
    assert 3 <= len(before) < 10
    with open_engine("local", 2) as eng:
        result = assay.sweep("sweep_targets:slow_quadratic", resume=pid, engine=eng)
    assert result.resumed >= len(before) and len(result.trials) == 10
    runs = children(sqlite_uri, pid)
    finished = [r for r in runs if r.info.status is RunStatus.FINISHED]
    assert len(finished) == 10  # the total asked for
    indices = [r.tags[c.TRIAL_TAG] for r in finished]
    assert len(set(indices)) == 10  # no trial finished twice
    assert before <= {r.info.run_id for r in finished}
    assert all(
        r.info.status is RunStatus.KILLED for r in runs if r not in finished
    )  # left by the dead driver
    top = client.get_run(pid)
    assert top.info.status is RunStatus.FINISHED and top.tags[c.STATE_TAG] == "finished"
    assert top.tags[c.BEST_RUN_TAG] == result.best.run_id  # type: ignore[union-attr]
