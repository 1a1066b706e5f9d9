"""MLflow 3's logged models (``/mlflow/logged-models``) kept inside the run that logged them.

A logged model is a directory of the run's artifacts (``<run artifacts>/<name>``, where
``mlflow.sklearn.log_model`` uploads its files through the proxied artifact routes), so assay's UI, CLI
and SDK see the files as the run's. Its metadata (name, status, params, tags, times) is a JSON document
among the run's artifacts, ``METADATA_DIR/<model id>.json``, and the run's tag ``MODELS_TAG`` maps the
ids to the directories, so a search finds the runs with models through assay's indexed search: no schema
change. The model's URI is ``mlflow-artifacts:/<exp>/<run>/models/<name>``: the same files under another
path, so MLflow's client, which lists a run's artifacts and its models' both, sees each file once.

Model ids are ``m-<run id>-<8 hex>``: the run is read from the id, so getting a model is one read.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from assay.entities import Run
from assay.errors import NotFound
from assay.mlflow.rest.endpoint import endpoint
from assay.mlflow.rest.errors import MlflowError, invalid, not_implemented
from assay.mlflow.rest.experiments import experiment_id
from assay.mlflow.rest.filters import parse_equalities
from assay.mlflow.rest.protocol import ARTIFACTS_SCHEME, Fields, empty, json_response, page_of
from assay.services import Services
from assay.services.tracking import Tracking, check_run_id, now_ms
from assay.web.auth import Svc

router = APIRouter()

METADATA_DIR = ".mlflow/logged-models"
MODELS_TAG = "assay.mlflow.models"
STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")


def run_of(model_id: str) -> str:
    """The run a model id names (``m-<run id>-<suffix>``); RESOURCE_DOES_NOT_EXIST for another id."""
    parts = model_id.split("-")
    if len(parts) != 3 or parts[0] != "m":
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Logged model with ID '{model_id}' not found")
    check_run_id(parts[1])
    return parts[1]


def _listed(tags: Mapping[str, str]) -> dict[str, str]:
    """{model id: name} of a run's logged models (its ``MODELS_TAG``)."""
    raw = tags.get(MODELS_TAG)
    listed: dict[str, str] = json.loads(raw) if raw else {}
    return listed


def model_dirs(tracking: Tracking, run_id: str) -> set[str]:
    """The artifact directories of a run that hold its logged models."""
    return set(_listed(tracking.get_run(run_id).tags).values())


def read_model(svc: Services, model_id: str) -> dict[str, Any]:
    try:
        raw = svc.tracking.read_artifact(run_of(model_id), f"{METADATA_DIR}/{model_id}.json")
    except NotFound:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Logged model with ID '{model_id}' not found") from None
    doc: dict[str, Any] = json.loads(raw)
    return doc


def write_model(svc: Services, doc: dict[str, Any]) -> None:
    doc["last_updated_timestamp_ms"] = now_ms()
    data = json.dumps(doc, sort_keys=True).encode()
    svc.tracking.write_artifact(doc["source_run_id"], f"{METADATA_DIR}/{doc['model_id']}.json", data)


