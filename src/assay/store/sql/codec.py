"""Packing of metric series chunks: numpy arrays to little-endian bytes and back, and summaries of a batch."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

_I8 = np.dtype("<i8")
_F8 = np.dtype("<f8")


def pack_int(a: npt.NDArray[np.int64]) -> bytes:
    return np.ascontiguousarray(a, dtype=_I8).tobytes()


def pack_float(a: npt.NDArray[np.float64]) -> bytes:
    return np.ascontiguousarray(a, dtype=_F8).tobytes()


def unpack_int(chunks: list[bytes], writable: bool = True) -> npt.NDArray[np.int64]:
    """Concatenated int64 arrays; one chunk read without ``writable`` is a read-only view (no copy)."""
    if len(chunks) == 1:
        view = np.frombuffer(chunks[0], dtype=_I8)
        return view.astype(np.int64) if writable else view
    return np.frombuffer(bytearray().join(chunks), dtype=_I8).astype(np.int64, copy=False)  # writable


def unpack_float(chunks: list[bytes], writable: bool = True) -> npt.NDArray[np.float64]:
    if len(chunks) == 1:
        view = np.frombuffer(chunks[0], dtype=_F8)
        return view.astype(np.float64) if writable else view
    return np.frombuffer(bytearray().join(chunks), dtype=_F8).astype(np.float64, copy=False)  # writable


class BatchSummary(NamedTuple):
    """Last (at the highest step, latest logged on ties), min and max of a batch; NaN becomes None."""

    last: float | None
    min: float | None
    max: float | None
    last_step: int
    last_timestamp: int
    num_points: int


def _finite_or_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def _summarize_small(steps: list[int], timestamps: list[int], values: list[float]) -> BatchSummary:
    i = len(steps) - 1
    best = steps[i]
    for j in range(i - 1, -1, -1):
        if steps[j] > best:
            best, i = steps[j], j
    finite = [x for x in values if not math.isnan(x)]
    lo = min(finite) if finite else None
    hi = max(finite) if finite else None
    return BatchSummary(_finite_or_none(values[i]), lo, hi, steps[i], timestamps[i], len(values))


def summarize(
    steps: npt.NDArray[np.int64], timestamps: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> BatchSummary:
    """Summary of one batch. Small batches (the common end-of-run case) skip numpy's per-call overhead."""
    n = int(values.shape[0])
    if n == 1:  # one point (a metric logged once per run): no lists, no loop
        x = float(values[0])
        v = None if math.isnan(x) else x
        return BatchSummary(v, v, v, int(steps[0]), int(timestamps[0]), 1)
    if n <= 32:
        return _summarize_small(steps.tolist(), timestamps.tolist(), values.tolist())
    # Index of the last occurrence of the highest step.
    i = n - 1 - int(np.argmax(steps[::-1]))
    if np.isnan(values).all():
        lo = hi = None
    else:
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    return BatchSummary(_finite_or_none(float(values[i])), lo, hi, int(steps[i]), int(timestamps[i]), n)


def _pick(old: float | None, new: float | None, new_wins: bool) -> float | None:
    if old is None:
        return new
    if new is None:
        return old
    return new if new_wins else old


def merge(old: BatchSummary, new: BatchSummary) -> BatchSummary:
    """The summary of two batches of one series, ``new`` logged after ``old``: what the summary upsert
    (``statements.summary_upsert``) makes of them in the database, computed here for a run whose every
    point is in one write batch (its summary document is then packed without reading the rows back)."""
    newer = new.last_step >= old.last_step
    last = new if newer else old
    lo = _pick(old.min, new.min, new.min is not None and old.min is not None and new.min < old.min)
    hi = _pick(old.max, new.max, new.max is not None and old.max is not None and new.max > old.max)
    return BatchSummary(
        last.last, lo, hi, last.last_step, last.last_timestamp, old.num_points + new.num_points
    )
