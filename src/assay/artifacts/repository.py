"""Read and write a run's artifacts under its artifact URI, through fsspec.

The run's artifact URI is a directory URL (``/abs/path``, ``file:///...``, ``s3://bucket/prefix``); every
path given here is relative to it and may not escape it. S3 settings come from the usual places: AWS
credentials and region from the environment or ~/.aws, and s3fs options from fsspec's environment
variables (``FSSPEC_S3_ENDPOINT_URL=http://host:port`` for MinIO, moto or another S3-compatible server).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import fsspec

from assay.artifacts.uri import clean_path
from assay.entities import FileInfo
from assay.errors import InvalidInput, MissingDependency, NotFound

#: The prefix of a file being written in place of an artifact on a local disk (see ``_placing``).
PARTIAL = ".assay-partial-"


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


class ArtifactRepository:
    """The artifacts of one run, rooted at ``root`` (a directory URL).

    Error messages name the artifact by its path inside the run and the run by ``label`` ("run <id>"),
    never by ``root``: they reach clients of a server, who must not learn its file system layout.
    """

    def __init__(self, root: str, label: str = "this run") -> None:
        self.root = root.rstrip("/")
        self.label = label
        self.fs: Any
        try:
            self.fs, self._base = fsspec.core.url_to_fs(self.root)
            self._local = "file" in _protocols(self.fs)
        except ImportError as exc:  # fsspec names the package it needs (s3fs, gcsfs, ...)
            scheme = self.root.split("://", 1)[0]
            extra = " pip install 'assay[s3]'" if scheme in ("s3", "s3a") else f" {exc}"
            raise MissingDependency(f"artifacts on {scheme}:// need a filesystem package:{extra}") from exc

    def _full(self, path: str) -> str:
        rel = clean_path(path)
        return f"{self._base}/{rel}" if rel else self._base

    def write_bytes(self, data: bytes, path: str) -> None:
        """Write ``data`` to the artifact file ``path`` (parents are created)."""
        rel = clean_path(path)
        if not rel:
            raise InvalidInput("an artifact needs a file name, e.g. 'notes.md'")
        full = self._full(rel)
        self.fs.makedirs(full.rsplit("/", 1)[0], exist_ok=True)
        with self._placing(full) as tmp, self.fs.open(tmp, "wb") as f:
            f.write(data)

    @contextmanager
    def _placing(self, full: str) -> Iterator[str]:
        """Where to write the file ``full``: on a local disk a hidden name beside it, renamed over it once
        whole, so a crash mid-write never leaves a truncated artifact (object stores write whole objects)."""
        if not self._local:
            yield full
            return
        head, _, name = full.rpartition("/")
        tmp = f"{head}/{PARTIAL}{uuid.uuid4().hex[:12]}.{name}"
        try:
            yield tmp
            os.replace(tmp, full)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(tmp)

    def upload(self, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy a local file or directory under ``artifact_path`` (a directory keeps its own name)."""
        src = Path(local_path)
        if not src.exists():
            raise NotFound(f"cannot log artifact {str(src)!r}: no such file or directory")
        dest = clean_path(artifact_path)
        target = self._full(f"{dest}/{src.name}" if dest else src.name)
        if src.is_dir():
            for file in sorted(p for p in src.rglob("*") if p.is_file()):
                rel = file.relative_to(src).as_posix()
                self.fs.makedirs(f"{target}/{rel}".rsplit("/", 1)[0], exist_ok=True)
                with self._placing(f"{target}/{rel}") as tmp:
                    self.fs.put_file(str(file), tmp)
        else:
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            with self._placing(target) as tmp:
                self.fs.put_file(str(src), tmp)

    def list(self, path: str | None = None) -> list[FileInfo]:
        """The entries directly under ``path`` (the root by default), directories first, by name."""
        rel = clean_path(path)
        full = self._full(rel)
        if not self.fs.exists(full):
            return []
        if not self.fs.isdir(full):
            return [FileInfo(rel, False, self.fs.size(full))]
        out = []
        for entry in self.fs.ls(full, detail=True):
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if name.startswith(PARTIAL):
                continue  # a file being written (or left by a crash mid-write): not an artifact
            is_dir = entry["type"] == "directory"
            out.append(
                FileInfo(f"{rel}/{name}" if rel else name, is_dir, None if is_dir else entry.get("size"))
            )
        return sorted(out, key=lambda f: (not f.is_dir, f.path))

    def read_bytes(self, path: str) -> bytes:
        full = self._full(path)
        if not self.fs.isfile(full):
            raise NotFound(f"{self.label} has no artifact file {clean_path(path)!r}")
        data: bytes = self.fs.cat_file(full)
        return data

    def download(self, path: str | None, dst: str | os.PathLike[str]) -> Path:
        """Copy the artifact file or directory ``path`` into local directory ``dst``; returns the local path."""
        rel = clean_path(path)
        full = self._full(rel)
        if not self.fs.exists(full):
            raise NotFound(f"{self.label} has no artifact {rel or '/'!r}")
        dst_dir = Path(dst)
        dst_dir.mkdir(parents=True, exist_ok=True)
        name = rel.rsplit("/", 1)[-1] if rel else "artifacts"
        local = dst_dir / name
        if self.fs.isdir(full):
            for file in self.fs.find(full):
                if file.rsplit("/", 1)[-1].startswith(PARTIAL):
                    continue
                sub = file[len(full) :].lstrip("/")
                (local / sub).parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(file, str(local / sub))
        else:
            self.fs.get_file(full, str(local))
        return local
