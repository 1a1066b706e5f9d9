"""pandas DataFrames: column names, dtypes and every value, plus the index unless it is a RangeIndex.

A RangeIndex only numbers the rows (``df.iloc[5:]`` has a RangeIndex starting at 5 and the same content
as its ``reset_index(drop=True)``), so it is left out; any other index carries data (dates, ids) and is
hashed first, level by level, as columns of role "index".

Columns are read without copies where pandas keeps a numpy array (numbers, bools, naive datetimes);
tz-aware datetimes hash their UTC ticks under a dtype naming the zone; nullable (masked) columns hash
their values with a validity mask, like Arrow; strings are the same canonical strings whether pandas
keeps them as ``object``, ``string`` or pandas 3's ``str`` (Arrow-backed), so a CSV read by pandas 2 and by
pandas 3 gives one digest. Categoricals hash by value (``dictionary<...>``), not by code, so the order of
the categories does not matter. Anything else (periods, intervals, mixed objects) hashes by type and
repr of each value.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from assay.datasets.columns import (
    VAR_CHUNK_ROWS,
    Column,
    Fixed,
    Var,
    VarChunk,
    display_name,
    encode_block,
    fixed_column,
    name_key,
    take_fixed_chunks,
    take_var_chunks,
)
from assay.datasets.stats import DISTINCT_ROW_LIMIT
from assay.optional import require


def frame_columns(df: Any) -> list[Column]:
    """The canonical columns of a DataFrame: the index levels first (unless a RangeIndex), then columns."""
    pd = require("pandas", "pandas", "fingerprinting a pandas DataFrame")
    out = []
    if not isinstance(df.index, pd.RangeIndex):
        for i in range(df.index.nlevels):
            level = df.index.get_level_values(i)
            name = level.name if level.name is not None else f"__index_level_{i}__"
            series = pd.Series(level, copy=False)
            out.append(
                Column(display_name(name), name_key(name), str(level.dtype), series_data(series), "index")
            )
    for i, name in enumerate(df.columns):
        series = df.iloc[:, i]
        out.append(Column(display_name(name), name_key(name), str(series.dtype), series_data(series)))
    return out


def series_data(s: Any) -> Fixed | Var:
    """The canonical data of one pandas Series."""
    pd = require("pandas", "pandas", "fingerprinting a pandas DataFrame")
    dt = s.dtype
    if isinstance(dt, np.dtype):
        if dt.kind in "biufcMm":
            return fixed_column(s.to_numpy())
        return _objects(s, pd)
    if isinstance(dt, pd.CategoricalDtype):
        return _categorical(s, pd)
    if isinstance(dt, pd.DatetimeTZDtype):
        utc = s.dt.tz_convert(None).to_numpy()
        base = fixed_column(utc)
        return Fixed(
            f"timestamp[{dt.unit}, tz={dt.tz}]", base.length, 0, base.chunks, "temporal", dt.unit, "M"
        )
    if isinstance(dt, pd.ArrowDtype) or (isinstance(dt, pd.StringDtype) and _has_pyarrow()):
        from assay.datasets.from_arrow import column_data

        data = column_data(_arrow(s))
        if isinstance(dt, pd.StringDtype) and isinstance(data, Var):
            return Var(data.dtype, data.length, data.chunks, _nunique(s))
        return data
    if isinstance(dt, pd.StringDtype):
        return _objects(s, pd, "string")
    if getattr(dt, "kind", "") in "biuf" and hasattr(dt, "numpy_dtype"):  # masked: Int64, Float64, boolean
        valid = ~s.isna().to_numpy()
        return fixed_column(s.to_numpy(dtype=dt.numpy_dtype, na_value=0), valid)
    return _objects(s.astype(object), pd, "object")


def _arrow(s: Any) -> Any:
    pa = require("pyarrow", "pandas", "fingerprinting Arrow-backed pandas columns")
    arr = pa.array(s.array)
    return arr if hasattr(arr, "chunks") else pa.chunked_array([arr])


def _has_pyarrow() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def _nunique(s: Any) -> Callable[[], int | None]:
    return lambda: int(s.nunique(dropna=True)) if len(s) <= DISTINCT_ROW_LIMIT else None


def _objects(s: Any, pd: Any, dtype: str | None = None) -> Var:
    """A column of Python objects: strings and bytes in canonical form, anything else by type and repr."""
    values = s.to_numpy(dtype=object)
    if dtype is None:
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        dtype = {"string": "string", "empty": "string", "bytes": "binary"}.get(inferred, "object")
    return Var(dtype, len(values), _object_chunks(values, dtype), _nunique(s) if dtype != "object" else None)


def _object_chunks(values: Any, dtype: str) -> Callable[[], Iterator[VarChunk]]:
    """Blocks of Python values encoded through Arrow when it is installed (C speed), else in Python;
    both give the same bytes (a block Arrow refuses, such as a lone surrogate, goes through Python)."""
    use_arrow = dtype in ("string", "binary") and _has_pyarrow()

    def chunks() -> Iterator[VarChunk]:
        from assay.datasets.from_arrow import var_chunks

        pa = require("pyarrow", "pandas", "fingerprinting strings") if use_arrow else None
        for start in range(0, len(values), VAR_CHUNK_ROWS):
            block = values[start : start + VAR_CHUNK_ROWS]
            arr = None
            if pa is not None:
                arrow_type = pa.large_string() if dtype == "string" else pa.large_binary()
                try:
                    arr = pa.array(block, type=arrow_type, from_pandas=True)
                except (pa.ArrowException, TypeError, ValueError):
                    arr = None
            if arr is not None:
                yield from var_chunks([arr])
            else:
                yield encode_block(block, dtype)

    return chunks


def _categorical(s: Any, pd: Any) -> Fixed | Var:
    """A categorical hashed by value: the categories' canonical data taken by the codes."""
    codes = s.cat.codes.to_numpy()
    categories = series_data(pd.Series(s.dtype.categories, copy=False))
    name = f"dictionary<{categories.dtype}>"

    def distinct() -> int:
        used = np.bincount(codes[codes >= 0].astype(np.int64), minlength=len(s.dtype.categories))
        return int(np.count_nonzero(used))

    if isinstance(categories, Var):
        parts = list(categories.chunks())
        lengths = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        body = b"".join(bytes(p[1]) for p in parts)
        return Var(name, len(codes), take_var_chunks((lengths, body), codes), distinct)
    values = np.concatenate([c for c, _ in categories.chunks()]) if len(s.dtype.categories) else np.zeros(0)
    chunks, nulls = take_fixed_chunks(values, codes)
    return Fixed(name, len(codes), nulls, chunks, "count", distinct=distinct)
