"""Team mode's auth: tokens, roles and projects, and a walk over every route of the app.

The walk builds one request per route from ``SAMPLES`` (a route without a sample fails the test, so a new
route cannot land without deciding its rule) and checks, in an app with auth on:

- without a token, or with a wrong or revoked one: 401 in the error shape, for every route but the public ones;
- with the token of a user holding no role in the project the request touches: 403, reads and writes (a
  registered model named by name: 404, as a model that does not exist, so its project is not revealed);
- with a viewer's token: reads succeed, writes answer 403;
- routes any signed-in user may call (whoami, listing and creating projects) never show another project's data.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from assay import wire
from assay.access import AccessPolicy, Role
from assay.embedded.access import AccessService
from assay.embedded.tracking import TrackingService
from assay.entities import SeriesBatch, WriteBatch
from assay.errors import PermissionDenied
from assay.registry.entities import Dataset
from assay.runner.entities import JobSpec, ScheduleSpec
from assay.server.app import API_PREFIX, create_app
from assay.server.main import build_services
from assay.services import Services
from assay.services.access import Access, LoginLocked
from assay.web.auth import PUBLIC_PATHS, request_services

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@dataclass
class Team:
    """A store with a project "vision" (experiment, run, metric, artifact) and users of each kind."""

    services: Services
    service: TrackingService
    access: AccessService
    tokens: dict[str, str]
    experiment_id: str
    run_id: str
    run_id2: str
    owner_token_id: str
    dataset_id: int
    job_id: str


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    services = build_services(str(tmp_path / "assay.db"), str(tmp_path / "artifacts"))
    service, access = services.tracking, services.authorizer
    assert isinstance(service, TrackingService) and isinstance(access, AccessService)
    admin = access.scoped()
    tokens = {"root": access.create_user("root", is_admin=True).secret}
    for name in ("olga", "edna", "vic", "otto"):
        tokens[name] = admin.create_user(name).secret
    admin.create_project("vision")
    admin.set_member("vision", "olga", Role.OWNER)
    admin.set_member("vision", "edna", Role.EDITOR)
    admin.set_member("vision", "vic", Role.VIEWER)
    admin.create_project("otto-space")
    admin.set_member("otto-space", "otto", Role.OWNER)  # otto holds roles, just none in "vision"
    exp = service.create_experiment("segmentation", project="vision")
    run = service.create_run(exp.experiment_id, name="r1", params={"lr": 0.1}, tags={"t": "x"})
    service.log_series(
        [SeriesBatch(run.run_id, "loss", np.array([0, 1]), np.array([1, 2]), np.array([0.5, 0.4]))]
    )
    service.write_artifact(run.run_id, "a.txt", b"hello")
    service.set_tags(run.run_id, {"assay.notebook": "seg.ipynb"})  # as `assay run seg.ipynb` tags it
    service.set_tags(run.run_id, {"assay.sweep": "grid"})  # and as `assay sweep` tags a parent run
    empty_nb = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    service.write_artifact(run.run_id, "notebook/output.ipynb", empty_nb)
    second = service.create_run(exp.experiment_id, name="r2")
    owner_token = admin.list_tokens("olga")[0].token_id
    # The registry's share of "vision": a model with a version, an alias and a dataset its run used.
    service.write_artifact(run.run_id, "model/assay-model.yaml", b"flavor: sklearn\n")
    services.registry.create_version("seg", f"runs:/{run.run_id}/model")
    services.registry.set_alias("seg", "champion", 1)
    used = services.registry.log_dataset(run.run_id, Dataset(name="train", digest="xxh3-128:00"))
    services.registry.put_version_file("seg", 1, "a.txt", b"onnx")
    # The runner's share: a queued job and a schedule in "vision".
    job = services.jobs.submit(JobSpec("python", "pkg.mod:fn", project="vision"))
    services.jobs.add_schedule(
        ScheduleSpec("seg", "0 2 * * *", JobSpec("python", "pkg.mod:fn", project="vision"))
    )
    yield Team(
        services,
        service,
        access,
        tokens,
        exp.experiment_id,
        run.run_id,
        second.run_id,
        owner_token,
        used.dataset.dataset_id,
        job.job_id,
    )
    services.close()


def _client(team: Team) -> TestClient:
    return TestClient(create_app(team.services, auth=True), raise_server_exceptions=False)


def _ingest_body(run_id: str) -> bytes:
    batch = WriteBatch(
        series=[SeriesBatch(run_id, "loss", np.array([2]), np.array([3]), np.array([0.3]))], batch_id="b1"
    )
    return wire.encode_ingest(batch)


def _samples(team: Team) -> dict[tuple[str, str], dict[str, Any]]:
    """One request per route, touching project "vision". Keys are (method, path template)."""
    a, rid, eid, rid2 = API_PREFIX, team.run_id, team.experiment_id, team.run_id2
    msgpack = {"Content-Type": wire.MSGPACK}
    return {
        ("GET", "/"): {},
        ("GET", "/experiments/{experiment_id}"): {},
        ("GET", "/runs/{run_id}"): {},
        ("GET", "/runs/{run_id}/files"): {"params": {"path": "a.txt"}},
        ("GET", "/runs/{run_id}/raw/{path}"): {},
        ("GET", "/compare"): {"params": {"run": [rid, rid2]}},
        ("GET", f"{a}/runs/{{run_id}}/metrics/{{key}}/series"): {},
        ("GET", f"{a}/experiments"): {"params": {"project": "vision"}},
        ("POST", f"{a}/experiments"): {"json": {"name": "new", "project": "vision"}},
        ("GET", f"{a}/experiments/by-name"): {"params": {"name": "segmentation", "project": "vision"}},
        ("GET", f"{a}/experiments/{{experiment_id}}"): {},
        ("DELETE", f"{a}/experiments/{{experiment_id}}"): {},
        ("POST", f"{a}/experiments/{{experiment_id}}/restore"): {},
        ("PATCH", f"{a}/experiments/{{experiment_id}}"): {"json": {"name": "segmentation-2"}},
        ("POST", f"{a}/runs"): {"json": {"experiment_id": eid}},
        ("POST", f"{a}/runs/search"): {"json": {"experiment_ids": [eid]}},
        ("POST", f"{a}/runs/heartbeat"): {"json": {"run_ids": [rid]}},
        ("GET", f"{a}/runs/{{run_id}}"): {},
        ("GET", f"{a}/runs/{{run_id}}/info"): {},
        ("DELETE", f"{a}/runs/{{run_id}}"): {},
        ("POST", f"{a}/runs/{{run_id}}/restore"): {},
        ("PATCH", f"{a}/runs/{{run_id}}"): {"json": {"name": "r1-renamed"}},
        ("POST", f"{a}/runs/{{run_id}}/params"): {"json": {"params": {"new": "1"}}},
        ("POST", f"{a}/runs/{{run_id}}/tags"): {"json": {"tags": {"k": "v"}}},
        ("DELETE", f"{a}/runs/{{run_id}}/tags/{{key}}"): {},
        ("POST", f"{a}/runs/{{run_id}}/end"): {"json": {"status": "FINISHED"}},
        ("GET", f"{a}/runs/{{run_id}}/metrics/{{key}}/history"): {},
        ("POST", f"{a}/ingest"): {"content": _ingest_body(rid), "headers": msgpack},
        ("GET", f"{a}/runs/{{run_id}}/artifacts"): {},
        ("GET", f"{a}/runs/{{run_id}}/artifacts/{{path}}"): {},
        ("PUT", f"{a}/runs/{{run_id}}/artifacts/{{path}}"): {"content": b"x"},
        ("GET", f"{a}/whoami"): {},
        ("GET", f"{a}/users"): {},
        ("POST", f"{a}/users"): {"json": {"name": "newbie"}},
        ("GET", f"{a}/tokens"): {"params": {"user": "olga"}},
        ("POST", f"{a}/tokens"): {"json": {"user": "olga"}},
        ("DELETE", f"{a}/tokens/{{token_id}}"): {},
        ("DELETE", f"{a}/tokens"): {"params": {"user": "olga"}},
        ("PUT", f"{a}/users/{{user}}/password"): {
            "json": {"password": "a-new-password", "current_password": "not-the-current-one"}
        },
        ("GET", "/account"): {},
        ("POST", "/account/tokens"): {"data": {"name": "from-the-walk"}},
        ("POST", "/account/tokens/{token_id}/revoke"): {},
        ("POST", "/account/password"): {
            "data": {"current_password": "x", "new_password": "12345678", "confirm_password": "12345678"}
        },
        ("GET", f"{a}/projects"): {},
        ("POST", f"{a}/projects"): {"json": {"name": "brand-new"}},
        ("GET", f"{a}/projects/{{project}}/members"): {},
        ("PUT", f"{a}/projects/{{project}}/members/{{user}}"): {"json": {"role": "editor"}},
        ("DELETE", f"{a}/projects/{{project}}/members/{{user}}"): {},
        **_registry_samples(team),
        **_runner_samples(team),
    }


def _runner_samples(team: Team) -> dict[tuple[str, str], dict[str, Any]]:
    a, vision = API_PREFIX, {"project": "vision"}
    spec = {"kind": "python", "target": "pkg.mod:fn", "project": "vision"}
    return {
        ("POST", f"{a}/jobs"): {"json": spec},
        ("GET", f"{a}/jobs"): {"params": vision},
        ("POST", f"{a}/jobs/claim"): {"json": {"worker": "w", "projects": ["vision"]}},
        ("POST", f"{a}/jobs/expire"): {"json": {"projects": ["vision"]}},
        ("POST", f"{a}/jobs/heartbeat"): {"json": {"worker": "w", "job_ids": [team.job_id]}},
        ("GET", f"{a}/jobs/{{job_id}}"): {},
        ("POST", f"{a}/jobs/{{job_id}}/cancel"): {},
        ("POST", f"{a}/jobs/{{job_id}}/finish"): {"json": {"worker": "w", "result": "succeeded"}},
        ("PUT", f"{a}/jobs/{{job_id}}/logs/{{attempt}}/{{offset}}"): {"content": b"out"},
        ("GET", f"{a}/jobs/{{job_id}}/logs"): {},
        ("POST", f"{a}/schedules"): {"json": {"name": "new", "cron": "0 3 * * *", "job": spec}},
        ("GET", f"{a}/schedules"): {"params": vision},
        ("POST", f"{a}/schedules/fire"): {"json": {"projects": ["vision"]}},
        ("GET", f"{a}/schedules/next-due"): {"params": vision},
        ("GET", f"{a}/schedules/{{name}}"): {"params": vision},
        ("POST", f"{a}/schedules/{{name}}/pause"): {"params": vision, "json": {"paused": True}},
        ("DELETE", f"{a}/schedules/{{name}}"): {"params": vision},
        ("GET", "/jobs"): {},
        ("GET", "/jobs/{job_id}"): {},
        ("GET", "/jobs/{job_id}/log"): {},
        ("POST", "/jobs/{job_id}/cancel"): {},
        ("GET", "/schedules"): {},
        ("POST", "/schedules/{project}/{name}/pause"): {},
        ("POST", "/schedules/{project}/{name}/resume"): {},
        ("POST", "/notebooks/launch"): {"data": {"source": "seg.ipynb"}},
    }


def _registry_samples(team: Team) -> dict[tuple[str, str], dict[str, Any]]:
    a, m = API_PREFIX, f"{API_PREFIX}/models/{{name}}"
    v = m + "/versions/{version}"
    dataset = {"name": "eval", "digest": "xxh3-128:01"}
    return {
        ("GET", "/notebooks"): {},
        ("GET", "/notebooks/view"): {"params": {"source": "seg.ipynb"}},
        ("GET", "/runs/{run_id}/notebook"): {},
        ("GET", "/runs/{run_id}/sweep"): {},
        ("GET", "/runs/{run_id}/notebook/html"): {},
        ("GET", "/notebooks/compare"): {"params": {"run": [team.run_id, team.run_id2]}},
        ("GET", "/models"): {},
        ("GET", "/models/{name}"): {},
        ("GET", "/models/{name}/versions/{version}"): {},
        ("GET", "/datasets"): {},
        ("GET", "/datasets/{dataset_id}"): {},
        ("GET", f"{a}/models"): {"params": {"project": "vision"}},
        ("POST", f"{a}/models"): {"json": {"name": "new-model", "project": "vision"}},
        ("GET", m): {},
        ("PATCH", m): {"json": {"description": "d"}},
        ("DELETE", m): {},
        ("PUT", m + "/tags/{key}"): {"json": {"value": "v"}},
        ("DELETE", m + "/tags/{key}"): {},
        ("GET", m + "/versions"): {},
        ("POST", m + "/versions"): {"json": {"source": f"runs:/{team.run_id}/model"}},
        ("GET", v): {},
        ("PATCH", v): {"json": {"description": "d"}},
        ("DELETE", v): {},
        ("PUT", v + "/tags/{key}"): {"json": {"value": "v"}},
        ("DELETE", v + "/tags/{key}"): {},
        ("GET", m + "/aliases/{alias}"): {},
        ("PUT", m + "/aliases/{alias}"): {"json": {"version": 1}},
        ("DELETE", m + "/aliases/{alias}"): {},
        ("GET", m + "/audit"): {},
        ("POST", v + "/promote"): {"json": {"alias": "champion"}},
        ("GET", f"{a}/alias-policies"): {"params": {"project": "vision"}},
        ("PUT", f"{a}/alias-policies/{{project}}/{{alias}}"): {"json": {"protected": True}},
        ("POST", v + "/performance"): {"json": {"metrics": {"auc": 0.9}}},
        ("GET", m + "/performance"): {},
        ("GET", v + "/metrics"): {},
        ("GET", v + "/lineage"): {},
        ("PUT", f"{a}/projects/{{project}}/settings/{{key}}"): {"json": {"probabilities": {"atol": 1e-4}}},
        ("GET", f"{a}/projects/{{project}}/settings/{{key}}"): {},
        ("PUT", v + "/files/{path}"): {"content": b"onnx"},
        ("GET", v + "/files/{path}"): {},
        ("PUT", v + "/reports/{kind}"): {"json": {"passed": True}},
        ("GET", v + "/reports"): {},
        ("POST", f"{a}/runs/{{run_id}}/datasets"): {"json": {"dataset": dataset}},
        ("GET", f"{a}/runs/{{run_id}}/datasets"): {},
        ("GET", f"{a}/datasets"): {"params": {"project": "vision"}},
        ("GET", f"{a}/datasets/{{dataset_id}}"): {},
        ("GET", f"{a}/datasets/{{dataset_id}}/usage"): {},
    }


#: Routes any signed-in user may call: they touch no project, or list only what the caller may read.
ANY_USER = {
    ("GET", "/"),
    ("GET", "/models"),
    ("GET", "/datasets"),
    ("GET", "/notebooks"),
    ("GET", "/notebooks/view"),  # a notebook with no readable execution is a 404, as an unknown one
    ("POST", "/notebooks/launch"),  # likewise (a viewer's launch is refused: see its own test below)
    ("GET", "/jobs"),  # the jobs and schedules of the caller's projects only
    ("GET", "/schedules"),
    ("GET", f"{API_PREFIX}/whoami"),
    ("GET", f"{API_PREFIX}/projects"),
    ("POST", f"{API_PREFIX}/projects"),
    ("GET", "/account"),  # the caller's own user, projects and tokens
    ("POST", "/account/tokens"),
    ("POST", "/account/password"),
}


def _not_revealed(route: tuple[str, str]) -> bool:
    """Routes that name a registered model by name: a caller without a role in its project is told there
    is no such model (404), as for one that does not exist. Registering a version names a run, whose
    project refuses as any other (403)."""
    return "/models/{name}" in route[1] and route != ("POST", f"{API_PREFIX}/models/{{name}}/versions")


def _refused(r: httpx.Response, route: tuple[str, str]) -> bool:
    """Whether ``r`` is the refusal a caller without a role in "vision" gets on ``route``."""
    if _not_revealed(route):
        return _is_error(r, 404, "NOT_FOUND") and "no model named 'seg'" in r.json()["error"]["message"]
    return _is_error(r, 403, "PERMISSION_DENIED")


#: Reads: a viewer may make them. Every other route writes (or manages) and needs more.
READS = {
    ("POST", f"{API_PREFIX}/runs/search"),
}


def _depends_on(dependant: Any, call: Any) -> bool:
    """Whether ``call`` is among the dependencies of ``dependant``, at any depth."""
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route but the public ones; each must reach the services through
    ``request_services`` (the services bound to the request's caller), the only way there is."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI >= 0.16x keeps routers nested
    except ImportError:
        routes: list[Any] = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    found = []
    for route in routes:
        if route.path in PUBLIC_PATHS:
            continue
        if not _depends_on(route.dependant, request_services):
            pytest.fail(f"{route.path} takes no `svc: Svc`: every route reaches the services as its caller")
        path = route.path.replace(":path}", "}")  # {key:path} is a parameter like any other here
        found += [(m, path) for m in sorted(set(route.methods or ()) - {"HEAD", "OPTIONS"})]
    return found


def _request(client: TestClient, team: Team, route: tuple[str, str], token: str | None) -> httpx.Response:
    samples = _samples(team)
    assert route in samples, f"no sample request for {route}: add one to tests/test_auth.py"
    method, template = route
    path = template.format(
        experiment_id=team.experiment_id,
        run_id=team.run_id,
        key="loss" if "metrics" in template else "t",
        path="a.txt",
        project="vision",
        user="vic",
        token_id=team.owner_token_id,
        name="seg",
        version=1,
        alias="champion",
        dataset_id=team.dataset_id,
        kind="parity",
        job_id=team.job_id,
        attempt=1,
        offset=0,
    )
    kwargs = dict(samples[route])
    headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.request(method, path, headers=headers, **kwargs)


def _is_error(r: httpx.Response, status: int, code: str) -> bool:
    if r.status_code != status:
        return False
    body = r.json()
    return set(body) == {"error"} and body["error"]["code"] == code


def test_every_route_needs_a_token(team: Team) -> None:
    with _client(team) as client:
        routes = _routes(client.app)  # type: ignore[arg-type]
        assert len(routes) >= 30
        revoked = team.access.create_user("gone").secret
        team.access.scoped().revoke_token(_token_id(revoked))
        bad: list[str] = []
        for route in routes:
            for label, token in (
                ("no token", None),
                ("a malformed token", "nope"),
                ("an unknown token", "assay_" + "0" * 16 + "_" + "0" * 64),
                ("a revoked token", revoked),
            ):
                r = _request(client, team, route, token)
                if not _is_error(r, 401, "UNAUTHENTICATED"):
                    bad.append(f"{route} with {label}: HTTP {r.status_code} {r.text[:120]}")
                elif r.headers.get("WWW-Authenticate", "").split()[0] != "Bearer":
                    bad.append(f"{route}: 401 without WWW-Authenticate: Bearer")
        assert not bad, "\n".join(bad)
        for path in ("/health", "/openapi.json"):
            assert client.get(path).status_code == 200


def _token_id(secret: str) -> str:
    return secret.split("_")[1]


def test_every_route_refuses_a_user_without_the_role(team: Team) -> None:
    with _client(team) as client:
        bad: list[str] = []
        for route in _routes(client.app):  # type: ignore[arg-type]
            if route in ANY_USER:
                continue
            r = _request(client, team, route, team.tokens["otto"])
            if not _refused(r, route):
                bad.append(f"{route} as a non-member: HTTP {r.status_code} {r.text[:160]}")
            read = route[0] == "GET" or route in READS
            admin_only = "/users" in route[1] or "/tokens" in route[1]
            r = _request(client, team, route, team.tokens["vic"])
            if read and not admin_only:
                if r.status_code >= 400:
                    bad.append(
                        f"{route} as a viewer: a read, refused with HTTP {r.status_code} {r.text[:160]}"
                    )
            elif not _is_error(r, 403, "PERMISSION_DENIED"):
                bad.append(f"{route} as a viewer: a write, answered HTTP {r.status_code} {r.text[:160]}")
        assert not bad, "\n".join(bad)
        # Nothing above changed anything: the run is as the fixture left it.
        run = team.service.get_run(team.run_id)
        assert run.info.status.value == "RUNNING" and dict(run.params) == {"lr": "0.1"}
        assert len(team.service.get_metric_history(team.run_id, "loss")) == 2


def test_scoped_tokens_of_an_admin_hold_only_their_scope(team: Team) -> None:
    """An admin's read-only token reads like a viewer and writes nothing; an admin's token scoped to
    another project is refused in "vision" like a non-member: no admin power survives the scope."""
    admin = team.access.scoped()
    read_only = admin.create_token("ro", user="root", read_only=True).secret
    elsewhere = admin.create_token("other", user="root", project="otto-space").secret
    with _client(team) as client:
        bad: list[str] = []
        for route in _routes(client.app):  # type: ignore[arg-type]
            if route in ANY_USER:
                continue
            r = _request(client, team, route, elsewhere)
            if not _refused(r, route):
                bad.append(f"{route} with a token of another project: HTTP {r.status_code} {r.text[:160]}")
            read = route[0] == "GET" or route in READS
            admin_only = "/users" in route[1] or "/tokens" in route[1]
            r = _request(client, team, route, read_only)
            if read and not admin_only:
                if r.status_code >= 400:
                    bad.append(f"{route} read-only: a read, refused with HTTP {r.status_code} {r.text[:160]}")
            elif not _is_error(r, 403, "PERMISSION_DENIED"):
                bad.append(f"{route} read-only: a write, answered HTTP {r.status_code} {r.text[:160]}")
        assert not bad, "\n".join(bad)
        for token in (read_only, elsewhere):
            r = _request(client, team, ("POST", f"{API_PREFIX}/projects"), token)
            assert _is_error(r, 403, "PERMISSION_DENIED") and "unscoped token" in r.text
            r = _request(client, team, ("POST", f"{API_PREFIX}/tokens"), token)
            assert _is_error(r, 403, "PERMISSION_DENIED")
        r = _request(client, team, ("POST", f"{API_PREFIX}/runs/{{run_id}}/params"), read_only)
        assert "viewer" in r.json()["error"]["message"]
        # In its own project, the scoped admin token keeps its (owner) role.
        ok = client.get(
            f"{API_PREFIX}/projects/otto-space/members", headers={"Authorization": f"Bearer {elsewhere}"}
        )
        assert ok.status_code == 200
    run = team.service.get_run(team.run_id)
    assert run.info.status.value == "RUNNING" and dict(run.params) == {"lr": "0.1"}


def test_a_refusal_says_what_is_missing_and_how_to_get_it(team: Team) -> None:
    with _client(team) as client:
        r = _request(client, team, ("POST", f"{API_PREFIX}/runs/{{run_id}}/params"), team.tokens["vic"])
        message = r.json()["error"]["message"]
        assert "'vic' is a viewer in project 'vision'" in message
        assert "needs editor" in message and "assay projects add-member vision vic --role editor" in message


def test_listings_show_only_what_the_caller_may_read(team: Team) -> None:
    team.service.create_experiment("otto-exp", project="otto-space")
    with _client(team) as client:
        otto = {"Authorization": f"Bearer {team.tokens['otto']}"}
        names = [
            e["name"] for e in client.get(f"{API_PREFIX}/experiments", headers=otto).json()["experiments"]
        ]
        assert names == ["otto-exp"]
        found = client.post(f"{API_PREFIX}/runs/search", json={}, headers=otto).json()["runs"]
        assert found == []
        projects = client.get(f"{API_PREFIX}/projects", headers=otto).json()["projects"]
        assert [(p["name"], p["role"]) for p in projects] == [("otto-space", "owner")]
        page = client.get("/", headers={**otto, "Accept": "text/html"}).text
        assert "otto-exp" in page and "segmentation" not in page
        vic = {"Authorization": f"Bearer {team.tokens['vic']}"}
        found = client.post(f"{API_PREFIX}/runs/search", json={}, headers=vic).json()["runs"]
        assert {r["info"]["run_id"] for r in found} == {team.run_id, team.run_id2}
        root = {"Authorization": f"Bearer {team.tokens['root']}"}
        names = [
            e["name"] for e in client.get(f"{API_PREFIX}/experiments", headers=root).json()["experiments"]
        ]
        assert set(names) == {"segmentation", "otto-exp"}


def test_a_model_name_is_looked_up_only_in_the_projects_the_caller_may_read(team: Team) -> None:
    """otto's own "seg" is his whatever vision holds; vision's is never named to him, not even as a
    refusal (?project=vision answers as a project that does not exist), and only a caller who reads both
    projects is asked which one, over the API and on the pages."""
    team.services.registry.create_model("seg", project="otto-space")
    seg = f"{API_PREFIX}/models/seg"
    otto = {"Authorization": f"Bearer {team.tokens['otto']}"}
    olga = {"Authorization": f"Bearer {team.tokens['olga']}"}
    root = {"Authorization": f"Bearer {team.tokens['root']}"}
    with _client(team) as client:
        assert client.get(seg, headers=otto).json()["project"] == "otto-space"
        assert client.get(seg, headers=olga).json()["project"] == "vision"
        listed = client.get(f"{API_PREFIX}/models", params={"name": "seg"}, headers=otto).json()["models"]
        assert [m["project"] for m in listed] == ["otto-space"]
        hidden = client.get(f"{seg}/versions/1", params={"project": "vision"}, headers=otto)
        nowhere = client.get(f"{seg}/versions/1", params={"project": "nowhere"}, headers=otto)
        assert _is_error(hidden, 404, "NOT_FOUND") and _is_error(nowhere, 404, "NOT_FOUND")
        message = hidden.json()["error"]["message"]
        assert message == nowhere.json()["error"]["message"].replace("nowhere", "vision")
        r = client.get(seg, headers=root)
        assert _is_error(r, 400, "INVALID_ARGUMENT")
        assert (
            "model name 'seg' is in several projects: otto-space/seg, vision/seg;"
            in r.json()["error"]["message"]
        )
        assert client.get(seg, params={"project": "vision"}, headers=root).json()["version_count"] == 1
        page = client.get(
            "/models/seg/versions/1", params={"project": "vision"}, headers={**root, "Accept": "text/html"}
        )
        assert page.status_code == 200 and 'href="/models/seg?project=vision"' in page.text
        listing = client.get("/models", headers={**root, "Accept": "text/html"}).text
        assert (
            'href="/models/seg?project=otto-space"' in listing
            and 'href="/models/seg?project=vision"' in listing
        )


def test_a_name_is_looked_up_only_in_the_projects_the_caller_may_read(team: Team) -> None:
    """otto's own "segmentation" is his whatever vision holds; vision's is never named to him, not even
    as a refusal, and only a caller who reads both projects is asked which one."""
    from assay.services.tracking import experiment_by_name, new_run

    by_name = f"{API_PREFIX}/experiments/by-name"
    with _client(team) as client:
        otto = {"Authorization": f"Bearer {team.tokens['otto']}"}
        assert _is_error(client.get(by_name, params={"name": "segmentation"}, headers=otto), 404, "NOT_FOUND")
        r = client.get(by_name, params={"name": "vision/segmentation"}, headers=otto)
        assert _is_error(r, 404, "NOT_FOUND")
        # An offline run of otto's names his project: it makes his own experiment there.
        run = new_run(experiment_by_name("segmentation", "otto-space"), name="mine")
        body = wire.encode_ingest(WriteBatch(new_runs=[run], batch_id=run.run_id))
        assert (
            client.post(f"{API_PREFIX}/ingest", content=body, headers={**otto, **_MSGPACK}).status_code == 204
        )
        found = client.get(by_name, params={"name": "segmentation"}, headers=otto).json()
        assert found["project"] == "otto-space"
        olga = {"Authorization": f"Bearer {team.tokens['olga']}"}
        found = client.get(by_name, params={"name": "segmentation"}, headers=olga).json()
        assert found["experiment_id"] == team.experiment_id
        root = {"Authorization": f"Bearer {team.tokens['root']}"}
        r = client.get(by_name, params={"name": "segmentation"}, headers=root)
        assert _is_error(r, 400, "INVALID_ARGUMENT")
        assert (
            "several projects: otto-space/segmentation, vision/segmentation;" in r.json()["error"]["message"]
        )
        r = client.get(by_name, params={"name": "segmentation", "project": "vision"}, headers=otto)
        assert _is_error(r, 403, "PERMISSION_DENIED")


def test_editors_write_owners_manage(team: Team) -> None:
    with _client(team) as client:
        edna = {"Authorization": f"Bearer {team.tokens['edna']}"}
        r = client.post(f"{API_PREFIX}/runs", json={"experiment_id": team.experiment_id}, headers=edna)
        assert r.status_code == 201
        r = client.post(
            f"{API_PREFIX}/ingest", content=_ingest_body(team.run_id), headers={**edna, **_MSGPACK}
        )
        assert r.status_code == 204
        assert len(team.service.get_metric_history(team.run_id, "loss")) == 3
        # Deleting an experiment and managing members are an owner's.
        assert (
            client.delete(f"{API_PREFIX}/experiments/{team.experiment_id}", headers=edna).status_code == 403
        )
        olga = {"Authorization": f"Bearer {team.tokens['olga']}"}
        r = client.put(f"{API_PREFIX}/projects/vision/members/otto", json={"role": "viewer"}, headers=olga)
        assert r.status_code == 200
        otto = {"Authorization": f"Bearer {team.tokens['otto']}"}
        assert client.get(f"{API_PREFIX}/runs/{team.run_id}", headers=otto).status_code == 200


def test_revoking_a_token_stops_it_at_once(team: Team) -> None:
    with _client(team) as client:
        vic = {"Authorization": f"Bearer {team.tokens['vic']}"}
        assert client.get(f"{API_PREFIX}/whoami", headers=vic).json()["name"] == "vic"
        mine = client.get(f"{API_PREFIX}/tokens", headers=vic).json()["tokens"]
        assert [t["name"] for t in mine] == ["first"]
        # Someone else's token: only admins may revoke it.
        olga_token = f"{API_PREFIX}/tokens/{team.owner_token_id}"
        assert client.delete(olga_token, headers=vic).status_code == 403
        r = client.delete(f"{API_PREFIX}/tokens/{mine[0]['token_id']}", headers=vic)
        assert r.status_code == 200 and r.json()["revoked_at"] is not None
        r = client.get(f"{API_PREFIX}/whoami", headers=vic)
        assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


def test_tokens_are_stored_hashed(team: Team) -> None:
    from sqlalchemy import text

    with team.service.store.engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(text("SELECT * FROM api_tokens")) for v in row)
    for secret in team.tokens.values():
        assert secret.split("_")[2] not in stored


def _sign_in(client: TestClient, name: str, password: str, target: str = "/") -> httpx.Response:
    """Post the sign-in form as a browser would: with the CSRF token the form page carries."""
    form = client.get("/login").text
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', form)
    assert token is not None, form
    data = {"username": name, "password": password, "next": target, "csrf": token.group(1)}
    return client.post("/login", data=data, follow_redirects=False)


def test_browsers_sign_in_with_a_password(team: Team) -> None:
    team.access.scoped().set_password("correct horse", "vic")
    with _client(team) as client:
        r = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
        r = _sign_in(client, "vic", "wrong horse")
        assert r.status_code == 401 and "wrong user name or password" in r.text
        r = _sign_in(client, "vic", "correct horse", "//evil.example")
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("assay_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
        age = re.search(r"Max-Age=(\d+)", cookie)
        assert age and 43_000 < int(age.group(1)) <= 43_200 and "Secure" not in cookie  # 12 h, plain http
        assert "segmentation" in client.get("/", headers={"Accept": "text/html"}).text
        # The session is a browser's only: the form post without the page's CSRF token is refused.
        r = client.post("/account/tokens", data={"name": "x"})
        assert _is_error(r, 403, "PERMISSION_DENIED") and "CSRF" in r.text


def test_a_password_change_counts_its_failures_under_the_callers_address(team: Team) -> None:
    """A wrong current password is a failed sign-in of the user and of the address the change came from:
    the client's over HTTP (the API route here; the account page's form takes the same path), one local
    key for callers in-process. Guesses from one address lock that address, its sign-ins too, but never
    another client's password change nor an in-process one; guesses in-process lock no HTTP client."""
    team.access.use_policy(AccessPolicy(max_user_failures=3, max_address_failures=4))
    admin = team.access.scoped()
    for name in ("olga", "edna", "vic", "otto"):
        admin.set_password(f"{name}-password-1", name)

    def change(client: TestClient, name: str, current: str, new: str) -> httpx.Response:
        body = {"password": new, "current_password": current}
        bearer = {"Authorization": f"Bearer {team.tokens[name]}"}
        return client.put(f"{API_PREFIX}/users/{name}/password", json=body, headers=bearer)

    app = create_app(team.services, auth=True)
    guesser = TestClient(app, client=("10.0.0.1", 50000), raise_server_exceptions=False)
    other = TestClient(app, client=("10.0.0.2", 50000), raise_server_exceptions=False)
    for name in ("olga", "olga", "edna", "edna"):  # below each user's limit, at the address's
        r = change(guesser, name, "guess-guess", "new-password-1")
        assert _is_error(r, 403, "PERMISSION_DENIED") and "current password is wrong" in r.text
    locked = change(guesser, "vic", "vic-password-1", "vic-password-2")
    assert _is_error(locked, 429, "TOO_MANY_ATTEMPTS")
    assert "too many failed sign-ins for address 10.0.0.1" in locked.text
    assert _sign_in(guesser, "vic", "vic-password-1").status_code == 429
    assert change(other, "vic", "vic-password-1", "vic-password-2").status_code == 204

    def in_process(name: str) -> Access:
        return team.services.as_caller(team.access.authenticate(team.tokens[name])).access

    for name in ("vic", "vic", "otto", "otto"):
        with pytest.raises(PermissionDenied, match="current password is wrong"):
            in_process(name).set_password("new-password-1", None, "guess-guess")
    with pytest.raises(LoginLocked, match=r"address \(in-process\)"):
        in_process("otto").set_password("otto-password-2", None, "otto-password-1")
    assert change(other, "otto", "otto-password-1", "otto-password-2").status_code == 204


