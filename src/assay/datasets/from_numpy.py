"""numpy arrays: the values in C order, whatever the memory layout, framed with dtype and shape.

A C-contiguous little-endian array is hashed straight from its buffer; an F-ordered, sliced or big-endian
one is copied a row block (a few MB) at a time, so equal arrays give equal digests at bounded memory.
Statistics are per column for a 2-D numeric array of at most ``MAX_STAT_COLUMNS`` columns (the usual
feature matrix), else over all values as one column named ``array``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.datasets.columns import (
    CHUNK_BYTES,
    Fixed,
    FixedChunk,
    Var,
    array_dtype,
    canonical,
    infer_var_dtype,
    little_endian,
    object_chunks,
)
from assay.datasets.digest import MAGIC, Hashed, Stream, hash_fixed, hash_var
from assay.datasets.profile import ColumnSchema, DatasetProfile

MAX_STAT_COLUMNS = 1000


def _row_blocks(a: npt.NDArray[Any]) -> Iterator[FixedChunk]:
    """Contiguous little-endian blocks of whole rows (along axis 0), each about CHUNK_BYTES."""
    target = little_endian(a.dtype)
    row_bytes = max(1, a[:1].size * a.dtype.itemsize)
    step = max(1, CHUNK_BYTES // row_bytes)
    for start in range(0, a.shape[0], step):
        yield canonical(a[start : start + step], target), None


def profile_array(a: npt.NDArray[Any], want_stats: bool) -> DatasetProfile:
    """Digest, schema, rows, size and statistics of a numpy array (``name``/``source`` set by the caller)."""
    shape = tuple(int(n) for n in a.shape)
    flat_source = a.reshape(1) if a.ndim == 0 else a
    stream = Stream()
    stream.raw(MAGIC + b"ndarray\x00")
    hashed: Hashed
    if a.dtype.kind in "OT":  # Python objects, or numpy 2's variable-width StringDType
        values = a.astype(object).reshape(-1) if a.dtype.kind == "T" else a.reshape(-1)
        vdtype = infer_var_dtype(values)
        var = Var(vdtype, values.size, object_chunks(values, vdtype))
        hashed = hash_var(var, "array", want_stats)
        dtype_name = vdtype
    else:
        per_column = a.ndim == 2 and a.dtype.kind in "iuf" and 0 < a.shape[1] <= MAX_STAT_COLUMNS
        lanes = a.shape[1] if per_column else 1
        names = [str(j) for j in range(lanes)] if per_column else ["array"]
        stats_kind, unit, temporal = "count", "", ""
        if a.dtype.kind in "iuf":
            stats_kind = "numeric"
        elif a.dtype.kind == "b":
            stats_kind = "bool"
        elif a.dtype.kind in "Mm":
            stats_kind, unit, temporal = "temporal", np.datetime_data(a.dtype)[0], a.dtype.kind
        dtype_name = array_dtype(a.dtype)
        fixed = Fixed(
            dtype_name, flat_source.size, 0, lambda: _row_blocks(flat_source), stats_kind, unit, temporal
        )
        hashed = hash_fixed(fixed, names, want_stats, lanes)
    stream.lp(dtype_name.encode())
    stream.u64(a.ndim)
    for n in shape:
        stream.u64(n)
    stream.u64(hashed.nulls)
    stream.raw(hashed.frame)
    return DatasetProfile(
        digest=stream.hexdigest(),
        kind="numpy",
        schema=(ColumnSchema("array", str(a.dtype), shape=shape),),
        rows=shape[0] if shape else None,
        size_bytes=hashed.size,
        stats=tuple(hashed.stats),
    )
