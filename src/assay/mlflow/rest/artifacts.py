"""MLflow's proxied artifact routes (``/api/2.0/mlflow-artifacts/artifacts/...``) over the run's assay
artifact store, and the tracking API's ``artifacts/list``.

Each run reports the artifact URI ``mlflow-artifacts:/<experiment>/<run>/artifacts`` (``protocol``), so
the MLflow client uploads, lists and downloads through this server; the path names the run, and the
files land in (and come from) that run's own artifact store, where assay's UI, CLI and SDK see them.
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from assay.artifacts.uri import clean_path
from assay.entities import FileInfo
from assay.mlflow.rest.endpoint import endpoint
from assay.mlflow.rest.errors import MlflowError, invalid, not_implemented
from assay.mlflow.rest.models import model_dirs
from assay.mlflow.rest.protocol import Fields, empty, json_response
from assay.services import Services
from assay.services.tracking import Tracking
from assay.web.auth import Svc

router = APIRouter()

SMALL = 1 << 20
OCTETS = "application/octet-stream"
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
HIDDEN = ".mlflow"


def split_artifact_path(path: str) -> tuple[str, str, str | None]:
    """(kind, run id, path inside the run's artifacts or None for the root) of
    ``<exp>/<run>/artifacts[/<rest>]`` (kind "artifacts") or ``<exp>/<run>/models/<name>[/<rest>]`` (kind
    "models": a logged model's files, which are the run's artifacts under ``<name>``)."""
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) < 3 or parts[2] not in ("artifacts", "models") or not parts[0].isdigit():
        raise invalid(
            f"artifact path {path!r} is not <experiment id>/<run id>/artifacts/<path>: assay serves the "
            "artifacts of runs, under the artifact_uri each run reports"
        )
    rest = "/".join(parts[3:])
    return parts[2], parts[1], (clean_path(rest) if rest else None)


def run_path(tracking: Tracking, path: str) -> tuple[str, str | None]:
    """(run id, path in the run's artifacts) that an MLflow artifact path names, or RESOURCE_DOES_NOT_EXIST
    for a path inside a logged model's directory reached as the run's: MLflow's client lists and fetches
    a run's models through the models' own URIs as well, and would see every model file twice."""
    kind, run_id, rel = split_artifact_path(path)
    if kind == "artifacts" and rel is not None and rel.split("/", 1)[0] in model_dirs(tracking, run_id):
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"{rel!r} is a logged model of run {run_id}: use its URI"
        )
    return run_id, rel


def _files(entries: list[FileInfo], under: str | None) -> list[dict[str, Any]]:
    """assay's listing (paths from the run's root) as MLflow's (paths relative to the listed directory)."""
    out = []
    for e in entries:
        if e.path == HIDDEN:
            continue  # the logged models' metadata (``models.METADATA_DIR``): MLflow lists model files only
        rel = posixpath.relpath(e.path, under) if under and e.path != under else posixpath.basename(e.path)
        item: dict[str, Any] = {"path": rel, "is_dir": e.is_dir}
        if not e.is_dir and e.size is not None:
            item["file_size"] = e.size
        out.append(item)
    return out


def _list(tracking: Tracking, run_id: str, path: str | None) -> list[FileInfo]:
    entries = tracking.list_artifacts(run_id, path)
    if path and len(entries) == 1 and not entries[0].is_dir and entries[0].path == path:
        return []  # a file, not a directory: MLflow lists nothing under it
    return entries


@endpoint(router, "GET", "/mlflow-artifacts/artifacts")
def list_proxied(svc: Services, f: Fields) -> dict[str, Any]:
    """The entries directly under ``path`` (``<exp>/<run>/artifacts/<dir>``)."""
    path = f.opt_text("path")
    if not path:
        raise not_implemented("listing the artifact root of every run (list one run's artifact_uri)")
    try:
        run_id, under = run_path(svc.tracking, path)
    except MlflowError:
        return {"files": []}
    return {"files": _files(_list(svc.tracking, run_id, under), under)}


@endpoint(router, "GET", "/mlflow/artifacts/list")
def list_artifacts(svc: Services, f: Fields) -> dict[str, Any]:
    """The tracking API's listing of a run's artifacts (``root_uri`` is the run's artifact_uri)."""
    run_id = f.text("run_id", "run_uuid")
    path = f.opt_text("path")
    under = clean_path(path) if path else None
    info = svc.tracking.get_run_info(run_id)
    files = _files(_list(svc.tracking, run_id, under), under)
    if under:
        for item in files:
            item["path"] = posixpath.join(under, item["path"])
    return {"root_uri": f"mlflow-artifacts:/{info.experiment_id}/{run_id}/artifacts", "files": files}


@router.get("/mlflow-artifacts/artifacts/{path:path}")
async def download(path: str, svc: Svc) -> Response:
    """One artifact file of a run, streamed from a temporary copy when large."""
    return await run_in_threadpool(_download, svc.tracking, path)


def _download(tracking: Tracking, path: str) -> Response:
    run_id, rel = run_path(tracking, path)
    if rel is None:
        raise invalid("name a file under the run's artifacts to download")
    entries = tracking.list_artifacts(run_id, rel)
    is_file = len(entries) == 1 and not entries[0].is_dir and entries[0].path == rel
    if not is_file:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"run {run_id} has no artifact file {rel!r}")
    size = entries[0].size
    if size is None or size <= SMALL:
        return Response(tracking.read_artifact(run_id, rel), media_type=OCTETS, headers=NOSNIFF)
    tmp = tempfile.mkdtemp(prefix="assay-mlflow-download-")
    try:
        local = tracking.download_artifacts(run_id, rel, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    done = BackgroundTask(shutil.rmtree, tmp, ignore_errors=True)
    return FileResponse(local, media_type=OCTETS, headers=NOSNIFF, background=done)


@router.put("/mlflow-artifacts/artifacts/{path:path}")
async def upload(path: str, request: Request, svc: Svc) -> Response:
    """Write the request body as the artifact file ``path`` of the run the path names."""
    _, run_id, rel = split_artifact_path(path)
    if rel is None:
        raise invalid("name a file under the run's artifacts to upload")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= SMALL:
        data = await request.body()
        await run_in_threadpool(svc.tracking.write_artifact, run_id, rel, data)
        return empty()
    await run_in_threadpool(svc.tracking.check_artifact_write, run_id)
    parent, name = posixpath.split(rel)
    with tempfile.TemporaryDirectory(prefix="assay-mlflow-upload-") as tmp:
        local = Path(tmp) / name
        async with await anyio.open_file(local, "wb") as f:
            async for chunk in request.stream():
                await f.write(chunk)
        await run_in_threadpool(svc.tracking.upload_artifact, run_id, local, parent or None)
    return empty()


@router.delete("/mlflow-artifacts/artifacts/{path:path}")
async def delete(path: str, svc: Svc) -> Response:
    split_artifact_path(path)
    raise not_implemented("deleting artifacts (assay keeps a run's artifacts)")


@router.get("/mlflow/server-info")
async def server_info(svc: Svc) -> Response:
    """What MLflow's client asks a tracking server before proxied artifact transfers."""
    return json_response(
        {
            "store_type": "SqlStore",
            "workspaces_enabled": False,
            "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
        }
    )