_MSGPACK = {"Content-Type": wire.MSGPACK}


def test_runs_started_offline_need_editor_where_their_experiment_is_made(team: Team) -> None:
    from assay.services.tracking import experiment_by_name, new_run

    def body(run_name: str) -> bytes:
        run = new_run(experiment_by_name("made-offline", "vision"), name=run_name)
        return wire.encode_ingest(WriteBatch(new_runs=[run], batch_id=run.run_id))

    with _client(team) as client:
        for user in ("vic", "otto"):
            headers = {"Authorization": f"Bearer {team.tokens[user]}", **_MSGPACK}
            r = client.post(f"{API_PREFIX}/ingest", content=body(user), headers=headers)
            assert _is_error(r, 403, "PERMISSION_DENIED"), r.text
        assert team.service.get_experiment_by_name("made-offline") is None
        edna = {"Authorization": f"Bearer {team.tokens['edna']}", **_MSGPACK}
        assert client.post(f"{API_PREFIX}/ingest", content=body("edna"), headers=edna).status_code == 204
        exp = team.service.get_experiment_by_name("made-offline")
        assert exp is not None and exp.project == "vision"
        # Once it exists, a viewer still cannot add runs to it by name.
        vic = {"Authorization": f"Bearer {team.tokens['vic']}", **_MSGPACK}
        assert client.post(f"{API_PREFIX}/ingest", content=body("vic2"), headers=vic).status_code == 403
        assert [r.info.name for r in team.service.search_runs([exp.experiment_id])] == ["edna"]


