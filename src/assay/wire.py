"""The binary wire format of the hot paths: metric batches in, metric histories out (msgpack).

Pure module (no I/O), shared by the server and the remote client, so both sides read one definition.
Series travel as raw little-endian arrays rather than lists of numbers: a 100,000-point series is three
``bin`` fields that numpy reads without a per-point Python object, on either side.

Ingest body (``POST /api/v1/ingest``, ``Content-Type: application/x-msgpack``), one msgpack map::

    {"v": 1,                                  # format version (optional, default 1)
     "batch_id": "9f0c...",                   # optional string: a batch sent again is applied once
     "new_runs": [{"run_id": str, "experiment_id": str, "name": str, "start_time": int (ms),
                   "user": str, "params": {str: str}, "tags": {str: str}, "parent_run_id": str | nil,
                   "heartbeats": bool}],          # optional, default true: false for a run whose client
                                                  # never heartbeats (an import, MLflow's), never reaped
     "series":   [{"run_id": str, "key": str,
                   "steps": bin (int64 LE), "timestamps": bin (int64 LE, ms), "values": bin (float64 LE)}],
     "ends":     [{"run_id": str, "status": "FINISHED" | "FAILED" | "KILLED", "end_time": int (ms)}]}

Each list may be omitted when empty; the three arrays of a series hold the same number of points. The batch
is applied as ``Tracking.ingest``: runs created, then points appended, then runs ended, all or nothing.

Metric history (``GET .../metrics/{key}/history`` with ``Accept: application/x-msgpack``)::

    {"key": str, "steps": bin (int64 LE), "timestamps": bin (int64 LE), "values": bin (float64 LE)}
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

from assay.entities import MetricHistory, NewRun, RunEnd, RunStatus, SeriesBatch, WriteBatch
from assay.errors import InvalidInput

MSGPACK = "application/x-msgpack"
VERSION = 1
_I8 = np.dtype("<i8")
_F8 = np.dtype("<f8")


@dataclass(frozen=True, slots=True)
class Ingest:
    """A decoded ingest body: the batch to apply and the sender's batch id, if it gave one."""

    batch: WriteBatch
    batch_id: str | None = None


def new_batch_id() -> str:
    """A fresh batch id carrying its creation time: ``t<ms, 12 hex digits>-<random>``
    (``entities.batch_created_ms`` reads it back)."""
    return f"t{int(time.time() * 1000):012x}-{uuid.uuid4().hex}"


def _ints(a: npt.NDArray[np.int64]) -> bytes:
    return np.ascontiguousarray(a, dtype=_I8).tobytes()


def _floats(a: npt.NDArray[np.float64]) -> bytes:
    return np.ascontiguousarray(a, dtype=_F8).tobytes()


def _pack(obj: Mapping[str, Any]) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


def encode_ingest(batch: WriteBatch, batch_id: str | None = None) -> bytes:
    """The msgpack body of ``POST /api/v1/ingest`` for ``batch``."""
    body: dict[str, Any] = {"v": VERSION}
    if batch_id is not None:
        body["batch_id"] = batch_id
    if batch.new_runs:
        body["new_runs"] = [
            {
                "run_id": r.run_id,
                "experiment_id": r.experiment_id,
                "name": r.name,
                "start_time": r.start_time,
                "user": r.user,
                "params": dict(r.params),
                "tags": dict(r.tags),
                "parent_run_id": r.parent_run_id,
                **({} if r.heartbeats else {"heartbeats": False}),
            }
            for r in batch.new_runs
        ]
    if batch.series:
        body["series"] = [
            {
                "run_id": s.run_id,
                "key": s.key,
                "steps": _ints(s.steps),
                "timestamps": _ints(s.timestamps),
                "values": _floats(s.values),
            }
            for s in batch.series
        ]
    if batch.ends:
        body["ends"] = [
            {"run_id": e.run_id, "status": RunStatus(e.status).value, "end_time": e.end_time}
            for e in batch.ends
        ]
    try:
        return _pack(body)
    except (OverflowError, TypeError, ValueError) as exc:  # a number beyond 64 bits, a value of no type
        raise InvalidInput(
            f"this batch cannot be sent: {exc} (times and steps are 64-bit integers)"
        ) from None


def encode_history(h: MetricHistory) -> bytes:
    """The msgpack body of a metric history response."""
    return _pack(
        {
            "key": h.key,
            "steps": _ints(h.steps),
            "timestamps": _ints(h.timestamps),
            "values": _floats(h.values),
        }
    )


def decode_history(data: bytes) -> MetricHistory:
    """A metric history from its msgpack body (writable native arrays, as the embedded store returns)."""
    body = _unpack(data, "metric history")
    return MetricHistory(
        key=_get(body, "key", str, "metric history"),
        steps=_array(body, "steps", _I8, "metric history").astype(np.int64),
        timestamps=_array(body, "timestamps", _I8, "metric history").astype(np.int64),
        values=_array(body, "values", _F8, "metric history").astype(np.float64),
    )


