"""The registry's pages: models, a model's versions, a version (lineage, signature, audit trail,
performance history chart), and datasets. Like the run pages they read through ``Svc`` (the caller's own
services), so the roles are the API's.

Model names are unique within a project: a model's pages take ``?project=`` as the API's routes do (the
links carry it), and without it name the one model of that name the caller may read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from assay.errors import NotFound
from assay.registry.entities import PerformanceRecord, signature_columns
from assay.registry.uris import qualify
from assay.ui.views import _json_for_script, _page
from assay.web.auth import Svc

router = APIRouter(include_in_schema=False)

#: Metrics shown as columns of a model's versions table.
MAX_METRIC_COLUMNS = 6


def _model(name: str, project: str | None = None) -> str:
    """The model a page names, as the registry takes it: ``name``, or ``project/name``."""
    return name if project is None else qualify(project, name)


Model = Annotated[str, Depends(_model)]


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, svc: Svc) -> HTMLResponse:
    """Every model the caller may read: latest version, aliases, last update."""
    return _page(request, "models.html", svc, models=svc.registry.list_models())


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(request: Request, ref: Model, svc: Svc) -> HTMLResponse:
    """A model's versions with their metrics and alias badges, and the alias audit trail."""
    model = svc.registry.get_model(ref)
    name = model.qualified_name
    versions = svc.registry.list_versions(name)
    metrics = {v.version: svc.registry.version_metrics(name, v.version) for v in versions}
    keys = sorted({k for m in metrics.values() for k in m})[:MAX_METRIC_COLUMNS]
    return _page(
        request,
        "model.html",
        svc,
        model=model,
        versions=versions,
        metrics=metrics,
        keys=keys,
        events=svc.registry.alias_history(name)[:50],
        history=_json_for_script(_history(svc.registry.performance_history(name))),
    )


def _history(records: list[PerformanceRecord]) -> dict[str, Any]:
    """Performance records as one series per (version, metric), for the chart over time."""
    series: dict[str, dict[str, Any]] = {}
    for r in records:
        for key, value in r.metrics.items():
            s = series.setdefault(
                f"v{r.version} {key}", {"version": r.version, "key": key, "x": [], "y": [], "text": []}
            )
            s["x"].append(r.at)
            s["y"].append(value)
            s["text"].append(r.evaluation or r.source)
    return {"series": list(series.values())}


@router.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
def version_page(request: Request, ref: Model, version: int, svc: Svc) -> HTMLResponse:
    """A version: source, signature, lineage (run, params, commit, notebook, datasets), its ONNX conversion
    with the parity report and latency card, performance history (table and chart) and the audit trail of
    aliases that pointed at it."""
    mv = svc.registry.get_version(ref, version)
    name = mv.qualified_name
    records = svc.registry.performance_history(name, version)
    events = [e for e in svc.registry.alias_history(name) if version in (e.from_version, e.to_version)]
    try:
        lineage = svc.registry.lineage(name, version)
    except NotFound:
        lineage = None
    reports = svc.registry.version_reports(name, version)
    return _page(
        request,
        "version.html",
        svc,
        onnx=reports.get("onnx"),
        parity=reports.get("parity"),
        latency=reports.get("latency"),
        mv=mv,
        lineage=lineage,
        records=records,
        events=events,
        history=_json_for_script(_history(records)),
        signature={part: signature_columns((mv.signature or {}).get(part)) for part in ("inputs", "outputs")},
    )


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, svc: Svc) -> HTMLResponse:
    return _page(request, "datasets.html", svc, datasets=svc.registry.list_datasets())


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset_id: int, svc: Svc) -> HTMLResponse:
    """A dataset: digest, schema with statistics, every run that used it and the versions from them."""
    ds = svc.registry.get_dataset(dataset_id)
    uses, versions = svc.registry.dataset_usage(dataset_id)
    return _page(request, "dataset.html", svc, ds=ds, uses=uses, versions=versions)