def test_the_run_page_reads_a_diff_named_by_a_tag_only_with_the_callers_role(team: Team) -> None:
    """Issue 8, item 7: a tag ``assay.git.diff = runs:/<another project's run>/...`` showed that file."""
    team.service.write_artifact(team.run_id, "secret.txt", b"TOP-SECRET-42")
    otto_exp = team.service.create_experiment("otto-exp", project="otto-space")
    mine = team.service.create_run(otto_exp.experiment_id, name="mine")
    team.service.set_tags(mine.run_id, {"assay.git.diff": f"runs:/{team.run_id}/secret.txt"})
    with _client(team) as client:
        otto = {"Authorization": f"Bearer {team.tokens['otto']}", "Accept": "text/html"}
        page = client.get(f"/runs/{mine.run_id}", headers=otto)
        assert page.status_code == 200 and "TOP-SECRET-42" not in page.text
        olga = {"Authorization": f"Bearer {team.tokens['olga']}", "Accept": "text/html"}
        team.service.set_tags(team.run_id2, {"assay.git.diff": f"runs:/{team.run_id}/secret.txt"})
        assert "TOP-SECRET-42" in client.get(f"/runs/{team.run_id2}", headers=olga).text


@pytest.mark.parametrize(
    "target", ["//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example", "/\n/evil"]
)
def test_login_never_redirects_to_another_site(team: Team, target: str) -> None:
    """Issue 8, item 9: ``next=/\\evil.com`` redirected there (browsers read the backslash as a slash)."""
    team.access.scoped().set_password("correct horse", "vic")
    with _client(team) as client:
        r = _sign_in(client, "vic", "correct horse", target)
        assert r.status_code == 303 and r.headers["location"] == "/"
        r = _sign_in(client, "vic", "correct horse", "/runs/x?y=1")
        assert r.headers["location"] == "/runs/x?y=1"


