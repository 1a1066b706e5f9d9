"""Who is calling: every route but ``PUBLIC_PATHS`` takes ``Svc``, the app's services bound to the caller.

In team mode (``auth=True``) binding them requires a bearer token (``Authorization: Bearer assay_...``), or
for browsers the session cookie the sign-in form sets (``SESSION_COOKIE``); without either the request
answers 401 before anything runs. A state-changing request (anything but GET, HEAD, OPTIONS) made with a
session cookie must also carry the session's CSRF token (``assay.web.csrf``), else it answers 403; bearer
requests need none. The bound services check the caller's roles themselves (``assay.services.authorized``),
so routes never do: a missing role answers 403 from inside the service. Without auth (``assay ui`` on
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
from assay.web import csrf

#: Answered to anyone: liveness, the API description, and the login page.
PUBLIC_PATHS = frozenset(
    {"/health", "/openapi.json", "/login", "/logout", "/static/plotly.min.js", "/static/{name}"}
)
#: Mounts of MLflow's REST API (``assay.mlflow.rest``), a sub-application answering in MLflow's error shape:
#: its routes take ``Svc`` as well and tests/test_mlflow_rest.py walks them; the app's walk passes over them.
PUBLIC_PATHS |= {"/api/2.0", "/api/3.0"}
#: The browser session's cookie (HttpOnly, SameSite=Lax, Secure over https): "<id>.<secret>".
SESSION_COOKIE = "assay_session"

_bearer = HTTPBearer(
    auto_error=False,
    description="an API token from `assay admin create-user` or `assay token create`",
)


def client_address(request: Request) -> str:
    """The client's IP address, as the sign-in throttle counts it ("unknown" when the server has none)."""
    return request.client.host if request.client else "unknown"


def app_services(request: Request) -> Services:
    """The services the app was created with, bound to no caller: for signing in and out only."""
    services: Services = request.app.state.services
    return services


async def request_services(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Services:
    """The app's services as the request's caller; 401 UNAUTHENTICATED in team mode without a valid
    token or session, 403 for a session's state-changing request without its CSRF token.

    ``async`` on purpose: FastAPI runs a sync dependency in its threadpool, a thread hop per request; the
    credential is checked in the threadpool only when it is not cached."""
    root = app_services(request)
    if not request.app.state.auth:
        return root.as_caller(LOCAL_ADMIN, client_address(request))
    authorizer = root.authorizer
    assert authorizer is not None
    if bearer is not None:
        principal = authorizer.cached(bearer.credentials)
        if principal is None:
            principal = await run_in_threadpool(authorizer.authenticate, bearer.credentials)
        return root.as_caller(principal, client_address(request))
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        raise Unauthenticated(
            "this server requires an API token: set ASSAY_TRACKING_TOKEN to the token from "
            "`assay admin create-user` or `assay token create` (browsers: sign in at /login)"
        )
    principal = authorizer.cached(session)
    if principal is None:
        principal = await run_in_threadpool(authorizer.authenticate_session, session)
    if request.method not in csrf.SAFE_METHODS:
        csrf.check(csrf.token_for(session), await csrf.sent_token(request))
    return root.as_caller(principal, client_address(request))


def csrf_token(request: Request) -> str:
    """The CSRF token forms of this request's session carry ('' without a session)."""
    session = request.cookies.get(SESSION_COOKIE)
    return csrf.token_for(session) if session else ""


Svc = Annotated[Services, Depends(request_services)]
