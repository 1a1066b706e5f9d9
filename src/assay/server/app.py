"""``create_app(services)``: the REST API and the UI over a services bundle, with OpenAPI at /openapi.json.

Routes are thin (parse, call the service, serialize) and grouped by area in sibling modules. Sync routes
are plain ``def`` functions, which FastAPI runs in its threadpool, so a slow database call never blocks the
event loop; routes that stream bodies are ``async`` and hand the service calls to the threadpool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from assay import ui
from assay._version import __version__
from assay.api.schemas import ErrorBody, Health
from assay.errors import InvalidInput
from assay.mlflow import rest as mlflow_rest
from assay.server import artifacts, errors, experiments, jobs, metrics, people, registry, runs
from assay.server.hosts import AllowedHosts, allowed_hosts_from_env
from assay.services import Services

API_PREFIX = "/api/v1"


def create_app(
    services: Services,
    owns_services: bool = False,
    auth: bool = False,
    allowed_hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The API and the UI over ``services`` (a bundle that decides roles: ``bundle.embedded_services``);
    with ``owns_services`` the app closes them when it shuts down.

    With ``auth`` every route but /health, /openapi.json and the login page needs a bearer token (see
    ``assay.web.auth``); without it every caller is the local admin. Without auth only the loopback host
    names are answered (``assay.server.hosts``), unless ``allowed_hosts`` lists others.
    """
    if services.authorizer is None:
        raise InvalidInput("a server needs services that decide roles: a SQL store, not another server")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owns_services:
                services.close()

    app = FastAPI(
        title="assay",
        version=__version__,
        summary="Experiment tracking: experiments, runs, params, tags, metric series, search, artifacts.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load from a CDN, which a private server cannot reach
        redoc_url=None,
        responses={"default": {"model": ErrorBody, "description": "any failure, in the error shape"}},
    )
    app.state.services = services
    app.state.auth = auth
    errors.install(app)
    for module in (experiments, runs, metrics, artifacts, people, registry, jobs):
        app.include_router(module.router, prefix=API_PREFIX)
    mlflow_rest.mount(app, services, auth)  # MLflow's REST API (/api/2.0, /api/3.0), in MLflow's error shape
    app.include_router(ui.router)
    if not auth or allowed_hosts is not None:
        app.add_middleware(AllowedHosts, hosts=allowed_hosts or allowed_hosts_from_env())

    @app.get("/health", tags=["server"])
    def health() -> Health:
        """Liveness: answers as soon as the server accepts requests."""
        return Health(status="ok")

    return app
