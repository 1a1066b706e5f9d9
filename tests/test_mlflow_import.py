"""``assay import mlflow``: stores written by MLflow itself (3.17.2, its own venv), imported, then compared
point by point with what MLflow reports about them.

One MLflow process writes the same history into a file store and a SQLite store (experiments, nested runs,
params, tags, metrics with several steps and explicit timestamps, a NaN, an artifact, a dataset input, a
registered model with two versions and an alias, a run left RUNNING) and dumps MLflow's own view of each
as JSON. The import is driven through the CLI, in-process.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.mlflow_side import mlflow_python, run_mlflow
from tests.processes import free_port
from typer.testing import CliRunner, Result

from assay import bundle
from assay.access import Role
from assay.cli.main import app
from assay.entities import RunStatus
from assay.services import Services

runner = CliRunner()

#: Shared by the scripts below: MLflow's view of a store, as JSON.
DUMP = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import mlflow
from mlflow import MlflowClient
from mlflow.entities import ViewType

def walk(client, run_id, path=None):
    for f in client.list_artifacts(run_id, path):
        if f.is_dir:
            yield from walk(client, run_id, f.path)
        else:
            yield f.path

def dump(uri, out):
    client = MlflowClient(uri)
    view = {"experiments": {}, "models": {}}
    for e in client.search_experiments(view_type=ViewType.ALL):
        runs = {}
        for r in client.search_runs([e.experiment_id], run_view_type=ViewType.ALL):
            i = r.info
            runs[i.run_id] = {
                "name": i.run_name, "status": i.status, "start": i.start_time, "end": i.end_time,
                "params": r.data.params, "tags": r.data.tags,
                "metrics": {
                    k: [[m.step, m.timestamp, m.value] for m in client.get_metric_history(i.run_id, k)]
                    for k in r.data.metrics
                },
                "artifacts": sorted(walk(client, i.run_id)),
                "datasets": sorted(
                    [d.dataset.name, d.dataset.digest, {t.key: t.value for t in d.tags}.get("mlflow.data.context")]
                    for d in r.inputs.dataset_inputs
                ),
            }
        view["experiments"][e.name] = runs
    for m in client.search_registered_models():
        versions = client.search_model_versions(f"name='{m.name}'")
        view["models"][m.name] = {
            "description": m.description or "", "tags": m.tags, "aliases": m.aliases,
            "versions": {
                str(v.version): {"run_id": v.run_id, "description": v.description or "", "tags": v.tags}
                for v in versions
            },
        }
    with open(out, "w") as f:
        json.dump(view, f)
"""

WRITE = (
    DUMP
    + """
import os, pathlib, tempfile
import pandas as pd
from mlflow.entities import Metric
from sklearn.linear_model import LinearRegression
import mlflow.sklearn

T0 = 1_700_000_000_000

def write(uri):
    mlflow.set_tracking_uri(uri)
    c = MlflowClient(uri)
    vision = c.create_experiment("vision", tags={"team": "cv"})
    nlp = c.create_experiment("nlp")
    parent = c.create_run(vision, run_name="parent", start_time=T0).info.run_id
    c.log_param(parent, "lr", "0.1")
    c.log_param(parent, "layers", "3")
    c.set_tag(parent, "team", "cv")
    points = [Metric("loss", 1.0 / (s + 1), T0 + s * 10, s) for s in range(6)]
    points += [Metric("acc", float("nan") if s == 2 else s / 10, T0 + s * 10 + 5, s) for s in range(4)]
    c.log_batch(parent, metrics=points)
    child = c.create_run(vision, run_name="child", tags={"mlflow.parentRunId": parent}, start_time=T0 + 1000)
    child = child.info.run_id
    c.log_metric(child, "loss", 0.5, timestamp=T0 + 1500, step=0)
    c.log_metric(child, "loss", 0.4, timestamp=T0 + 1600, step=0)  # the same step twice
    c.log_metric(child, "val/loss", 0.7, timestamp=T0 + 1700, step=3)
    c.set_terminated(child, "FAILED", end_time=T0 + 2000)
    folder = pathlib.Path(tempfile.mkdtemp())
    (folder / "notes.txt").write_text("hello")
    c.log_artifact(parent, str(folder / "notes.txt"), "docs")
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [0.1, 0.2, 0.3]})
    with mlflow.start_run(run_id=parent):
        data = mlflow.data.from_pandas(frame, source="s3://bucket/train.csv", name="train-set")
        mlflow.log_input(data, context="training")
        info = mlflow.sklearn.log_model(LinearRegression().fit(frame[["x"]], frame["y"]), name="model")
    c.set_terminated(parent, "FINISHED", end_time=T0 + 3000)
    running = c.create_run(nlp, run_name="still-running", start_time=T0 + 4000).info.run_id
    c.log_metric(running, "x", 1.0, timestamp=T0 + 4100, step=1)
    c.create_registered_model("reg", description="a model", tags={"k": "v"})
    c.create_model_version("reg", info.model_uri, run_id=parent, description="first", model_id=info.model_id)
    v2 = c.create_model_version("reg", info.model_uri, run_id=parent, tags={"stage": "b"}, model_id=info.model_id)
    c.set_registered_model_alias("reg", "champion", v2.version)

for uri, out in zip(sys.argv[1::2], sys.argv[2::2]):
    write(uri)
    dump(uri, out)
"""
)

