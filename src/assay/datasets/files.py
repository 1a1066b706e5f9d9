"""Files and directories, local or behind any fsspec URL: a file is its bytes.

A file's digest is the plain XXH3-128 of its content, the very value ``xxhsum -H2 FILE`` prints, read in
``READ_BYTES`` chunks into one reused buffer: a 1 GB file costs 8 MB of memory, and a local file never
goes through the page-cache mappings that would count in the process's RSS. A directory's digest frames
every file below it, sorted by relative path (``/``-separated, compared as UTF-8), as path, size and
content digest; empty directories do not count.

Parquet files (by suffix or magic) also get their schema, row count and per-column null counts and
bounds from the footer, read by pyarrow if it is installed (no data pages are read); other formats get
neither schema nor rows, as counting CSV rows would mean parsing the file.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from assay.datasets.digest import MAGIC, SCHEME, Stream
from assay.datasets.profile import ColumnSchema, ColumnStats, DatasetProfile
from assay.errors import NotFound

READ_BYTES = 8 << 20
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


@dataclass(frozen=True)
class _Source:
    """A filesystem (None for the local one, read with plain ``open``) and a path on it."""

    fs: Any
    path: str

    @classmethod
    def of(cls, location: str | os.PathLike[str]) -> _Source:
        text = os.fspath(location)
        if "://" in text or "::" in text:
            import fsspec

            fs, path = fsspec.core.url_to_fs(text)
            return cls(fs, path)
        return cls(None, os.path.abspath(text))

    def exists(self) -> bool:
        return os.path.exists(self.path) if self.fs is None else bool(self.fs.exists(self.path))

    def is_dir(self) -> bool:
        return os.path.isdir(self.path) if self.fs is None else bool(self.fs.isdir(self.path))

    def open(self, path: str) -> Any:
        return (
            open(path, "rb", buffering=0)
            if self.fs is None
            else self.fs.open(path, "rb", block_size=READ_BYTES)
        )

    def files(self) -> list[tuple[str, str, int]]:
        """(relative path, full path, size) of every file below the directory, sorted by relative path."""
        found: list[tuple[str, str, int]] = []
        if self.fs is None:
            for root, _dirs, names in os.walk(self.path):
                for n in names:
                    full = os.path.join(root, n)
                    if os.path.isfile(full):
                        rel = os.path.relpath(full, self.path).replace(os.sep, "/")
                        found.append((rel, full, os.path.getsize(full)))
        else:
            base = self.path.rstrip("/")
            for full, info in self.fs.find(base, withdirs=False, detail=True).items():
                rel = full[len(base) :].lstrip("/")
                found.append((rel, full, int(info.get("size") or 0)))
        return sorted(found, key=lambda f: f[0].encode("utf-8", "surrogatepass"))

    def size(self) -> int:
        return os.path.getsize(self.path) if self.fs is None else int(self.fs.size(self.path))


def _read_chunks(handle: Any) -> Iterator[memoryview]:
    """The file's content, chunk by chunk, read into one reused buffer when the handle can."""
    buffer = bytearray(READ_BYTES)
    view = memoryview(buffer)
    readinto = getattr(handle, "readinto", None)
    while True:
        if readinto is not None:
            n = readinto(view)
            if not n:
                return
            yield view[:n]
        else:
            data = handle.read(READ_BYTES)
            if not data:
                return
            yield memoryview(data)


def _file_digest(source: _Source, path: str) -> tuple[xxhash.xxh3_128, int, bytes]:
    """The content hash of one file, its size as read, and its first four bytes (a format's magic)."""
    h = xxhash.xxh3_128(seed=0)
    size = 0
    head = b""
    with source.open(path) as handle:
        for chunk in _read_chunks(handle):
            if size < 4:
                head = (head + bytes(chunk[: 4 - size]))[:4]
            h.update(chunk)
            size += len(chunk)
    return h, size, head


def _parquet_footer(source: _Source, path: str) -> tuple[list[ColumnSchema], int, list[ColumnStats]] | None:
    """Schema, row count and footer statistics of a Parquet file; None without pyarrow or if unreadable."""
    try:
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError:
        return None
    try:
        with source.open(path) as handle:
            meta = pq.ParquetFile(handle).metadata
            schema = meta.schema.to_arrow_schema()
    except Exception:  # not Parquet after all, or a footer pyarrow cannot read: no schema, no rows
        return None
    columns = [ColumnSchema(f.name, str(f.type)) for f in schema]
    return columns, int(meta.num_rows), _footer_stats(meta)


