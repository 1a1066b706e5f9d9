"""The msgpack documents a run row carries: its params, tags and metric summaries, for fast reads.

msgpack keeps floats exact (NaN and infinities included) and decodes a run's 35 values in a few
microseconds, where JSON aggregation in the database cost more than the search itself.
Metric summaries are a list of ``[key, last, min, max, last_step, last_timestamp, count]``; a NaN (NULL
in the summary table) is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any

import msgpack

from assay.entities import MetricSummary

_packb = msgpack.packb
_unpackb = msgpack.unpackb
_NAN = math.nan
#: NamedTuple's own constructor is a Python function; tuple.__new__ builds the same object in C.
_new_summary = tuple.__new__


def pack_kv(items: Mapping[str, str]) -> bytes:
    return bytes(_packb(dict(items)))


def unpack_kv(doc: bytes | None) -> dict[str, str]:
    if not doc:
        return {}
    items: dict[str, str] = _unpackb(doc)
    return items


def pack_metrics(rows: Iterable[tuple[Any, ...]]) -> bytes:
    """Rows of (key, last, min, max, last_step, last_timestamp, count) from ``latest_metrics``, in the
    keys' code point order whatever order they come in (a database's collation may order them otherwise),
    so a run's metrics list in one order however its document was made."""
    return bytes(_packb(sorted((list(r) for r in rows), key=_first)))


def _first(row: list[Any]) -> Any:
    return row[0]


def unpack_metrics(doc: bytes | None) -> dict[str, MetricSummary]:
    if not doc:
        return {}
    out = {}
    for v in _unpackb(doc, use_list=False):
        if None in v:
            v = (v[0], *(_NAN if x is None else x for x in v[1:4]), *v[4:])
        out[v[0]] = _new_summary(MetricSummary, v)
    return out


class LazyDoc(Mapping[str, Any]):
    """A read-only mapping decoded from its msgpack document on first use.

    A search returns thousands of runs and a caller often reads a few fields of a few of them; each run's
    params, tags and summaries are decoded (a few microseconds each) only when first read.
    """

    __slots__ = ("_data", "_decode", "_doc")

    def __init__(self, doc: bytes, decode: Callable[[bytes], dict[str, Any]]) -> None:
        self._doc: bytes | None = doc
        self._decode = decode
        self._data: dict[str, Any] | None = None

    def _get(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            data = self._data = self._decode(self._doc or b"")
            self._doc = None
        return data

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __contains__(self, key: object) -> bool:
        return key in self._get()

    # The dict's own views: Mapping's generic ones would call __getitem__ once per key.
    def items(self) -> ItemsView[str, Any]:
        return self._get().items()

    def keys(self) -> KeysView[str]:
        return self._get().keys()

    def values(self) -> ValuesView[Any]:
        return self._get().values()

    def __eq__(self, other: object) -> bool:
        return self._get() == (dict(other) if isinstance(other, Mapping) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._get())

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (self._get(),))


def lazy_kv(doc: bytes | None) -> Mapping[str, str]:
    return LazyDoc(doc, unpack_kv) if doc else {}


def lazy_metrics(doc: bytes | None) -> Mapping[str, MetricSummary]:
    return LazyDoc(doc, unpack_metrics) if doc else {}
