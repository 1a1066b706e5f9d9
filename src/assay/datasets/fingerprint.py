"""``fingerprint(data)``: one entry point for every kind of dataset, dispatching on the type of ``data``.

The libraries are recognized through ``sys.modules`` (a pandas DataFrame cannot exist unless pandas was
imported), so importing ``assay.datasets`` imports neither pandas, polars nor pyarrow.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

import numpy as np

from assay.datasets.digest import hash_table
from assay.datasets.profile import ColumnSchema, DatasetProfile
from assay.errors import InvalidInput
from assay.optional import require

ACCEPTED = (
    "a pandas DataFrame or Series, a polars DataFrame or Series, a numpy array, a pyarrow Table or "
    "RecordBatch, or the path or fsspec URL of a file or directory"
)


def fingerprint(
    data: Any, name: str | None = None, source: str | None = None, *, stats: bool = True
) -> DatasetProfile:
    """The content hash of the whole of ``data`` (every row), its schema, row count, size and, unless
    ``stats=False``, per-column statistics.

    Equal data gives an equal digest in any process on any machine, whatever its memory layout (C or
    Fortran order, slices, a frame built by rows or by columns); a single changed value anywhere changes
    it. ``source`` (a URI) and ``name`` are recorded as given; for a path they default to its absolute
    ``file://`` URI (or the URL) and its last part. Raises ``InvalidInput`` for an unsupported type and
    ``NotFound`` for a path that does not exist.
    """
    profile = _profile(data, stats)
    if isinstance(data, str | os.PathLike):
        from assay.datasets.files import default_name, default_source

        source = default_source(data) if source is None else source
        name = default_name(data) if name is None else name
    return dataclasses.replace(profile, name=name, source=source)


def _profile(data: Any, want_stats: bool) -> DatasetProfile:
    if isinstance(data, str | os.PathLike):
        if not os.fspath(data):
            raise InvalidInput(f"cannot fingerprint an empty path: pass {ACCEPTED}")
        from assay.datasets.files import profile_path

        return profile_path(data, want_stats)
    if isinstance(data, np.ndarray):
        from assay.datasets.from_numpy import profile_array

        return profile_array(data, want_stats)
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(data, pd.Series | pd.DataFrame):
        return _pandas(data.to_frame() if isinstance(data, pd.Series) else data, want_stats)
    pl = sys.modules.get("polars")
    if pl is not None and isinstance(data, pl.Series | pl.DataFrame):
        return _polars(data.to_frame() if isinstance(data, pl.Series) else data, want_stats)
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(data, pa.Table | pa.RecordBatch):
        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        return _arrow(table, "arrow", want_stats)
    kind = type(data)
    raise InvalidInput(f"cannot fingerprint a {kind.__module__}.{kind.__qualname__}: pass {ACCEPTED}")


def _pandas(df: Any, want_stats: bool) -> DatasetProfile:
    from assay.datasets.from_pandas import frame_columns

    columns = frame_columns(df)
    table = hash_table(columns, len(df), want_stats)
    schema = tuple(ColumnSchema(c.name, c.native_dtype, role=c.role) for c in columns)
    return DatasetProfile(table.digest, "pandas", schema, len(df), table.size, tuple(table.stats))


def _polars(df: Any, want_stats: bool) -> DatasetProfile:
    """Through Arrow (``to_arrow`` shares the numeric buffers), with polars' own dtype names."""
    require("pyarrow", "pandas", "fingerprinting a polars DataFrame")
    profile = _arrow(df.to_arrow(), "polars", want_stats)
    schema = tuple(ColumnSchema(n, str(t)) for n, t in df.schema.items())
    return dataclasses.replace(profile, schema=schema)


def _arrow(table: Any, kind: str, want_stats: bool) -> DatasetProfile:
    from assay.datasets.from_arrow import table_columns

    columns = table_columns(table)
    digest = hash_table(columns, table.num_rows, want_stats)
    schema = tuple(ColumnSchema(c.name, c.native_dtype) for c in columns)
    return DatasetProfile(digest.digest, kind, schema, table.num_rows, digest.size, tuple(digest.stats))
