"""Arrow tables and columns (also the route for polars frames and pandas' Arrow-backed columns).

Fixed-width columns are read from their value buffers without a copy; booleans are unpacked from bits one
chunk at a time; strings and binaries give their lengths from the offsets and their bytes straight from
the data buffer. Dictionary columns are hashed by value (their dictionary order is an accident of how
they were built; polars' categories even depend on a process-wide cache). Types with no flat buffer
(decimal, nested lists and structs, ...) fall back to their Python values, hashed by type and repr.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.datasets.columns import (
    VAR_CHUNK_ROWS,
    Column,
    Fixed,
    FixedChunk,
    Var,
    VarChunk,
    display_name,
    encode_block,
    fixed_chunks,
    gather,
    name_key,
    take_var_chunks,
)
from assay.datasets.stats import DISTINCT_ROW_LIMIT
from assay.optional import require


def pyarrow(purpose: str) -> Any:
    return require("pyarrow", "pandas", purpose)


def table_columns(table: Any) -> list[Column]:
    """The canonical columns of a ``pyarrow.Table``."""
    return [
        Column(display_name(name), name_key(name), str(col.type), column_data(col))
        for name, col in zip(table.column_names, table.columns, strict=True)
    ]


def _chunks_of(col: Any) -> list[Any]:
    return list(col.chunks) if hasattr(col, "chunks") else [col]


def column_data(col: Any) -> Fixed | Var:
    """The canonical data of a ``pyarrow.Array`` or ``ChunkedArray``."""
    pa = pyarrow("fingerprinting Arrow data")
    types = pa.types
    typ = col.type
    chunks = _chunks_of(col)
    length = len(col)
    if types.is_dictionary(typ):
        return _dictionary(chunks, length, typ)
    if (
        types.is_string(typ)
        or types.is_large_string(typ)
        or types.is_binary(typ)
        or types.is_large_binary(typ)
    ):
        kind = "string" if types.is_string(typ) or types.is_large_string(typ) else "binary"
        return Var(kind, length, lambda: var_chunks(chunks), _distinct(col, length))
    if _is_view(types, typ):
        wide = pa.large_string() if types.is_string_view(typ) else pa.large_binary()
        kind = "string" if types.is_string_view(typ) else "binary"
        return Var(kind, length, lambda: var_chunks([c.cast(wide) for c in chunks]), _distinct(col, length))
    fixed = _fixed_type(typ, types)
    if fixed is None:
        return Var("object", length, lambda: _pylist_chunks(chunks), None)
    name, np_dtype, stats, unit, temporal = fixed
    boolean = types.is_boolean(typ)
    return Fixed(
        name,
        length,
        col.null_count,
        lambda: _fixed_chunks(chunks, np_dtype, boolean),
        stats,
        unit,
        temporal,
    )


def _is_view(types: Any, typ: Any) -> bool:
    """string_view / binary_view (pyarrow 16+; polars' own layout), read through a cast to large types."""
    return any(getattr(types, f"is_{kind}_view", lambda _t: False)(typ) for kind in ("string", "binary"))


def _fixed_type(typ: Any, types: Any) -> tuple[str, np.dtype[Any], str, str, str] | None:
    """(canonical name, numpy dtype of the buffer, stats kind, unit, temporal kind), or None."""
    if types.is_boolean(typ):
        return "bool", np.dtype(np.bool_), "bool", "", ""
    if types.is_integer(typ):
        return (
            str(typ),
            np.dtype(f"<{'i' if types.is_signed_integer(typ) else 'u'}{typ.bit_width // 8}"),
            "numeric",
            "",
            "",
        )
    if types.is_floating(typ):
        bits = typ.bit_width
        return f"float{bits}", np.dtype(f"<f{bits // 8}"), "numeric", "", ""
    if types.is_timestamp(typ):
        name = f"timestamp[{typ.unit}]" if typ.tz is None else f"timestamp[{typ.unit}, tz={typ.tz}]"
        return name, np.dtype("<i8"), "temporal", typ.unit, "M"
    if types.is_duration(typ):
        return f"duration[{typ.unit}]", np.dtype("<i8"), "temporal", typ.unit, "m"
    if types.is_date32(typ) or types.is_date64(typ) or types.is_time(typ):
        return str(typ), np.dtype(f"<i{typ.bit_width // 8}"), "count", "", ""
    return None


def _fixed_chunks(chunks: list[Any], np_dtype: np.dtype[Any], boolean: bool) -> Iterator[FixedChunk]:
    for c in chunks:
        n = len(c)
        if n == 0:
            continue
        buffers = c.buffers()
        if boolean:
            bits = np.frombuffer(buffers[1], dtype=np.uint8)
            values = np.unpackbits(bits, count=c.offset + n, bitorder="little")[c.offset :].view(np.bool_)
        else:
            values = np.frombuffer(buffers[1], dtype=np_dtype, count=c.offset + n)[c.offset :]
        valid = _valid(c)
        yield from fixed_chunks(values, valid)()


def _valid(c: Any) -> npt.NDArray[np.bool_] | None:
    if c.null_count == 0:
        return None
    return np.asarray(c.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)


def var_chunks(chunks: list[Any]) -> Iterator[VarChunk]:
    """Lengths and bytes of string/binary arrays, from the offsets and data buffers."""
    for c in chunks:
        n = len(c)
        if n == 0:
            continue
        _, offsets_buf, data_buf = c.buffers()[:3]
        width = "<i8" if c.type.id in _large_ids() else "<i4"
        offsets = np.frombuffer(offsets_buf, dtype=width, count=c.offset + n + 1)[c.offset :].astype(np.int64)
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        valid = _valid(c)
        for start in range(0, n, VAR_CHUNK_ROWS):
            o = offsets[start : start + VAR_CHUNK_ROWS + 1]
            lengths = np.diff(o)
            if valid is None:
                yield lengths, data[o[0] : o[-1]].data
                continue
            v = valid[start : start + VAR_CHUNK_ROWS]
            if np.any(lengths[~v] != 0):  # Arrow lets a null slot keep bytes: skip them
                body: bytes | memoryview = gather(data, o[:-1], np.where(v, lengths, 0))
            else:
                body = data[o[0] : o[-1]].data
            yield np.where(v, lengths, -1), body


def _large_ids() -> set[int]:
    pa = pyarrow("fingerprinting Arrow data")
    return {pa.large_string().id, pa.large_binary().id}


def _dictionary(chunks: list[Any], length: int, typ: Any) -> Fixed | Var:
    """A dictionary column as its values: each chunk's dictionary is taken by the chunk's indices."""
    pa = pyarrow("fingerprinting Arrow data")
    inner = column_data(pa.array([], type=typ.value_type))
    name = f"dictionary<{inner.dtype}>"

    def distinct() -> int | None:
        if length > DISTINCT_ROW_LIMIT:
            return None
        decoded = pa.chunked_array([c.dictionary_decode() for c in chunks], type=typ.value_type)
        return len(decoded.unique().drop_null())

    def codes_of(c: Any) -> npt.NDArray[np.int64]:
        codes = np.asarray(c.indices.fill_null(0).to_numpy(zero_copy_only=False)).astype(np.int64)
        valid = _valid(c.indices)
        return codes if valid is None else np.where(valid, codes, -1)

    if isinstance(inner, Var):

        def decoded() -> Iterator[VarChunk]:
            for c in chunks:
                dictionary = list(var_chunks([c.dictionary]))
                lengths = np.concatenate([d[0] for d in dictionary]) if dictionary else np.zeros(0, np.int64)
                body = b"".join(bytes(d[1]) for d in dictionary)
                yield from take_var_chunks((lengths, body), codes_of(c))()

        return Var(name, length, decoded, distinct)

    info = _fixed_type(typ.value_type, pa.types)
    if info is None:
        return Var(name, length, lambda: _pylist_chunks([c.dictionary_decode() for c in chunks]), distinct)
    np_dtype, boolean = info[1], info[2] == "bool"

    def fixed() -> Iterator[FixedChunk]:
        # Decoded one Arrow chunk at a time: numbers as categories are rare enough to keep this simple.
        for c in chunks:
            yield from _fixed_chunks([c.dictionary_decode()], np_dtype, boolean)

    nulls = sum(c.null_count for c in chunks)
    return Fixed(name, length, nulls, fixed, "count", distinct=distinct)


def _distinct(col: Any, length: int) -> Callable[[], int | None]:
    def count() -> int | None:
        if length > DISTINCT_ROW_LIMIT:
            return None
        pc = require("pyarrow.compute", "pandas", "counting distinct values")
        return int(pc.count_distinct(col).as_py())

    return count


def _pylist_chunks(chunks: list[Any]) -> Iterator[VarChunk]:
    for c in chunks:
        for start in range(0, len(c), VAR_CHUNK_ROWS):
            yield encode_block(c.slice(start, VAR_CHUNK_ROWS).to_pylist(), "object")
