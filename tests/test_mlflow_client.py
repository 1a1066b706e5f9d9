"""The unmodified MLflow client (3.17.2, its own venv) against a real ``assay server`` process.

Each test runs one MLflow script (``mlflow_side.run_mlflow``) that makes many calls and prints what MLflow
read back as JSON; the test then checks the same things through assay's own client, so a run MLflow
logged is shown to be an ordinary assay run. On SQLite and on PostgreSQL; with auth: an editor's token as
MLFLOW_TRACKING_TOKEN, a viewer refused with PERMISSION_DENIED, no token refused with UNAUTHENTICATED.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.access import Role
from assay.embedded.access import AccessService
from assay.entities import RunStatus
from assay.sdk.client import Client
from assay.server.main import build_services
from assay.testing.fixtures import _truncate_pg, reset_sdk
from mlflow_side import run_mlflow
from processes import ServerProcess

#: No network beyond loopback, no retries (a refused call fails at once), no requirement inference.
QUIET = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
}

PRELUDE = """
import json, os, tempfile
import requests
import numpy as np
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

out = {}
c = MlflowClient()

def code(call):  # the MLflow error code a call fails with (artifact transfers raise HTTPError), or None
    try:
        call()
    except MlflowException as exc:
        return exc.error_code
    except requests.HTTPError as exc:
        return exc.response.json()["error_code"]
    return None
"""

TRACKING = (
    PRELUDE
    + """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.linear_model import LogisticRegression

exp_id = c.create_experiment("mlflow-e2e")
out["exp_id"] = exp_id
out["duplicate_experiment"] = code(lambda: c.create_experiment("mlflow-e2e"))
out["experiment_tag"] = code(lambda: c.set_experiment_tag(exp_id, "k", "v"))
mlflow.set_experiment("mlflow-e2e")
runs = []
for i, model in enumerate(["rf", "gb", "rf"]):
    with mlflow.start_run(run_name=f"r{i}") as run:
        mlflow.log_param("model", model)
        mlflow.log_params({"i": i, "lr": 0.1})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1 + i), step=step)
        mlflow.log_metrics({"acc": 0.5 + i / 10})
        mlflow.set_tags({"team": "vision", "drop": "x"})
        if i == 0:
            mlflow.log_text("hello", "notes/hello.txt")
            mlflow.log_dict({"depth": 3}, "cfg/config.json")
            fig, ax = plt.subplots()
            ax.plot([0, 1], [1, 0])
            mlflow.log_figure(fig, "plots/line.png")
            path = os.path.join(tempfile.mkdtemp(), "data.csv")
            with open(path, "w") as f:
                f.write("a,b\\n1,2\\n")
            mlflow.log_artifact(path, "files")
            mlflow.log_input(mlflow.data.from_numpy(np.array([[1.0, 2.0]]), name="train"), context="training")
        runs.append(run.info.run_id)
    c.delete_tag(run.info.run_id, "drop")
out["runs"] = runs
r0 = c.get_run(runs[0])
out["r0"] = {
    "status": r0.info.status, "name": r0.info.run_name, "metrics": r0.data.metrics, "params": r0.data.params,
    "tags": {k: v for k, v in r0.data.tags.items() if not k.startswith("mlflow.")},
    "artifact_uri": r0.info.artifact_uri, "end_time": r0.info.end_time,
    "datasets": [(d.dataset.name, d.dataset.digest, [t.value for t in d.tags]) for d in r0.inputs.dataset_inputs],
}
out["history"] = [(m.step, m.value) for m in c.get_metric_history(runs[0], "loss")]
out["artifacts"] = sorted(f.path for f in c.list_artifacts(runs[0]))
out["notes"] = [f.path for f in c.list_artifacts(runs[0], "notes")]
out["hello"] = mlflow.artifacts.load_text(f"runs:/{runs[0]}/notes/hello.txt")
out["config"] = mlflow.artifacts.load_dict(f"{r0.info.artifact_uri}/cfg/config.json")
local = mlflow.artifacts.download_artifacts(run_id=runs[0], artifact_path="files")
out["downloaded"] = open(os.path.join(local, "data.csv")).read()

found = mlflow.search_runs([exp_id], filter_string="params.model = 'rf'", order_by=["metrics.acc DESC"])
out["search_rf"] = list(found["run_id"])
out["search_name"] = [r.info.run_id for r in c.search_runs([exp_id], "attributes.run_name = 'r1'")]
out["search_bare"] = [r.info.run_id for r in c.search_runs([exp_id], "status = 'FINISHED' and metrics.loss > 0.19")]
page = c.search_runs([exp_id], "tags.team = 'vision'", max_results=2, order_by=["attributes.start_time ASC"])
rest = c.search_runs([exp_id], "tags.team = 'vision'", max_results=2, order_by=["attributes.start_time ASC"],
                     page_token=page.token)
