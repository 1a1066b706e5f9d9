"""Run routes: create, read, params, tags, end, heartbeat, delete/restore and search."""

from __future__ import annotations

from fastapi import APIRouter, Response

from assay.access import Role
from assay.api.schemas import (
    CreateRun,
    EndRun,
    Heartbeat,
    LogParams,
    RunInfoOut,
    RunListOut,
    RunOut,
    SearchRuns,
    SetTags,
    run_list_json,
)
from assay.entities import RunList
from assay.server.auth import CallerDep
from assay.server.deps import Service

router = APIRouter(tags=["runs"])


@router.post("/runs", status_code=201)
def create_run(body: CreateRun, service: Service, caller: CallerDep) -> RunInfoOut:
    """Start a RUNNING run (the SDK usually creates runs in batches through /ingest instead)."""
    caller.require_experiments(Role.EDITOR, [body.experiment_id], "creating runs")
    info = service.create_run(
        body.experiment_id,
        name=body.name,
        params=body.params,
        tags=body.tags,
        parent_run_id=body.parent_run_id,
        run_id=body.run_id,
        start_time=body.start_time,
        user=body.user,
    )
    return RunInfoOut.of(info)


@router.post("/runs/search", response_model=RunListOut)
def search_runs(body: SearchRuns, service: Service, caller: CallerDep) -> Response:
    """Runs matching ``filter``, ordered and paged; pass ``next_page_token`` back for the next page."""
    experiment_ids = caller.readable_experiment_ids(body.experiment_ids)
    if experiment_ids is not None and not experiment_ids:
        return Response(run_list_json(RunList([])), media_type="application/json")
    found = service.search_runs(
        experiment_ids or (),
        body.filter,
        body.order_by,
        body.max_results,
        body.page_token,
        body.include_deleted,
    )
    return Response(run_list_json(found), media_type="application/json")


@router.post("/runs/heartbeat", status_code=204)
def heartbeat(body: Heartbeat, service: Service, caller: CallerDep) -> None:
    """Keep the given running runs alive (a run without heartbeats reads as KILLED after a while)."""
    caller.require_runs(Role.EDITOR, body.run_ids, "sending heartbeats")
    service.heartbeat(body.run_ids)


@router.get("/runs/{run_id}")
def get_run(run_id: str, service: Service, caller: CallerDep) -> RunOut:
    """A run with its info, params, tags and metric summaries."""
    caller.require_run(Role.VIEWER, run_id, "reading runs")
    return RunOut.of(service.get_run(run_id))


@router.get("/runs/{run_id}/info")
def get_run_info(run_id: str, service: Service, caller: CallerDep) -> RunInfoOut:
    caller.require_run(Role.VIEWER, run_id, "reading runs")
    return RunInfoOut.of(service.get_run_info(run_id))


@router.delete("/runs/{run_id}", status_code=204)
def delete_run(run_id: str, service: Service, caller: CallerDep) -> None:
    caller.require_run(Role.EDITOR, run_id, "deleting runs")
    service.delete_run(run_id)


@router.post("/runs/{run_id}/restore", status_code=204)
def restore_run(run_id: str, service: Service, caller: CallerDep) -> None:
    caller.require_run(Role.EDITOR, run_id, "restoring runs")
    service.restore_run(run_id)


@router.post("/runs/{run_id}/params", status_code=204)
def log_params(run_id: str, body: LogParams, service: Service, caller: CallerDep) -> None:
    """Log params, all or nothing; 409 CONFLICT if one was logged before with another value."""
    caller.require_run(Role.EDITOR, run_id, "logging params")
    service.log_params(run_id, body.params)


@router.post("/runs/{run_id}/tags", status_code=204)
def set_tags(run_id: str, body: SetTags, service: Service, caller: CallerDep) -> None:
    """Set (or overwrite) tags."""
    caller.require_run(Role.EDITOR, run_id, "setting tags")
    service.set_tags(run_id, body.tags)


@router.delete("/runs/{run_id}/tags/{key:path}", status_code=204)
def delete_tag(run_id: str, key: str, service: Service, caller: CallerDep) -> None:
    """Delete one tag; ``key`` may contain '/'."""
    caller.require_run(Role.EDITOR, run_id, "deleting tags")
    service.delete_tag(run_id, key)


@router.post("/runs/{run_id}/end", status_code=204)
def end_run(run_id: str, body: EndRun, service: Service, caller: CallerDep) -> None:
    """End a run with a final status; 409 INVALID_STATE if it has ended already."""
    caller.require_run(Role.EDITOR, run_id, "ending runs")
    service.end_run(run_id, body.status, body.end_time)
