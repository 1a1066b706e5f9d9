"""The page people get when a page or a form fails: what happened, how to fix it, and a way back.

``assay.server.errors`` answers with it instead of the JSON error shape when a browser asked (a page load
or a form post sends ``Accept: text/html``; scripts and API clients keep the JSON). The advice depends on
the kind of failure: a form refused for its CSRF token (a page older than the sign-in, or a form on
another site) is to be reloaded and sent again; a form sent after the session ended needs a new sign-in
first. The way back is the page the request came from when the browser says so (same site only), else
the experiments.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.routing import Match

from assay.ui.views import safe_next, templates
from assay.web.auth import SESSION_COOKIE


@dataclass(frozen=True, slots=True)
class Advice:
    """What to tell about a failure: a heading saying what happened, and how to fix it."""

    title: str
    fix: str


FORM_EXPIRED = Advice(
    "This form expired or came from another site",
    "Reload the page and send the form again. Every form carries a token of your sign-in, so that no other "
    "site can send it in your name; a page opened before you last signed in has an old one.",
)
SIGNED_OUT = Advice(
    "You are signed out",
    "Your session ended (it expired, or you signed out or changed your password elsewhere). Sign in "
    "again, then send the form again.",
)
_BY_STATUS = {
    400: Advice("This request has a problem", "Go back, correct what the message names, and try again."),
    403: Advice(
        "Not allowed",
        "Your role does not allow this: ask an owner of the project, or an admin, for one that does.",
    ),
    404: Advice("Not found", "The link may be old, or what it named was deleted or never existed."),
    405: Advice("This page does not take that", "Go back and use the page's own forms and links."),
    409: Advice(
        "This cannot be done now", "Go back, reload the page to see the current state, and try again."
    ),
    422: Advice("This request has a problem", "Go back, correct what the message names, and try again."),
    429: Advice("Too many attempts", "Wait a while, then try again."),
}
_OTHER_4XX = Advice("This request was refused", "Go back and try again.")
_SERVER = Advice(
    "Something went wrong on the server",
    "Try again shortly; if it keeps failing, the server's log says what happened.",
)


def advice_for(status: int, form_expired: bool = False) -> Advice:
    """The advice for a failure answered with ``status`` (``form_expired``: a CSRF refusal)."""
    if form_expired:
        return FORM_EXPIRED
    if status == 401:
        return SIGNED_OUT
    if status >= 500:
        return _SERVER
    return _BY_STATUS.get(status, _OTHER_4XX)


def came_from(request: Request) -> str | None:
    """The same-site page the request came from (its ``Referer``), or None if unknown, elsewhere, not a
    page (the answer to a form post, say, which a link cannot load again) or the failing page itself."""
    referer = urlsplit(request.headers.get("referer", ""))
    if not referer.netloc or referer.netloc != request.headers.get("host"):
        return None
    if request.method == "GET" and referer.path == request.url.path:
        return None
    scope = {"type": "http", "method": "GET", "path": referer.path, "root_path": "", "headers": []}
    if not any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
        return None
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))


def error_page(request: Request, status: int, message: str, form_expired: bool = False) -> HTMLResponse:
    """The error page for a failure of ``request``, answered with ``status``; ``message`` is the
    failure's own one-line message, left out where the advice says all about it: a CSRF refusal, and a
    request without a session (the message would be the API's, about tokens)."""
    advice = advice_for(status, form_expired)
    if form_expired or (status == 401 and SESSION_COOKIE not in request.cookies):
        message = ""
    back = came_from(request)
    sign_in = None
    if status == 401:  # signing in leads back to the page
        sign_in, back = "/login?" + urlencode({"next": back or "/"}), None
    context = {
        "user": None,
        "status": status,
        "title": advice.title,
        "fix": advice.fix,
        "message": message,
        "back": back,
        "back_label": "Reload the page" if form_expired else "Back to the page",
        "sign_in": sign_in,
    }
    return templates.TemplateResponse(request, "error.html", context, status_code=status)
