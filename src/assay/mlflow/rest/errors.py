"""MLflow's error shape on the MLflow routes: ``{"error_code": ..., "message": ...}`` with MLflow's statuses.

assay's own routes answer ``{"error": {"code": ...}}``; the MLflow client reads ``error_code`` and raises
``MlflowException`` with it, so these routes translate every failure (assay's service errors, a body that
is not what MLflow sends, a feature assay does not have) into MLflow's codes. The MLflow routes live in a
sub-application (``router.create_mlflow_app``) whose handlers (``install``) do this, so no failure on
these paths reaches assay's own handlers, and a path of MLflow's API that assay does not serve answers
NOT_IMPLEMENTED naming it.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

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

log = logging.getLogger("assay.mlflow")

#: MLflow's error codes and the HTTP status its server answers each with.
STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_STATE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
}


class MlflowError(Exception):
    """A failure to answer in MLflow's shape: ``code`` is one of ``STATUS``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def not_implemented(feature: str) -> MlflowError:
    """A request the MLflow client can send that assay does not serve: named, never a 500."""
    return MlflowError("NOT_IMPLEMENTED", f"assay's MLflow API does not implement {feature}")


def translate(exc: AssayError) -> MlflowError:
    """The MLflow error for one of assay's service errors."""
    if isinstance(exc, NotFound):
        return MlflowError("RESOURCE_DOES_NOT_EXIST", exc.message)
    if isinstance(exc, FilterSyntaxError):
        return invalid(str(exc))
    if isinstance(exc, InvalidInput):
        return invalid(exc.message)
    if isinstance(exc, Conflict):
        code = "RESOURCE_ALREADY_EXISTS" if "already exists" in exc.message else "INVALID_PARAMETER_VALUE"
        return MlflowError(code, exc.message)
    if isinstance(exc, InvalidState):  # writes to an ended or deleted run: MLflow's "run not active" code
        return invalid(exc.message)
    if isinstance(exc, Unauthenticated):
        return MlflowError(
            "UNAUTHENTICATED",
            "this assay server requires an API token: set MLFLOW_TRACKING_TOKEN to a token from "
            "`assay admin create-user` or `assay token create`",
        )
    if isinstance(exc, PermissionDenied):
        return MlflowError("PERMISSION_DENIED", exc.message)
    if isinstance(exc, MissingDependency):
        return MlflowError("NOT_IMPLEMENTED", exc.message)
    if isinstance(exc, Unavailable):
        return MlflowError(
            "TEMPORARILY_UNAVAILABLE", "the server cannot reach its store right now; try again"
        )
    return MlflowError("INTERNAL_ERROR", f"internal error ({type(exc).__name__}); the server log has details")


def error_response(err: MlflowError) -> Response:
    if err.code == "NOT_IMPLEMENTED":  # tells an operator which MLflow features clients reach for
        log.warning("MLflow client call not served: %s", err.message)
    body = orjson.dumps({"error_code": err.code, "message": err.message})
    response = Response(body, status_code=STATUS.get(err.code, 500), media_type="application/json")
    if err.code == "UNAUTHENTICATED":
        response.headers["WWW-Authenticate"] = 'Bearer realm="assay"'
    return response


async def _on_mlflow_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MlflowError)
    return error_response(exc)


async def _on_assay_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AssayError)
    err = translate(exc)
    if err.code in ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE"):
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    return error_response(err)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    where = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()
    )
    return error_response(invalid(f"invalid request: {where}"))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):  # no such route or method: part of MLflow's API assay does not serve
        return error_response(not_implemented(f"{request.method} {request.url.path}"))
    return error_response(MlflowError("BAD_REQUEST", str(exc.detail)))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    return error_response(
        MlflowError("INTERNAL_ERROR", f"internal error ({type(exc).__name__}); the server log has details")
    )


def install(app: FastAPI) -> None:
    """Answer every failure of the MLflow sub-application ``app`` in MLflow's shape."""
    app.add_exception_handler(MlflowError, _on_mlflow_error)
    app.add_exception_handler(AssayError, _on_assay_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