MORE = (
    DUMP
    + """
T0 = 1_700_000_000_000
uri, out = sys.argv[1], sys.argv[2]
c = MlflowClient(uri)
nlp = c.get_experiment_by_name("nlp").experiment_id
running = c.search_runs([nlp], filter_string="attributes.run_name = 'still-running'")[0].info.run_id
c.log_metric(running, "x", 2.0, timestamp=T0 + 4200, step=2)
c.set_terminated(running, "FINISHED", end_time=T0 + 5000)
new = c.create_run(nlp, run_name="later", start_time=T0 + 6000).info.run_id
c.log_metric(new, "x", 3.0, timestamp=T0 + 6100, step=0)
c.set_terminated(new, "KILLED", end_time=T0 + 7000)
dump(uri, out)
"""
)

MLFLOW_ENV = {"MLFLOW_ALLOW_FILE_STORE": "true", "GIT_PYTHON_REFRESH": "quiet"}


def mlflow_script(script: str, *args: str, cwd: Path) -> None:
    run_mlflow(f"import sys\nsys.argv[1:] = {list(args)!r}\n" + script, env=MLFLOW_ENV, cwd=cwd)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One MLflow process writes the history into ``mlruns/`` and ``mlflow.db``, with their JSON views."""
    root = tmp_path_factory.mktemp("mlflow")
    mlflow_script(
        WRITE,
        f"file://{root / 'mlruns'}",
        str(root / "file-view.json"),
        f"sqlite:///{root / 'mlflow.db'}",
        str(root / "sqlite-view.json"),
        cwd=root,
    )
    return root


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Services]]:
    """A fresh assay store (its URI and services); RUNNING runs would be reaped at once if they could be."""
    uri = str(tmp_path / "assay" / "assay.db")
    monkeypatch.setenv("ASSAY_HEARTBEAT_TIMEOUT", "0")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("ASSAY_ARTIFACT_ROOT", raising=False)
    bundle.reset()
    yield uri, bundle.services(uri)
    bundle.reset()


def run_import(uri: str, *args: str, code: int = 0) -> Result:
    result = runner.invoke(app, ["--tracking-uri", uri, "import", "mlflow", *args])
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


def counts(result: Result) -> dict[str, tuple[int, int, int]]:
    """The summary table: kind -> (imported, already present, skipped)."""
    out = {}
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) == 4 and cells[1].replace(",", "").isdigit():
            out[cells[0]] = tuple(int(c.replace(",", "")) for c in cells[1:])
    return out  # type: ignore[return-value]


def _point(step: int, stamp: int, value: float) -> tuple[int, int, str]:
    return (int(step), int(stamp), "nan" if math.isnan(value) else repr(float(value)))


def assert_matches(
    view: dict[str, Any], s: Services, running_reads_as: str = "RUNNING", project: str | None = None
) -> None:
    """Everything MLflow reports is in assay (in ``project``, when given): runs (ids, names, status,
    times, parents, params, tags, every metric point), artifacts, datasets, models, versions and aliases.
    A run MLflow shows RUNNING reads as ``running_reads_as``."""
    for exp_name, runs in view["experiments"].items():
        if not runs:
            continue
        exp = s.tracking.get_experiment_by_name(exp_name, project)
        assert exp is not None, exp_name
        for run_id, want in runs.items():
            got = s.tracking.get_run(run_id)
            assert got.info.experiment_id == exp.experiment_id
            assert got.info.name == want["name"]
            running = want["status"] == "RUNNING"
            assert got.info.status.value == (running_reads_as if running else want["status"])
            assert got.info.start_time == want["start"]
            assert got.info.end_time == want["end"] or (running and got.info.status is RunStatus.KILLED)
            assert got.info.parent_run_id == want["tags"].get("mlflow.parentRunId")
            assert dict(got.params) == want["params"]
            assert {k: v for k, v in got.tags.items() if k not in want["tags"]} == {
                "mlflow.run_id": run_id,
                "mlflow.experiment_id": got.tags["mlflow.experiment_id"],
            }
            assert {k: got.tags[k] for k in want["tags"]} == want["tags"]
            assert set(got.metric_summaries) == set(want["metrics"])
            for key, points in want["metrics"].items():
                h = s.tracking.get_metric_history(run_id, key)
                held = sorted(map(_point, h.steps.tolist(), h.timestamps.tolist(), h.values.tolist()))
                assert held == sorted(_point(*p) for p in points), (run_id, key)
            files = sorted(_files(s, run_id))
            assert [f for f in files if not f.startswith("mlflow-models/")] == want["artifacts"]
            used = sorted(
                [u.dataset.name, u.dataset.digest, u.context] for u in s.registry.run_datasets(run_id)
            )
            assert used == want["datasets"]
    for plain, want in view["models"].items():
        name = plain if project is None else f"{project}/{plain}"
        model = s.registry.get_model(name)
        assert model.description == want["description"]
        assert dict(model.tags) == want["tags"]
        by_mlflow = {mv.tags["mlflow.version"]: mv for mv in s.registry.list_versions(name)}
        assert set(by_mlflow) == set(want["versions"])
        for number, wv in want["versions"].items():
            mv = by_mlflow[number]
            assert mv.run_id == wv["run_id"]
            assert mv.description == wv["description"]
            assert {k: mv.tags[k] for k in wv["tags"]} == wv["tags"]
            assert mv.version == int(number)  # a new model numbers its versions as MLflow did
            assert mv.flavor == "mlflow"
        assert {a: by_mlflow[str(v)].version for a, v in want["aliases"].items()} == dict(model.aliases)


def _files(s: Services, run_id: str, path: str | None = None) -> Iterator[str]:
    for f in s.tracking.list_artifacts(run_id, path):
        yield from _files(s, run_id, f.path) if f.is_dir else [f.path]


def test_a_file_store_imports_as_mlflow_reports_it(written: Path, target: tuple[str, Services]) -> None:
    uri, s = target
    result = run_import(uri, str(written / "mlruns"))
    view = json.loads((written / "file-view.json").read_text())
    assert_matches(view, s)
    table = counts(result)
    runs = [r for exp in view["experiments"].values() for r in exp.values()]
    assert table["runs"] == (len(runs), 0, 0)
    points = sum(len(p) for r in runs for p in r["metrics"].values())
    assert table["metric points"] == (points, 0, 0)
    assert table["versions"] == (2, 0, 0)
    assert table["artifacts"][0] >= 1


def test_a_sqlite_store_imports_once_then_picks_up_what_is_new(
    written: Path, target: tuple[str, Services], tmp_path: Path
) -> None:
    uri, s = target
    db = tmp_path / "mlflow.db"
    shutil.copy(written / "mlflow.db", db)  # this test adds to the store: work on a copy
    source = f"sqlite:///{db}"
    first = counts(run_import(uri, source))
    view = json.loads((written / "sqlite-view.json").read_text())
    assert_matches(view, s)

    running = next(rid for rid, r in view["experiments"]["nlp"].items() if r["status"] == "RUNNING")
    info = s.tracking.get_run_info(running)  # ASSAY_HEARTBEAT_TIMEOUT=0: a heartbeat would be stale
    assert info.status is RunStatus.RUNNING and info.heartbeat_at is None

    again = counts(run_import(uri, source))
    assert all(c[0] == 0 for c in again.values()), again
    assert again["runs"][1] == first["runs"][0]
    assert again["metric points"][1] == first["metric points"][0]
    assert_matches(view, s)  # nothing doubled

    mlflow_script(MORE, source, str(tmp_path / "later.json"), cwd=written)
    third = counts(run_import(uri, source))
    assert third["runs"] == (1, first["runs"][0], 0)
    assert third["metric points"][0] == 2  # the running run's new point and the new run's
    assert_matches(json.loads((tmp_path / "later.json").read_text()), s)
    assert s.tracking.get_run_info(running).status is RunStatus.FINISHED


def test_dry_run_counts_and_writes_nothing(written: Path, target: tuple[str, Services]) -> None:
    uri, s = target
    table = counts(run_import(uri, f"sqlite:///{written / 'mlflow.db'}", "--dry-run"))
    assert table["runs"][0] == 3 and table["metric points"][0] > 10 and table["versions"][0] == 2
    assert list(s.tracking.search_runs(include_deleted=True)) == []
    assert [e.name for e in s.tracking.list_experiments(include_deleted=True)] in ([], ["Default"])
    assert s.registry.list_models() == []


def test_experiment_picks_what_is_imported(written: Path, target: tuple[str, Services]) -> None:
    uri, s = target
    table = counts(run_import(uri, f"sqlite:///{written / 'mlflow.db'}", "--experiment", "nlp"))
    assert table["runs"] == (1, 0, 0)
    assert table["versions"][2] == 2  # their run is in "vision", not imported
    assert s.tracking.get_experiment_by_name("vision") is None
    result = run_import(uri, f"sqlite:///{written / 'mlflow.db'}", "--experiment", "nope", code=1)
    assert "no MLflow experiment named 'nope'" in result.stderr


@pytest.mark.parametrize("into", [None, "b"])
def test_models_and_experiments_are_found_in_the_project_imported_into(
    written: Path, target: tuple[str, Services], into: str | None
) -> None:
    """Names are unique per project: project "a" holding a model and an experiment of the names MLflow
    has does not make the import (into the default project, or ``--project b``) reuse them. The import
    lands whole in its own project, running it again finds it there, and "a"'s are left as they were."""
    uri, s = target
    s.access.create_project("a")
    s.access.create_project("b")
    theirs = s.registry.create_model("reg", project="a", description="a's own")
    vision = s.tracking.create_experiment("vision", project="a")
    source = f"sqlite:///{written / 'mlflow.db'}"
    project = into or "default"
    first = counts(run_import(uri, source, *(["--project", into] if into else [])))
    assert first["models"] == (1, 0, 0) and first["versions"] == (2, 0, 0)
    assert_matches(json.loads((written / "sqlite-view.json").read_text()), s, project=project)
    again = counts(run_import(uri, source, *(["--project", into] if into else [])))
    assert again["models"] == (0, 1, 0) and again["versions"] == (0, 2, 0)
    assert s.registry.get_model("a/reg") == theirs and s.registry.list_versions("a/reg") == []
    assert list(s.tracking.search_runs([vision.experiment_id], include_deleted=True)) == []
    unknown = run_import(uri, source, "--project", "nope", code=1)
    assert unknown.stderr.strip() == "error: no project named 'nope': list them with `assay projects ls`"


