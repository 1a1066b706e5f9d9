"""Notebooks as tracked runs: the template standard, papermill execution in a run, warm kernels.

Every execution runs a real ipykernel kernel (no mocks); the longer ones are marked slow.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

import assay
from assay import Client, InvalidInput, RunStatus
from assay.notebooks.execute import NotebookFailed
from assay.notebooks.schema import declared_imports, schema_of
from assay.notebooks.warm import KernelPool
from assay.sdk import attach

PARAMS = """from typing import Literal

data_path: str                       # where the data is
lr: float = 0.01                     # learning rate
n_estimators = 100                   # trees
model: Literal["rf", "gb"] = "rf"    # the estimator
tags: list[str] = ["a"]
depth: int | None = None
seed = int("3")                      # not a literal
"""


def notebook(path: Path, *cells: str, params: str | None = None, imports: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    if imports is not None:
        c = nbformat.v4.new_code_cell(imports)
        c.metadata["tags"] = ["imports"]
        nb.cells.append(c)
    if params is not None:
        c = nbformat.v4.new_code_cell(params)
        c.metadata["tags"] = ["parameters"]
        nb.cells.append(c)
    nb.cells += [nbformat.v4.new_code_cell(s) for s in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def outputs(run_id: str) -> dict[str, Any]:
    return dict(json.loads(Client().read_artifact(run_id, "notebook/output.ipynb")))


def stdout_of(nb: dict[str, Any]) -> str:
    return "".join(
        "".join(o.get("text", ""))
        for c in nb["cells"]
        for o in c.get("outputs", [])
        if o.get("name") == "stdout"
    )


# ---- the template standard (pure) ------------------------------------------------------------------------


def test_the_parameters_cell_is_a_typed_schema() -> None:
    nb = nbformat.v4.new_notebook()
    c = nbformat.v4.new_code_cell("%matplotlib inline\n" + PARAMS)
    c.metadata["tags"] = ["parameters"]
    nb.cells = [c]
    schema = schema_of(nb, "nb.ipynb")
    p = schema.by_name
    assert list(p) == ["data_path", "lr", "n_estimators", "model", "tags", "depth", "seed"]
    assert p["data_path"].required and str(p["data_path"].type) == "str"
    assert p["data_path"].help == "where the data is"
    assert (str(p["lr"].type), p["lr"].default, p["lr"].help) == ("float", 0.01, "learning rate")
    assert str(p["n_estimators"].type) == "int"
    assert p["model"].choices == ("rf", "gb")
    assert str(p["depth"].type) == "int | None"
    assert p["seed"].default_source == 'int("3")' and not p["seed"].required
    assert len(schema.digest) == 16
    assert schema.bind({"data_path": "x.csv", "lr": 1, "tags": ("b",)}) == {
        "data_path": "x.csv",
        "lr": 1.0,
        "tags": ["b"],
    }


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"data_path": "x", "lrr": 0.1}, "unknown parameter 'lrr' (did you mean 'lr'?)"),
        ({"data_path": "x", "lr": "fast"}, "parameter 'lr': expected float, got str 'fast'"),
        ({"data_path": "x", "model": "svm"}, "parameter 'model': 'svm' is not one of 'rf', 'gb'"),
        ({"data_path": "x", "n_estimators": True}, "expected int, got bool True"),
        ({"lr": 0.1}, "missing required parameter data_path"),
    ],
)
def test_a_bad_launch_is_one_line_that_shows_the_schema(values: dict[str, Any], problem: str) -> None:
    nb = nbformat.v4.new_notebook()
    c = nbformat.v4.new_code_cell(PARAMS)
    c.metadata["tags"] = ["parameters"]
    nb.cells = [c]
    with pytest.raises(InvalidInput) as err:
        schema_of(nb, "nb.ipynb").bind(values)
    assert problem in err.value.message and "\n" not in err.value.message
    assert "nb.ipynb takes: data_path: str (required), lr: float = 0.01" in err.value.message


def test_command_line_values_are_read_by_type_and_sweeps_expand() -> None:
    nb = nbformat.v4.new_notebook()
    c = nbformat.v4.new_code_cell(PARAMS)
    c.metadata["tags"] = ["parameters"]
    nb.cells = [c]
    schema = schema_of(nb)
    grid = schema.grid(
        [("lr", "0.1,0.01"), ("model", "rf"), ("model", "gb"), ("depth", "None")], {"data_path": "d"}
    )
    assert [(g["lr"], g["model"]) for g in grid] == [(0.1, "rf"), (0.1, "gb"), (0.01, "rf"), (0.01, "gb")]
    assert all(g["depth"] is None and g["data_path"] == "d" for g in grid)
    assert schema.grid([("tags", "[x, y]"), ("data_path", "a,b")])[0] == {
        "tags": ["x", "y"],
        "data_path": "a,b",
    }


def test_imports_declared_by_a_tagged_cell_and_metadata() -> None:
    nb = nbformat.v4.new_notebook()
    c = nbformat.v4.new_code_cell(
        "import numpy as np\nfrom sklearn.ensemble import RandomForestClassifier\n%time x=1"
    )
    c.metadata["tags"] = ["imports"]
    nb.cells = [c]
    nb.metadata["assay"] = {"imports": ["json", "numpy"]}
    assert declared_imports(nb) == ["numpy", "sklearn.ensemble", "json"]


# ---- the kernel side of a run: logging into a run another process owns -----------------------------------


def test_a_process_with_assay_run_id_logs_into_that_run(
    sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client()
    exp = client.get_or_create_experiment("host")
    info = client.create_run(exp.experiment_id, capture_git=False, capture_environment=False)
    client.flush()
    monkeypatch.setenv(attach.RUN_ID, info.run_id)
    assay.log_metric("m", 1.5)
    assay.log_param("p", "v")
    active = assay.active_run()
    assert active is not None and active.id == info.run_id
    with assay.start_run(capture_git=False, capture_environment=False) as child:
        assay.log_metric("inner", 1.0)
    assay.flush()
    run = client.get_run(info.run_id)
    assert run.info.status is RunStatus.RUNNING  # only its owner ends it
    assert run.metrics == {"m": 1.5} and run.params == {"p": "v"}
    assert client.get_run(child.id).info.parent_run_id == info.run_id
    client.set_terminated(info.run_id)


# ---- executions --------------------------------------------------------------------------------------------


def test_an_invalid_parameter_is_refused_before_any_kernel_starts(sqlite_uri: str, tmp_path: Path) -> None:
    nb = notebook(tmp_path / "nb.ipynb", "print(lr)", params="lr: float = 0.1")
    t0 = time.perf_counter()
    with pytest.raises(InvalidInput, match="parameter 'lr': expected float"):
        assay.run_notebook(nb, {"lr": "fast"})
    assert time.perf_counter() - t0 < 1.0  # a kernel takes ~0.6 s just to start
    assert len(assay.search_runs()) == 0


@pytest.mark.slow
def test_parameters_are_injected_logged_and_the_notebook_logs_into_the_run(
    sqlite_uri: str, tmp_path: Path
) -> None:
    nb = notebook(
        tmp_path / "nb.ipynb",
        "import assay\nfor i in range(3):\n    assay.log_metric('score', lr * i, step=i)\n"
        "print(type(lr).__name__, n, model)",
        "assay.set_tag('inside', 'yes')",
        params='from typing import Literal\nlr: float = 0.01  # learning rate\nn = 2\nmodel: Literal["a", "b"] = "a"',
    )
    before = nb.read_bytes()
    run = assay.run_notebook(nb, {"lr": 1, "model": "b"}, experiment="nbs", name="first")
    assert run.info.status is RunStatus.FINISHED and run.info.name == "first"
    assert run.params == {"lr": "1.0", "n": "2", "model": "b"}
    assert run.metrics["score"] == 2.0 and run.tags["inside"] == "yes"
    assert run.tags["assay.notebook"] == str(nb) and run.tags["assay.notebook.kernel"] == "python3"
    assert len(run.tags["assay.notebook.schema"]) == 16
    out = outputs(run.id)
    assert "float 2 b" in stdout_of(out)
    assert [c["metadata"]["tags"] for c in out["cells"]][:2] == [["parameters"], ["injected-parameters"]]
    cells = json.loads(Client().read_artifact(run.id, "notebook/cells.json"))["cells"]
    assert [c["index"] for c in cells] == [0, 1, 2, 3] and {c["status"] for c in cells} == {"ok"}
    history = assay.get_metric_history(run.id, "notebook/cell_seconds")
    assert list(history.steps) == [0, 1, 2, 3]
    stored = {f.path for f in Client().list_artifacts(run.id, "notebook")}
    assert stored == {f"notebook/{n}" for n in ("output.ipynb", "cells.json", "parameters.json")}
    assert nb.read_bytes() == before  # the input notebook is never modified


@pytest.mark.slow
def test_a_failing_middle_cell_fails_the_run_naming_the_cell(sqlite_uri: str, tmp_path: Path) -> None:
    nb = notebook(
        tmp_path / "nb.ipynb", "print('before')", "a = 1\nb = a / 0", "print('after')", params="x = 1"
    )
    with pytest.raises(NotebookFailed) as err:
        assay.run_notebook(nb)
    run = err.value.run
    assert run.info.status is RunStatus.FAILED
    message = err.value.message
    assert message.startswith("cell 2 (In [3])") and "| b = a / 0" in message
    assert "ZeroDivisionError: division by zero" in message and run.tags["assay.error"] == message
    out = outputs(run.id)  # the partial output, with papermill's error markers
    assert "before" in stdout_of(out) and "after" not in stdout_of(out)
    assert any("papermill-error-cell-tag" in c["metadata"].get("tags", []) for c in out["cells"])
    cells = json.loads(Client().read_artifact(run.id, "notebook/cells.json"))["cells"]
    assert [c["status"] for c in cells] == ["ok", "ok", "error", "not run"]
    assert "ZeroDivisionError" in Client().read_artifact(run.id, "error/traceback.txt").decode()


@pytest.mark.slow
def test_a_timeout_kills_the_run_and_keeps_the_partial_output(sqlite_uri: str, tmp_path: Path) -> None:
    nb = notebook(tmp_path / "nb.ipynb", "print('started')", "import time\ntime.sleep(60)", "print('never')")
    t0 = time.perf_counter()
    run = assay.run_notebook(nb, timeout=3, check=False)
    assert time.perf_counter() - t0 < 20
    assert run.info.status is RunStatus.KILLED
    assert run.tags["assay.error"].startswith("timed out: the run's time limit of 3 s passed in cell 1")
    out = outputs(run.id)
    assert "started" in stdout_of(out)
    assert "KeyboardInterrupt" in json.dumps(out["cells"])  # the interrupted cell's traceback stays


@pytest.mark.slow
@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("import sys\nsys.exit(3)", "the notebook called sys.exit(3) in cell 1"),
        ("import os\nos._exit(4)", "the kernel died (exit status 4) in cell 1"),
    ],
)
def test_an_exit_in_a_cell_kills_the_run(sqlite_uri: str, tmp_path: Path, code: str, reason: str) -> None:
    nb = notebook(
        tmp_path / "nb.ipynb", "import assay\nassay.log_metric('first', 1.0)", code, "print('never')"
    )
    run = assay.run_notebook(nb, check=False)
    assert run.info.status is RunStatus.KILLED
    assert run.tags["assay.error"].startswith(reason)
    assert "never" not in stdout_of(outputs(run.id))
    if "sys.exit" in code:
        assert run.metrics["first"] == 1.0  # what the kernel logged before is kept


@pytest.mark.slow
def test_sys_exit_0_stops_early_and_finishes_as_in_papermill(sqlite_uri: str, tmp_path: Path) -> None:
    nb = notebook(tmp_path / "nb.ipynb", "import sys\nsys.exit(0)", "print('never')")
    run = assay.run_notebook(nb)
    assert (
        run.info.status is RunStatus.FINISHED and run.tags["assay.notebook.note"] == "sys.exit(0) in cell 0"
    )


@pytest.mark.slow
def test_a_notebook_without_a_parameters_cell_gets_them_injected_at_the_top(
    sqlite_uri: str, tmp_path: Path
) -> None:
    nb = notebook(tmp_path / "nb.ipynb", "print(alpha * 2)")
    chosen = assay.set_experiment("chosen")
    run = assay.run_notebook(nb, {"alpha": 21})
    out = outputs(run.id)
    assert out["cells"][0]["metadata"]["tags"] == ["injected-parameters"]
    assert "42" in stdout_of(out) and run.params == {"alpha": "21"}
    assert run.info.experiment_id == chosen.experiment_id  # set_experiment applies to notebooks too


def test_rendering_to_html() -> None:
    from assay.notebooks.render import to_html

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1")
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title <b>x</b>"), cell]
    html = to_html(nb)
    assert "<!DOCTYPE html>" in html and "Title" in html and "1</span>" in html


# ---- templates -----------------------------------------------------------------------------------------------


def _templates() -> list[Any]:
    try:
        import torch  # noqa: F401

        has_torch = True
    except ImportError:
        has_torch = False
    torch_mark = pytest.mark.skipif(not has_torch, reason="torch is not installed")
    return ["blank", "classification", "regression", pytest.param("pytorch", marks=torch_mark)]


@pytest.mark.slow
@pytest.mark.parametrize("template", _templates())
def test_each_template_runs_end_to_end(sqlite_uri: str, tmp_path: Path, template: str) -> None:
    from typer.testing import CliRunner

    from assay.cli.main import app

    path = tmp_path / f"{template}.ipynb"
    result = CliRunner().invoke(app, ["notebook", "new", str(path), "--template", template])
    assert result.exit_code == 0, result.output
    schema = schema_of(nbformat.read(path, 4))
    assert "data_path" in schema.by_name and declared_imports(nbformat.read(path, 4))
    run = assay.run_notebook(path, {"seed": 1}, timeout=240)
    assert run.info.status is RunStatus.FINISHED
    names = {f.path for f in assay.list_artifacts(run.id)}
    assert {"model", "evaluation", "notebook"} <= names or template == "blank"
    if template != "blank":
        assert any(k.startswith("test/") for k in run.metrics)


# ---- warm kernels ------------------------------------------------------------------------------------------


@pytest.fixture
def pool() -> Iterator[KernelPool]:
    with KernelPool() as p:
        yield p


LEAKY = (
    "import os, sys\n"
    "print('seen:', [n for n in ('leak', 'np') if n in globals()], os.environ.get('LEAK'), os.getcwd() == start)\n"
    "leak = 1\nos.environ['LEAK'] = 'x'\nos.chdir('/')\n"
    "import numpy as np\nprint('value', value * 2)\n"
    "rand = np.random.rand()"
)


@pytest.mark.slow
def test_warm_runs_give_cold_results_and_leak_nothing(
    sqlite_uri: str, tmp_path: Path, pool: KernelPool
) -> None:
    nb = notebook(
        tmp_path / "nb.ipynb",
        LEAKY,
        "import assay\nassay.log_metric('rand', rand)",
        params="value = 1\nstart = ''",
        imports="import numpy",
    )
    cold = assay.run_notebook(nb, {"value": 5, "start": str(tmp_path)})
    warm = [assay.run_notebook(nb, {"value": 5, "start": str(tmp_path)}, pool=pool) for _ in range(3)]
    expected = stdout_of(outputs(cold.id))
    assert "seen: [] None True" in expected and "value 10" in expected
    for run in warm:
        assert run.info.status is RunStatus.FINISHED and run.tags["assay.notebook.warm"] == "true"
        assert stdout_of(outputs(run.id)) == expected
    # numpy's global RNG is reseeded in every fork, as in a fresh process
    assert len({r.metrics["rand"] for r in [cold, *warm]}) == 4


@pytest.mark.slow
def test_a_misbehaving_warm_kernel_is_replaced(sqlite_uri: str, tmp_path: Path, pool: KernelPool) -> None:
    ok = notebook(tmp_path / "ok.ipynb", "print('fine')", imports="import json")
    dies = notebook(tmp_path / "dies.ipynb", "import os\nos._exit(9)", imports="import json")
    assert assay.run_notebook(dies, pool=pool, check=False).info.status is RunStatus.KILLED
    assert assay.run_notebook(ok, pool=pool).info.status is RunStatus.FINISHED
    for template in list(pool._templates.values()):  # even the template itself may go
        template.kill()
    run = assay.run_notebook(ok, pool=pool)
    assert run.info.status is RunStatus.FINISHED and "fine" in stdout_of(outputs(run.id))


# ---- sources and the command line ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_notebook_read_from_s3(sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    import fsspec

    from processes import moto_s3, s3_env

    with moto_s3("notebooks") as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        fsspec.config.conf.clear()
        fsspec.config.set_conf_env(fsspec.config.conf)
        nb = notebook(tmp_path / "nb.ipynb", "print(x + 1)", params="x: int = 1")
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").put_object(
            Bucket="notebooks", Key="dir/nb.ipynb", Body=nb.read_bytes()
        )
        run = assay.run_notebook("s3://notebooks/dir/nb.ipynb", {"x": 41})
    assert run.tags["assay.notebook"] == "s3://notebooks/dir/nb.ipynb"
    assert "42" in stdout_of(outputs(run.id))
    fsspec.config.conf.clear()


@pytest.mark.slow
def test_assay_run_on_the_command_line(sqlite_uri: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from assay.cli.main import app

    nb = notebook(tmp_path / "nb.ipynb", "print(lr)", params="lr: float = 0.1")
    runner = CliRunner()
    bad = runner.invoke(app, ["run", str(nb), "-p", "lr", "fast"])
    assert bad.exit_code == 1 and "parameter 'lr': expected float" in bad.output
    inspect = runner.invoke(app, ["notebook", "inspect", str(nb), "--json"])
    assert json.loads(inspect.output)["parameters"][0]["type"] == "float"
    out = tmp_path / "out.ipynb"
    ok = runner.invoke(app, ["run", str(nb), "-p", "lr", "0.5,0.25", "--warm", "-e", "cli"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("FINISHED") == 2 and "lr=0.5" in ok.output and "lr=0.25" in ok.output
    single = runner.invoke(app, ["run", str(nb), "-p", "lr=2", "-o", str(out)])
    assert single.exit_code == 0 and "2.0" in stdout_of(json.loads(out.read_text()))
    assert os.path.exists(out)
    run_id = single.output.split()[1]
    page = tmp_path / "page.html"
    html = runner.invoke(app, ["notebook", "html", run_id[:8], "-o", str(page)])
    assert html.exit_code == 0 and f"wrote {page}" in html.output
    assert page.read_text().startswith("<!DOCTYPE html>") and "2.0" in page.read_text()
    client = Client()
    plain_run = client.create_run(client.get_or_create_experiment("cli").experiment_id)
    client.flush()
    missing = runner.invoke(app, ["notebook", "html", plain_run.run_id])
    assert missing.exit_code == 1 and "has no output notebook" in missing.output
