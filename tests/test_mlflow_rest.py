"""MLflow's REST API on assay, below the MLflow client: the filter translation (pure), MLflow's error shape
and status codes through the real app (TestClient), the walk of every MLflow route for 401/403, and runs
made through the API never being reaped.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.embedded.access import AccessService
from assay.entities import Experiment, RunStatus
from assay.mlflow.rest import create_mlflow_app
from assay.mlflow.rest.errors import MlflowError
from assay.mlflow.rest.filters import (
    TIE_BREAKERS,
    parse_experiment_filter,
    parse_experiment_order,
    run_filter,
    run_order,
    sort_experiments,
)
from assay.server.app import create_app
from assay.server.main import build_services
from assay.services import Services
from assay.web.auth import request_services

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

A = "/api/2.0/mlflow"


# ---- filters (pure) ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mlflow", "assay"),
    [
        ("metrics.acc > 0.9 and params.model = 'rf'", "metrics.acc > 0.9 and params.model = 'rf'"),
        ("status = 'FINISHED'", "attributes.status = 'FINISHED'"),
        ("attributes.user_id = 'ada'", "attributes.user = 'ada'"),
        ("attr.created > 5", "attributes.start_time > 5"),
        ("run_name LIKE 'r%'", "attributes.name LIKE 'r%'"),
        ("parameter.lr = '0.1' AND tag.team != 'x'", "params.lr = '0.1' AND tags.team != 'x'"),
        ("metrics.`my loss` < 1", "metrics.`my loss` < 1"),
        ('tags."mlflow.runName" = "and status"', 'tags."mlflow.runName" = "and status"'),
        ("attributes.run_id IN ('a', 'b')", "attributes.run_id IN ('a', 'b')"),
        ("datasets.name = 'train'", "datasets.name = 'train'"),
        (
            "params.lr IS NULL and tags.`my tag` is not null",
            "not (params.lr like '%') and tags.`my tag` like '%'",
        ),
        ("", None),
    ],
)
def test_mlflow_run_filters_become_assay_filters(mlflow: str, assay: str | None) -> None:
    assert run_filter(mlflow) == assay


@pytest.mark.parametrize(
    ("mlflow", "code", "says"),
    [
        ("metrics.a > 1 or metrics.b > 1", "INVALID_PARAMETER_VALUE", "AND only"),
        ("not metrics.a > 1", "INVALID_PARAMETER_VALUE", "AND only"),
        ("metrics.acc = 'x'", "INVALID_PARAMETER_VALUE", "numeric value"),
        ("params.lr = 0.1", "INVALID_PARAMETER_VALUE", "quoted string"),
        ("params.lr IN ('1')", "INVALID_PARAMETER_VALUE", "run_id"),
        ("metrics.acc LIKE 'x'", "INVALID_PARAMETER_VALUE", "comparator"),
        ("start_time = 'x'", "INVALID_PARAMETER_VALUE", "numeric"),
        ("foo.bar = 'x'", "INVALID_PARAMETER_VALUE", "entity type"),
        ("attributes.colour = 'x'", "INVALID_PARAMETER_VALUE", "attribute key"),
        ("metrics.acc >", "INVALID_PARAMETER_VALUE", "Invalid filter"),
        ("metrics.acc IS NULL", "INVALID_PARAMETER_VALUE", "only supported for tags and params"),
        ("params.lr IS 3", "INVALID_PARAMETER_VALUE", "NULL or NOT NULL"),
        ("attributes.artifact_uri = 'x'", "NOT_IMPLEMENTED", "artifact_uri"),
    ],
)
def test_what_mlflow_refuses_is_refused(mlflow: str, code: str, says: str) -> None:
    with pytest.raises(MlflowError) as caught:
        run_filter(mlflow)
    assert caught.value.code == code and says in caught.value.message


def test_orders_get_mlflow_s_tie_breakers() -> None:
    assert run_order([]) == list(TIE_BREAKERS)
    assert run_order(["metrics.acc DESC"]) == ["metrics.acc DESC", *TIE_BREAKERS]
    assert run_order(["start_time"]) == ["attributes.start_time", "attributes.run_id asc"]
    with pytest.raises(MlflowError, match="order_by"):
        run_order(["metrics.acc sideways"])


def test_experiment_filters_and_orders() -> None:
    exps = [
        Experiment("1", "vision-a", "", created_at=10),
        Experiment("2", "Vision-b", "", created_at=30),
        Experiment("3", "text", "", created_at=20),
    ]
    match = parse_experiment_filter("name ILIKE 'vision%' and creation_time > 15")
    assert [e.name for e in exps if match(e)] == ["Vision-b"]
    match = parse_experiment_filter("name = 'text'")
    assert [e.name for e in exps if match(e)] == ["text"]
    ordered = list(exps)
    sort_experiments(ordered, parse_experiment_order([]))
    assert [e.experiment_id for e in ordered] == ["2", "3", "1"]  # newest first
    sort_experiments(ordered, parse_experiment_order(["name ASC"]))
    assert [e.name for e in ordered] == ["Vision-b", "text", "vision-a"]
    with pytest.raises(MlflowError) as caught:
        parse_experiment_filter("tags.k = 'v'")
    assert caught.value.code == "NOT_IMPLEMENTED"
    with pytest.raises(MlflowError, match="Invalid clause"):
        parse_experiment_filter("name ~ 'x'")


# ---- the routes, through the real app ----------------------------------------------------------------------


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = build_services(str(tmp_path / "assay.db"), str(tmp_path / "artifacts"))
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), base_url="http://127.0.0.1") as c:
        yield c


def _error(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == code, body
    return str(body["message"])


def test_failures_answer_in_mlflow_s_shape(client: TestClient) -> None:
    exp = client.post(f"{A}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    run = client.post(f"{A}/runs/create", json={"experiment_id": exp}).json()["run"]["info"]["run_id"]
    _error(client.get(f"{A}/runs/get", params={"run_id": "f" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(client.post(f"{A}/experiments/create", json={"name": "e"}), 400, "RESOURCE_ALREADY_EXISTS")
    assert "run_id" in _error(client.get(f"{A}/runs/get"), 400, "INVALID_PARAMETER_VALUE")
    _error(client.post(f"{A}/runs/log-metric", content=b"{not json"), 400, "INVALID_PARAMETER_VALUE")
    bad_value = {"run_id": run, "key": "m", "value": "high", "timestamp": 1}
    assert "number" in _error(
        client.post(f"{A}/runs/log-metric", json=bad_value), 400, "INVALID_PARAMETER_VALUE"
    )
    client.post(f"{A}/runs/log-parameter", json={"run_id": run, "key": "p", "value": "1"})
    changed = client.post(f"{A}/runs/log-parameter", json={"run_id": run, "key": "p", "value": "2"})
    _error(changed, 400, "INVALID_PARAMETER_VALUE")
    search = {"experiment_ids": [exp], "filter": "metrics.a > 1 or metrics.b > 2"}
    _error(client.post(f"{A}/runs/search", json=search), 400, "INVALID_PARAMETER_VALUE")
    assert "traces" in _error(client.post(f"{A}/traces", json={}), 501, "NOT_IMPLEMENTED")
    _error(client.post(f"{A}/model-versions/transition-stage", json={}), 501, "NOT_IMPLEMENTED")
    _error(client.get("/api/2.0/mlflow-artifacts/artifacts/x/y"), 400, "INVALID_PARAMETER_VALUE")
    # assay's own routes keep assay's shape.
    assert set(client.get(f"/api/v1/runs/{'f' * 32}").json()) == {"error"}


def test_mlflow_s_experiment_0_is_the_default_project_s_default(
    client: TestClient, services: Services
) -> None:
    """Another project may have its own "Default" experiment: MLflow's experiment 0 stays the one of the
    "default" project, never an ambiguity."""
    services.access.create_project("vision")
    theirs = services.tracking.create_experiment("Default", project="vision")
    run = client.post(f"{A}/runs/create", json={"experiment_id": "0"}).json()["run"]
    ours = services.tracking.get_experiment_by_name("Default", project="default")
    assert ours is not None and ours.experiment_id != theirs.experiment_id
    assert services.tracking.get_run(run["info"]["run_id"]).info.experiment_id == ours.experiment_id


def test_experiments_and_runs_are_renamed_as_mlflow_does(client: TestClient, services: Services) -> None:
    exp = client.post(f"{A}/experiments/create", json={"name": "draft"}).json()["experiment_id"]
    client.post(f"{A}/experiments/create", json={"name": "taken"})
    assert client.post(f"{A}/experiments/update", json={"experiment_id": exp, "new_name": "v2"}).json() == {}
    assert services.tracking.get_experiment(exp).name == "v2"
    taken = client.post(f"{A}/experiments/update", json={"experiment_id": exp, "new_name": "taken"})
    _error(taken, 400, "RESOURCE_ALREADY_EXISTS")
    rid = client.post(f"{A}/runs/create", json={"experiment_id": exp}).json()["run"]["info"]["run_id"]
    updated = client.post(f"{A}/runs/update", json={"run_id": rid, "run_name": "better"}).json()
    assert (
        updated["run_info"]["run_name"] == "better" and services.tracking.get_run(rid).info.name == "better"
    )
    client.post(f"{A}/runs/set-tag", json={"run_id": rid, "key": "mlflow.runName", "value": "best"})
    run = services.tracking.get_run(rid)
    assert run.info.name == "best" and run.tags["mlflow.runName"] == "best"


def test_log_batch_and_history_round_trip(client: TestClient, services: Services) -> None:
    exp = client.post(f"{A}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    run = client.post(f"{A}/runs/create", json={"experiment_id": exp, "run_name": "b"}).json()["run"]
    rid = run["info"]["run_id"]
    assert run["info"]["run_name"] == "b" and len(rid) == 32 and int(rid, 16) >= 0
    metrics = [
        {"key": "m", "value": v, "timestamp": 1000 + i, "step": i} for i, v in enumerate([1.0, "NaN", 3])
    ]
    batch = {
        "run_id": rid,
        "metrics": metrics,
        "params": [{"key": "p", "value": "1"}],
        "tags": [{"key": "t"}],
    }
    assert client.post(f"{A}/runs/log-batch", json=batch).json() == {}
    history = client.get(f"{A}/metrics/get-history", params={"run_id": rid, "metric_key": "m"}).json()
    assert [(p["step"], p["value"]) for p in history["metrics"]] == [(0, 1.0), (1, "NaN"), (2, 3.0)]
    paged = client.get(
        f"{A}/metrics/get-history", params={"run_id": rid, "metric_key": "m", "max_results": 2}
    )
    assert len(paged.json()["metrics"]) == 2 and paged.json()["next_page_token"]
    got = services.tracking.get_run(rid)
    assert (
        dict(got.params) == {"p": "1"} and got.tags["t"] == "" and got.metric_summaries["m"].num_points == 3
    )
    other = client.post(f"{A}/runs/create", json={"experiment_id": exp}).json()["run"]["info"]["run_id"]
    client.post(f"{A}/runs/delete", json={"run_id": other})
    views = {}
    for view in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
        found = client.post(f"{A}/runs/search", json={"experiment_ids": [exp], "run_view_type": view}).json()
        views[view] = sorted(r["info"]["run_id"] for r in found["runs"])
    assert views == {"ACTIVE_ONLY": [rid], "DELETED_ONLY": [other], "ALL": sorted([rid, other])}
    too_many = {"run_id": rid, "params": [{"key": f"k{i}", "value": "v"} for i in range(101)]}
    _error(client.post(f"{A}/runs/log-batch", json=too_many), 400, "INVALID_PARAMETER_VALUE")


def test_runs_made_through_the_api_are_never_reaped(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = services.tracking.create_experiment("e")
    rid = client.post(f"{A}/runs/create", json={"experiment_id": exp.experiment_id}).json()["run"]["info"][
        "run_id"
    ]
    sdk_run = services.tracking.create_run(exp.experiment_id)
    monkeypatch.setenv("ASSAY_HEARTBEAT_TIMEOUT", "0.001")
    time.sleep(0.01)  # past the timeout: a run with a heartbeat is stale now
    assert services.tracking.get_run_info(sdk_run.run_id).status is RunStatus.KILLED
    quiet = services.tracking.get_run_info(rid)
    assert quiet.status is RunStatus.RUNNING and quiet.heartbeat_at is None
    client.post(f"{A}/runs/update", json={"run_id": rid, "status": "FINISHED", "end_time": 5000})
    ended = services.tracking.get_run_info(rid)
    assert ended.status is RunStatus.FINISHED and ended.end_time == 5000


# ---- the walk over every MLflow route ----------------------------------------------------------------------


def _depends_on(dependant: Any, call: Any) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


def _mlflow_routes(services: Services) -> list[tuple[str, str]]:
    """(method, path) of every MLflow route, each checked to take ``Svc`` (the services bound to the caller)."""
    from fastapi.routing import iter_route_contexts

    app = create_mlflow_app(services, auth=True)
    found = []
    for route in iter_route_contexts(app.routes):
        assert route.dependant is not None and _depends_on(route.dependant, request_services), (
            f"{route.path} takes no `svc: Svc`"
        )
        path = (
            str(route.path)
            .replace(":path}", "}")
            .format(path="1/r/artifacts/a.txt", model_id="m-r-1", key="k")
        )
        found += [(m, path) for m in sorted(route.methods or ())]
    return found


def test_every_mlflow_route_needs_a_token_and_a_role(services: Services) -> None:
    access = services.authorizer
    assert isinstance(access, AccessService)
    admin = access.scoped()
    outsider = admin.create_user("otto").secret
    admin.create_project("vision")
    exp = services.tracking.create_experiment("seg", project="vision")
    run = services.tracking.create_run(exp.experiment_id)
    routes = _mlflow_routes(services)
    assert len(routes) >= 40
    bad = []
    with TestClient(create_app(services, auth=True)) as client:
        for method, path in routes:
            for prefix in ("/api/2.0", "/api/3.0"):
                r = client.request(method, prefix + path, headers={"Accept": "application/json"})
                if r.status_code != 401 or r.json().get("error_code") != "UNAUTHENTICATED":
                    bad.append(f"{method} {prefix}{path} without a token: {r.status_code} {r.text[:100]}")
        # Someone with no role in "vision" reads nothing of it and writes nothing to it.
        auth = {"Authorization": f"Bearer {outsider}"}
        rid, eid = run.run_id, exp.experiment_id
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", f"{A}/runs/get", {"params": {"run_id": rid}}),
            ("GET", f"{A}/experiments/get", {"params": {"experiment_id": eid}}),
            (
                "POST",
                f"{A}/runs/log-metric",
                {"json": {"run_id": rid, "key": "m", "value": 1, "timestamp": 1}},
            ),
            ("POST", f"{A}/runs/create", {"json": {"experiment_id": eid}}),
            ("POST", f"{A}/runs/search", {"json": {"experiment_ids": [eid]}}),
            ("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{eid}/{rid}/artifacts/a.txt", {"content": b"x"}),
            ("GET", "/api/2.0/mlflow-artifacts/artifacts", {"params": {"path": f"{eid}/{rid}/artifacts"}}),
        ]
        for method, path, kwargs in calls:
            r = client.request(method, path, headers=auth, **kwargs)
            if r.status_code != 403 or r.json().get("error_code") != "PERMISSION_DENIED":
                bad.append(f"{method} {path} as an outsider: {r.status_code} {r.text[:100]}")
    assert not bad, "\n".join(bad)
    assert services.tracking.get_run(run.run_id).metric_summaries == {}  # nothing was written
