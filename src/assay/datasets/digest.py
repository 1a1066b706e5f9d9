"""The digest: XXH3-128 (seed 0) over a framed stream of the canonical columns, statistics on the way.

Why XXH3-128: it hashes at memory speed (~15 GB/s a core here, against ~0.8 GB/s for BLAKE2b), has no
per-process seed, and 128 bits make an accidental collision negligible. It is not cryptographic: a
fingerprint detects changed data, not a forger. The digest reads ``xxh3-128:<32 hex>``; a later change of
algorithm or framing takes a new prefix, so old and new digests never compare equal by accident.

Framing, every integer as little-endian u64 and every byte string length-prefixed::

    "assay-dataset\\0v1\\0" "table\\0" rows ncols, then per column:
        role ("C", or "I" for an index level)  name (tagged, see columns.name_key)  dtype  length  nulls
        "F" H(values) [H(validity) if nulls]      fixed-width: values little-endian, NaN bits canonical,
                                                  masked slots zeroed; validity one byte per row
        "V" H(lengths) H(bytes)                   variable: int64 lengths (-1 null), concatenated bytes
    "assay-dataset\\0v1\\0" "ndarray\\0" dtype ndim shape... nulls, then "F"/"V" as above (C-order values)
    "assay-dataset\\0v1\\0" "directory\\0" nfiles, then per file: relative path  size  H(content)
    a single file: no framing, H(content) itself (what ``xxhsum -H2`` prints), since a file is its bytes

Each column's parts are hashed on their own (H above, XXH3-128 again) so that the stream does not depend
on how the data happens to be chunked in memory: Arrow chunks, pandas blocks and our own chunking all
give the same bytes to each sub-hash.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import xxhash

from assay.datasets.columns import Column, Fixed, Var, canonical
from assay.datasets.profile import ColumnStats
from assay.datasets.stats import Counts, Moments, Temporal

SCHEME = "xxh3-128"
MAGIC = b"assay-dataset\x00v1\x00"
_U64 = struct.Struct("<Q")
_LE_INT64 = np.dtype("<i8")


class Stream:
    """The framed outer stream of a digest."""

    def __init__(self) -> None:
        self._h = xxhash.xxh3_128(seed=0)

    def raw(self, data: bytes) -> None:
        self._h.update(data)

    def u64(self, n: int) -> None:
        self._h.update(_U64.pack(n))

    def lp(self, data: bytes) -> None:
        self._h.update(_U64.pack(len(data)))
        self._h.update(data)

    def hexdigest(self) -> str:
        return f"{SCHEME}:{self._h.hexdigest()}"


@dataclass
class Hashed:
    """What hashing one column gave: the framed part for the outer stream, bytes seen, statistics."""

    frame: bytes
    nulls: int
    size: int
    stats: list[ColumnStats] = field(default_factory=list)


def _bytes_of(block: npt.NDArray[Any]) -> memoryview:
    """The bytes of a C-contiguous block, without a copy (``.view`` works for dtypes, such as datetime64,
    that have no buffer format of their own)."""
    return block.reshape(-1).view(np.uint8).data


def _canonical_nan(block: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """NaN has many bit patterns (x86 makes 0/0 negative): rewrite them all as numpy's quiet NaN, so that
    equal data hashes equal. Costs one in-cache sum per chunk; copies only chunks that hold a NaN."""
    if block.dtype.kind not in "fc" or block.dtype.fields is not None:
        return block
    flat = block.view(f"<f{block.dtype.itemsize // 2}") if block.dtype.kind == "c" else block
    with np.errstate(all="ignore"):
        if not np.isnan(np.add.reduce(flat, axis=None)):
            return block
    nan = np.isnan(flat)
    if not nan.any():
        return block  # inf - inf, no NaN
    return np.where(nan, np.array(np.nan, dtype=flat.dtype), flat).view(block.dtype)


def hash_fixed(col: Fixed, names: Sequence[str], want_stats: bool, lanes: int = 1) -> Hashed:
    """Hash a fixed-width column (or a numpy array whose chunks are row blocks of ``lanes`` columns) and,
    if asked, summarize it in the same pass."""
    values = xxhash.xxh3_128(seed=0)
    validity = xxhash.xxh3_128(seed=0) if col.null_count else None
    moments = temporal = counts = None
    if want_stats:
        if col.stats == "numeric":
            moments = Moments(lanes)
        elif col.stats == "temporal":
            temporal = Temporal(col.unit, col.temporal)
        else:
            counts = Counts(boolean=col.stats == "bool")
    size = 0
    for chunk, valid in col.chunks():
        block = chunk
        masked = 0
        if validity is not None:  # the whole column's mask, even for chunks that come without one
            mask = np.ones(len(block), np.bool_) if valid is None else np.ascontiguousarray(valid)
            validity.update(mask.view(np.uint8).data)
        if valid is not None:
            masked = len(valid) - int(np.count_nonzero(valid))
            if masked:
                zero = np.zeros((), dtype=block.dtype)
                block = np.where(valid.reshape((-1,) + (1,) * (block.ndim - 1)), block, zero)
        block = _canonical_nan(block)
        values.update(_bytes_of(block))
        size += block.nbytes
        if moments is not None:
            moments.add(block.reshape(block.shape[0], -1) if lanes > 1 else block.reshape(-1, 1), valid)
        elif temporal is not None:
            temporal.add(block.view(np.int64).reshape(-1), valid)
        elif counts is not None:
            counts.add(block if counts.boolean else None, block.size, masked)
    frame = b"F" + values.digest() + (validity.digest() if validity is not None else b"")
    stats: list[ColumnStats] = []
    if moments is not None:
        stats = moments.results(list(names))
    elif temporal is not None:
        stats = [temporal.result(names[0])]
    elif counts is not None:
        stats = [counts.result(names[0], col.distinct() if col.distinct is not None else None)]
    return Hashed(frame, col.null_count, size, stats)


def hash_var(col: Var, name: str, want_stats: bool) -> Hashed:
    """Hash a variable-length column: its lengths and its bytes, each as one stream."""
    lengths_h = xxhash.xxh3_128(seed=0)
    data_h = xxhash.xxh3_128(seed=0)
    nulls = size = 0
    for lengths, data in col.chunks():
        lengths_h.update(_bytes_of(canonical(lengths, _LE_INT64)))
        data_h.update(data)
        nulls += int(np.count_nonzero(lengths < 0))
        size += len(data)
    stats = []
    if want_stats:
        distinct = col.distinct() if col.distinct is not None else None
        stats = [ColumnStats(name, col.length - nulls, nulls, distinct=distinct)]
    return Hashed(b"V" + lengths_h.digest() + data_h.digest(), nulls, size, stats)


def hash_column(col: Fixed | Var, name: str, want_stats: bool) -> Hashed:
    if isinstance(col, Fixed):
        return hash_fixed(col, [name], want_stats)
    return hash_var(col, name, want_stats)


def frame_column(stream: Stream, key: bytes, col: Fixed | Var, hashed: Hashed) -> None:
    stream.lp(key)
    stream.lp(col.dtype.encode())
    stream.u64(col.length)
    stream.u64(hashed.nulls)
    stream.raw(hashed.frame)


@dataclass
class TableDigest:
    digest: str
    size: int
    stats: list[ColumnStats]


def hash_table(columns: Sequence[Column], rows: int, want_stats: bool) -> TableDigest:
    """The digest, content size and (for the non-index columns) statistics of a table."""
    stream = Stream()
    stream.raw(MAGIC + b"table\x00")
    stream.u64(rows)
    stream.u64(len(columns))
    size = 0
    stats: list[ColumnStats] = []
    for col in columns:
        hashed = hash_column(col.data, col.name, want_stats and col.role == "column")
        stream.raw(b"I" if col.role == "index" else b"C")
        frame_column(stream, col.key, col.data, hashed)
        size += hashed.size
        stats.extend(hashed.stats)
    return TableDigest(stream.hexdigest(), size, stats)
