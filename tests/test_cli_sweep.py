"""``assay sweep`` as a user types it: bad input is one ``error:`` line before anything runs (no parent
run, no worker), and sweeps of a notebook and of a function end with a best-first table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from assay.sdk.client import Client

TESTS = Path(__file__).parent
PARAMS = 'from typing import Literal\nlr: float = 0.1  # learning rate\ndepth = 3\nmodel: Literal["rf", "gb"] = "rf"\n'
CELLS = [
    "import assay",
    "for epoch in range(3):\n    assay.log_metric('val_loss', lr * depth / (epoch + 1), step=epoch)",
]


def notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(PARAMS)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, *(nbformat.v4.new_code_cell(s) for s in CELLS)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def assay_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)])}
    return subprocess.run(
        [sys.executable, "-m", "assay.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["sweep_targets:quadratic", "--random", "x=loguniform(1e-4)", "-n", "3"],
            "loguniform takes 2 numbers",
        ),
        (["sweep_targets:quadratic", "--grid", "x=1,2", "--engine", "spark"], "unknown engine 'spark'"),
        (["sweep_targets:quadratic", "--grid", "x=1,2", "--parallel", "0"], "parallel must be"),
        (["nowhere.mod:fn", "--grid", "x=1,2"], "does not import"),
        (
            ["sweep_targets:quadratic", "--optuna", "--space", "x=uniform(0,1)", "-n", "2"],
            "optimizes a metric",
        ),
        (["sweep_targets:quadratic"], "give a space"),
        (["nb.ipynb", "--grid", "lrr=0.1,0.2"], "unknown parameter 'lrr' (did you mean 'lr'?)"),
        (["nb.ipynb", "--grid", "model=rf,xgb"], "parameter 'model'"),
        (["nb.ipynb", "--random", "depth=uniform(1,5)", "-n", "2"], "parameter 'depth'"),
        (["--resume", "abcdef12"], "no sweep run"),
    ],
)
def test_bad_input_is_one_line_and_nothing_runs(
    sqlite_uri: str, tmp_path: Path, args: list[str], says: str
) -> None:
    notebook(tmp_path / "nb.ipynb")
    out = assay_cli("sweep", *args, cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], out.stderr
    assert not Client(sqlite_uri).search_runs()  # no parent run


@pytest.mark.slow
def test_cli_sweeps_of_a_notebook_and_a_function(sqlite_uri: str, tmp_path: Path) -> None:
    nb = notebook(tmp_path / "nb.ipynb")
    out = assay_cli("sweep", str(nb), "--grid", "lr=0.1,0.5", "--grid", "model=rf,gb", "-p", "depth=2",
                    "--metric", "val_loss", "--parallel", "2", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "best: trial" in out.stdout and out.stderr.count("COMPLETE") == 4
    runs = Client(sqlite_uri).search_runs(filter="tags.`assay.sweep.state` = 'COMPLETE'")
    assert len(runs) == 4 and all(r.params["depth"] == "2" for r in runs)
    out = assay_cli("sweep", "sweep_targets:quadratic", "--optuna", "--space", "x=uniform(-1,1)",
                    "--space", "y=int(0,4)", "--metric", "loss", "--trials", "8", "--parallel", "2",
                    cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "best: trial" in out.stdout and out.stderr.count("COMPLETE") == 8