def _project_runs(s: Services, project: str) -> dict[str, str]:
    """Run id -> experiment name, for every run of ``project`` (deleted ones too)."""
    names = {e.experiment_id: e.name for e in s.tracking.list_experiments(True, project=project)}
    runs = s.tracking.search_runs(list(names), include_deleted=True) if names else []
    return {r.info.run_id: names[r.info.experiment_id] for r in runs}


def _version_runs(s: Services, model: str) -> list[str]:
    return sorted(mv.run_id or "" for mv in s.registry.list_versions(model))


def test_a_run_is_imported_into_one_project_and_another_is_refused_it(
    written: Path, target: tuple[str, Services]
) -> None:
    """Runs keep their MLflow ids, which are unique in the whole store: the runs imported into "a" are
    not imported again into "b" (refused in one line, before anything is written), nor counted as
    "already present" there, nor used by "b"'s model versions. Running the import into "b" again stays
    refused and writes nothing; into "a" again, it imports nothing twice."""
    uri, s = target
    s.access.create_project("a")
    s.access.create_project("b")
    source = f"sqlite:///{written / 'mlflow.db'}"
    view = json.loads((written / "sqlite-view.json").read_text())
    mlflow_runs = {rid: exp for exp, runs in view["experiments"].items() for rid in runs}
    run_import(uri, source, "--project", "a")
    assert _project_runs(s, "a") == mlflow_runs
    before_b = [e.name for e in s.tracking.list_experiments(True, project="b")]
    for args in ([], ["--dry-run"], []):  # the same answer every time, dry run or not
        refused = run_import(uri, source, "--project", "b", *args, code=1)
        lines = refused.stderr.strip().splitlines()
        assert lines == [
            "error: 3 runs of MLflow experiments 'nlp', 'vision' are in project 'a' already: imported "
            "runs keep their MLflow ids, so each is imported into one project only; import into "
            "--project a, or choose other experiments with --experiment"
        ], refused.stderr
        assert [e.name for e in s.tracking.list_experiments(True, project="b")] == before_b
        assert _project_runs(s, "b") == {}
        assert [m.name for m in s.registry.list_models(project="b")] == []
    assert _project_runs(s, "a") == mlflow_runs
    assert _version_runs(s, "a/reg") == sorted(
        v["run_id"] for v in view["models"]["reg"]["versions"].values()
    )
    again = counts(run_import(uri, source, "--project", "a"))
    assert all(c[0] == 0 for c in again.values()), again
    assert_matches(view, s, project="a")


