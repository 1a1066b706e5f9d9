"""What a fingerprint says about a dataset, as frozen dataclasses that go to JSON and back.

Pure module: no I/O. ``to_dict`` gives plain JSON types only (strict JSON: non-finite floats become the
strings ``"nan"``, ``"inf"`` and ``"-inf"``, which ``from_dict`` reads back), so a profile can be stored
beside a run as it is and compared later with ``==``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The kinds of data a profile describes.
KINDS = ("pandas", "polars", "numpy", "arrow", "file", "directory")

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


@dataclass(frozen=True, slots=True)
class ColumnSchema:
    """One column: its name and dtype as its library spells it (``float64``, ``str``, ``large_string``).

    ``shape`` is set for numpy arrays only (the whole array's shape). ``role`` is ``"index"`` for the levels
    of a pandas index that is part of the content (any index but a RangeIndex), else ``"column"``.
    """

    name: str
    dtype: str
    shape: tuple[int, ...] | None = None
    role: str = "column"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype}
        if self.shape is not None:
            out["shape"] = list(self.shape)
        if self.role != "column":
            out["role"] = self.role
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSchema:
        shape = data.get("shape")
        return cls(
            name=str(data["name"]),
            dtype=str(data["dtype"]),
            shape=None if shape is None else tuple(int(n) for n in shape),
            role=str(data.get("role", "column")),
        )


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """Summary of one column. ``count`` counts present values; ``nulls`` counts missing ones (null, None,
    NaN, NaT). Numeric columns have ``min``, ``max``, ``mean`` and ``std`` (sample standard deviation,
    ddof=1 as in pandas ``describe``; None below two values); datetime columns have ``min`` and ``max`` as
    ISO strings; other columns have ``distinct`` where counting it is cheap (see ``assay.datasets.stats``).
    Fields that do not apply are None and left out of ``to_dict``."""

    name: str
    count: int
    nulls: int
    min: float | int | str | None = None
    max: float | int | str | None = None
    mean: float | None = None
    std: float | None = None
    distinct: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "count": self.count, "nulls": self.nulls}
        for key in ("min", "max", "mean", "std", "distinct"):
            value = getattr(self, key)
            if value is not None:
                out[key] = _json_number(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnStats:
        def number(key: str) -> Any:
            value = data.get(key)  # datetimes' ISO bounds are strings too, but never these three
            return _NON_FINITE[value] if isinstance(value, str) and value in _NON_FINITE else value

        return cls(
            name=str(data["name"]),
            count=int(data["count"]),
            nulls=int(data["nulls"]),
            min=number("min"),
            max=number("max"),
            mean=number("mean"),
            std=number("std"),
            distinct=None if data.get("distinct") is None else int(data["distinct"]),
        )


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


@dataclass(frozen=True, slots=True)
class DatasetProfile:
    """The fingerprint of a dataset.

    ``digest`` identifies the whole content (every row, not a sample): ``xxh3-128:<32 hex digits>``, the
    prefix naming the scheme so it can change later. ``rows`` is None where counting would mean reading the
    data (a CSV file). ``size_bytes`` is the file size for files and directories, and for data in memory
    the bytes of the values hashed (strings as UTF-8), not counting an index, masks or Python objects.
    """

    digest: str
    kind: str
    schema: tuple[ColumnSchema, ...]
    rows: int | None
    size_bytes: int
    stats: tuple[ColumnStats, ...] = ()
    source: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "kind": self.kind,
            "schema": [c.to_dict() for c in self.schema],
            "rows": self.rows,
            "size_bytes": self.size_bytes,
            "stats": [s.to_dict() for s in self.stats],
            "source": self.source,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetProfile:
        return cls(
            digest=str(data["digest"]),
            kind=str(data["kind"]),
            schema=tuple(ColumnSchema.from_dict(c) for c in data.get("schema", ())),
            rows=None if data.get("rows") is None else int(data["rows"]),
            size_bytes=int(data["size_bytes"]),
            stats=tuple(ColumnStats.from_dict(s) for s in data.get("stats", ())),
            source=data.get("source"),
            name=data.get("name"),
        )

    def column_stats(self, name: str) -> ColumnStats:
        """The statistics of the first column called ``name``; KeyError if there are none."""
        for s in self.stats:
            if s.name == name:
                return s
        raise KeyError(name)