def _footer_stats(meta: Any) -> list[ColumnStats]:
    """count, nulls, min and max of top-level numeric columns, when every row group records them."""
    out = []
    for j in range(meta.num_columns):
        chunks = [meta.row_group(i).column(j) for i in range(meta.num_row_groups)]
        if not chunks or "." in chunks[0].path_in_schema:
            continue
        stats = [c.statistics for c in chunks]
        if any(s is None or not s.has_null_count for s in stats):
            continue
        nulls = sum(int(s.null_count) for s in stats)
        lows = [s.min for s in stats if s.has_min_max]
        highs = [s.max for s in stats if s.has_min_max]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in lows + highs)
        with_values = [s for c, s in zip(chunks, stats, strict=True) if c.num_values > s.null_count]
        bounded = numeric and bool(lows) and all(s.has_min_max for s in with_values)
        out.append(
            ColumnStats(
                chunks[0].path_in_schema,
                int(meta.num_rows) - nulls,
                nulls,
                min=min(lows) if bounded else None,
                max=max(highs) if bounded else None,
            )
        )
    return out


def profile_path(location: str | os.PathLike[str], want_stats: bool) -> DatasetProfile:
    """Digest, size and what is cheap to know (Parquet footers) of a file or a directory."""
    source = _Source.of(location)
    if not source.exists():
        raise NotFound(f"no file or directory at {os.fspath(location)}")
    if source.is_dir():
        return _profile_directory(source)
    h, size, head = _file_digest(source, source.path)
    schema: list[ColumnSchema] = []
    rows = None
    stats: list[ColumnStats] = []
    if source.path.lower().endswith(PARQUET_SUFFIXES) or head == b"PAR1":
        footer = _parquet_footer(source, source.path)
        if footer is not None:
            schema, rows, stats = footer
    return DatasetProfile(
        digest=f"{SCHEME}:{h.hexdigest()}",
        kind="file",
        schema=tuple(schema),
        rows=rows,
        size_bytes=size,
        stats=tuple(stats) if want_stats else (),
    )


def _profile_directory(source: _Source) -> DatasetProfile:
    files = source.files()
    stream = Stream()
    stream.raw(MAGIC + b"directory\x00")
    stream.u64(len(files))
    total = 0
    all_parquet = any(not _is_metadata(rel) for rel, _, _ in files)
    rows = 0
    schema: list[ColumnSchema] = []
    for rel, full, _listed in files:
        h, size, head = _file_digest(source, full)
        stream.lp(rel.encode("utf-8", "surrogatepass"))
        stream.u64(size)
        stream.raw(h.digest())
        total += size
        if _is_metadata(rel):
            continue  # _SUCCESS, .crc and the like: hashed, but no part of the table's rows
        if all_parquet and (rel.lower().endswith(PARQUET_SUFFIXES) or head == b"PAR1"):
            footer = _parquet_footer(source, full)
            if footer is None:
                all_parquet = False
            else:
                rows += footer[1]
                schema = schema or footer[0]
        else:
            all_parquet = False
    return DatasetProfile(
        digest=stream.hexdigest(),
        kind="directory",
        schema=tuple(schema) if all_parquet else (),
        rows=rows if all_parquet else None,
        size_bytes=total,
    )


def _is_metadata(rel: str) -> bool:
    """Files that dataset readers (pyarrow.dataset, Spark) skip: a name starting with ``_`` or ``.``."""
    return rel.rsplit("/", 1)[-1].startswith(("_", "."))


def default_name(location: str | os.PathLike[str]) -> str:
    """The last part of a path or URL: ``data/train.parquet`` -> ``train.parquet``."""
    return Path(os.fspath(location).rstrip("/")).name or os.fspath(location)


def default_source(location: str | os.PathLike[str]) -> str:
    """A URL as given, or a local path made absolute (as a ``file://`` URI)."""
    text = os.fspath(location)
    if "://" in text or "::" in text:
        return text
    return Path(text).resolve().as_uri()
