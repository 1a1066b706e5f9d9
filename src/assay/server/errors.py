"""Errors as JSON: ``{"error": {"code": ..., "message": ...}}`` with a fitting HTTP status, for every failure;
for people in a browser, a page.

The code is the ``AssayError`` subclass's stable ``code``, so the remote client raises the same class with
the same message. Request validation failures (422) use INVALID_ARGUMENT, the code of InvalidInput, which
is what they are. Anything unexpected is answered 500 INTERNAL_ERROR without its traceback (it may hold
paths or data the caller should not see); Starlette re-raises it after answering, so the server logs it.

A browser (``Accept: text/html``, which page loads and form posts send; never under ``/api/``) gets the
same status with a page saying what happened and how to fix it (``assay.ui.error_page``) instead of the
JSON, and a page load that needs a sign-in is sent to the sign-in form. Scripts and API clients (their
``Accept`` names JSON or anything) keep the JSON shape.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from assay.api.schemas import ErrorBody, ErrorDetail
from assay.errors import (
    AssayError,
    Conflict,
    FilterSyntaxError,
    InvalidInput,
    InvalidState,
    MissingDependency,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from assay.services.access import LoginLocked
from assay.ui.error_page import error_page
from assay.web.csrf import FormExpired

log = logging.getLogger("assay.server")

#: Checked in order, so a subclass listed before its base wins.
STATUS: tuple[tuple[type[AssayError], int], ...] = (
    (NotFound, 404),
    (InvalidInput, 400),  # FilterSyntaxError too
    (Conflict, 409),
    (InvalidState, 409),
    (MissingDependency, 501),
    (LoginLocked, 429),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (Unavailable, 503),
)

#: Codes of HTTP-level failures (no route, wrong method, wrong media type): not AssayErrors of the service.
HTTP_CODES = {404: "NO_SUCH_ROUTE", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}


def status_of(exc: AssayError) -> int:
    """The HTTP status of an AssayError: 500 for one that fits no class (a bug or a bare AssayError)."""
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 500)


def error_response(
    status: int, code: str, message: str, details: dict[str, str | int] | None = None
) -> Response:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, details=details))
    return Response(
        body.model_dump_json(exclude_none=True), status_code=status, media_type="application/json"
    )


async def on_assay_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AssayError)
    details: dict[str, str | int] | None = None
    if isinstance(exc, FilterSyntaxError):
        details = {"reason": exc.reason, "text": exc.text, "position": exc.position}
    status = status_of(exc)
    if status == 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    if status == 503:
        # The message names the server's own store (a path, a host): log it, tell the client less.
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
        exc = Unavailable("the server cannot reach its store right now; try again shortly")
    if _wants_html(request):
        if status == 401 and request.method == "GET":
            # A page load without a session goes to the sign-in form, and comes back afterwards.
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
        return error_page(request, status, exc.message, form_expired=isinstance(exc, FormExpired))
    response = error_response(status, exc.code, exc.message, details)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="assay"'
    return response


def _wants_html(request: Request) -> bool:
    """Whether a person in a browser made the request: it accepts HTML and is not an API call."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    message = "invalid request: " + "; ".join(parts)
    if _wants_html(request):
        return error_page(request, 422, message)
    return error_response(422, InvalidInput.code, message)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = (
            f"no route for {request.method} {request.url.path}: is this an assay server of this version?"
        )
    else:
        message = str(exc.detail)
    if _wants_html(request):
        response: Response = error_page(request, exc.status_code, message)
        response.headers.update(exc.headers or {})
        return response
    code = HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
    response = error_response(exc.status_code, code, message)
    response.headers.update(exc.headers or {})
    return response


async def on_unexpected(request: Request, exc: Exception) -> Response:
    message = f"internal server error ({type(exc).__name__}); the server log has the details"
    if _wants_html(request):
        return error_page(request, 500, message)
    return error_response(500, AssayError.code, message)


def install(app: FastAPI) -> None:
    """Answer every failure of ``app`` in the error shape."""
    app.add_exception_handler(AssayError, on_assay_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
