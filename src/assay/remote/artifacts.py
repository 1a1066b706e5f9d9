"""The artifact methods of ``Tracking`` over HTTP: one file per request, streamed both ways.

Directories are not a wire concept: uploads walk the local directory and PUT each file under the same
relative path; downloads walk the run's listing and GET each file. The layouts match the embedded
``ArtifactRepository`` (a directory keeps its own name; a download lands in ``dst/<last path part>``).
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from assay.api.schemas import FileList
from assay.artifacts.uri import clean_path
from assay.entities import FileInfo
from assay.errors import NotFound
from assay.remote.errors import check
from assay.remote.urls import API, artifact_url, run_path

OCTETS = {"Content-Type": "application/octet-stream"}


class HttpArtifacts:
    """Mixed into RemoteTracking, which provides the HTTP client."""

    _http: httpx.Client

    def write_artifact(self, run_id: str, path: str, data: bytes) -> None:
        check(self._http.put(artifact_url(run_id, path), content=data, headers=OCTETS))

    def upload_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None
    ) -> None:
        """Copy a local file or directory under ``artifact_path`` (a directory keeps its own name)."""
        src = Path(local_path)
        if not src.exists():
            raise NotFound(f"cannot log artifact {str(src)!r}: no such file or directory")
        dest = clean_path(artifact_path)
        target = f"{dest}/{src.name}" if dest else src.name
        files = sorted(p for p in src.rglob("*") if p.is_file()) if src.is_dir() else [src]
        for file in files:
            rel = file.relative_to(src).as_posix() if src.is_dir() else ""
            self._put_file(artifact_url(run_id, f"{target}/{rel}" if rel else target), file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        params = {} if path is None else {"path": path}
        response = self._http.get(f"{API}{run_path(run_id)}/artifacts", params=params)
        check(response)
        return FileList.model_validate_json(response.content).entity()

    def read_artifact(self, run_id: str, path: str) -> bytes:
        response = self._http.get(artifact_url(run_id, path))
        check(response)
        return response.content

    def download_artifacts(self, run_id: str, path: str | None, dst: str | os.PathLike[str]) -> Path:
        """Copy the artifact file or directory ``path`` into local directory ``dst``; returns the local path."""
        rel = clean_path(path)
        entries = self.list_artifacts(run_id, rel)
        if not entries:
            self.read_artifact(run_id, rel)  # raises the server's NotFound for what is not there
        is_file = bool(rel) and len(entries) == 1 and not entries[0].is_dir and entries[0].path == rel
        dst_dir = Path(dst)
        dst_dir.mkdir(parents=True, exist_ok=True)
        local = dst_dir / (rel.rsplit("/", 1)[-1] if rel else "artifacts")
        if is_file:
            self._get_file(artifact_url(run_id, rel), local)
            return local
        for entry in self._walk(run_id, entries):
            self._get_file(artifact_url(run_id, entry.path), local / entry.path[len(rel) :].lstrip("/"))
        return local

    def _walk(self, run_id: str, entries: list[FileInfo]) -> list[FileInfo]:
        """Every file among ``entries`` and under the directories among them, depth first."""
        files = []
        for e in entries:
            files += self._walk(run_id, self.list_artifacts(run_id, e.path)) if e.is_dir else [e]
        return files

    def _put_file(self, url: str, local: Path) -> None:
        with local.open("rb") as f:  # httpx streams a file object in chunks
            check(self._http.put(url, content=f, headers=OCTETS))

    def _get_file(self, url: str, dst: Path) -> None:
        with self._http.stream("GET", url) as response:
            check(response)
            dst.parent.mkdir(parents=True, exist_ok=True)
            with dst.open("wb") as f:
                for chunk in response.iter_bytes():
                    f.write(chunk)
