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
from assay.api.schemas import MetricHistoryOut, SeriesOut
from assay.series import Downsampled
from assay.services.tracking import Tracking
from assay.web.auth import Svc

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
    svc: Svc,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The whole series ``key`` (which may contain '/') in logged order.

    With ``Accept: application/x-msgpack`` the arrays come packed (see ``assay.wire``), else as JSON
    lists, non-finite values as the strings "NaN", "Infinity" and "-Infinity".
    """
    history = svc.tracking.get_metric_history(run_id, key)
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
    svc: Svc,
    max_points: Annotated[int, Query(ge=1, le=MAX_SERIES_POINTS)] = 1000,
) -> Response:
    """The series ``key`` for drawing: at most ``max_points`` buckets, each with its last point and the
    min/max of its values (see ``assay.series``), so any series length costs the same to draw."""
    return Response(
        series_json(svc.tracking.get_metric_series(run_id, key, max_points)),
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


def _ingest(tracking: Tracking, body: bytes) -> None:
    decoded = wire.decode_ingest(body)
    # The batch id makes a resent batch (after a timeout, or replayed from a client's spool) apply once.
    tracking.ingest(replace(decoded.batch, batch_id=decoded.batch_id))


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
async def ingest(request: Request, svc: Svc) -> None:
    """Create runs, append points and end runs, in that order, all or nothing (``Tracking.ingest``)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip()
    if media_type != wire.MSGPACK:
        raise HTTPException(415, f"the ingest body is {wire.MSGPACK}, not {media_type or 'unspecified'!r}")
    body = await request.body()
    await run_in_threadpool(_ingest, svc.tracking, body)