def decode_ingest(data: bytes) -> Ingest:
    """Decode an ingest body; InvalidInput names the first field that breaks the format."""
    body = _unpack(data, "ingest body")
    unknown = set(body) - {"v", "batch_id", "new_runs", "series", "ends"}
    if unknown:
        raise InvalidInput(f"ingest body has unknown fields {sorted(unknown)}: see assay.wire")
    if body.get("v", VERSION) != VERSION:
        raise InvalidInput(
            f"ingest body is format version {body['v']!r}; this server reads version {VERSION}"
        )
    batch_id = body.get("batch_id")
    if batch_id is not None and not isinstance(batch_id, str):
        raise InvalidInput(f"ingest body: batch_id must be a string, got {type(batch_id).__name__}")
    batch = WriteBatch(
        new_runs=[_new_run(r, f"ingest body: new_runs[{i}]") for i, r in enumerate(_list(body, "new_runs"))],
        series=[_series(s, f"ingest body: series[{i}]") for i, s in enumerate(_list(body, "series"))],
        ends=[_end(e, f"ingest body: ends[{i}]") for i, e in enumerate(_list(body, "ends"))],
    )
    return Ingest(batch, batch_id)


def _unpack(data: bytes, what: str) -> dict[str, Any]:
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise InvalidInput(f"{what} is not valid msgpack: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidInput(f"{what} must be a msgpack map, got {type(body).__name__}")
    return body


def _get(d: Any, name: str, tp: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(d, dict):
        raise InvalidInput(f"{where} must be a map, got {type(d).__name__}")
    if name not in d:
        raise InvalidInput(f"{where} has no {name!r}")
    value = d[name]
    if not isinstance(value, tp) or (isinstance(value, bool) and tp is int):
        raise InvalidInput(f"{where}.{name} has the wrong type ({type(value).__name__})")
    return value


def _list(body: dict[str, Any], name: str) -> list[Any]:
    items = body.get(name, [])
    if not isinstance(items, list):
        raise InvalidInput(f"ingest body: {name} must be a list, got {type(items).__name__}")
    return items


def _texts(d: Any, name: str, where: str) -> dict[str, str]:
    m = d.get(name, {}) if isinstance(d, dict) else None
    if not isinstance(m, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in m.items()):
        raise InvalidInput(f"{where}.{name} must map strings to strings")
    return m


def _new_run(d: Any, where: str) -> NewRun:
    parent = d.get("parent_run_id") if isinstance(d, dict) else None
    if parent is not None and not isinstance(parent, str):
        raise InvalidInput(f"{where}.parent_run_id must be a string or nil")
    heartbeats = d.get("heartbeats", True) if isinstance(d, dict) else True
    if not isinstance(heartbeats, bool):
        raise InvalidInput(f"{where}.heartbeats must be true or false")
    return NewRun(
        run_id=_get(d, "run_id", str, where),
        experiment_id=_get(d, "experiment_id", str, where),
        name=_get(d, "name", str, where),
        start_time=_get(d, "start_time", int, where),
        user=_get(d, "user", str, where),
        params=_texts(d, "params", where),
        tags=_texts(d, "tags", where),
        parent_run_id=parent,
        heartbeats=heartbeats,
    )


def _array(d: Any, name: str, dtype: np.dtype[Any], where: str) -> npt.NDArray[Any]:
    raw = _get(d, name, bytes, where)
    if len(raw) % 8:
        raise InvalidInput(f"{where}.{name} is {len(raw)} bytes, not a whole number of 8-byte items")
    return np.frombuffer(raw, dtype=dtype)


def _series(d: Any, where: str) -> SeriesBatch:
    steps = _array(d, "steps", _I8, where)
    timestamps = _array(d, "timestamps", _I8, where)
    values = _array(d, "values", _F8, where)
    if not steps.shape == timestamps.shape == values.shape:
        raise InvalidInput(
            f"{where} has {steps.shape[0]} steps, {timestamps.shape[0]} timestamps "
            f"and {values.shape[0]} values; they must be as many"
        )
    return SeriesBatch(
        run_id=_get(d, "run_id", str, where),
        key=_get(d, "key", str, where),
        steps=steps.astype(np.int64, copy=False),
        timestamps=timestamps.astype(np.int64, copy=False),
        values=values.astype(np.float64, copy=False),
    )


def _end(d: Any, where: str) -> RunEnd:
    status = _get(d, "status", str, where)
    try:
        final = RunStatus(status)
    except ValueError:
        raise InvalidInput(f"{where}.status {status!r} is not a run status") from None
    return RunEnd(_get(d, "run_id", str, where), final, _get(d, "end_time", int, where))
