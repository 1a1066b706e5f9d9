"""MLflow's model registry calls over assay's ``Registry``: registered models, versions, tags,
descriptions, aliases and download URIs.

assay registers a model a run logged, reading its ``assay-model.yaml`` for the flavor and signature. A
model MLflow's client logged has an ``MLmodel`` instead, so registering one first writes a descriptor
beside it (flavor "mlflow", the MLmodel's flavors as its class): the version is then an ordinary assay
version (UI, CLI, aliases, audit trail), loaded back with MLflow. Versions are READY once created
(registration is one transaction), which is what ``register_model`` polls for.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import yaml
from fastapi import APIRouter

from assay.errors import NotFound
from assay.mlflow.rest.endpoint import endpoint
from assay.mlflow.rest.errors import MlflowError, invalid, not_implemented
from assay.mlflow.rest.experiments import PROJECT_TAG
from assay.mlflow.rest.filters import like_matcher, parse_equalities
from assay.mlflow.rest.models import read_model
from assay.mlflow.rest.protocol import ARTIFACTS_SCHEME, Fields, empty, page_of
from assay.registry.entities import ModelVersion, RegisteredModel
from assay.services import Services
from assay.services.registry import DESCRIPTOR_FILE

router = APIRouter()


def version_json(v: ModelVersion) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": v.name,
        "version": str(v.version),
        "creation_timestamp": v.created_at,
        "last_updated_timestamp": v.created_at,
        "user_id": v.created_by,
        "current_stage": "None",
        "description": v.description,
        "source": v.source,
        "status": "READY",
        "tags": [{"key": k, "value": val} for k, val in v.tags.items()],
        "aliases": list(v.aliases),
    }
    if v.run_id:
        out["run_id"] = v.run_id
    return out


def model_json(m: RegisteredModel, latest: ModelVersion | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": m.name,
        "creation_timestamp": m.created_at,
        "last_updated_timestamp": m.updated_at,
        "description": m.description,
        "tags": [{"key": k, "value": v} for k, v in m.tags.items()],
        "aliases": [{"alias": a, "version": str(v)} for a, v in m.aliases.items()],
    }
    if latest is not None:
        out["latest_versions"] = [version_json(latest)]
    return out


def _kv(items: list[Any]) -> dict[str, str]:
    out = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise invalid(f"expected objects with a 'key' and a 'value', got {item!r}")
        out[item["key"]] = str(item.get("value", ""))
    return out


def _version(f: Fields) -> int:
    text = f.text("version")
    if not text.isdigit():
        raise invalid(f"Parameter 'version' must be an integer, got {text!r}")
    return int(text)


_PROMPT_CLAUSE = re.compile(r"tags?\.`?mlflow\.prompt\.is_prompt`?\s*(!=|=)\s*'true'", re.IGNORECASE)


def without_prompt_clause(text: str | None) -> tuple[str | None, bool]:
    """MLflow's client adds a clause on the tag ``mlflow.prompt.is_prompt`` to registry searches; assay has
    no prompts, so ``!= 'true'`` always holds (dropped) and ``= 'true'`` never does (the flag says so)."""
    if not text:
        return text, False
    m = _PROMPT_CLAUSE.search(text)
    if m is None:
        return text, False
    rest = (text[: m.start()] + text[m.end() :]).strip()
    rest = re.sub(r"^(?i:and)\s+|\s+(?i:and)$", "", rest).strip()
    return rest or None, m.group(1) == "="


def _latest(svc: Services, name: str) -> ModelVersion | None:
    versions = svc.registry.list_versions(name)
    return versions[0] if versions else None


# ---- registered models ---------------------------------------------------------------------------------


@endpoint(router, "POST", "/mlflow/registered-models/create")
def create_registered_model(svc: Services, f: Fields) -> dict[str, Any]:
    """A new model (in the project its ``assay.project`` tag names, else "default")."""
    tags = _kv(f.items("tags"))
    project = tags.pop(PROJECT_TAG, None)
    model = svc.registry.create_model(f.text("name"), project, f.opt_text("description") or "", tags)
    return {"registered_model": model_json(model)}


@endpoint(router, "GET", "/mlflow/registered-models/get")
def get_registered_model(svc: Services, f: Fields) -> dict[str, Any]:
    name = f.text("name")
    return {"registered_model": model_json(svc.registry.get_model(name), _latest(svc, name))}


@endpoint(router, "GET", "/mlflow/registered-models/search")
def search_registered_models(svc: Services, f: Fields) -> dict[str, Any]:
    """Models by name (``name = '...'`` or ``name LIKE '...'`` filters), paged."""
    text, prompts_only = without_prompt_clause(f.opt_text("filter"))
    if prompts_only:
        return {"registered_models": []}
    pattern = None
    if text and " like " in text.lower():
        field, _, value = text.partition(" ")
        value = value.strip()
        op, _, quoted = value.partition(" ")
        if field.strip() != "name" or op.lower() not in ("like", "ilike"):
            raise not_implemented(f"registered-model filter {text!r} (name = or name LIKE only)")
        pattern = like_matcher(quoted.strip().strip("'\""), op.lower() == "ilike")
        wanted: dict[str, str] = {}
    else:
        wanted = parse_equalities(text, frozenset({"name"}), "a registered-model filter")
    if f.items("order_by"):
        raise not_implemented("ordering registered models (they come by name)")
    found = [
        m
        for m in svc.registry.list_models()
        if m.name == wanted.get("name", m.name) and (pattern is None or pattern(m.name))
    ]
    return page_of(found, f, "registered_models", lambda m: model_json(m, _latest(svc, m.qualified_name)))


@endpoint(router, "PATCH", "/mlflow/registered-models/update")
def update_registered_model(svc: Services, f: Fields) -> dict[str, Any]:
    model = svc.registry.update_model(f.text("name"), f.opt_text("description") or "")
    return {"registered_model": model_json(model)}


@endpoint(router, "POST", "/mlflow/registered-models/rename")
def rename_registered_model(svc: Services, f: Fields) -> object:
    svc.registry.get_model(f.text("name"))
    raise not_implemented("renaming a registered model (assay's models keep their name)")


@endpoint(router, "DELETE", "/mlflow/registered-models/delete")
def delete_registered_model(svc: Services, f: Fields) -> object:
    svc.registry.delete_model(f.text("name"))
    return empty()


@endpoint(router, "POST", "/mlflow/registered-models/set-tag")
def set_registered_model_tag(svc: Services, f: Fields) -> object:
    svc.registry.set_model_tag(f.text("name"), f.text("key"), str(f.data.get("value", "")))
    return empty()


@endpoint(router, "DELETE", "/mlflow/registered-models/delete-tag")
def delete_registered_model_tag(svc: Services, f: Fields) -> object:
    svc.registry.delete_model_tag(f.text("name"), f.text("key"))
    return empty()


@endpoint(router, "POST", "/mlflow/registered-models/get-latest-versions")
def get_latest_versions(svc: Services, f: Fields) -> dict[str, Any]:
    stages = [str(s).lower() for s in f.items("stages")]
    if any(s != "none" for s in stages):
        raise not_implemented("model stages (assay uses aliases: set one with set_registered_model_alias)")
    latest = _latest(svc, f.text("name"))
    return {"model_versions": [version_json(latest)] if latest else []}


@endpoint(router, "POST", "/mlflow/registered-models/alias")
def set_alias(svc: Services, f: Fields) -> object:
    svc.registry.set_alias(f.text("name"), f.text("alias"), _version(f))
    return empty()


@endpoint(router, "DELETE", "/mlflow/registered-models/alias")
def delete_alias(svc: Services, f: Fields) -> object:
    svc.registry.delete_alias(f.text("name"), f.text("alias"))
    return empty()


@endpoint(router, "GET", "/mlflow/registered-models/alias")
def get_version_by_alias(svc: Services, f: Fields) -> dict[str, Any]:
    return {"model_version": version_json(svc.registry.get_version_by_alias(f.text("name"), f.text("alias")))}


# ---- versions ------------------------------------------------------------------------------------------


def source_location(svc: Services, source: str, run_id: str | None) -> tuple[str, str]:
    """(run id, artifact directory) of the model an MLflow ``source`` names: ``models:/<logged model id>``,
    ``runs:/<run>/<dir>``, or a run's or model's ``mlflow-artifacts:/`` URI."""
    if source.startswith("models:/m-"):
        doc = read_model(svc, source[len("models:/") :])
        return doc["source_run_id"], str(doc["artifact_uri"]).rsplit("/", 1)[-1]
    if source.startswith("runs:/"):
        rid, _, path = source[len("runs:/") :].strip("/").partition("/")
        if rid and path:
            return rid, path
    if source.startswith(ARTIFACTS_SCHEME):
        parts = source[len(ARTIFACTS_SCHEME) :].strip("/").split("/")
        if len(parts) >= 4 and parts[2] in ("artifacts", "models"):
            return parts[1], "/".join(parts[3:])
    raise invalid(
        f"model source {source!r} is not a model an MLflow run logged to this server: use runs:/<run id>/<path>"
        f"{f' (run {run_id})' if run_id else ''} or the logged model's models:/<model id> URI"
    )


def _ensure_descriptor(svc: Services, run_id: str, path: str) -> None:
    """Write ``assay-model.yaml`` beside the MLmodel of an MLflow model, unless one is there."""
    try:
        svc.tracking.read_artifact(run_id, f"{path}/{DESCRIPTOR_FILE}")
        return
    except NotFound:
        pass
    try:
        mlmodel = yaml.safe_load(svc.tracking.read_artifact(run_id, f"{path}/MLmodel")) or {}
    except NotFound:
        raise invalid(
            f"runs:/{run_id}/{path} holds no model (no MLmodel): log one with mlflow.<flavor>.log_model"
        ) from None
    flavors = sorted((mlmodel.get("flavors") or {}).keys()) if isinstance(mlmodel, dict) else []
    descriptor = {
        "flavor": "mlflow",
        "serialization": "mlflow",
        "files": ["MLmodel"],
        "model_class": ",".join(flavors) or "unknown",
        "framework": "mlflow",
        "framework_version": str(mlmodel.get("mlflow_version", "")) if isinstance(mlmodel, dict) else "",
        "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
        "requirements": [],
        "signature": None,
        "metadata": {"note": "an MLflow model: load it with mlflow.pyfunc.load_model"},
        "format_version": 1,
    }
    svc.tracking.write_artifact(run_id, f"{path}/{DESCRIPTOR_FILE}", yaml.safe_dump(descriptor).encode())


@endpoint(router, "POST", "/mlflow/model-versions/create")
def create_model_version(svc: Services, f: Fields) -> dict[str, Any]:
    """Register the model at ``source`` as the next version of ``name`` (READY at once)."""
    name = f.text("name")
    run_id, path = source_location(svc, f.text("source"), f.opt_text("run_id"))
    _ensure_descriptor(svc, run_id, path)
    version = svc.registry.create_version(
        name, f"runs:/{run_id}/{path}", f.opt_text("description") or "", _kv(f.items("tags"))
    )
    return {"model_version": version_json(version)}


@endpoint(router, "GET", "/mlflow/model-versions/get")
def get_model_version(svc: Services, f: Fields) -> dict[str, Any]:
    return {"model_version": version_json(svc.registry.get_version(f.text("name"), _version(f)))}


@endpoint(router, "GET", "/mlflow/model-versions/search")
def search_model_versions(svc: Services, f: Fields) -> dict[str, Any]:
    """Versions of one model (``name = '...'``), or of every model, optionally of one run (``run_id``)."""
    text, prompts_only = without_prompt_clause(f.opt_text("filter"))
    if prompts_only:
        return {"model_versions": []}
    wanted = parse_equalities(text, frozenset({"name", "run_id"}), "a model-version filter")
    everyone = [m.qualified_name for m in svc.registry.list_models()]  # names are unique per project
    names = [wanted["name"]] if "name" in wanted else everyone
    found = [
        v
        for n in names
        for v in svc.registry.list_versions(n)
        if "run_id" not in wanted or v.run_id == wanted["run_id"]
    ]
    return page_of(found, f, "model_versions", version_json, default_limit=10_000)


@endpoint(router, "PATCH", "/mlflow/model-versions/update")
def update_model_version(svc: Services, f: Fields) -> dict[str, Any]:
    version = svc.registry.update_version(f.text("name"), _version(f), f.opt_text("description") or "")
    return {"model_version": version_json(version)}


@endpoint(router, "DELETE", "/mlflow/model-versions/delete")
def delete_model_version(svc: Services, f: Fields) -> object:
    svc.registry.delete_version(f.text("name"), _version(f))
    return empty()


@endpoint(router, "POST", "/mlflow/model-versions/set-tag")
def set_model_version_tag(svc: Services, f: Fields) -> object:
    svc.registry.set_version_tag(f.text("name"), _version(f), f.text("key"), str(f.data.get("value", "")))
    return empty()


@endpoint(router, "DELETE", "/mlflow/model-versions/delete-tag")
def delete_model_version_tag(svc: Services, f: Fields) -> object:
    svc.registry.delete_version_tag(f.text("name"), _version(f), f.text("key"))
    return empty()


@endpoint(router, "GET", "/mlflow/model-versions/get-download-uri")
def get_download_uri(svc: Services, f: Fields) -> dict[str, Any]:
    """Where the version's files are: its run's model directory, through this server."""
    v = svc.registry.get_version(f.text("name"), _version(f))
    if v.run_id is None:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"version {v.version} of {v.name!r} has no source run")
    info = svc.tracking.get_run_info(v.run_id)
    return {"artifact_uri": f"{ARTIFACTS_SCHEME}{info.experiment_id}/{v.run_id}/models/{v.source_path}"}
