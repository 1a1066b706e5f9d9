"""Artifact routes: list a directory, upload one file (raw body), download one file, all streamed.

The service's interface takes and gives whole files (bytes or a local path), so large bodies go through a
temporary file on the server: uploads are written there chunk by chunk, downloads are copied there and
streamed back from it. Small files (the common text, JSON and YAML) skip the temporary file. Directories
travel file by file: the client walks them with the listing.
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
from pathlib import Path

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from assay.api.schemas import FileList
from assay.artifacts.uri import clean_path
from assay.web.auth import Svc

router = APIRouter(tags=["artifacts"])

#: Bodies up to this size are handled in memory.
SMALL = 1 << 20
OCTETS = "application/octet-stream"
FILE_BODY = {"content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}}}
#: Artifacts are user content: never let a browser sniff one into HTML from the API's origin.
NOSNIFF = {"X-Content-Type-Options": "nosniff"}


@router.get("/runs/{run_id}/artifacts")
def list_artifacts(run_id: str, svc: Svc, path: str | None = None) -> FileList:
    """The entries directly under ``path`` (default: the run's artifact root), directories first."""
    return FileList.of(svc.tracking.list_artifacts(run_id, path))


@router.get("/runs/{run_id}/artifacts/{path:path}", response_class=Response, responses={200: FILE_BODY})
def get_artifact(run_id: str, path: str, svc: Svc) -> Response:
    """The content of one artifact file; 404 NOT_FOUND for a directory or a missing file."""
    entries = svc.tracking.list_artifacts(run_id, path)
    rel = clean_path(path)
    is_file = len(entries) == 1 and not entries[0].is_dir and entries[0].path == rel
    size = entries[0].size if is_file else None
    if not is_file or size is None or size <= SMALL:
        # read_artifact also raises the service's NotFound for anything that is not a file.
        return Response(svc.tracking.read_artifact(run_id, path), media_type=OCTETS, headers=NOSNIFF)
    tmp = tempfile.mkdtemp(prefix="assay-download-")
    try:
        local = svc.tracking.download_artifacts(run_id, path, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    done = BackgroundTask(shutil.rmtree, tmp, ignore_errors=True)
    return FileResponse(local, media_type=OCTETS, headers=NOSNIFF, background=done)


@router.put(
    "/runs/{run_id}/artifacts/{path:path}",
    status_code=204,
    openapi_extra={"requestBody": {"required": True, **FILE_BODY}},
)
async def put_artifact(run_id: str, path: str, request: Request, svc: Svc) -> None:
    """Write the raw request body as the artifact file ``path`` (parents are created, a file replaced)."""
    rel = clean_path(path)  # the service's rule, checked before reading a byte of the body
    length = request.headers.get("content-length")
    parent, name = posixpath.split(rel)
    if not name or (length is not None and length.isdigit() and int(length) <= SMALL):
        data = await request.body()
        await run_in_threadpool(svc.tracking.write_artifact, run_id, path, data)
        return
    # NotFound or PermissionDenied before a large body is read.
    await run_in_threadpool(svc.tracking.check_artifact_write, run_id)
    with tempfile.TemporaryDirectory(prefix="assay-upload-") as tmp:
        local = Path(tmp) / name
        async with await anyio.open_file(local, "wb") as f:
            async for chunk in request.stream():
                await f.write(chunk)
        await run_in_threadpool(svc.tracking.upload_artifact, run_id, local, parent or None)