def model_json(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored model document as MLflow's ``LoggedModel`` message."""
    info = {k: v for k, v in doc.items() if k not in ("params", "tags")}
    info["tags"] = [{"key": k, "value": v} for k, v in doc.get("tags", {}).items()]
    params = [{"key": k, "value": v} for k, v in doc.get("params", {}).items()]
    return {"info": info, "data": {"params": params, "metrics": []}}


def _kv(items: list[Any]) -> dict[str, str]:
    out = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise invalid(f"expected objects with a 'key' and a 'value', got {item!r}")
        out[item["key"]] = str(item.get("value", ""))
    return out


@endpoint(router, "POST", "/mlflow/logged-models")
def create_logged_model(svc: Services, f: Fields) -> dict[str, Any]:
    """A PENDING model in its source run; its files go to ``<run artifacts>/<name>``."""
    run_id = f.opt_text("source_run_id")
    if run_id is None:
        raise not_implemented("logged models outside a run (start a run, then log the model)")
    info = svc.tracking.get_run_info(run_id)
    eid = experiment_id(svc, f.opt_text("experiment_id") or info.experiment_id)
    if eid != info.experiment_id:
        raise invalid(f"run {run_id} belongs to experiment {info.experiment_id}, not {eid}")
    name = f.opt_text("name") or "model"
    if "/" in name or name.startswith("."):
        raise invalid(f"model name {name!r} must not contain '/' or start with '.'")
    model_id = f"m-{run_id}-{secrets.token_hex(4)}"
    at = now_ms()
    doc: dict[str, Any] = {
        "model_id": model_id,
        "experiment_id": eid,
        "name": name,
        "artifact_uri": f"{ARTIFACTS_SCHEME}{eid}/{run_id}/models/{name}",
        "creation_timestamp_ms": at,
        "status": "LOGGED_MODEL_PENDING",
        "source_run_id": run_id,
        "params": _kv(f.items("params")),
        "tags": _kv(f.items("tags")),
    }
    if f.opt_text("model_type"):
        doc["model_type"] = f.text("model_type")
    write_model(svc, doc)
    listed = _listed(svc.tracking.get_run(run_id).tags)
    svc.tracking.set_tags(run_id, {MODELS_TAG: json.dumps({**listed, model_id: name})})
    return {"model": model_json(doc)}


@router.api_route("/mlflow/logged-models/{model_id}", methods=["GET", "PATCH", "DELETE"])
async def logged_model(model_id: str, request: Request, svc: Svc) -> Response:
    """Get (GET), finalize with a status (PATCH); deleting is not implemented."""
    fields = await Fields.of(request)
    if request.method == "DELETE":
        raise not_implemented("deleting a logged model (its files are its run's artifacts)")
    if request.method == "GET":
        doc = await run_in_threadpool(read_model, svc, model_id)
        return json_response({"model": model_json(doc)})
    return json_response(await run_in_threadpool(_finalize, svc, model_id, fields))


def _finalize(svc: Services, model_id: str, f: Fields) -> dict[str, Any]:
    status = f.text("status")
    if status not in STATUSES:
        raise invalid(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    doc = read_model(svc, model_id)
    doc["status"] = status
    write_model(svc, doc)
    return {"model": model_json(doc)}


def _update(
    svc: Services, model_id: str, part: str, items: dict[str, str], delete: str | None = None
) -> None:
    doc = read_model(svc, model_id)
    doc.setdefault(part, {}).update(items)
    if delete is not None:
        if delete not in doc[part]:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"model {model_id} has no tag {delete!r}")
        del doc[part][delete]
    write_model(svc, doc)


@router.patch("/mlflow/logged-models/{model_id}/tags")
async def set_logged_model_tags(model_id: str, request: Request, svc: Svc) -> Response:
    fields = await Fields.of(request)
    await run_in_threadpool(_update, svc, model_id, "tags", _kv(fields.items("tags")))
    return empty()


@router.delete("/mlflow/logged-models/{model_id}/tags/{key:path}")
async def delete_logged_model_tag(model_id: str, key: str, svc: Svc) -> Response:
    await run_in_threadpool(_update, svc, model_id, "tags", {}, key)
    return empty()


@router.post("/mlflow/logged-models/{model_id}/params")
async def log_logged_model_params(model_id: str, request: Request, svc: Svc) -> Response:
    fields = await Fields.of(request)
    await run_in_threadpool(_update, svc, model_id, "params", _kv(fields.items("params")))
    return empty()


#: What a logged-model search may filter on (equality, joined by AND).
SEARCH_FIELDS = frozenset({"source_run_id", "name", "model_id", "status", "model_type"})


@endpoint(router, "POST", "/mlflow/logged-models/search")
def search_logged_models(svc: Services, f: Fields) -> dict[str, Any]:
    """Models of the given experiments matching ``filter`` (equalities on SEARCH_FIELDS), newest first."""
    wanted = parse_equalities(f.opt_text("filter"), SEARCH_FIELDS, "a logged-model filter")
    if f.items("order_by") or f.items("datasets"):
        raise not_implemented("ordering logged models or filtering them by dataset")
    experiments = [experiment_id(svc, str(e)) for e in f.items("experiment_ids")]
    runs: list[Run]
    if "source_run_id" in wanted:
        try:
            runs = [svc.tracking.get_run(wanted["source_run_id"])]
        except NotFound:
            runs = []
    else:
        runs = svc.tracking.search_runs(experiments, f"tags.`{MODELS_TAG}` like '%'", max_results=50_000)
    docs = []
    for run in runs:
        if experiments and run.info.experiment_id not in experiments:
            continue
        for model_id, name in _listed(run.tags).items():
            if name != wanted.get("name", name):
                continue  # the run's tag names its models: no document read for the others
            doc = read_model(svc, model_id)
            if all(str(doc.get(k)) == v for k, v in wanted.items()):
                docs.append(doc)
    docs.sort(key=lambda d: (-int(d["creation_timestamp_ms"]), d["model_id"]))
    return page_of(docs, f, "models", model_json)


@endpoint(router, "POST", "/mlflow/runs/outputs")
def log_outputs(svc: Services, f: Fields) -> object:
    """Record that the run produced the models (each must be one of its own logged models)."""
    run_id = f.text("run_id")
    svc.tracking.get_run_info(run_id)
    for m in f.items("models"):
        model_id = m.get("model_id") if isinstance(m, dict) else None
        if not isinstance(model_id, str):
            raise invalid(f"each output must name a model_id, got {m!r}")
        read_model(svc, model_id)
    return empty()
