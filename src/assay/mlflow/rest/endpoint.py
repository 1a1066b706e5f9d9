"""``endpoint``: declare an MLflow route as a plain function of (services, fields) -> JSON.

Every MLflow call has the same shape (a JSON body, or the query string of a GET, in; a JSON object out),
so each area module writes only the mapping onto assay's services; this wrapper reads the fields on the
event loop and runs the mapping in the threadpool (it calls the store), bound to the caller through
``Svc`` like every assay route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from assay.mlflow.rest.protocol import Fields, json_response
from assay.services import Services
from assay.web.auth import Svc

Handler = Callable[[Services, Fields], Any]


def endpoint(router: APIRouter, method: str, path: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``method path``; it returns a JSON-able value or a ready ``Response``."""

    def register(handler: Handler) -> Handler:
        async def route(request: Request, svc: Svc) -> Response:
            fields = await Fields.of(request)
            out = await run_in_threadpool(handler, svc, fields)
            return out if isinstance(out, Response) else json_response(out)

        route.__name__ = handler.__name__
        route.__doc__ = handler.__doc__
        router.add_api_route(path, route, methods=[method], response_class=Response, name=handler.__name__)
        return handler

    return register
