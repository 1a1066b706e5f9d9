"""The REST API in-process: every route's happy path, the error shape and statuses, and the OpenAPI document.

A real app over a real TrackingService on SQLite in tmp_path, driven by FastAPI's TestClient. Every request
goes through ``Recorder``, which notes the route each successful request reached; the last test fails if
a route under /api/v1 was never reached, so a new route cannot land without a test.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import msgpack
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import Message, Receive, Scope, Send

from assay import wire
from assay.embedded.tracking import TrackingService
from assay.entities import NewRun, Run, RunEnd, RunStatus, SeriesBatch, WriteBatch
from assay.errors import AssayError, Conflict, InvalidInput, InvalidState, MissingDependency, NotFound
from assay.server.app import API_PREFIX, create_app
from assay.server.artifacts import SMALL
from assay.server.main import build_services
from assay.services import Services

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient; the project runs on httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

#: (method, endpoint function) of every request that succeeded, filled by Recorder.
HITS: set[tuple[str, object]] = set()
MSGPACK = {"Content-Type": wire.MSGPACK}


class Recorder:
    """ASGI wrapper noting which route served each successful request (the router sets scope["route"])."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_and_note)
        route = scope.get("route")
        if isinstance(route, APIRoute) and status < 400:
            HITS.add((scope["method"], route.endpoint))


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    found = build_services(str(tmp_path / "store" / "assay.db"), str(tmp_path / "artifacts"))
    yield found
    found.close()


@pytest.fixture
def service(services: Services) -> TrackingService:
    assert isinstance(services.tracking, TrackingService)
    return services.tracking


@pytest.fixture
def api(services: Services) -> Iterator[TestClient]:
    with TestClient(Recorder(create_app(services)), base_url="http://127.0.0.1") as client:
        yield client


def _error(r: httpx.Response, status: int, code: str) -> str:
    """Check ``r`` is an error in the API's shape; return its message."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert "Traceback" not in r.text
    return str(body["error"]["message"])


def api_routes(app: FastAPI) -> dict[tuple[str, str], object]:
    """(method, path) -> endpoint function of every route under /api/v1, walking included routers."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI >= 0.16x keeps routers nested
    except ImportError:
        routes: list[Any] = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    return {
        (method, r.path): r.endpoint
        for r in routes
        if (r.path or "").startswith(API_PREFIX)
        for method in r.methods or ()
    }


def _experiment(api: TestClient, name: str = "e") -> str:
    r = api.post(f"{API_PREFIX}/experiments", json={"name": name})
    assert r.status_code == 201, r.text
    return str(r.json()["experiment_id"])


def _run(api: TestClient, eid: str, **body: object) -> str:
    r = api.post(f"{API_PREFIX}/runs", json={"experiment_id": eid, **body})
    assert r.status_code == 201, r.text
    return str(r.json()["run_id"])


# ---- server ---------------------------------------------------------------------------------------------


def test_health_and_openapi_lists_every_route(api: TestClient, services: Services) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    doc = api.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routes = api_routes(create_app(services))
    assert len(routes) >= 20
    assert {(m, p.replace(":path", "")) for m, p in routes} <= documented
    history = doc["paths"][f"{API_PREFIX}/runs/{{run_id}}/metrics/{{key}}/history"]["get"]
    assert wire.MSGPACK in history["responses"]["200"]["content"]
    assert wire.MSGPACK in doc["paths"][f"{API_PREFIX}/ingest"]["post"]["requestBody"]["content"]


# ---- experiments ----------------------------------------------------------------------------------------