def test_a_server_without_auth_answers_only_loopback_host_names(tmp_path: Path) -> None:
    """Issue 8, item 9: ``assay ui`` answered any Host header, so a DNS-rebinding page could read it."""
    services = build_services(str(tmp_path / "assay.db"), str(tmp_path / "artifacts"))
    try:
        app = create_app(services)
        for host in ("127.0.0.1:5000", "localhost", "[::1]:5000"):
            with TestClient(app, base_url=f"http://{host}") as client:
                assert client.get("/health").status_code == 200
        with TestClient(app, base_url="http://rebound.evil.example:5000") as client:
            r = client.get(f"{API_PREFIX}/experiments")
            assert _is_error(r, 400, "INVALID_ARGUMENT") and "ASSAY_ALLOWED_HOSTS" in r.text
        allowed = create_app(services, allowed_hosts=["tracking.internal"])
        with TestClient(allowed, base_url="http://tracking.internal") as client:
            assert client.get("/health").status_code == 200
    finally:
        services.close()


def test_no_route_reaches_a_service_without_a_principal() -> None:
    """Issue 9: routes and pages get services only bound to their caller (``Svc``). The unbound bundle
    sits in ``app.state.services``, which only ``assay.web.auth`` may read."""
    import assay

    root = Path(assay.__file__).parent
    readers = sorted(
        str(f.relative_to(root))
        for f in root.rglob("*.py")
        if "state.services" in f.read_text() and f.relative_to(root).parts[0] in ("server", "ui", "web")
    )
    assert readers == ["server/app.py", "web/auth.py"], readers  # app.py sets it, web/auth.py reads it


