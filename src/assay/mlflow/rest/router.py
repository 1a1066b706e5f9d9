"""``create_mlflow_app``: MLflow's REST API as a sub-application of assay's server.

Mounted at ``/api/2.0`` (MLflow's tracking, registry and proxied-artifact paths) and ``/api/3.0``
(``server-info``) by ``assay.server.app``. A sub-application of its own so that every failure on these
paths answers in MLflow's error shape (``errors.install``) without touching assay's handlers; it shares
the parent's services and auth setting, and every route takes ``Svc`` (roles apply as on assay's routes).
"""

from __future__ import annotations

from fastapi import FastAPI

from assay.mlflow.rest import artifacts, errors, experiments, inputs, models, registry, runs
from assay.services import Services

MOUNTS = ("/api/2.0", "/api/3.0")


def create_mlflow_app(services: Services, auth: bool) -> FastAPI:
    """The MLflow routes over ``services`` (the parent app's bundle) with the parent's ``auth``."""
    app = FastAPI(title="assay: MLflow REST API", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.services = services
    app.state.auth = auth
    errors.install(app)
    for module in (experiments, runs, inputs, models, artifacts, registry):
        app.include_router(module.router)
    return app


def mount(parent: FastAPI, services: Services, auth: bool) -> None:
    """Serve MLflow's REST API from ``parent`` (see the module doc)."""
    sub = create_mlflow_app(services, auth)
    for prefix in MOUNTS:
        parent.mount(prefix, sub)
