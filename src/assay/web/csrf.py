"""CSRF tokens of the web UI: every state-changing request a browser session makes carries one.

SameSite=Lax cookies already keep most cross-site posts out; the token is the second lock (old browsers,
same-site subdomains). A session's token is derived from its secret (an HMAC), so nothing more is stored
and it cannot be computed without the cookie, which pages' scripts cannot read (HttpOnly). Forms send it
as the hidden field ``csrf``; scripts as the ``X-CSRF-Token`` header. Requests with a bearer token need
none: a browser never attaches one on its own.

The sign-in form has no session yet: it uses a double-submit token instead (a random value both in a
cookie and in the form, which another site can neither read nor set).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qs

from fastapi import Request

from assay.errors import PermissionDenied

FIELD = "csrf"
HEADER = "X-CSRF-Token"
#: The double-submit cookie of the sign-in form.
LOGIN_COOKIE = "assay_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_REFUSED = (
    "this form was sent without a valid CSRF token (from another site, or from a page older than your "
    "sign-in): reload the page and send it again"
)


class FormExpired(PermissionDenied):
    """A state-changing request without its valid CSRF token (403 PERMISSION_DENIED, as any refusal): a
    class of its own so that a browser is shown what to do about it (``assay.ui.error_page``)."""


def token_for(session_secret: str) -> str:
    """The CSRF token of the session whose cookie holds ``session_secret``."""
    return hmac.new(session_secret.encode(), b"assay-csrf-v1", hashlib.sha256).hexdigest()


def new_login_token() -> str:
    return secrets.token_hex(16)


async def sent_token(request: Request) -> str:
    """The token a request carries: the header, else the form field of a url-encoded body."""
    header = request.headers.get(HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs((await request.body()).decode(errors="replace"))
        return (form.get(FIELD) or [""])[0]
    return ""


def check(expected: str, sent: str) -> None:
    """Refuse (403 PERMISSION_DENIED) a request whose token is missing or wrong."""
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise FormExpired(_REFUSED)