def test_experiment_routes(api: TestClient) -> None:
    eid = _experiment(api, "churn")
    msg = _error(api.post(f"{API_PREFIX}/experiments", json={"name": "churn"}), 409, "CONFLICT")
    assert msg.startswith("an experiment named 'churn' already exists in project 'default': use it")
    assert api.get(f"{API_PREFIX}/experiments/{eid}").json()["name"] == "churn"
    by_name = api.get(f"{API_PREFIX}/experiments/by-name", params={"name": "churn"}).json()
    assert by_name["experiment_id"] == eid and by_name["lifecycle"] == "active"
    _error(api.get(f"{API_PREFIX}/experiments/by-name", params={"name": "nope"}), 404, "NOT_FOUND")
    assert [e["name"] for e in api.get(f"{API_PREFIX}/experiments").json()["experiments"]] == ["churn"]
    assert api.delete(f"{API_PREFIX}/experiments/{eid}").status_code == 204
    assert api.get(f"{API_PREFIX}/experiments").json()["experiments"] == []
    listed = api.get(f"{API_PREFIX}/experiments", params={"include_deleted": True}).json()["experiments"]
    assert [e["lifecycle"] for e in listed] == ["deleted"]
    msg = _error(api.post(f"{API_PREFIX}/runs", json={"experiment_id": eid}), 409, "INVALID_STATE")
    assert "is deleted" in msg
    assert api.post(f"{API_PREFIX}/experiments/{eid}/restore").status_code == 204
    assert api.patch(f"{API_PREFIX}/experiments/{eid}", json={"name": "renamed"}).status_code == 204
    assert api.get(f"{API_PREFIX}/experiments/{eid}").json()["name"] == "renamed"
    assert len(api.get(f"{API_PREFIX}/experiments").json()["experiments"]) == 1
    _error(api.get(f"{API_PREFIX}/experiments/abc"), 404, "NOT_FOUND")


# ---- runs -------------------------------------------------------------------------------------------------


def test_run_routes(api: TestClient) -> None:
    eid = _experiment(api)
    rid = _run(api, eid, name="rf", params={"lr": "0.1"}, tags={"team": "vision"}, run_id="a" * 32)
    assert rid == "a" * 32
    run = api.get(f"{API_PREFIX}/runs/{rid}").json()
    assert run["info"]["name"] == "rf" and run["info"]["status"] == "RUNNING"
    assert run["params"] == {"lr": "0.1"} and run["tags"] == {"team": "vision"}
    assert api.get(f"{API_PREFIX}/runs/{rid}/info").json()["run_id"] == rid
    assert api.post(f"{API_PREFIX}/runs/{rid}/params", json={"params": {"depth": "8"}}).status_code == 204
    msg = _error(api.post(f"{API_PREFIX}/runs/{rid}/params", json={"params": {"lr": "0.2"}}), 409, "CONFLICT")
    assert "'lr'" in msg
    assert api.post(f"{API_PREFIX}/runs/{rid}/tags", json={"tags": {"a/b": "1", "c": "2"}}).status_code == 204
    assert api.delete(f"{API_PREFIX}/runs/{rid}/tags/a%2Fb").status_code == 204
    assert api.delete(f"{API_PREFIX}/runs/{rid}/tags/c").status_code == 204
    _error(api.delete(f"{API_PREFIX}/runs/{rid}/tags/c"), 404, "NOT_FOUND")
    assert api.get(f"{API_PREFIX}/runs/{rid}").json()["tags"] == {"team": "vision"}
    assert api.post(f"{API_PREFIX}/runs/heartbeat", json={"run_ids": [rid]}).status_code == 204
    _error(api.post(f"{API_PREFIX}/runs/{rid}/end", json={"status": "RUNNING"}), 400, "INVALID_ARGUMENT")
    assert api.post(f"{API_PREFIX}/runs/{rid}/end", json={"status": "FINISHED"}).status_code == 204
    msg = _error(api.post(f"{API_PREFIX}/runs/{rid}/end", json={"status": "FAILED"}), 409, "INVALID_STATE")
    assert msg == f"run {rid} already ended as FINISHED"
    assert api.delete(f"{API_PREFIX}/runs/{rid}").status_code == 204
    assert api.get(f"{API_PREFIX}/runs/{rid}/info").json()["lifecycle"] == "deleted"
    assert api.post(f"{API_PREFIX}/runs/{rid}/restore").status_code == 204
    assert api.patch(f"{API_PREFIX}/runs/{rid}", json={"name": "renamed run"}).status_code == 204
    assert api.get(f"{API_PREFIX}/runs/{rid}/info").json()["name"] == "renamed run"
    assert api.get(f"{API_PREFIX}/runs/{rid}/info").json()["lifecycle"] == "active"