out["pages"] = [[r.info.run_id for r in page], [r.info.run_id for r in rest], rest.token]
out["is_null"] = [len(c.search_runs([exp_id], "tags.drop IS NULL")),
                  len(c.search_runs([exp_id], "params.nothing IS NOT NULL"))]
out["search_or"] = code(lambda: c.search_runs([exp_id], "metrics.acc > 0.5 or params.model = 'rf'"))
out["search_metric_string"] = code(lambda: c.search_runs([exp_id], "metrics.acc = 'x'"))
out["ended_run_write"] = code(lambda: c.log_metric(runs[0], "late", 1.0))
out["unknown_run"] = code(lambda: c.get_run("0" * 32))

c.delete_run(runs[1])
out["after_delete"] = sorted(r.info.run_id for r in c.search_runs([exp_id]))
c.restore_run(runs[1])
out["after_restore"] = len(c.search_runs([exp_id]))

other = c.create_experiment("mlflow-tmp")
c.delete_experiment(other)
out["deleted_stage"] = c.get_experiment(other).lifecycle_stage
c.restore_experiment(other)
out["experiments_like"] = sorted(e.name for e in mlflow.search_experiments(filter_string="name LIKE 'mlflow-%'"))
out["by_name"] = c.get_experiment_by_name("mlflow-e2e").experiment_id

loose = c.create_run(other, run_name="failing")
c.log_batch(loose.info.run_id, metrics=[mlflow.entities.Metric("m", 1.5, 1000, 0)],
            params=[mlflow.entities.Param("p", "1")], tags=[mlflow.entities.RunTag("t", "1")])
out["param_conflict"] = code(lambda: c.log_param(loose.info.run_id, "p", "2"))
c.set_terminated(loose.info.run_id, "FAILED")
out["loose"] = [loose.info.run_id, c.get_run(loose.info.run_id).info.status]
with mlflow.start_run(experiment_id=other, run_name="parent") as parent:
    with mlflow.start_run(run_name="child", nested=True) as child:
        pass
out["nested"] = [parent.info.run_id, child.info.run_id]
default = c.create_run("0")
out["default_experiment"] = c.get_experiment(default.info.experiment_id).name
out["quiet_run"] = default.info.run_id

X = np.array([[0.0], [1.0], [2.0], [3.0]])
y = np.array([0, 0, 1, 1])
with mlflow.start_run(run_name="model") as run:
    info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", input_example=X[:2],
                                    pip_requirements=["scikit-learn"])
out["model_run"] = run.info.run_id
out["model_id"] = info.model_id
out["model_files"] = sorted(f.path for f in c.list_artifacts(run.info.run_id, "model"))
out["logged_model"] = [c.get_logged_model(info.model_id).status, c.get_logged_model(info.model_id).name]
out["pred_model_id"] = mlflow.pyfunc.load_model(info.model_uri).predict(X).tolist()
out["pred_runs_uri"] = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model").predict(X).tolist()

mv = mlflow.register_model(info.model_uri, "clf")
out["registered"] = [mv.version, mv.status]
c.set_registered_model_alias("clf", "champion", mv.version)
out["pred_alias"] = mlflow.pyfunc.load_model("models:/clf@champion").predict(X).tolist()
out["pred_version"] = mlflow.sklearn.load_model("models:/clf/1").predict(X).tolist()
c.set_registered_model_tag("clf", "team", "vision")
c.update_registered_model("clf", description="a classifier")
c.set_model_version_tag("clf", "1", "stage", "qa")
c.update_model_version("clf", "1", description="first")
model = c.get_registered_model("clf")
out["model"] = [model.tags, model.description, model.aliases]
version = c.get_model_version("clf", "1")
out["version"] = [version.tags, version.description, list(version.aliases), version.run_id]
out["download_uri"] = c.get_model_version_download_uri("clf", "1")
out["by_alias"] = c.get_model_version_by_alias("clf", "champion").version
out["searched_models"] = [m.name for m in c.search_registered_models()]
mv2 = mlflow.register_model(f"runs:/{run.info.run_id}/model", "clf")
out["searched_versions"] = sorted(v.version for v in c.search_model_versions("name='clf'"))
c.delete_registered_model_alias("clf", "champion")
c.delete_model_version("clf", mv2.version)
c.delete_model_version_tag("clf", "1", "stage")
c.delete_registered_model_tag("clf", "team")
out["after_deletes"] = [c.get_registered_model("clf").tags, c.get_model_version("clf", "1").tags,
                        sorted(v.version for v in c.search_model_versions("name='clf'"))]
