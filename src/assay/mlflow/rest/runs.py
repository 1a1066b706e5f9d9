"""MLflow's run calls over assay's tracking service: create, get, update (end), delete, restore, params,
metrics (one point or a batch), tags, metric history and search.

Runs made here are created without a heartbeat (``NewRun.heartbeats``): MLflow's client never sends one,
so assay's reaper must not mark a quiet MLflow run KILLED. ``log-metric`` is one HTTP call per point in
MLflow's client, so its path is one ingest (the series append) and nothing else.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from fastapi import APIRouter

from assay.access import LOCAL_ADMIN
from assay.entities import Lifecycle, RunStatus, SeriesBatch, WriteBatch
from assay.errors import InvalidInput
from assay.mlflow.rest.endpoint import endpoint
from assay.mlflow.rest.errors import invalid
from assay.mlflow.rest.experiments import experiment_id
from assay.mlflow.rest.filters import run_filter, run_order
from assay.mlflow.rest.inputs import dataset_inputs
from assay.mlflow.rest.protocol import Fields, empty, number, run_info_json, run_json, runs_json, to_float
from assay.query import decode_page_token, encode_page_token
from assay.services import Services
from assay.services.tracking import new_run, now_ms

router = APIRouter()

RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"
PARENT_TAG = "mlflow.parentRunId"
#: MLflow's own limits on one log-batch call.
MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS = 1000, 100, 100
MAX_RUNS_PER_PAGE = 50_000


def _kv(items: list[Any], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise invalid(f"each {what} must be an object with a 'key' and a 'value', got {item!r}")
        value = item.get("value")
        out[item["key"]] = "" if value is None else str(value)
    return out


def _run_id(f: Fields) -> str:
    return f.text("run_id", "run_uuid")


@endpoint(router, "POST", "/mlflow/runs/create")
def create_run(svc: Services, f: Fields) -> dict[str, Any]:
    """A RUNNING run, without a heartbeat; its name is ``run_name`` or the ``mlflow.runName`` tag."""
    tags = _kv(f.items("tags"), "tag")
    name = f.opt_text("run_name") or tags.get(RUN_NAME_TAG)
    user = f.opt_text("user_id") or tags.get(USER_TAG)
    if svc.caller is not None and svc.caller != LOCAL_ADMIN:
        user = svc.caller.name  # on a team server, the token's user, not what the client claims
    eid = experiment_id(svc, f.opt_text("experiment_id") or "0", create=True)
    parent = tags.get(PARENT_TAG) or None  # mlflow.start_run(nested=True): assay's parent run
    new = new_run(
        eid, name=name, tags=tags, parent_run_id=parent, start_time=f.opt_integer("start_time"), user=user
    )
    new = replace(new, tags={**new.tags, RUN_NAME_TAG: new.name}, heartbeats=False)
    svc.tracking.ingest(WriteBatch(new_runs=[new]))
    return {"run": run_json(svc.tracking.get_run(new.run_id))}


@endpoint(router, "GET", "/mlflow/runs/get")
def get_run(svc: Services, f: Fields) -> dict[str, Any]:
    """The run with its latest metrics, params, tags and dataset inputs."""
    run = svc.tracking.get_run(_run_id(f))
    return {"run": run_json(run, dataset_inputs(svc.registry.run_datasets(run.info.run_id)))}


@endpoint(router, "POST", "/mlflow/runs/update")
def update_run(svc: Services, f: Fields) -> dict[str, Any]:
    """Rename (``run_name``) and end a run (a final ``status``); an ended run is never reopened in assay."""
    rid = _run_id(f)
    info = svc.tracking.get_run_info(rid)
    name = f.opt_text("run_name")
    if name is not None and name != info.name:
        svc.tracking.rename_run(rid, name)
        svc.tracking.set_tags(rid, {RUN_NAME_TAG: name})
        info = svc.tracking.get_run_info(rid)
    status_text = f.opt_text("status")
    if status_text is None:
        return {"run_info": run_info_json(info)}
    try:
        status = RunStatus(status_text)
    except ValueError:
        raise invalid(f"run status {status_text!r} is not one of RUNNING, FINISHED, FAILED, KILLED") from None
    if status is RunStatus.RUNNING:
        if info.status is not RunStatus.RUNNING:
            raise invalid(
                f"run {rid} has ended ({info.status.value}); assay does not reopen runs: start a new run"
            )
    elif info.status is RunStatus.RUNNING:
        svc.tracking.end_run(rid, status, f.opt_integer("end_time"))
    elif info.status is not status:
        raise invalid(f"run {rid} has ended as {info.status.value} already; it cannot end as {status.value}")
    return {"run_info": run_info_json(svc.tracking.get_run_info(rid))}


@endpoint(router, "POST", "/mlflow/runs/delete")
def delete_run(svc: Services, f: Fields) -> object:
    svc.tracking.delete_run(_run_id(f))
    return empty()


@endpoint(router, "POST", "/mlflow/runs/restore")
def restore_run(svc: Services, f: Fields) -> object:
    svc.tracking.restore_run(_run_id(f))
    return empty()


@endpoint(router, "POST", "/mlflow/runs/log-parameter")
def log_param(svc: Services, f: Fields) -> object:
    svc.tracking.log_params(_run_id(f), {f.text("key"): f.data.get("value", "")})
    return empty()


def _points(run_id: str, metrics: list[Any]) -> list[SeriesBatch]:
    """MLflow metric objects (key, value, timestamp, step) as one SeriesBatch per key, in logged order."""
    by_key: dict[str, tuple[list[int], list[int], list[float]]] = {}
    for m in metrics:
        if not isinstance(m, dict) or not isinstance(m.get("key"), str):
            raise invalid(f"each metric must be an object with 'key', 'value', 'timestamp', got {m!r}")
        steps, times, values = by_key.setdefault(m["key"], ([], [], []))
        try:
            steps.append(int(m.get("step") or 0))
            times.append(int(m.get("timestamp") or now_ms()))
        except (TypeError, ValueError):
            raise invalid(f"metric {m['key']!r}: step and timestamp must be whole numbers") from None
        values.append(to_float(m.get("value"), f"value of metric {m['key']!r}"))
    return [
        SeriesBatch(
            run_id,
            key,
            np.array(steps, dtype=np.int64),
            np.array(times, dtype=np.int64),
            np.array(values, dtype=np.float64),
        )
        for key, (steps, times, values) in by_key.items()
    ]


@endpoint(router, "POST", "/mlflow/runs/log-metric")
def log_metric(svc: Services, f: Fields) -> object:
    """One point: a single ingest of a one-point series (the call MLflow's client makes per point)."""
    svc.tracking.log_series(_points(_run_id(f), [f.data]))
    return empty()


@endpoint(router, "POST", "/mlflow/runs/log-batch")
def log_batch(svc: Services, f: Fields) -> object:
    """Params, then tags, then metric points; each part all or nothing (as MLflow's own stores do)."""
    rid = _run_id(f)
    metrics, params, tags = f.items("metrics"), f.items("params"), f.items("tags")
    if len(metrics) > MAX_BATCH_METRICS or len(params) > MAX_BATCH_PARAMS or len(tags) > MAX_BATCH_TAGS:
        raise invalid(
            f"A batch logging request can contain at most {MAX_BATCH_METRICS} metrics, {MAX_BATCH_PARAMS} "
            f"params and {MAX_BATCH_TAGS} tags; got {len(metrics)}, {len(params)} and {len(tags)}"
        )
    points = _points(rid, metrics)
    if params:
        svc.tracking.log_params(rid, _kv(params, "param"))
    if tags:
        svc.tracking.set_tags(rid, _kv(tags, "tag"))
    if points:
        svc.tracking.log_series(points)
    if not (params or tags or points):
        svc.tracking.get_run_info(rid)
    return empty()


@endpoint(router, "POST", "/mlflow/runs/set-tag")
def set_tag(svc: Services, f: Fields) -> object:
    """A tag; ``mlflow.runName`` renames the run too, as on MLflow's server."""
    rid, key, value = _run_id(f), f.text("key"), f.data.get("value", "")
    svc.tracking.set_tags(rid, {key: value})
    if key == RUN_NAME_TAG and isinstance(value, str) and value:
        svc.tracking.rename_run(rid, value)
    return empty()


@endpoint(router, "POST", "/mlflow/runs/delete-tag")
def delete_tag(svc: Services, f: Fields) -> object:
    svc.tracking.delete_tag(_run_id(f), f.text("key"))
    return empty()


MAX_HISTORY_PAGE = 25_000


@endpoint(router, "GET", "/mlflow/metrics/get-history")
def get_metric_history(svc: Services, f: Fields) -> dict[str, Any]:
    """Every point of one metric in logged order, paged when ``max_results`` is given."""
    rid, key = _run_id(f), f.text("metric_key")
    history = svc.tracking.get_metric_history(rid, key)
    offset = decode_page_token(f.opt_text("page_token"))
    limit = f.opt_integer("max_results") or len(history)
    end = min(offset + max(limit, 1), len(history))
    steps, times, values = history.steps.tolist(), history.timestamps.tolist(), history.values.tolist()
    points = [
        {"key": key, "value": number(values[i]), "timestamp": times[i], "step": steps[i]}
        for i in range(offset, end)
    ]
    out: dict[str, Any] = {"metrics": points}
    if end < len(history):
        out["next_page_token"] = encode_page_token(end)
    return out


#: Whether a view searches deleted runs too. DELETED_ONLY searches all and keeps the deleted ones of each
#: page: pages may come short (even empty) with a next token, which MLflow's client follows.
_VIEW = {"ACTIVE_ONLY": False, "ALL": True, "DELETED_ONLY": True}


@endpoint(router, "POST", "/mlflow/runs/search")
def search_runs(svc: Services, f: Fields) -> dict[str, Any]:
    """Runs matching MLflow's filter, in MLflow's order, one page at a time (assay's page tokens)."""
    view = (f.opt_text("run_view_type") or "ACTIVE_ONLY").upper()
    if view not in _VIEW:
        raise invalid(f"run_view_type must be ACTIVE_ONLY, DELETED_ONLY or ALL, got {view!r}")
    limit = f.opt_integer("max_results") or 1000
    if not 0 < limit <= MAX_RUNS_PER_PAGE:
        raise invalid(
            f"Invalid value {limit} for parameter 'max_results': it must be 1 to {MAX_RUNS_PER_PAGE}"
        )
    experiment_ids = [experiment_id(svc, str(e)) for e in f.items("experiment_ids")]
    try:
        found = svc.tracking.search_runs(
            experiment_ids,
            run_filter(f.opt_text("filter")),
            run_order(f.items("order_by")),
            limit,
            f.opt_text("page_token"),
            include_deleted=_VIEW[view],
        )
    except InvalidInput as exc:
        raise invalid(exc.message) from None
    page = [r for r in found if r.info.lifecycle is Lifecycle.DELETED] if view == "DELETED_ONLY" else found
    out: dict[str, Any] = {"runs": runs_json(page)}
    if found.next_page_token:
        out["next_page_token"] = found.next_page_token
    return out