def test_search_filters_orders_and_pages(api: TestClient, service: TrackingService) -> None:
    eid = _experiment(api)
    accs = [0.3, 0.9, 0.7, 0.8, 0.95]
    ids = [_run(api, eid, params={"model": "rf" if i % 2 == 0 else "gb"}) for i in range(len(accs))]
    service.ingest(
        WriteBatch(
            series=[
                SeriesBatch(r, "acc", np.array([1]), np.array([1]), np.array([a]))
                for r, a in zip(ids, accs, strict=True)
            ]
        )
    )
    body = {
        "experiment_ids": [eid],
        "filter": "metrics.acc > 0.5",
        "order_by": ["metrics.acc DESC"],
        "max_results": 2,
    }
    seen, token = [], None
    while True:
        page = api.post(f"{API_PREFIX}/runs/search", json={**body, "page_token": token}).json()
        seen += [r["metric_summaries"]["acc"]["last"] for r in page["runs"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == [0.95, 0.9, 0.8, 0.7]
    only_rf = api.post(f"{API_PREFIX}/runs/search", json={"filter": "params.model = 'rf'"}).json()["runs"]
    assert {r["info"]["run_id"] for r in only_rf} == {ids[0], ids[2], ids[4]}
    bad = api.post(f"{API_PREFIX}/runs/search", json={"filter": "metrics.acc > 0.5 adn params.x = 'y'"})
    msg = _error(bad, 400, "INVALID_ARGUMENT")
    assert msg.splitlines()[1:] == ["  metrics.acc > 0.5 adn params.x = 'y'", " " * 20 + "^"]
    assert bad.json()["error"]["details"] == {
        "reason": msg.splitlines()[0],
        "text": "metrics.acc > 0.5 adn params.x = 'y'",
        "position": 18,
    }
    _error(api.post(f"{API_PREFIX}/runs/search", json={"page_token": "nope"}), 400, "INVALID_ARGUMENT")


# ---- metrics ---------------------------------------------------------------------------------------------


def test_ingest_then_history_as_json_and_msgpack(api: TestClient) -> None:
    eid = _experiment(api)
    new = NewRun("b" * 32, eid, "fast", 1_700_000_000_000, "me", {"p": "1"}, {"t": "x"})
    values = np.array([0.5, math.nan, math.inf, -math.inf, 2.0])
    steps = np.arange(5, dtype=np.int64)
    batch = WriteBatch(
        new_runs=[new],
        series=[SeriesBatch(new.run_id, "system/cpu_percent", steps, steps + 1_700_000_000_000, values)],
        ends=[RunEnd(new.run_id, RunStatus.FINISHED, 1_700_000_000_100)],
    )
    r = api.post(
        f"{API_PREFIX}/ingest", content=wire.encode_ingest(batch, batch_id="batch-1"), headers=MSGPACK
    )
    assert r.status_code == 204, r.text
    run = api.get(f"{API_PREFIX}/runs/{new.run_id}").json()
    assert run["info"]["status"] == "FINISHED" and run["params"] == {"p": "1"}
    summary = run["metric_summaries"]["system/cpu_percent"]
    assert (summary["last"], summary["min"], summary["max"]) == (2.0, "-Infinity", "Infinity")
    url = f"{API_PREFIX}/runs/{new.run_id}/metrics/system/cpu_percent/history"
    as_json = api.get(url).json()
    assert as_json["key"] == "system/cpu_percent" and as_json["steps"] == [0, 1, 2, 3, 4]
    assert as_json["values"] == [0.5, "NaN", "Infinity", "-Infinity", 2.0]
    packed = api.get(url, headers={"Accept": wire.MSGPACK})
    assert packed.headers["content-type"] == wire.MSGPACK
    h = wire.decode_history(packed.content)
    np.testing.assert_array_equal(h.values, values)
    np.testing.assert_array_equal(h.timestamps, steps + 1_700_000_000_000)
    # the key may also be sent with its slash escaped
    assert api.get(f"{API_PREFIX}/runs/{new.run_id}/metrics/system%2Fcpu_percent/history").json() == as_json
    assert api.get(f"{API_PREFIX}/runs/{new.run_id}/metrics/none/history").json()["values"] == []


def _raw_ingest(api: TestClient, body: object) -> httpx.Response:
    """Post ``body`` packed as is: a way to send what encode_ingest never would."""
    data: bytes = msgpack.packb(body, use_bin_type=True)
    response: httpx.Response = api.post(f"{API_PREFIX}/ingest", content=data, headers=MSGPACK)
    return response


def test_bad_ingest_bodies_are_refused_with_the_reason(api: TestClient) -> None:
    eid = _experiment(api)
    rid = _run(api, eid)
    eight = np.zeros(1).tobytes()
    _error(api.post(f"{API_PREFIX}/ingest", json={"series": []}), 415, "UNSUPPORTED_MEDIA_TYPE")
    msg = _error(
        api.post(f"{API_PREFIX}/ingest", content=b"\xc1\x00", headers=MSGPACK), 400, "INVALID_ARGUMENT"
    )
    assert "not valid msgpack" in msg
    assert "must be a msgpack map" in _error(_raw_ingest(api, [1, 2]), 400, "INVALID_ARGUMENT")
    assert "unknown fields ['serie']" in _error(_raw_ingest(api, {"serie": []}), 400, "INVALID_ARGUMENT")
    short = {"run_id": rid, "key": "m", "steps": eight, "timestamps": eight, "values": b""}
    msg = _error(_raw_ingest(api, {"series": [short]}), 400, "INVALID_ARGUMENT")
    assert msg == "ingest body: series[0] has 1 steps, 1 timestamps and 0 values; they must be as many"
    msg = _error(_raw_ingest(api, {"series": [{**short, "values": b"123"}]}), 400, "INVALID_ARGUMENT")
    assert "series[0].values is 3 bytes" in msg
    msg = _error(_raw_ingest(api, {"series": [{**short, "steps": [1]}]}), 400, "INVALID_ARGUMENT")
    assert "series[0].steps has the wrong type" in msg
    unknown = {**short, "run_id": "c" * 32, "values": eight}
    assert _error(_raw_ingest(api, {"series": [unknown]}), 404, "NOT_FOUND") == f"no run with id {'c' * 32!r}"
    running = {"run_id": rid, "status": "RUNNING", "end_time": 1}
    assert "final status" in _error(_raw_ingest(api, {"ends": [running]}), 400, "INVALID_ARGUMENT")
    assert "not a run status" in _error(
        _raw_ingest(api, {"ends": [{**running, "status": "DONE"}]}), 400, "INVALID_ARGUMENT"
    )
    assert "version 2" in _error(_raw_ingest(api, {"v": 2}), 400, "INVALID_ARGUMENT")
    # nothing of the refused batches was applied
    assert api.get(f"{API_PREFIX}/runs/{rid}").json()["metric_summaries"] == {}


# ---- artifacts -------------------------------------------------------------------------------------------


def test_artifact_routes(api: TestClient) -> None:
    rid = _run(api, _experiment(api))
    base = f"{API_PREFIX}/runs/{rid}/artifacts"
    assert api.put(f"{base}/notes.md", content=b"# notes").status_code == 204
    big = np.random.default_rng(0).bytes(SMALL + 12345)  # takes the streamed path both ways

    def chunks() -> Iterator[bytes]:  # no Content-Length: streamed to a temporary file
        for i in range(0, len(big), 100_000):
            yield big[i : i + 100_000]

    assert api.put(f"{base}/model/weights.bin", content=chunks()).status_code == 204
    assert api.put(f"{base}/model/cfg/a b.json", content=b"{}").status_code == 204
    top = api.get(base).json()["files"]
    assert [(f["path"], f["is_dir"], f["size"]) for f in top] == [
        ("model", True, None),
        ("notes.md", False, 7),
    ]
    model = api.get(base, params={"path": "model"}).json()["files"]
    assert [f["path"] for f in model] == ["model/cfg", "model/weights.bin"]
    assert api.get(f"{base}/notes.md").content == b"# notes"
    got = api.get(f"{base}/model/weights.bin")
    assert got.content == big and got.headers["x-content-type-options"] == "nosniff"
    assert api.get(f"{base}/model/cfg/a%20b.json").content == b"{}"
    assert "has no artifact file 'model'" in _error(api.get(f"{base}/model"), 404, "NOT_FOUND")
    missing = _error(api.get(f"{base}/missing.txt"), 404, "NOT_FOUND")
    # Issue 8, item 10: the message names the run and the run-relative path, never the server's directories.
    assert missing == f"run {rid} has no artifact file 'missing.txt'", missing
    assert "/artifacts" not in missing and "/tmp" not in missing
    msg = _error(api.put(f"{base}/a/%2E%2E/%2E%2E/escape.txt", content=b"x"), 400, "INVALID_ARGUMENT")
    assert "leaves the run's artifact directory" in msg
    _error(api.put(f"{API_PREFIX}/runs/{'d' * 32}/artifacts/x.txt", content=chunks()), 404, "NOT_FOUND")
    assert api.get(base, params={"path": "nothing"}).json() == {"files": []}


# ---- errors ----------------------------------------------------------------------------------------------


class Failing(TrackingService):
    """A real service whose get_run raises what the test asks (to reach every status)."""

    error: BaseException = RuntimeError("secret /var/db/path")

    def get_run(self, run_id: str) -> Run:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NotFound("nope"), 404, "NOT_FOUND"),
        (InvalidInput("bad"), 400, "INVALID_ARGUMENT"),
        (Conflict("clash"), 409, "CONFLICT"),
        (InvalidState("ended"), 409, "INVALID_STATE"),
        (MissingDependency("pip install assay[onnx]"), 501, "MISSING_DEPENDENCY"),
        (AssayError("odd"), 500, "INTERNAL_ERROR"),
    ],
)
def test_error_statuses(
    services: Services, service: TrackingService, error: AssayError, status: int, code: str
) -> None:
    failing = Failing(service.store, service.artifact_root)
    failing.error = error
    with TestClient(create_app(replace(services, tracking=failing)), base_url="http://127.0.0.1") as api:
        assert _error(api.get(f"{API_PREFIX}/runs/x"), status, code) == error.message


