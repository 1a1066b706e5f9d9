"""``serve(...)``: run the API server over the embedded tracking service of a SQL store (team mode).

The store is opened (and migrated) once in this process before uvicorn starts, so several workers never
race to migrate it. With one worker that service is served directly; with more, each worker process builds
its own from the environment (``ASSAY_SERVER_STORE``, ``ASSAY_SERVER_ARTIFACTS``) through ``app_from_env``.
"""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI

from assay import backends
from assay.errors import InvalidInput
from assay.server.app import create_app
from assay.server.protocol import NoDelayProtocol
from assay.services.tracking import TrackingService

_STORE_ENV = "ASSAY_SERVER_STORE"
_ARTIFACTS_ENV = "ASSAY_SERVER_ARTIFACTS"


def build_service(store_uri: str, artifacts: str | None = None) -> TrackingService:
    """The embedded service over ``store_uri`` (a SQLite path or postgresql:// URL).

    Artifacts go to ``artifacts`` if given, else where the embedded mode puts them ($ASSAY_ARTIFACT_ROOT,
    else next to a SQLite file, else $ASSAY_HOME/artifacts).
    """
    if artifacts:
        from assay.store.sql import SqlStore

        return TrackingService(SqlStore(store_uri), artifacts)
    service = backends.get_backend(store_uri)
    if not isinstance(service, TrackingService):
        raise InvalidInput(
            f"the server needs a SQL store (a SQLite path or postgresql:// URL), not {store_uri!r}"
        )
    return service


def app_from_env() -> FastAPI:
    """The app of one worker process (uvicorn's factory when ``workers > 1``)."""
    store = os.environ.get(_STORE_ENV)
    if not store:
        raise InvalidInput(f"${_STORE_ENV} names no store: start the server with assay.server.main.serve")
    return create_app(build_service(store, os.environ.get(_ARTIFACTS_ENV) or None), owns_service=True)


def serve(
    store_uri: str,
    artifacts: str | None,
    host: str,
    port: int,
    workers: int = 1,
    access_log: bool = False,
) -> None:
    """Serve the API for ``store_uri`` on ``host:port`` until interrupted (blocks).

    Bind 127.0.0.1 unless the server is meant for other machines: there is no authentication yet.
    The access log is off by default: each logging client posts a batch every few tens of milliseconds.
    """
    if workers < 1:
        raise InvalidInput(f"workers must be at least 1, got {workers}")
    service = build_service(store_uri, artifacts)
    if workers == 1:
        try:
            _run(create_app(service), host, port, 1, access_log)
        finally:
            service.close()
        return
    service.close()
    os.environ[_STORE_ENV] = store_uri
    os.environ[_ARTIFACTS_ENV] = artifacts or service.artifact_root
    _run("assay.server.main:app_from_env", host, port, workers, access_log)


def _run(app: FastAPI | str, host: str, port: int, workers: int, access_log: bool) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=workers,
        factory=isinstance(app, str),
        loop="asyncio",
        http=NoDelayProtocol,  # httptools or h11, with TCP_NODELAY (see assay.server.protocol)
        # The SDK's writer reuses its connection between batches (every 50 ms or so while logging).
        timeout_keep_alive=30,
        access_log=access_log,
    )