out["rename"] = code(lambda: c.rename_registered_model("clf", "clf2"))
out["stage"] = code(lambda: c.transition_model_version_stage("clf", "1", "Production"))
print(json.dumps(out))
"""
)


def _mlflow(script: str, server: ServerProcess, tmp_path: Path, token: str | None = None) -> dict[str, Any]:
    env = {**QUIET, "MLFLOW_TRACKING_URI": server.url}
    if token is not None:
        env["MLFLOW_TRACKING_TOKEN"] = token
    done = run_mlflow(script, env=env, cwd=tmp_path)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "assay.db")
    url: str = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def server(store: str, tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path, store, str(tmp_path / "artifacts"), env={"ASSAY_SYSTEM_METRICS": "0"})
    proc.start()
    yield proc
    proc.stop()


def test_the_mlflow_client_tracks_and_registers_into_assay(
    server: ServerProcess, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    out = _mlflow(TRACKING, server, tmp_path)
    r0, r1, r2 = out["runs"]

    # What MLflow's client read back.
    assert out["duplicate_experiment"] == "RESOURCE_ALREADY_EXISTS"
    assert out["experiment_tag"] == "NOT_IMPLEMENTED"
    assert out["r0"]["status"] == "FINISHED" and out["r0"]["name"] == "r0" and out["r0"]["end_time"]
    assert out["r0"]["metrics"] == {"loss": 0.2, "acc": 0.5}
    assert out["r0"]["params"] == {"model": "rf", "i": "0", "lr": "0.1"}
    assert out["r0"]["tags"] == {"team": "vision"}
    assert out["r0"]["artifact_uri"] == f"mlflow-artifacts:/{out['exp_id']}/{r0}/artifacts"
    assert out["r0"]["datasets"][0][0] == "train" and out["r0"]["datasets"][0][2] == ["training"]
    assert out["history"] == [[s, 1.0 / (s + 1)] for s in range(5)]
    assert out["artifacts"] == ["cfg", "files", "notes", "plots"]
    assert out["notes"] == ["notes/hello.txt"] and out["hello"] == "hello"
    assert out["config"] == {"depth": 3} and out["downloaded"] == "a,b\n1,2\n"
    assert out["search_rf"] == [r2, r0]
    assert out["search_name"] == [r1]
    assert out["search_bare"] == [r0]  # last losses: 1/5, 1/6, 1/7
    assert out["pages"][0] == [r0, r1] and out["pages"][1] == [r2] and out["pages"][2] is None
    assert out["is_null"] == [3, 0]
    assert out["search_or"] == out["search_metric_string"] == "INVALID_PARAMETER_VALUE"
    assert out["param_conflict"] == out["ended_run_write"] == "INVALID_PARAMETER_VALUE"
    assert out["unknown_run"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["after_delete"] == sorted([r0, r2]) and out["after_restore"] == 3
    assert out["deleted_stage"] == "deleted"
    assert out["experiments_like"] == ["mlflow-e2e", "mlflow-tmp"]
    assert out["by_name"] == out["exp_id"]
    assert out["loose"][1] == "FAILED"
    assert out["default_experiment"] == "Default"
    assert "model/MLmodel" in out["model_files"] and len(out["model_files"]) == len(set(out["model_files"]))
    assert out["logged_model"] == ["READY", "model"]
    predictions = [0, 0, 1, 1]
    assert (
        out["pred_model_id"]
        == out["pred_runs_uri"]
        == out["pred_alias"]
        == out["pred_version"]
        == predictions
    )
    assert out["registered"] == ["1", "READY"]
    assert out["model"] == [{"team": "vision"}, "a classifier", {"champion": "1"}]
    assert out["version"] == [{"stage": "qa"}, "first", ["champion"], out["model_run"]]
    assert out["download_uri"].endswith(f"/{out['model_run']}/models/model")
    assert out["by_alias"] == "1" and out["searched_models"] == ["clf"]
    assert out["searched_versions"] == ["1", "2"]
    assert out["after_deletes"] == [{}, {}, ["1"]]
    assert out["rename"] == out["stage"] == "NOT_IMPLEMENTED"

    # The same, read through assay's own client: ordinary assay runs, models and datasets.
    client = Client(server.url)
    request.addfinalizer(reset_sdk)  # closes the client's connections
    run = client.get_run(r0)
    assert run.info.status is RunStatus.FINISHED and run.info.name == "r0"
    assert dict(run.params) == {"model": "rf", "i": "0", "lr": "0.1"}
    assert (
        run.metrics == {"loss": 0.2, "acc": 0.5} and run.tags["team"] == "vision" and "drop" not in run.tags
    )
    assert client.get_metric_history(r0, "loss").steps.tolist() == [0, 1, 2, 3, 4]
    assert client.read_artifact(r0, "notes/hello.txt") == b"hello"
    assert client.read_artifact(r0, "plots/line.png").startswith(b"\x89PNG")
    assert [
        r.info.run_id
        for r in client.search_runs([out["exp_id"]], "params.model = 'rf'", ["metrics.acc desc"])
    ] == [
        r2,
        r0,
    ]
    assert [u.dataset.name for u in client.registry.run_datasets(r0)] == ["train"]
    quiet = client.get_run(out["quiet_run"])
    assert quiet.info.status is RunStatus.RUNNING and quiet.info.heartbeat_at is None  # never reaped
    assert client.get_run(out["loose"][0]).info.status is RunStatus.FAILED
    assert client.get_run(out["nested"][1]).info.parent_run_id == out["nested"][0]
    version = client.registry.get_version("clf", 1)
    assert version.run_id == out["model_run"] and version.source == f"runs:/{out['model_run']}/model"
    assert version.flavor == "mlflow" and version.description == "first"
    assert b"sklearn" in client.read_artifact(out["model_run"], "model/MLmodel")


AUTH = (
    PRELUDE
    + """
