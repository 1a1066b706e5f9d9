"""``RemoteTracking``: the ``Tracking`` interface over the server's REST API (team mode).

The SDK holds it like the embedded service and never knows the difference: every method sends one
request (a directory upload or download, one per file) on one ``httpx.Client``, whose pool keeps HTTP/1.1
connections alive between calls; httpcore sets TCP_NODELAY on every connection it opens, so small
requests are not held back by Nagle's algorithm. Errors come back as the same AssayError classes with the
same messages; connection and server failures do not (see ``assay.remote.errors``), so the SDK's writer
retries them. Thread-safe: httpx clients may be shared by threads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from assay import wire
from assay._version import __version__
from assay.api import schemas as s
from assay.entities import (
    Experiment,
    MetricHistory,
    Run,
    RunEnd,
    RunInfo,
    RunList,
    RunStatus,
    SeriesBatch,
    WriteBatch,
)
from assay.errors import NotFound, Unavailable
from assay.remote.access import RemoteAccess
from assay.remote.artifacts import HttpArtifacts
from assay.remote.errors import check
from assay.remote.jobs import RemoteJobs
from assay.remote.registry import RemoteRegistry
from assay.remote.urls import API, key_segment, run_path, segment
from assay.series import Downsampled
from assay.services import Services
from assay.services import validation as v
from assay.services.tracking import Tracking, now_ms

M = TypeVar("M", bound=BaseModel)


def _texts(items: Mapping[str, object] | None, what: str) -> dict[str, str]:
    """Params or tags as the JSON object of strings the API takes, by the service's own rules."""
    rule = v.param_value if what == "param" else v.tag_value
    return {v.check_key(k, what): rule(k, val) for k, val in (items or {}).items()}


