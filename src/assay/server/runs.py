"""Run routes: create, read, params, tags, end, heartbeat, delete/restore and search."""

from __future__ import annotations

from fastapi import APIRouter, Response

from assay.api.schemas import (
    CreateRun,
    EndRun,
    Heartbeat,
    LogParams,
    Rename,
    RunInfoOut,
    RunListOut,
    RunOut,
    SearchRuns,
    SetTags,
    run_list_json,
)
from assay.web.auth import Svc

router = APIRouter(tags=["runs"])


@router.post("/runs", status_code=201)
def create_run(body: CreateRun, svc: Svc) -> RunInfoOut:
    """Start a RUNNING run (the SDK usually creates runs in batches through /ingest instead)."""
    info = svc.tracking.create_run(
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
def search_runs(body: SearchRuns, svc: Svc) -> Response:
    """Runs matching ``filter``, ordered and paged; pass ``next_page_token`` back for the next page."""
    found = svc.tracking.search_runs(
        body.experiment_ids,
        body.filter,
        body.order_by,
        body.max_results,
        body.page_token,
        body.include_deleted,
    )
    return Response(run_list_json(found), media_type="application/json")


@router.post("/runs/heartbeat", status_code=204)
def heartbeat(body: Heartbeat, svc: Svc) -> None:
    """Keep the given running runs alive (a run without heartbeats reads as KILLED after a while)."""
    svc.tracking.heartbeat(body.run_ids)


@router.get("/runs/{run_id}")
def get_run(run_id: str, svc: Svc) -> RunOut:
    """A run with its info, params, tags and metric summaries."""
    return RunOut.of(svc.tracking.get_run(run_id))


@router.get("/runs/{run_id}/info")
def get_run_info(run_id: str, svc: Svc) -> RunInfoOut:
    return RunInfoOut.of(svc.tracking.get_run_info(run_id))


@router.delete("/runs/{run_id}", status_code=204)
def delete_run(run_id: str, svc: Svc) -> None:
    svc.tracking.delete_run(run_id)


@router.patch("/runs/{run_id}", status_code=204)
def rename_run(run_id: str, body: Rename, svc: Svc) -> None:
    """Give the run a new display name (editor)."""
    svc.tracking.rename_run(run_id, body.name)


@router.post("/runs/{run_id}/restore", status_code=204)
def restore_run(run_id: str, svc: Svc) -> None:
    svc.tracking.restore_run(run_id)


@router.post("/runs/{run_id}/params", status_code=204)
def log_params(run_id: str, body: LogParams, svc: Svc) -> None:
    """Log params, all or nothing; 409 CONFLICT if one was logged before with another value."""
    svc.tracking.log_params(run_id, body.params)


@router.post("/runs/{run_id}/tags", status_code=204)
def set_tags(run_id: str, body: SetTags, svc: Svc) -> None:
    """Set (or overwrite) tags."""
    svc.tracking.set_tags(run_id, body.tags)


@router.delete("/runs/{run_id}/tags/{key:path}", status_code=204)
def delete_tag(run_id: str, key: str, svc: Svc) -> None:
    """Delete one tag; ``key`` may contain '/'."""
    svc.tracking.delete_tag(run_id, key)


@router.post("/runs/{run_id}/end", status_code=204)
def end_run(run_id: str, body: EndRun, svc: Svc) -> None:
    """End a run with a final status; 409 INVALID_STATE if it has ended already."""
    svc.tracking.end_run(run_id, body.status, body.end_time)
