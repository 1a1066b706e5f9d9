"""Metric routes: the batch ingest endpoint the SDK's background writer calls, and series histories.

Both hot paths speak msgpack with packed arrays (see ``assay.wire`` for the format); the history
also answers JSON lists for people and browsers, chosen by the ``Accept`` header.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from assay import wire
from assay.access import Role
from assay.api.schemas import MetricHistoryOut, SeriesOut
from assay.entities import WriteBatch
from assay.series import Downsampled
from assay.server.auth import Caller, CallerDep
from assay.server.deps import Service
from assay.services.tracking import Tracking, split_by_name

log = logging.getLogger("assay.server")
router = APIRouter(tags=["metrics"])

_BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/runs/{run_id}/metrics/{key:path}/history",
    response_model=MetricHistoryOut,
    responses={200: {"content": {wire.MSGPACK: _BINARY}, "description": "JSON lists, or packed arrays"}},
)
def metric_history(
    run_id: str,
    key: str,
    service: Service,
    caller: CallerDep,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The whole series ``key`` (which may contain '/') in logged order.

    With ``Accept: application/x-msgpack`` the arrays come packed (see ``assay.wire``), else as JSON
    lists, non-finite values as the strings "NaN", "Infinity" and "-Infinity".
    """
    caller.require_run(Role.VIEWER, run_id, "reading metrics")
    history = service.get_metric_history(run_id, key)
    headers = {"Vary": "Accept"}
    if accept is not None and wire.MSGPACK in accept:
        return Response(wire.encode_history(history), media_type=wire.MSGPACK, headers=headers)
    body = MetricHistoryOut.of(history).model_dump_json()
    return Response(body, media_type="application/json", headers=headers)


#: The most points a series answer may hold (per bucket: last, min, max).
MAX_SERIES_POINTS = 20_000


@router.get("/runs/{run_id}/metrics/{key:path}/series", response_model=SeriesOut)
def metric_series(
    run_id: str,
    key: str,
    service: Service,
    caller: CallerDep,
    max_points: Annotated[int, Query(ge=1, le=MAX_SERIES_POINTS)] = 1000,
) -> Response:
    """The series ``key`` for drawing: at most ``max_points`` buckets, each with its last point and the
    min/max of its values (see ``assay.series``), so any series length costs the same to draw."""
    caller.require_run(Role.VIEWER, run_id, "reading metrics")
    return Response(
        series_json(service.get_metric_series(run_id, key, max_points)),
        media_type="application/json",
    )


def series_json(d: Downsampled) -> bytes:
    """A downsampled series as JSON (numpy arrays serialized natively; NaN and infinities become null)."""
    return orjson.dumps(
        {
            "key": d.key,
            "total": d.total,
            "downsampled": d.downsampled,
            "steps": d.steps,
            "timestamps": d.timestamps,
            "last": d.last,
            "min": d.min,
            "max": d.max,
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def _authorize(service: Tracking, caller: Caller, batch: WriteBatch) -> None:
    """Editor on every project the batch writes to: its new runs' experiments, the other runs' own.

    A run started offline names its experiment (``by-name:<project>:<name>``): editor on that experiment's
    project if it exists, else on the project it is to be created in.
    """
    if caller.principal.is_admin:
        return
    new = {r.run_id for r in batch.new_runs}
    experiments = set()
    for eid in {r.experiment_id for r in batch.new_runs}:
        named = split_by_name(eid)
        if named is None:
            experiments.add(eid)
            continue
        exp = service.get_experiment_by_name(named[1])
        if exp is not None:
            experiments.add(exp.experiment_id)
        else:
            caller.require_project(Role.EDITOR, named[0], "creating experiments")
    caller.require_experiments(Role.EDITOR, experiments, "creating runs")
    touched = {s.run_id for s in batch.series} | {e.run_id for e in batch.ends}
    caller.require_runs(Role.EDITOR, touched - new, "logging to runs")


def _ingest(service: Tracking, caller: Caller, body: bytes) -> None:
    decoded = wire.decode_ingest(body)
    _authorize(service, caller, decoded.batch)
    # The batch id makes a resent batch (after a timeout, or replayed from a client's spool) apply once.
    service.ingest(replace(decoded.batch, batch_id=decoded.batch_id))


@router.post(
    "/ingest",
    status_code=204,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "new runs, metric series and run ends; format in assay.wire",
            "content": {wire.MSGPACK: _BINARY},
        }
    },
)
async def ingest(request: Request, service: Service, caller: CallerDep) -> None:
    """Create runs, append points and end runs, in that order, all or nothing (``Tracking.ingest``)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip()
    if media_type != wire.MSGPACK:
        raise HTTPException(415, f"the ingest body is {wire.MSGPACK}, not {media_type or 'unspecified'!r}")
    body = await request.body()
    await run_in_threadpool(_ingest, service, caller, body)