class RemoteTracking(HttpArtifacts, Tracking):
    """Tracking on the assay server at ``base_url`` (e.g. ``http://127.0.0.1:5000``).

    ``token`` is the API token a team-mode server requires (default ``$ASSAY_TRACKING_TOKEN``). ``http``
    replaces the HTTP client (any ``httpx.Client`` whose base URL is the server's, such as FastAPI's
    TestClient); ``timeout`` is in seconds, per network operation.
    """

    def __init__(
        self,
        base_url: str,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
        token: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._owns_http = http is None
        self._http = http or new_http_client(self.base_url, timeout, token)

    def access(self) -> RemoteAccess:
        """Team operations (whoami, tokens, projects...) as this client's token."""
        return RemoteAccess(self._http)

    def registry(self) -> RemoteRegistry:
        """The model registry as this client's token."""
        return RemoteRegistry(self._http)

    def jobs(self) -> RemoteJobs:
        """The runner's queue and schedules as this client's token."""
        return RemoteJobs(self._http)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, API + path, **kwargs)
        check(response)
        return response

    def _fetch(self, model: type[M], path: str, method: str = "GET", **kwargs: Any) -> M:
        """The response body of a request as ``model`` (one of assay.api.schemas)."""
        return model.model_validate_json(self._call(method, path, **kwargs).content)

    # ---- experiments ----------------------------------------------------------------------------------

    def create_experiment(self, name: str, project: str | None = None) -> Experiment:
        body = {"name": name, "project": project}
        return self._fetch(s.ExperimentOut, "/experiments", "POST", json=body).entity()

    def get_experiment(self, experiment_id: str, with_run_count: bool = True) -> Experiment:
        """Counted whatever ``with_run_count`` says: the server's answer carries the count."""
        return self._fetch(s.ExperimentOut, f"/experiments/{segment(experiment_id, 'experiment')}").entity()

    def get_experiment_by_name(self, name: str, project: str | None = None) -> Experiment | None:
        if project is not None:  # a listing tells "no such experiment" ([]) from "no such project" (404)
            found = self.list_experiments(include_deleted=True, project=project, name=name)
            return found[0] if found else None
        try:
            return self._fetch(s.ExperimentOut, "/experiments/by-name", params={"name": name}).entity()
        except NotFound:
            return None

    def list_experiments(
        self, include_deleted: bool = False, project: str | None = None, name: str | None = None
    ) -> list[Experiment]:
        query: dict[str, str | bool] = {"include_deleted": include_deleted}
        if project is not None:
            query["project"] = project
        if name is not None:
            query["name"] = name
        listed = self._fetch(s.ExperimentList, "/experiments", params=query)
        return [e.entity() for e in listed.experiments]

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("DELETE", f"/experiments/{segment(experiment_id, 'experiment')}")

    def restore_experiment(self, experiment_id: str) -> None:
        self._call("POST", f"/experiments/{segment(experiment_id, 'experiment')}/restore")

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        self._call("PATCH", f"/experiments/{segment(experiment_id, 'experiment')}", json={"name": name})

    # ---- runs -------------------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
        parent_run_id: str | None = None,
        run_id: str | None = None,
        start_time: int | None = None,
        user: str | None = None,
    ) -> RunInfo:
        body = {
            "experiment_id": str(experiment_id),
            "name": name,
            "params": _texts(params, "param"),
            "tags": _texts(tags, "tag"),
            "parent_run_id": parent_run_id,
            "run_id": run_id,
            "start_time": start_time,
            "user": user,
        }
        return self._fetch(s.RunInfoOut, "/runs", "POST", json=body).entity()

    def get_run(self, run_id: str) -> Run:
        return self._fetch(s.RunOut, run_path(run_id)).entity()

    def get_run_info(self, run_id: str) -> RunInfo:
        return self._fetch(s.RunInfoOut, f"{run_path(run_id)}/info").entity()

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        self._call("POST", f"{run_path(run_id)}/params", json={"params": _texts(params, "param")})

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        self._call("POST", f"{run_path(run_id)}/tags", json={"tags": _texts(tags, "tag")})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._call("DELETE", f"{run_path(run_id)}/tags/{key_segment(key)}")

    def ingest(self, batch: WriteBatch) -> None:
        if not batch:
            return
        body = wire.encode_ingest(batch, batch_id=batch.batch_id or wire.new_batch_id())
        self._call("POST", "/ingest", content=body, headers={"Content-Type": wire.MSGPACK})

    def end_run(
        self, run_id: str, status: RunStatus, end_time: int | None = None, batches: Sequence[SeriesBatch] = ()
    ) -> None:
        status = RunStatus(status)
        if batches:  # points and end in one request, so in one transaction
            end = RunEnd(run_id, status, now_ms() if end_time is None else int(end_time))
            self.ingest(WriteBatch(series=batches, ends=[end]))
            return
        body = {"status": status.value, "end_time": end_time}
        self._call("POST", f"{run_path(run_id)}/end", json=body)

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            self._call("POST", "/runs/heartbeat", json={"run_ids": list(run_ids)})

    def delete_run(self, run_id: str) -> None:
        self._call("DELETE", run_path(run_id))

    def rename_run(self, run_id: str, name: str) -> None:
        self._call("PATCH", run_path(run_id), json={"name": name})

    def restore_run(self, run_id: str) -> None:
        self._call("POST", f"{run_path(run_id)}/restore")

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        path = f"{run_path(run_id)}/metrics/{key_segment(key)}/history"
        return wire.decode_history(self._call("GET", path, headers={"Accept": wire.MSGPACK}).content)

    def get_metric_series(self, run_id: str, key: str, max_points: int = 1000) -> Downsampled:
        """The series downsampled by the server: only the buckets cross the network."""
        path = f"{run_path(run_id)}/metrics/{key_segment(key)}/series"
        body = self._fetch(s.SeriesOut, path, params={"max_points": max_points})

        def floats(values: list[float | None]) -> npt.NDArray[np.float64]:
            return np.array([np.nan if x is None else x for x in values], dtype=np.float64)

        return Downsampled(
            body.key,
            np.array(body.steps, dtype=np.int64),
            np.array(body.timestamps, dtype=np.int64),
            floats(body.last),
            floats(body.min),
            floats(body.max),
            body.total,
            body.downsampled,
        )

    def search_runs(
        self,
        experiment_ids: Sequence[str] = (),
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunList:
        body = {
            "experiment_ids": [str(e) for e in experiment_ids],
            "filter": filter,
            "order_by": None if order_by is None else list(order_by),
            "max_results": max_results,
            "page_token": page_token,
            "include_deleted": include_deleted,
        }
        return s.run_list_from_json(self._call("POST", "/runs/search", json=body).content)


def new_http_client(base_url: str, timeout: float = 30.0, token: str | None = None) -> httpx.Client:
    """A kept-alive client for the server at ``base_url``, sending ``token`` (default
    ``$ASSAY_TRACKING_TOKEN``) as a bearer token when there is one."""
    headers = {"User-Agent": f"assay/{__version__}"}
    token = token or os.environ.get("ASSAY_TRACKING_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token.strip()}"
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers=headers,
        transport=ReachingTransport(base_url.rstrip("/")),
    )


class ReachingTransport(httpx.HTTPTransport):
    """HTTP with one retry of a failed connection attempt; a server that cannot be reached, or that
    breaks off while answering, raises ``Unavailable`` naming it and what to check, never a bare
    ``httpx`` error."""

    def __init__(self, base_url: str) -> None:
        super().__init__(retries=1)
        self.base_url = base_url

    def unavailable(self, exc: httpx.TransportError) -> Unavailable:
        return Unavailable(
            f"cannot reach the tracking server at {self.base_url} ({type(exc).__name__}: {exc}): check that "
            "`assay server` runs there and the URI is right (--tracking-uri / ASSAY_TRACKING_URI)"
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = super().handle_request(request)
        except httpx.TransportError as exc:
            raise self.unavailable(exc) from exc
        response.stream = _ReachingStream(response.stream, self)
        return response


class _ReachingStream(httpx.SyncByteStream):
    """A response body whose read errors (the server went away mid-answer) are ``Unavailable`` too."""

    def __init__(
        self, inner: httpx.SyncByteStream | httpx.AsyncByteStream, transport: ReachingTransport
    ) -> None:
        assert isinstance(inner, httpx.SyncByteStream)
        self.inner = inner
        self.transport = transport

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.inner
        except httpx.TransportError as exc:
            raise self.transport.unavailable(exc) from exc

    def close(self) -> None:
        self.inner.close()


def remote_services(uri: str) -> Services:
    """The services of the server at ``uri`` over one HTTP client (``assay.bundle`` registers this for
    ``http://`` and ``https://`` URIs), as the owner of ``$ASSAY_TRACKING_TOKEN``."""
    tracking = remote_backend(uri)
    return Services(tracking, tracking.access(), tracking.registry(), tracking.jobs())


def remote_backend(uri: str) -> RemoteTracking:
    """The backend for ``http://`` and ``https://`` tracking URIs (registered in assay.bundle)."""
    return RemoteTracking(uri, timeout=float(os.environ.get("ASSAY_HTTP_TIMEOUT", "30")))
