"""Failures coming back over HTTP, turned into what the embedded service would have raised.

An error answer carries ``{"error": {"code", "message"}}``; the code names the ``AssayError`` subclass, so
the caller gets the same class with the same message as in embedded mode (a filter error comes with its
reason, text and position, and is rebuilt as a FilterSyntaxError with its caret).

Connection failures (raised by ``client.ReachingTransport``) and server failures (5xx other than 501
MISSING_DEPENDENCY, as ``ServerError``) are ``Unavailable``: not a refusal but a store that cannot answer
now. The SDK's error policy (``assay.sdk.policy``) keeps such a batch and sends it again: a server that
is down or failing loses nothing.
"""

from __future__ import annotations

from typing import Any

import httpx

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

_BY_CODE: dict[str, type[AssayError]] = {
    cls.code: cls
    for cls in (
        InvalidInput,
        NotFound,
        Conflict,
        InvalidState,
        MissingDependency,
        Unauthenticated,
        PermissionDenied,
        Unavailable,
        LoginLocked,
    )
}


class ServerError(Unavailable):
    """The server failed to answer (HTTP 5xx): worth retrying, unlike a refusal."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"the tracking server failed (HTTP {status_code}): {message}")
        self.status_code = status_code


def check(response: httpx.Response) -> None:
    """Return if ``response`` succeeded; raise what it reports otherwise (see the module docstring)."""
    if response.is_success:
        return
    response.read()
    code, message, details = _parse(response)
    status = response.status_code
    if code == InvalidInput.code and details is not None:
        try:
            raise FilterSyntaxError(str(details["reason"]), str(details["text"]), int(details["position"]))
        except (KeyError, TypeError, ValueError):
            pass
    cls = _BY_CODE.get(code or "")
    if cls is not None:
        raise cls(message)
    if status >= 500:
        raise ServerError(status, message)
    error = AssayError(message)
    error.code = code or f"HTTP_{status}"
    raise error


def _parse(response: httpx.Response) -> tuple[str | None, str, dict[str, Any] | None]:
    """(code, message, details) of an error answer; no code if it is not in the API's error shape."""
    try:
        body = response.json()
        error = body["error"]
        details = error.get("details")
        return str(error["code"]), str(error["message"]), details if isinstance(details, dict) else None
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()[:200] or response.reason_phrase
        return (
            None,
            f"{response.request.method} {response.request.url.path}: HTTP {response.status_code}, {text}",
            None,
        )