def test_model_versions_register_runs_of_their_own_project_only(
    written: Path, target: tuple[str, Services]
) -> None:
    """MLflow's experiments split between projects ("vision" into "a", "nlp" into "b"): each project holds
    its experiment's runs, and "reg"'s versions (whose run is in "vision") are registered in "a" only. In
    "b" they are skipped, saying where their run is, never registered on "a"'s run. Running either import
    again adds nothing; the whole source into "b" is refused (its "vision" runs are in "a")."""
    uri, s = target
    s.access.create_project("a")
    s.access.create_project("b")
    source = f"sqlite:///{written / 'mlflow.db'}"
    view = json.loads((written / "sqlite-view.json").read_text())
    vision, nlp = set(view["experiments"]["vision"]), set(view["experiments"]["nlp"])
    parent = view["models"]["reg"]["versions"]["1"]["run_id"]
    into_a = counts(run_import(uri, source, "--project", "a", "--experiment", "vision"))
    assert into_a["runs"] == (len(vision), 0, 0) and into_a["versions"] == (2, 0, 0)
    into_b = run_import(uri, source, "--project", "b", "--experiment", "nlp")
    assert counts(into_b)["runs"] == (len(nlp), 0, 0)
    assert counts(into_b)["versions"] == (0, 0, 2)
    assert f"skipped versions: b/reg v1: its run {parent} is in project 'a', not 'b'" in into_b.stdout
    assert _project_runs(s, "a") == dict.fromkeys(vision, "vision")
    assert _project_runs(s, "b") == dict.fromkeys(nlp, "nlp")
    assert _version_runs(s, "a/reg") == [parent, parent]
    assert _version_runs(s, "b/reg") == []
    for project, experiment in (("b", "nlp"), ("a", "vision")):
        again = counts(run_import(uri, source, "--project", project, "--experiment", experiment))
        assert all(c[0] == 0 for c in again.values()), (project, again)
    whole = run_import(uri, source, "--project", "b", code=1)
    assert "2 runs of MLflow experiment 'vision' are in project 'a' already" in whole.stderr
    assert _project_runs(s, "b") == dict.fromkeys(nlp, "nlp") and _version_runs(s, "b/reg") == []


