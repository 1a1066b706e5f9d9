"""Who is calling: every route but ``PUBLIC_PATHS`` takes ``Svc``, the app's services bound to the caller.

In team mode (``auth=True``) binding them requires a bearer token (``Authorization: Bearer assay_...``, or
the ``assay_token`` cookie the login page sets for browsers); without one the request answers 401 before
anything runs. The bound services check the caller's roles themselves (``assay.services.authorized``), so
routes never do: a missing role answers 403 from inside the service. Without auth (``assay ui`` on
127.0.0.1) the caller is the local admin, who may do everything.

Routes reach the services only through ``Svc``: ``app.state.services`` is read here and nowhere else, and
a test walks the route table to check that every route outside ``PUBLIC_PATHS`` depends on it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from assay.access import LOCAL_ADMIN
from assay.errors import Unauthenticated
from assay.services import Services

#: Answered to anyone: liveness, the API description, and the login page.
PUBLIC_PATHS = frozenset(
    {"/health", "/openapi.json", "/login", "/logout", "/static/plotly.min.js", "/static/{name}"}
)
COOKIE = "assay_token"

_bearer = HTTPBearer(
    auto_error=False,
    description="an API token from `assay admin create-user` or `assay token create`",
)


def app_services(request: Request) -> Services:
    """The services the app was created with, bound to no caller: for the login form only."""
    services: Services = request.app.state.services
    return services


async def request_services(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Services:
    """The app's services as the request's caller; 401 UNAUTHENTICATED in team mode without a valid token.

    ``async`` on purpose: FastAPI runs a sync dependency in its threadpool, a thread hop per request; the
    token is checked in the threadpool only when it is not cached."""
    root = app_services(request)
    if not request.app.state.auth:
        return root.as_caller(LOCAL_ADMIN)
    assert root.authorizer is not None
    token = bearer.credentials if bearer is not None else request.cookies.get(COOKIE)
    if not token:
        raise Unauthenticated(
            "this server requires an API token: set ASSAY_TRACKING_TOKEN to the token from "
            "`assay admin create-user` or `assay token create`"
        )
    principal = root.authorizer.cached(token)
    if principal is None:
        principal = await run_in_threadpool(root.authorizer.authenticate, token)
    return root.as_caller(principal)


Svc = Annotated[Services, Depends(request_services)]