def test_a_large_upload_by_a_viewer_is_refused_before_it_is_stored(team: Team) -> None:
    """A large body takes the streamed path, which checks the role before reading it."""
    from assay.server.artifacts import SMALL

    with _client(team) as client:
        url = f"{API_PREFIX}/runs/{team.run_id}/artifacts/big.bin"
        vic = {"Authorization": f"Bearer {team.tokens['vic']}"}
        r = client.put(url, content=iter([b"x" * (SMALL + 1)]), headers=vic)  # chunked: no length
        assert _is_error(r, 403, "PERMISSION_DENIED"), r.text
        assert "big.bin" not in [f.path for f in team.service.list_artifacts(team.run_id)]
        edna = {"Authorization": f"Bearer {team.tokens['edna']}"}
        assert client.put(url, content=iter([b"x" * (SMALL + 1)]), headers=edna).status_code == 204


def test_a_protected_alias_moves_for_owners_only_and_the_trail_names_them(team: Team) -> None:
    as_owner = team.services.as_caller(team.access.authenticate(team.tokens["olga"])).registry
    as_editor = team.services.as_caller(team.access.authenticate(team.tokens["edna"])).registry
    as_editor.set_alias("seg", "challenger", 1, reason="editors move unprotected aliases")
    with pytest.raises(PermissionDenied, match="owner"):
        as_editor.set_alias_policy("vision", "champion", protected=True)
    as_owner.set_alias_policy("vision", "champion", protected=True)
    with pytest.raises(PermissionDenied, match="owner"):
        as_editor.set_alias("seg", "champion", 1)
    with pytest.raises(PermissionDenied, match="owner"):
        as_editor.promote("seg", 1, "champion")
    as_owner.promote("seg", 1, "champion", reason="owner's call", force=True)  # parity never checked
    trail = as_editor.alias_history("seg")  # editors still read the trail
    assert [(e.alias, e.actor, e.reason) for e in trail[:2]] == [
        ("champion", "olga", "owner's call"),
        ("challenger", "edna", "editors move unprotected aliases"),
    ]


def test_only_editors_launch_a_notebook_from_its_page(team: Team) -> None:
    with _client(team) as client:
        for user, status in (("vic", 403), ("otto", 404), ("edna", 303)):
            r = client.post(
                "/notebooks/launch",
                data={"source": "seg.ipynb"},
                headers={"Authorization": f"Bearer {team.tokens[user]}"},
                follow_redirects=False,
            )
            assert r.status_code == status, (user, r.text[:200])
        otto = {"Authorization": f"Bearer {team.tokens['otto']}", "Accept": "text/html"}
        for page in ("/jobs", "/schedules"):  # nothing of "vision" on the pages of a non-member
            text = client.get(page, headers=otto).text
            assert team.job_id[:8] not in text and "vision" not in text
    assert len(team.services.jobs.list_jobs(project="vision")) == 2  # the fixture's, and edna's
