"""Registry routes: models, versions, tags, aliases and their audit trail, promotion, alias policies,
performance history, lineage, and datasets. Thin: parse, call ``svc.registry`` (which checks the caller's
roles), serialize the registry's entities as they are.

Model names are unique within a project: every ``/models/{name}`` route takes ``?project=`` to name the
model in one project (a '/' cannot travel inside a path segment, so ``project/name`` is sent this way);
without it, the name is the one model of that name the caller may read (400 listing the candidates when
several projects hold it). A project the caller cannot read answers 404, as a model that does not exist."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from assay.api import registry as s
from assay.artifacts.uri import clean_path
from assay.registry.entities import (
    AliasEvent,
    AliasPolicy,
    Dataset,
    DatasetUse,
    Lineage,
    ModelVersion,
    PerformanceRecord,
    Promotion,
    RegisteredModel,
)
from assay.registry.uris import qualify
from assay.server.artifacts import FILE_BODY, NOSNIFF, OCTETS
from assay.web.auth import Svc

router = APIRouter(tags=["registry"])
MODEL = "/models/{name}"
VERSION = MODEL + "/versions/{version}"


def _model(
    name: str,
    project: Annotated[
        str | None,
        Query(
            description="The model's project (names are unique per project); default: the one model of "
            "that name the caller may read."
        ),
    ] = None,
) -> str:
    """The model a ``/models/{name}`` route names, as the registry takes it: ``name`` or ``project/name``."""
    return name if project is None else qualify(project, name)


#: The model of a ``/models/{name}`` route (``name`` in the path, its project in ``?project=``).
Model = Annotated[str, Depends(_model)]


@router.get("/models")
def list_models(svc: Svc, project: str | None = None, name: str | None = None) -> s.ModelList:
    """Registered models the caller may read (of one project, and called exactly ``name``, when given),
    with aliases and latest version."""
    return s.ModelList(models=svc.registry.list_models(project, name))


@router.post("/models", status_code=201)
def create_model(body: s.CreateModel, svc: Svc) -> RegisteredModel:
    """A new model name in a project (editors). Registering a version creates its model too."""
    return svc.registry.create_model(body.name, body.project, body.description, body.tags)


@router.get(MODEL)
def get_model(model: Model, svc: Svc) -> RegisteredModel:
    return svc.registry.get_model(model)


@router.patch(MODEL)
def update_model(model: Model, body: s.Describe, svc: Svc) -> RegisteredModel:
    return svc.registry.update_model(model, body.description)


@router.delete(MODEL, status_code=204)
def delete_model(model: Model, svc: Svc) -> None:
    """Delete a model, its versions and aliases (owners). Its version numbers are never given again."""
    svc.registry.delete_model(model)


@router.put(MODEL + "/tags/{key:path}", status_code=204)
def set_model_tag(model: Model, key: str, body: s.TagValue, svc: Svc) -> None:
    svc.registry.set_model_tag(model, key, body.value)


@router.delete(MODEL + "/tags/{key:path}", status_code=204)
def delete_model_tag(model: Model, key: str, svc: Svc) -> None:
    svc.registry.delete_model_tag(model, key)


@router.get(MODEL + "/versions")
def list_versions(model: Model, svc: Svc) -> s.VersionList:
    """The model's versions, newest first."""
    return s.VersionList(versions=svc.registry.list_versions(model))


@router.post(MODEL + "/versions", status_code=201)
def create_version(model: Model, body: s.CreateVersion, svc: Svc) -> ModelVersion:
    """Register the model a run logged (``runs:/<run_id>/<path>``) as the next version (editors)."""
    return svc.registry.create_version(model, body.source, body.description, body.tags, body.project)


@router.get(VERSION)
def get_version(model: Model, version: int, svc: Svc) -> ModelVersion:
    return svc.registry.get_version(model, version)


@router.patch(VERSION)
def update_version(model: Model, version: int, body: s.Describe, svc: Svc) -> ModelVersion:
    return svc.registry.update_version(model, version, body.description)


@router.delete(VERSION, status_code=204)
def delete_version(model: Model, version: int, svc: Svc) -> None:
    svc.registry.delete_version(model, version)


@router.put(VERSION + "/tags/{key:path}", status_code=204)
def set_version_tag(model: Model, version: int, key: str, body: s.TagValue, svc: Svc) -> None:
    svc.registry.set_version_tag(model, version, key, body.value)


@router.delete(VERSION + "/tags/{key:path}", status_code=204)
def delete_version_tag(model: Model, version: int, key: str, svc: Svc) -> None:
    svc.registry.delete_version_tag(model, version, key)


@router.get(MODEL + "/aliases/{alias}")
def get_version_by_alias(model: Model, alias: str, svc: Svc) -> ModelVersion:
    """The version an alias points at (``models:/<name>@<alias>``)."""
    return svc.registry.get_version_by_alias(model, alias)


@router.put(MODEL + "/aliases/{alias}")
def set_alias(model: Model, alias: str, body: s.MoveAlias, svc: Svc) -> AliasEvent:
    """Point an alias at a version, audited (owners for a protected alias, else editors)."""
    return svc.registry.set_alias(model, alias, body.version, body.reason, body.force)