@pytest.mark.parametrize("tracking_uri", ["http"], indirect=True)
def test_a_team_server_is_a_target_like_a_store(written: Path, tracking_uri: str) -> None:
    """The target resolved as every command resolves it ($ASSAY_TRACKING_URI and its token): a server
    with auth on, the importer a project owner who is no admin."""
    s = bundle.services(tracking_uri)
    source = f"sqlite:///{written / 'mlflow.db'}"
    result = runner.invoke(app, ["import", "mlflow", source], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    # the wire carries "no heartbeat": a run still running in MLflow stays RUNNING on the server too
    assert_matches(json.loads((written / "sqlite-view.json").read_text()), s, running_reads_as="RUNNING")
    again = runner.invoke(app, ["import", "mlflow", source], env={"COLUMNS": "200"})
    assert all(c[0] == 0 for c in counts(again).values()), again.stdout


def _import_as(token: str, monkeypatch: pytest.MonkeyPatch, *args: str, code: int = 0) -> Result:
    """``assay import mlflow ARGS`` against the server of ``$ASSAY_TRACKING_URI`` with ``token``."""
    monkeypatch.setenv("ASSAY_TRACKING_TOKEN", token)
    bundle.reset()  # the client of a URL is cached with the token it was made with
    result = runner.invoke(app, ["import", "mlflow", *args], env={"COLUMNS": "200"})
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


@pytest.mark.parametrize("tracking_uri", ["http"], indirect=True)
def test_runs_of_a_project_the_importer_may_not_read_are_refused_before_writing(
    written: Path, tracking_uri: str, store_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team server shows a caller only the runs of projects it reads. Alice imports MLflow's "vision"
    into "hidden", where the tester (owner of "default" only) holds no role. The tester's import of "nlp"
    into "default" goes ahead (its model's versions skipped: their run is alice's); the tester's import
    of the whole source is refused in one line that does not name "hidden", dry run or not, and writes
    nothing: not the experiments, runs and models it would otherwise make before failing half-way."""
    admin = store_services
    tester = os.environ["ASSAY_TRACKING_TOKEN"]
    admin.access.create_project("hidden")
    alice = admin.access.create_user("alice").secret
    admin.access.set_member("hidden", "alice", Role.OWNER)
    source = f"sqlite:///{written / 'mlflow.db'}"
    view = json.loads((written / "sqlite-view.json").read_text())
    vision, nlp = set(view["experiments"]["vision"]), set(view["experiments"]["nlp"])
    _import_as(alice, monkeypatch, source, "--project", "hidden", "--experiment", "vision")
    assert _project_runs(admin, "hidden") == dict.fromkeys(vision, "vision")
    split = _import_as(tester, monkeypatch, source, "--experiment", "nlp")
    assert counts(split)["runs"] == (len(nlp), 0, 0) and counts(split)["versions"] == (0, 0, 2)
    parent = view["models"]["reg"]["versions"]["1"]["run_id"]
    assert f"its run {parent} is in a project you may not read, not 'default'" in split.stdout
    experiments = sorted(e.name for e in admin.tracking.list_experiments(True, project="default"))
    models = [m.name for m in admin.registry.list_models(project="default")]
    for args in ([], ["--dry-run"], []):
        refused = _import_as(tester, monkeypatch, source, *args, code=1)
        assert refused.stderr.strip().splitlines() == [
            f"error: {len(vision)} runs of MLflow experiment 'vision' are already in a project you may "
            "not read: imported runs keep their MLflow ids, so each is imported into one project only; "
            "ask an admin which project holds them and for a role there to import into it with "
            "--project, or choose other experiments with --experiment"
        ], refused.stderr
        assert sorted(e.name for e in admin.tracking.list_experiments(True, project="default")) == (
            experiments
        )
        assert _project_runs(admin, "default") == dict.fromkeys(nlp, "nlp")
        assert [m.name for m in admin.registry.list_models(project="default")] == models
    assert _project_runs(admin, "hidden") == dict.fromkeys(vision, "vision")


def _refused(uri: str, s: Services, source: str, message: str) -> None:
    result = run_import(uri, source, code=1)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert list(s.tracking.search_runs(include_deleted=True)) == []


def test_a_database_that_is_not_mlflows_is_refused_before_writing(
    tmp_path: Path, target: tuple[str, Services]
) -> None:
    uri, s = target
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE things (id INTEGER)")
    _refused(uri, s, f"sqlite:///{other}", "is not an MLflow tracking database")
    _refused(uri, s, f"sqlite:///{tmp_path / 'absent.db'}", "no such SQLite file")
    _refused(uri, s, str(tmp_path), "is not an MLflow file store")
    garbage = tmp_path / "notes.db"
    garbage.write_text("not a database")
    _refused(uri, s, f"sqlite:///{garbage}", "file is not a database")


def test_a_newer_schema_is_refused_before_writing(
    written: Path, tmp_path: Path, target: tuple[str, Services]
) -> None:
    uri, s = target
    db = tmp_path / "newer.db"
    shutil.copy(written / "mlflow.db", db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'fedcba987654'")
    _refused(uri, s, f"sqlite:///{db}", "likely written by a newer MLflow")


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """A real ``mlflow server`` (MLflow's venv) on a free loopback port, proxying artifacts; its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "MLFLOW_"))}
    log = (tmp_path / "mlflow-server.log").open("wb")
    mlflow = mlflow_python().parent / "mlflow"
    args = ["server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    args += ["--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"]
    args += ["--artifacts-destination", str(tmp_path / "server-artifacts")]
    proc = subprocess.Popen([str(mlflow), *args], env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "mlflow-server.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not answer /health within 120 s"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the workers it started
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.mark.slow
def test_an_mlflow_server_imports_through_its_rest_api(
    mlflow_server: str, tmp_path: Path, target: tuple[str, Services]
) -> None:
    uri, s = target
    mlflow_script(WRITE, mlflow_server, str(tmp_path / "view.json"), cwd=tmp_path)
    first = counts(run_import(uri, mlflow_server))
    view = json.loads((tmp_path / "view.json").read_text())
    assert_matches(view, s)
    assert first["versions"] == (2, 0, 0) and first["artifacts"][0] >= 1
    again = counts(run_import(uri, mlflow_server))
    assert all(c[0] == 0 for c in again.values()), again


@pytest.fixture
def mlflow_on_postgres(written: Path) -> Iterator[str]:
    """The SQLite store MLflow wrote, carried table by table (MLflow's own schema, reflected, and rows)
    into a fresh database on the local PostgreSQL, dropped afterwards. (MLflow's venv has no PostgreSQL
    driver, so it cannot write there itself.)"""
    import psycopg
    import sqlalchemy as sa

    from assay.testing.fixtures import PG_ADMIN_URL, _pg_available

    if not _pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"mlflow_src_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    src = sa.create_engine(f"sqlite:///{written / 'mlflow.db'}")
    dst = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    try:
        reflected = sa.MetaData()
        reflected.reflect(src)
        plain = sa.MetaData()
        for t in reflected.sorted_tables:
            columns = [sa.Column(c.name, _generic(c.type)) for c in t.columns]
            sa.Table(t.name, plain, *columns)
        plain.create_all(dst)
        with src.connect() as read, dst.begin() as write:
            for t in reflected.sorted_tables:
                rows = [dict(r._mapping) for r in read.execute(sa.select(t))]
                if rows:
                    write.execute(plain.tables[t.name].insert(), rows)
        yield url
    finally:
        src.dispose()
        dst.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _generic(kind: Any) -> Any:
    """A type PostgreSQL knows for a column type reflected from SQLite (BLOB -> bytea, ...)."""
    import sqlalchemy as sa

    try:
        return kind.as_generic()
    except NotImplementedError:
        return sa.Text()


@pytest.mark.postgres
def test_a_postgresql_store_imports_as_mlflow_reports_it(
    mlflow_on_postgres: str, written: Path, target: tuple[str, Services]
) -> None:
    uri, s = target
    first = counts(run_import(uri, mlflow_on_postgres))
    assert_matches(json.loads((written / "sqlite-view.json").read_text()), s)
    assert first["versions"] == (2, 0, 0)
    again = counts(run_import(uri, mlflow_on_postgres))
    assert all(c[0] == 0 for c in again.values()), again


# ---- the pure decisions, without I/O ---------------------------------------------------------------------


def _run(run_id: str = "a" * 32, status: str = "FINISHED", deleted: bool = False) -> Any:
    from assay.mlflow.importing.sources import MlflowRun

    return MlflowRun(run_id, "1", "r", status, 1, 2, "u", "", deleted=deleted)


def test_plan_creates_new_runs_updates_running_ones_and_skips_foreign_ids() -> None:
    from assay.mlflow.importing.plan import Action, Existing, plan_runs

    runs = [_run("a" * 32), _run("b" * 32), _run("c" * 32), _run("d" * 32), _run("e" * 32, deleted=True)]
    runs += [_run("not-valid"), _run("f" * 32), _run("0" * 32)]
    held = {
        "b" * 32: Existing(RunStatus.FINISHED, from_mlflow=True),
        "c" * 32: Existing(RunStatus.RUNNING, from_mlflow=True),
        "d" * 32: Existing(RunStatus.FINISHED, from_mlflow=False),
        "f" * 32: Existing(RunStatus.KILLED, from_mlflow=True, reaped=True),
        "0" * 32: Existing(RunStatus.RUNNING, from_mlflow=True, deleted=True),
    }
    actions = [p.action for p in plan_runs(runs, held)]
    assert actions == [
        *(Action.CREATE, Action.PRESENT, Action.UPDATE, Action.SKIP, Action.SKIP, Action.SKIP),
        *(Action.UPDATE, Action.PRESENT),
    ]


def test_runs_another_project_holds_are_refused_naming_it() -> None:
    """Held by another project: refused, naming the first such project, its runs' MLflow experiments and
    how many more other projects hold. Not counted: runs held by the project imported into, runs deleted in
    MLflow (skipped anyway), and runs of that id that did not come from MLflow (skipped)."""
    from assay.errors import Conflict
    from assay.mlflow.importing.plan import Existing, refuse_held_elsewhere

    def held(project: str, from_mlflow: bool = True) -> Existing:
        return Existing(RunStatus.FINISHED, from_mlflow=from_mlflow, project=project)

    runs = [_run("a" * 32), _run("b" * 32), _run("c" * 32, deleted=True), _run("d" * 32)]
    names = {"1": "vision"}
    ours = {"a" * 32: held("b"), "c" * 32: held("a"), "d" * 32: held("a", from_mlflow=False)}
    refuse_held_elsewhere(runs, ours, "b", names)
    refuse_held_elsewhere(runs, {}, "b", names)
    with pytest.raises(Conflict) as one:
        refuse_held_elsewhere(runs, {**ours, "b" * 32: held("z")}, "b", names)
    assert one.value.message.startswith("1 run of MLflow experiment 'vision' is in project 'z' already: ")
    assert one.value.message.endswith(
        "; import into --project z, or choose other experiments with --experiment"
    )
    with pytest.raises(Conflict) as several:
        refuse_held_elsewhere(runs, {"a" * 32: held("y"), "b" * 32: held("z")}, "b", names)
    assert several.value.message.startswith(
        "1 run of MLflow experiment 'vision' is in project 'y' already (and 1 more in other projects): "
    )


def test_runs_a_project_the_caller_may_not_read_holds_are_refused_without_naming_it() -> None:
    """Runs held where the caller may not read (found by the writer's probe, absent from ``existing``):
    refused, saying so and naming no project, unless a readable project holds runs too (that one is
    named, the unreadable ones counted among the others). Runs deleted in MLflow are not counted."""
    from assay.errors import Conflict
    from assay.mlflow.importing.plan import Existing, refuse_held_elsewhere

    runs = [_run("a" * 32), _run("b" * 32), _run("c" * 32, deleted=True)]
    names = {"1": "vision"}
    refuse_held_elsewhere(runs, {}, "b", names, unreadable={"c" * 32})
    with pytest.raises(Conflict) as hidden:
        refuse_held_elsewhere(runs, {}, "b", names, unreadable={"a" * 32, "b" * 32, "c" * 32})
    assert hidden.value.message.startswith(
        "2 runs of MLflow experiment 'vision' are already in a project you may not read: "
    )
    assert hidden.value.message.endswith(", or choose other experiments with --experiment")
    held = {"a" * 32: Existing(RunStatus.FINISHED, from_mlflow=True, project="z")}
    with pytest.raises(Conflict) as both:
        refuse_held_elsewhere(runs, held, "b", names, unreadable={"b" * 32})
    assert both.value.message.startswith(
        "1 run of MLflow experiment 'vision' is in project 'z' already (and 1 more in other projects): "
    )


def test_new_points_are_what_assay_lacks_counted_with_multiplicity_and_nan_equal() -> None:
    import numpy as np

    from assay.entities import MetricHistory
    from assay.mlflow.importing.plan import new_points
    from assay.mlflow.importing.sources import MlflowSeries

    def arrays(points: list[tuple[int, int, float]]) -> tuple[Any, Any, Any]:
        s, t, v = zip(*points, strict=True)
        return np.array(s, np.int64), np.array(t, np.int64), np.array(v, np.float64)

    mlflow_points = [(0, 10, 1.0), (0, 10, 1.0), (1, 20, math.nan), (2, 30, 3.0)]
    held = MetricHistory("x", *arrays([(0, 10, 1.0), (1, 20, math.nan)]))
    fresh = new_points(MlflowSeries("r", "x", *arrays(mlflow_points)), held)
    assert fresh is not None
    assert list(zip(fresh.steps.tolist(), fresh.values.tolist(), strict=True)) == [(0, 1.0), (2, 3.0)]
    everything = MetricHistory("x", *arrays(mlflow_points))
    assert new_points(MlflowSeries("r", "x", *arrays(mlflow_points)), everything) is None


def test_schema_revisions_known_old_new_and_foreign() -> None:
    from assay.errors import InvalidInput
    from assay.mlflow.importing.schema_versions import CORE_TABLES, NEWEST, OLDEST, check_revision

    check_revision("db", NEWEST, CORE_TABLES)
    check_revision("db", OLDEST, CORE_TABLES)
    with pytest.raises(InvalidInput, match=r"older than MLflow 2\.4"):
        check_revision("db", "451aebb31d03", CORE_TABLES)
    with pytest.raises(InvalidInput, match="newer MLflow"):
        check_revision("db", "0123456789ab", CORE_TABLES)
    with pytest.raises(InvalidInput, match="not an MLflow tracking database"):
        check_revision("db", "0123456789ab", {"runs", "alembic_version"})
