"""The canonical form every input is brought to before hashing: columns of fixed-width values or of
variable-length byte strings, each yielded in chunks of a few MB.

A ``Fixed`` column yields contiguous little-endian numpy blocks (a view of the caller's buffer when it
already is one; a chunk-sized copy only to fix contiguity or byte order), with an optional validity mask.
A ``Var`` column (strings, bytes, other objects) yields each chunk's value lengths as int64, -1 for a
null, and the values' bytes concatenated; a value's bytes are its UTF-8 encoding for strings. The lengths
play the part of the length prefixes that keep ``["ab", "c"]`` apart from ``["a", "bc"]``, and the
stream is the same whatever the chunking, so Arrow buffers, pandas objects and the pure-Python encoder
below all give the same digest.

Names go into the hash tagged by kind (``s`` + UTF-8 for a string name, ``r`` + ``repr`` for any other),
so a column named ``1`` and one named ``"1"`` differ.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: Bytes per in-memory chunk: small enough that statistics run on a chunk still in cache after hashing.
CHUNK_BYTES = 2 << 20
#: Rows per chunk of a string or object column.
VAR_CHUNK_ROWS = 1 << 16

FixedChunk = tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]
VarChunk = tuple[npt.NDArray[np.int64], bytes | memoryview]


@dataclass(frozen=True, slots=True)
class Fixed:
    """Fixed-width values. ``null_count`` counts masked nulls (NaN and NaT are values here: the hash
    canonicalizes NaN's bits, the statistics count both as nulls). ``stats`` picks the summary: numeric,
    temporal (``unit`` and ``temporal`` "M" or "m"), bool, or plain counts (with ``distinct`` if given)."""

    dtype: str
    length: int
    null_count: int
    chunks: Callable[[], Iterator[FixedChunk]]
    stats: str = "numeric"
    unit: str = ""
    temporal: str = ""
    distinct: Callable[[], int | None] | None = None


@dataclass(frozen=True, slots=True)
class Var:
    """Variable-length values (``dtype`` "string", "binary" or "object", or one of those inside
    "dictionary<...>" for categoricals hashed by value). ``distinct`` counts distinct values if asked."""

    dtype: str
    length: int
    chunks: Callable[[], Iterator[VarChunk]]
    distinct: Callable[[], int | None] | None = None


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table: display name, tagged name for the hash, library dtype, canonical data."""

    name: str
    key: bytes
    native_dtype: str
    data: Fixed | Var
    role: str = "column"


def name_key(name: object) -> bytes:
    if isinstance(name, str):
        return b"s" + name.encode("utf-8", "surrogatepass")
    return b"r" + repr(name).encode("utf-8", "surrogatepass")


def display_name(name: object) -> str:
    return name if isinstance(name, str) else str(name)


# -- numpy dtypes --------------------------------------------------------------------------------------


def table_dtype(dt: np.dtype[Any]) -> tuple[str, str, str, str]:
    """(canonical name, stats kind, unit, temporal kind) of a numpy column dtype, named as Arrow does so
    that a pandas, polars or Arrow column of the same values hashes the same."""
    if dt.kind == "b":
        return "bool", "bool", "", ""
    if dt.kind in "iu":
        return f"{'u' if dt.kind == 'u' else ''}int{dt.itemsize * 8}", "numeric", "", ""
    if dt.kind == "f":
        return f"float{dt.itemsize * 8}", "numeric", "", ""
    if dt.kind == "c":
        return f"complex{dt.itemsize * 8}", "count", "", ""
    if dt.kind in "Mm":
        unit = np.datetime_data(dt)[0]
        return (f"timestamp[{unit}]" if dt.kind == "M" else f"duration[{unit}]"), "temporal", unit, dt.kind
    return array_dtype(dt), "count", "", ""


def array_dtype(dt: np.dtype[Any]) -> str:
    """A numpy dtype's canonical name for the hash: its type string in little-endian (``<f8``, ``|b1``,
    ``<U10``, ``<M8[ns]``), structured dtypes as ``{name:type,...}`` of their packed fields."""
    if dt.fields is not None and dt.names is not None:
        fields = ",".join(f"{n}:{array_dtype(dt.fields[n][0])}" for n in dt.names)
        return "{" + fields + "}"
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        return f"{array_dtype(base)}{list(shape)}"
    return little_endian(dt).str


def little_endian(dt: np.dtype[Any]) -> np.dtype[Any]:
    """``dt`` with little-endian byte order throughout, and structured dtypes packed (no padding bytes,
    whose content is undefined)."""
    if dt.fields is not None and dt.names is not None:
        return np.dtype([(n, little_endian(dt.fields[n][0])) for n in dt.names])
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        return np.dtype((little_endian(base), shape))
    return dt.newbyteorder("<") if dt.byteorder not in ("<", "|") else dt


def canonical(block: npt.NDArray[Any], target: np.dtype[Any]) -> npt.NDArray[Any]:
    """``block`` C-contiguous in dtype ``target``: itself when it already is, else a copy of the block."""
    if block.dtype == target and block.flags.c_contiguous:
        return block
    out = np.empty(block.shape, dtype=target)
    if target.fields is not None:
        for n in target.names or ():
            out[n] = block[n]
    else:
        out[...] = block
    return out


def fixed_chunks(
    values: npt.NDArray[Any], valid: npt.NDArray[np.bool_] | None = None
) -> Callable[[], Iterator[FixedChunk]]:
    """Chunks of a 1-D array (a view per chunk when contiguous little-endian, else a chunk-sized copy)."""
    target = little_endian(values.dtype)
    step = max(1, CHUNK_BYTES // max(values.dtype.itemsize, 1))

    def chunks() -> Iterator[FixedChunk]:
        for start in range(0, len(values), step):
            mask = None if valid is None else valid[start : start + step]
            yield canonical(values[start : start + step], target), mask

    return chunks


def fixed_column(values: npt.NDArray[Any], valid: npt.NDArray[np.bool_] | None = None) -> Fixed:
    """A numpy column as ``Fixed``; ``valid`` (True where present) is dropped when nothing is masked."""
    nulls = 0 if valid is None else len(valid) - int(np.count_nonzero(valid))
    name, stats, unit, temporal = table_dtype(values.dtype)
    return Fixed(
        name, len(values), nulls, fixed_chunks(values, valid if nulls else None), stats, unit, temporal
    )


# -- variable-length values ----------------------------------------------------------------------------


def is_null(value: object) -> bool:
    """None, NaN, and pandas' NA and NaT (recognized by type name so that pandas need not be loaded)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def infer_var_dtype(values: Iterable[object]) -> str:
    """ "string" if every present value is a str, "binary" if every one is bytes, else "object"."""
    kinds = set()
    for v in values:
        if is_null(v):
            continue
        kinds.add("string" if isinstance(v, str) else "binary" if isinstance(v, bytes) else "object")
        if len(kinds) > 1:
            return "object"
    return kinds.pop() if kinds else "string"


def encode_value(value: object, dtype: str) -> bytes:
    """One present value's bytes: UTF-8 for strings, as is for bytes, else its type and repr (stable for
    numbers, strings, tuples, lists and dicts; not for sets, whose order follows the hash seed)."""
    if dtype == "string" and isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if dtype == "binary" and isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}:{value!r}".encode("utf-8", "surrogatepass")


def encode_block(values: Sequence[object] | npt.NDArray[Any], dtype: str) -> VarChunk:
    """The lengths (-1 for nulls) and concatenated bytes of a block of Python values."""
    parts = [None if is_null(v) else encode_value(v, dtype) for v in values]
    lengths = np.fromiter((-1 if p is None else len(p) for p in parts), dtype=np.int64, count=len(parts))
    return lengths, b"".join(p for p in parts if p is not None)


def object_chunks(
    values: Sequence[object] | npt.NDArray[Any], dtype: str
) -> Callable[[], Iterator[VarChunk]]:
    def chunks() -> Iterator[VarChunk]:
        for start in range(0, len(values), VAR_CHUNK_ROWS):
            yield encode_block(values[start : start + VAR_CHUNK_ROWS], dtype)

    return chunks


def gather(
    data: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
) -> bytes:
    """The bytes ``data[starts[i] : starts[i] + lengths[i]]`` concatenated, vectorized (no Python loop):
    used to take categorical values by code and to skip the bytes Arrow may keep under null slots."""
    lengths = np.maximum(lengths, 0)
    total = int(lengths.sum())
    if total == 0:
        return b""
    ends = np.cumsum(lengths)
    shift = np.repeat(starts - (ends - lengths), lengths)
    taken: npt.NDArray[np.uint8] = data[np.arange(total, dtype=np.int64) + shift]
    return taken.tobytes()


def take_var_chunks(
    categories: VarChunk, codes: npt.NDArray[np.integer[Any]]
) -> Callable[[], Iterator[VarChunk]]:
    """Chunks of the values ``categories[codes]`` (code -1 is a null), built by vectorized gathers."""
    cat_lengths, cat_data = categories
    cat_bytes = np.frombuffer(cat_data, dtype=np.uint8)
    cat_starts = np.concatenate([[0], np.cumsum(np.maximum(cat_lengths, 0))[:-1]]).astype(np.int64)
    null_code = len(cat_lengths)
    lengths_ext = np.append(cat_lengths, -1).astype(np.int64)
    starts_ext = np.append(cat_starts, 0).astype(np.int64)

    def chunks() -> Iterator[VarChunk]:
        for start in range(0, len(codes), VAR_CHUNK_ROWS):
            block = np.asarray(codes[start : start + VAR_CHUNK_ROWS], dtype=np.int64)
            block = np.where(block < 0, null_code, block)
            lengths = lengths_ext[block]
            yield lengths, gather(cat_bytes, starts_ext[block], lengths)

    return chunks


def take_fixed_chunks(
    categories: npt.NDArray[Any], codes: npt.NDArray[np.integer[Any]]
) -> tuple[Callable[[], Iterator[FixedChunk]], int]:
    """Chunks of ``categories[codes]`` with code -1 masked as null (zeros underneath), and the null count."""
    cats = canonical(categories, little_endian(categories.dtype))
    padded = np.concatenate([cats, np.zeros(1, dtype=cats.dtype)])
    step = max(1, CHUNK_BYTES // max(cats.dtype.itemsize, 1))
    nulls = int(np.count_nonzero(codes < 0))

    def chunks() -> Iterator[FixedChunk]:
        for start in range(0, len(codes), step):
            block = np.asarray(codes[start : start + step], dtype=np.int64)
            valid = block >= 0
            yield padded[np.where(valid, block, len(cats))], (None if nulls == 0 else valid)

    return chunks, nulls