@router.delete(MODEL + "/aliases/{alias}")
def delete_alias(model: Model, alias: str, svc: Svc, reason: str = "") -> AliasEvent:
    return svc.registry.delete_alias(model, alias, reason)


@router.get(MODEL + "/audit")
def alias_history(model: Model, svc: Svc, alias: str | None = None) -> s.EventList:
    """Every alias move, deletion and refused promotion of the model, newest first."""
    return s.EventList(events=svc.registry.alias_history(model, alias))


@router.post(VERSION + "/promote")
def promote(model: Model, version: int, body: s.Promote, svc: Svc) -> Promotion:
    """Move an alias to this version if the rule holds (the project's rule for the alias by default);
    409 with both values when it does not, the refusal recorded in the audit trail."""
    return svc.registry.promote(model, version, body.alias, body.rule, body.reason, body.force)


@router.get("/alias-policies")
def list_alias_policies(svc: Svc, project: str | None = None) -> s.PolicyList:
    return s.PolicyList(policies=svc.registry.list_alias_policies(project))


@router.put("/alias-policies/{project}/{alias}")
def set_alias_policy(project: str, alias: str, body: s.SetPolicy, svc: Svc) -> AliasPolicy:
    """Mark an alias protected in a project and give its default promotion rule (owners)."""
    return svc.registry.set_alias_policy(project, alias, body.protected, body.rule)


@router.post(VERSION + "/performance", status_code=201)
def record_performance(model: Model, version: int, body: s.RecordPerformance, svc: Svc) -> PerformanceRecord:
    """Keep the metrics of an evaluation of this version on new data."""
    return svc.registry.record_performance(
        model, version, body.metrics, body.evaluation, body.run_id, body.dataset
    )


@router.get(MODEL + "/performance")
def performance_history(model: Model, svc: Svc, version: int | None = None) -> s.RecordList:
    """Training metrics, then every recorded evaluation, oldest first."""
    return s.RecordList(records=svc.registry.performance_history(model, version))


@router.get(VERSION + "/metrics")
def version_metrics(model: Model, version: int, svc: Svc) -> s.Metrics:
    return s.Metrics(metrics=svc.registry.version_metrics(model, version))


@router.get(VERSION + "/lineage")
def lineage(model: Model, version: int, svc: Svc) -> Lineage:
    """The version's run, params, git commit, notebook and datasets."""
    return svc.registry.lineage(model, version)


@router.put("/projects/{project}/settings/{key}", status_code=204)
def set_project_setting(project: str, key: str, body: dict[str, Any], svc: Svc) -> None:
    """A project's setting, such as "onnx.tolerances" (owners)."""
    svc.registry.set_project_setting(project, key, body)


@router.get("/projects/{project}/settings/{key}")
def project_setting(project: str, key: str, svc: Svc) -> dict[str, Any] | None:
    """A project's setting (null if unset)."""
    return svc.registry.project_setting(project, key)


@router.put(
    VERSION + "/files/{path:path}",
    status_code=204,
    openapi_extra={"requestBody": {"required": True, **FILE_BODY}},
)
async def put_version_file(model: Model, version: int, path: str, request: Request, svc: Svc) -> None:
    """Keep a file with the version (the raw request body), such as its ONNX conversion (editors)."""
    clean_path(path)
    data = await request.body()
    await run_in_threadpool(svc.registry.put_version_file, model, version, path, data)


@router.get(VERSION + "/files/{path:path}", response_class=Response, responses={200: FILE_BODY})
def read_version_file(model: Model, version: int, path: str, svc: Svc) -> Response:
    return Response(svc.registry.read_version_file(model, version, path), media_type=OCTETS, headers=NOSNIFF)


@router.put(VERSION + "/reports/{kind}", status_code=204)
def set_version_report(model: Model, version: int, kind: str, body: dict[str, Any], svc: Svc) -> None:
    """Keep a JSON report of ``kind`` with the version ("onnx", "parity", "latency"), replacing the last."""
    svc.registry.set_version_report(model, version, kind, body)


@router.get(VERSION + "/reports")
def version_reports(model: Model, version: int, svc: Svc) -> dict[str, dict[str, Any]]:
    """The version's reports by kind."""
    return svc.registry.version_reports(model, version)


@router.post("/runs/{run_id}/datasets", status_code=201)
def log_dataset(run_id: str, body: s.LogDataset, svc: Svc) -> DatasetUse:
    return svc.registry.log_dataset(run_id, body.dataset, body.context)


@router.get("/runs/{run_id}/datasets")
def run_datasets(run_id: str, svc: Svc) -> s.UseList:
    return s.UseList(uses=svc.registry.run_datasets(run_id))


@router.get("/datasets")
def list_datasets(svc: Svc, project: str | None = None) -> s.DatasetList:
    return s.DatasetList(datasets=svc.registry.list_datasets(project))


@router.get("/datasets/{dataset_id}")
def get_dataset(dataset_id: int, svc: Svc) -> Dataset:
    return svc.registry.get_dataset(dataset_id)


@router.get("/datasets/{dataset_id}/usage")
def dataset_usage(dataset_id: int, svc: Svc) -> s.DatasetUsage:
    """The runs that used the dataset and the versions registered from them."""
    uses, versions = svc.registry.dataset_usage(dataset_id)
    return s.DatasetUsage(uses=uses, versions=versions)