def test_unexpected_errors_are_500_without_details(services: Services, service: TrackingService) -> None:
    with TestClient(
        create_app(replace(services, tracking=Failing(service.store, service.artifact_root))),
        raise_server_exceptions=False,
        base_url="http://127.0.0.1",
    ) as api:
        msg = _error(api.get(f"{API_PREFIX}/runs/x"), 500, "INTERNAL_ERROR")
    assert "secret" not in msg and "RuntimeError" in msg


def test_request_errors_share_the_shape(api: TestClient) -> None:
    msg = _error(api.post(f"{API_PREFIX}/runs/search", json={"max_results": "many"}), 422, "INVALID_ARGUMENT")
    assert msg.startswith("invalid request: body.max_results:")
    assert (
        "extra"
        in _error(
            api.post(f"{API_PREFIX}/experiments", json={"name": "x", "nme": 1}), 422, "INVALID_ARGUMENT"
        ).lower()
    )
    _error(
        api.post(
            f"{API_PREFIX}/experiments", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        422,
        "INVALID_ARGUMENT",
    )
    assert "no route for GET /api/v1/nothing" in _error(
        api.get(f"{API_PREFIX}/nothing"), 404, "NO_SUCH_ROUTE"
    )
    _error(api.put(f"{API_PREFIX}/experiments"), 405, "METHOD_NOT_ALLOWED")
    assert (
        _error(api.get(f"{API_PREFIX}/runs/{'0' * 32}"), 404, "NOT_FOUND") == f"no run with id {'0' * 32!r}"
    )


def test_team_routes_as_the_local_admin(api: TestClient) -> None:
    """Without auth the caller is the local admin: users, tokens, projects and members all work."""
    assert api.get(f"{API_PREFIX}/whoami").json() == {
        "user_id": 0,
        "name": "local",
        "is_admin": True,
        "created_at": 0,
    }
    made = api.post(f"{API_PREFIX}/users", json={"name": "ada"})
    assert made.status_code == 201 and made.json()["secret"].startswith("assay_")
    assert [u["name"] for u in api.get(f"{API_PREFIX}/users").json()["users"]] == ["ada"]
    second = api.post(f"{API_PREFIX}/tokens", json={"name": "laptop", "user": "ada"}).json()
    listed = api.get(f"{API_PREFIX}/tokens", params={"user": "ada"}).json()["tokens"]
    assert [t["name"] for t in listed] == ["first", "laptop"]
    assert all("secret" not in t for t in listed)
    revoked = api.delete(f"{API_PREFIX}/tokens/{second['token']['token_id']}").json()
    assert revoked["revoked_at"] is not None
    api.post(f"{API_PREFIX}/tokens", json={"name": "ci", "user": "ada"})
    assert api.delete(f"{API_PREFIX}/tokens", params={"user": "ada"}).json() == {"revoked": 2}
    reset = api.put(f"{API_PREFIX}/users/ada/password", json={"password": "a long passphrase"})
    assert reset.status_code == 204  # an admin resets another's password
    project = api.post(f"{API_PREFIX}/projects", json={"name": "vision"})
    assert project.status_code == 201 and project.json()["name"] == "vision"
    assert {p["name"] for p in api.get(f"{API_PREFIX}/projects").json()["projects"]} == {"default", "vision"}
    member = api.put(f"{API_PREFIX}/projects/vision/members/ada", json={"role": "owner"}).json()
    assert member == {"user": "ada", "role": "owner"}
    api.post(f"{API_PREFIX}/users", json={"name": "bob"})
    api.put(f"{API_PREFIX}/projects/vision/members/bob", json={"role": "viewer"})
    members = api.get(f"{API_PREFIX}/projects/vision/members").json()["members"]
    assert members == [{"user": "ada", "role": "owner"}, {"user": "bob", "role": "viewer"}]
    assert api.delete(f"{API_PREFIX}/projects/vision/members/bob").status_code == 204
    # The last owner stays: the project would be unmanageable.
    assert "last owner" in _error(api.delete(f"{API_PREFIX}/projects/vision/members/ada"), 409, "CONFLICT")
    exp = api.post(f"{API_PREFIX}/experiments", json={"name": "seg", "project": "vision"}).json()
    assert exp["project"] == "vision"
    only = api.get(f"{API_PREFIX}/experiments", params={"project": "vision"}).json()["experiments"]
    assert [e["name"] for e in only] == ["seg"]
    _error(api.post(f"{API_PREFIX}/experiments", json={"name": "x", "project": "nope"}), 404, "NOT_FOUND")
    _error(api.post(f"{API_PREFIX}/projects", json={"name": "bad name!"}), 400, "INVALID_ARGUMENT")


def test_metric_series_is_downsampled_for_drawing(api: TestClient) -> None:
    eid = _experiment(api)
    rid = _run(api, eid)
    n = 10_000
    steps = np.arange(n)
    batch = WriteBatch(
        series=[SeriesBatch(rid, "loss", steps, steps + 1, np.cos(steps / 100.0))], batch_id="s"
    )
    assert (
        api.post(f"{API_PREFIX}/ingest", content=wire.encode_ingest(batch), headers=MSGPACK).status_code
        == 204
    )
    body = api.get(f"{API_PREFIX}/runs/{rid}/metrics/loss/series", params={"max_points": 500}).json()
    assert body["total"] == n and body["downsampled"] and len(body["last"]) == 500
    assert body["steps"][-1] == n - 1 and max(body["max"]) == 1.0
    whole = api.get(f"{API_PREFIX}/runs/{rid}/metrics/loss/series", params={"max_points": 20_000}).json()
    assert not whole["downsampled"] and len(whole["last"]) == n
    _error(
        api.get(f"{API_PREFIX}/runs/{rid}/metrics/loss/series", params={"max_points": 0}),
        422,
        "INVALID_ARGUMENT",
    )


# ---- keep last: every route has a test ---------------------------------------------------------------------


def test_the_registry_api_end_to_end(api: TestClient, service: TrackingService) -> None:
    """Every registry route over raw HTTP, as a client in another language would call it."""
    a = "/api/v1"
    exp = service.create_experiment("reg")
    run = service.create_run(exp.experiment_id)
    service.write_artifact(run.run_id, "model/assay-model.yaml", b"flavor: sklearn\n")
    source = f"runs:/{run.run_id}/model"
    assert (
        api.post(f"{a}/models", json={"name": "churn", "description": "d", "tags": {"t": "1"}}).status_code
        == 201
    )
    assert api.get(f"{a}/models").json()["models"][0]["name"] == "churn"
    assert api.get(f"{a}/models/churn").json()["tags"] == {"t": "1"}
    assert api.patch(f"{a}/models/churn", json={"description": "new"}).json()["description"] == "new"
    assert api.put(f"{a}/models/churn/tags/team%2Fname", json={"value": "x"}).status_code == 204
    assert api.delete(f"{a}/models/churn/tags/team%2Fname").status_code == 204
    created = api.post(f"{a}/models/churn/versions", json={"source": source})
    assert created.status_code == 201 and created.json()["version"] == 1
    api.post(f"{a}/models/churn/versions", json={"source": source})
    m = f"{a}/models/churn"
    assert [v["version"] for v in api.get(f"{m}/versions").json()["versions"]] == [2, 1]
    assert api.get(f"{m}/versions/1").json()["flavor"] == "sklearn"
    assert api.patch(f"{m}/versions/1", json={"description": "v1"}).json()["description"] == "v1"
    assert api.put(f"{m}/versions/1/tags/ok", json={"value": "y"}).status_code == 204
    assert api.delete(f"{m}/versions/1/tags/ok").status_code == 204
    assert api.put(f"{m}/aliases/champion", json={"version": 1, "reason": "r"}).json()["to_version"] == 1
    assert api.get(f"{m}/aliases/champion").json()["version"] == 1
    promoted = api.post(f"{m}/versions/2/promote", json={"alias": "challenger"})
    assert promoted.status_code == 200 and promoted.json()["moved"] is True
    assert api.delete(f"{m}/aliases/challenger", params={"reason": "done"}).json()["from_version"] == 2
    assert len(api.get(f"{m}/audit").json()["events"]) == 3
    policy = api.put(
        f"{a}/alias-policies/default/champion", json={"protected": True, "rule": "metrics.x > 0"}
    )
    assert policy.json()["protected"] is True
    assert api.get(f"{a}/alias-policies").json()["policies"][0]["alias"] == "champion"
    record = api.post(f"{m}/versions/1/performance", json={"metrics": {"auc": 0.9}, "evaluation": "may"})
    assert record.status_code == 201
    assert api.get(f"{m}/performance").json()["records"][-1]["metrics"] == {"auc": 0.9}
    assert api.get(f"{m}/versions/1/metrics").json()["metrics"] == {"auc": 0.9}
    assert api.get(f"{m}/versions/1/lineage").json()["run_id"] == run.run_id
    setting = f"{a}/projects/default/settings/onnx.tolerances"
    assert api.put(setting, json={"probabilities": {"atol": 1e-4}}).status_code == 204
    assert api.get(setting).json() == {"probabilities": {"atol": 1e-4}}
    body = b"\x00onnx\xff"
    assert api.put(f"{m}/versions/1/files/onnx/model.onnx", content=body).status_code == 204
    assert api.get(f"{m}/versions/1/files/onnx/model.onnx").content == body
    assert api.put(f"{m}/versions/1/reports/parity", json={"passed": True}).status_code == 204
    assert api.get(f"{m}/versions/1/reports").json() == {"parity": {"passed": True}}
    used = api.post(
        f"{a}/runs/{run.run_id}/datasets", json={"dataset": {"name": "train", "digest": "xxh3-128:1"}}
    )
    assert used.status_code == 201
    dataset_id = used.json()["dataset"]["dataset_id"]
    assert api.get(f"{a}/runs/{run.run_id}/datasets").json()["uses"][0]["context"] == "training"
    assert api.get(f"{a}/datasets").json()["datasets"][0]["name"] == "train"
    assert api.get(f"{a}/datasets/{dataset_id}").json()["digest"] == "xxh3-128:1"
    assert [v["version"] for v in api.get(f"{a}/datasets/{dataset_id}/usage").json()["versions"]] == [2, 1]
    assert api.delete(f"{m}/versions/2").status_code == 204
    assert api.delete(m).status_code == 204
    assert _error(api.get(m), 404, "NOT_FOUND")


def test_runner_routes(api: TestClient) -> None:
    """The queue as a submitter and a worker see it, job logs, and schedules, through the REST API."""
    import base64

    a = API_PREFIX
    nb = base64.b64encode(b'{"cells": []}').decode()
    spec = {"kind": "notebook", "target": "nb.ipynb", "source_b64": nb, "params": {"lr": 0.1}, "priority": 3}
    job = api.post(f"{a}/jobs", json=spec)
    assert job.status_code == 201 and job.json()["state"] == "QUEUED"
    job_id = job.json()["job_id"]
    assert job.json()["spec"]["source_b64"] is None  # a listing never carries the notebook
    listed = api.get(f"{a}/jobs", params={"state": ["QUEUED"], "project": "default"}).json()["jobs"]
    assert [j["job_id"] for j in listed] == [job_id]
    claimed = api.post(f"{a}/jobs/claim", json={"worker": "w1", "limit": 2, "lease_s": 30}).json()["jobs"]
    assert [j["job_id"] for j in claimed] == [job_id] and claimed[0]["spec"]["source_b64"] == nb
    assert claimed[0]["run_id"] and claimed[0]["attempt"] == 1
    assert api.post(f"{a}/jobs/expire", json={}).json() == {"jobs": []}  # its lease is live
    again = api.post(
        f"{a}/jobs/claim", json={"worker": "w2", "ended": [{"job_id": job_id, "result": "succeeded"}]}
    )
    assert again.json() == {"jobs": []}  # the end is w1's to report: dropped; nothing else is queued
    stops = api.post(f"{a}/jobs/heartbeat", json={"worker": "w1", "job_ids": [job_id], "lease_s": 30})
    assert stops.json() == {"stop": {}}
    assert api.put(f"{a}/jobs/{job_id}/logs/1/0", content=b"hello\n").status_code == 204
    log = api.get(f"{a}/jobs/{job_id}/logs", params={"offset": 0}).json()
    assert base64.b64decode(log["data_b64"]) == b"hello\n" and log["next_offset"] == 6
    assert api.get(f"{a}/jobs/{job_id}").json()["state"] == "RUNNING"
    assert api.post(f"{a}/jobs/{job_id}/cancel").json()["cancel_requested"] is True
    done = api.post(f"{a}/jobs/{job_id}/finish", json={"worker": "w1", "result": "cancelled"})
    assert done.json()["state"] == "CANCELLED"
    lost = api.post(f"{a}/jobs/{job_id}/finish", json={"worker": "w1", "result": "succeeded"})
    assert _error(lost, 409, "INVALID_STATE")
    schedule = {"name": "nightly", "cron": "0 2 * * *", "tz": "Europe/Paris", "job": spec}
    added = api.post(f"{a}/schedules", json=schedule)
    assert added.status_code == 201 and added.json()["next_due_at"] > 0
    assert _error(api.post(f"{a}/schedules", json=schedule), 409, "CONFLICT")
    bad = api.post(f"{a}/schedules", json={**schedule, "name": "x", "cron": "every night"})
    assert "does not parse" in _error(bad, 400, "INVALID_ARGUMENT")
    assert [x["name"] for x in api.get(f"{a}/schedules").json()["schedules"]] == ["nightly"]
    assert api.get(f"{a}/schedules/nightly").json()["tz"] == "Europe/Paris"
    assert api.get(f"{a}/schedules/next-due").json()["next_due_at"] == added.json()["next_due_at"]
    assert api.post(f"{a}/schedules/nightly/pause", json={"paused": True}).json()["paused"] is True
    fired = api.post(f"{a}/schedules/fire", json={"now": added.json()["next_due_at"] + 1}).json()["jobs"]
    assert fired == []  # paused
    assert api.delete(f"{a}/schedules/nightly").status_code == 204
    assert _error(api.get(f"{a}/schedules/nightly"), 404, "NOT_FOUND")


def test_every_api_route_has_a_successful_test(request: pytest.FixtureRequest, services: Services) -> None:
    items = request.session.items
    ran = {getattr(i, "originalname", "") for i in items if getattr(i, "module", None) is request.module}
    if {name for name in vars(request.module) if name.startswith("test_")} - ran:
        pytest.skip("needs the whole module (the other tests record the routes they reach)")
    routes = api_routes(create_app(services))
    assert len(routes) >= 20
    missing = sorted(route for route, endpoint in routes.items() if (route[0], endpoint) not in HITS)
    assert not missing, f"routes with no successful request in tests/test_server.py: {missing}"


def test_the_fast_search_json_is_exactly_the_models() -> None:
    """run_list_json / run_list_from_json write and read what RunListOut does, non-finite numbers included."""
    import orjson

    from assay.api.schemas import RunListOut, run_list_from_json, run_list_json
    from assay.entities import Lifecycle, MetricSummary, RunInfo, RunList

    info = RunInfo(
        "a" * 32, "3", "r", RunStatus.KILLED, 1, 2, "u", "file:///x", Lifecycle.DELETED, "b" * 32, 2
    )
    summaries = {
        k: MetricSummary(k, v, -math.inf, math.inf, 7, 9, 3)
        for k, v in {"acc": 0.5, "nan": math.nan, "big": 1e308}.items()
    }
    runs = RunList([Run(info, {"p": "1"}, {"t": "x"}, summaries)], "tok")
    fast = run_list_json(runs)
    assert orjson.loads(fast) == orjson.loads(RunListOut.of(runs).model_dump_json())
    back = run_list_from_json(fast)
    model = RunListOut.model_validate_json(fast).entity()
    assert back.next_page_token == model.next_page_token == "tok"
    assert back[0].info == model[0].info == info and back[0].params == {"p": "1"}
    got, want = back[0].metric_summaries, model[0].metric_summaries
    assert got.keys() == want.keys() == summaries.keys() and math.isnan(got["nan"].last)
    assert got["acc"] == want["acc"] == summaries["acc"] and got["big"].max == math.inf
    assert run_list_from_json(run_list_json(RunList([]))) == []