tokens = json.loads(os.environ["TOKENS"])
os.environ["MLFLOW_TRACKING_TOKEN"] = tokens["ada"]
exp = c.create_experiment("vision-exp", tags={"assay.project": "vision"})
run = c.create_run(exp, run_name="by-ada")
rid = run.info.run_id
c.log_param(rid, "lr", "0.1")
c.log_metric(rid, "loss", 0.5, step=1)
c.log_text(rid, "ok", "notes.txt")
c.set_terminated(rid)
out["ada_default_project"] = code(lambda: c.create_experiment("in-default"))
os.environ["MLFLOW_TRACKING_TOKEN"] = tokens["bob"]
out["bob_reads"] = [c.get_run(rid).data.metrics, len(c.search_runs([exp])),
                    mlflow.artifacts.load_text(f"runs:/{rid}/notes.txt")]
out["bob_writes"] = [code(lambda: c.log_metric(rid, "loss", 0.1)), code(lambda: c.create_run(exp)),
                     code(lambda: c.set_tag(rid, "k", "v")), code(lambda: c.log_text(rid, "no", "x.txt"))]
del os.environ["MLFLOW_TRACKING_TOKEN"]
out["anonymous"] = [code(lambda: c.get_run(rid)), code(lambda: c.search_experiments())]
out["run"] = rid
print(json.dumps(out))
"""
)


def test_roles_apply_to_the_mlflow_client_as_to_assay_s_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, artifacts = str(tmp_path / "assay.db"), str(tmp_path / "artifacts")
    services = build_services(db, artifacts)
    access = services.authorizer
    assert isinstance(access, AccessService)
    admin = access.scoped()
    root = access.create_user("root", is_admin=True).secret
    tokens = {name: admin.create_user(name).secret for name in ("ada", "bob")}
    admin.create_project("vision")
    admin.set_member("vision", "ada", Role.EDITOR)
    admin.set_member("vision", "bob", Role.VIEWER)
    services.close()
    server = ServerProcess(tmp_path, db, artifacts, ["--auth"], env={"ASSAY_SYSTEM_METRICS": "0"})
    server.start()
    try:
        env = {**QUIET, "MLFLOW_TRACKING_URI": server.url, "TOKENS": json.dumps(tokens)}
        out = json.loads(run_mlflow(AUTH, env=env, cwd=tmp_path).stdout.strip().splitlines()[-1])
        assert out["ada_default_project"] == "PERMISSION_DENIED"  # an editor of "vision" only
        assert out["bob_reads"] == [{"loss": 0.5}, 1, "ok"]
        assert out["bob_writes"] == ["PERMISSION_DENIED"] * 4
        assert out["anonymous"] == ["UNAUTHENTICATED"] * 2
        monkeypatch.setenv("ASSAY_TRACKING_TOKEN", root)
        got = Client(server.url).get_run(out["run"])
        reset_sdk()
        assert got.info.user == "ada"  # the token's user, whatever the client's OS user is
        assert got.metrics == {"loss": 0.5} and got.info.status is RunStatus.FINISHED
    finally:
        server.stop()
