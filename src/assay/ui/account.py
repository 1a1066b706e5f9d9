"""Signing in and out, and the account page: who you are, your projects and roles, your API tokens
(created, revoked), your password.

The sign-in form takes a user name and password (``Authorizer.login``, rate limited per user and per
address) and sets the session cookie: HttpOnly, SameSite=Lax, Secure when the request came over https,
expiring with the session. Every form here posts a CSRF token: the account forms the session's (checked by
``assay.web.auth`` before the route runs), the sign-in form a double-submit one (checked here), and the
sign-out form the session's (checked here too, as /logout must work for an expired session).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from assay.errors import AssayError, PermissionDenied, Unauthenticated
from assay.services import Services
from assay.services.access import LoginLocked
from assay.services.tracking import now_ms
from assay.ui.views import safe_next, templates
from assay.web import csrf
from assay.web.auth import SESSION_COOKIE, Svc, app_services, client_address

router = APIRouter(include_in_schema=False)

#: Lifetimes offered for a new token on the account page ("" is the server's default).
EXPIRY_CHOICES = ("", "7d", "30d", "90d", "365d", "never")


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form body, first value of each field (no multipart dependency needed)."""
    parsed = parse_qs((await request.body()).decode(errors="replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


# ---- sign in, sign out -------------------------------------------------------------------------------------


def _login_page(
    request: Request, target: str, status: int = 200, error: str = "", notice: str = "", name: str = ""
) -> HTMLResponse:
    token = request.cookies.get(csrf.LOGIN_COOKIE) or csrf.new_login_token()
    context = {"user": None, "next": target, "error": error, "notice": notice, "name": name}
    response = templates.TemplateResponse(
        request, "login.html", {**context, "login_csrf": token}, status_code=status
    )
    response.set_cookie(
        csrf.LOGIN_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", error: str = "", notice: str = "") -> HTMLResponse:
    """The sign-in form of team mode: user name and password."""
    return _login_page(request, safe_next(next), error=error, notice=notice)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the password and start a session; 401 for a wrong one, 429 while locked out, 403 without
    the form's CSRF token."""
    form = await _form(request)
    target = safe_next(form.get("next", "/"))
    name = form.get("username", "").strip()
    expected = request.cookies.get(csrf.LOGIN_COOKIE, "")
    try:
        csrf.check(expected, form.get(csrf.FIELD, ""))
    except PermissionDenied as exc:
        return _login_page(request, target, 403, exc.message, name=name)
    authorizer = app_services(request).authorizer
    if not request.app.state.auth or authorizer is None:
        return RedirectResponse(target, status_code=303)  # no sign-in on a server without auth
    address = client_address(request)
    try:
        session = await run_in_threadpool(authorizer.login, name, form.get("password", ""), address)
    except LoginLocked as exc:
        return _login_page(request, target, 429, exc.message, name=name)
    except Unauthenticated as exc:
        return _login_page(request, target, 401, exc.message, name=name)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.secret,
        max_age=max(1, round((session.expires_at - now_ms()) / 1000)),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (its CSRF token required) and forget the cookie."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        csrf.check(csrf.token_for(session), await csrf.sent_token(request))
        authorizer = app_services(request).authorizer
        if authorizer is not None:
            await run_in_threadpool(authorizer.end_session, session)
    response = RedirectResponse("/login?" + urlencode({"notice": "you are signed out"}), status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# ---- the account page --------------------------------------------------------------------------------------


def _account(svc: Services, request: Request, **extra: Any) -> dict[str, Any]:
    """What the account page shows: the caller, their projects and roles, their tokens."""
    if not request.app.state.auth:
        return {"local": True}
    return {
        "local": False,
        "me": svc.access.whoami(),
        "projects": svc.access.list_projects(),
        "tokens": svc.access.list_tokens(),
        "now": now_ms(),
        "expiry_choices": EXPIRY_CHOICES,
        **extra,
    }


async def _account_page(request: Request, svc: Services, status: int = 200, **extra: Any) -> HTMLResponse:
    context = await run_in_threadpool(_account, svc, request, **extra)
    user = svc.caller.name if request.app.state.auth and svc.caller is not None else None
    return templates.TemplateResponse(request, "account.html", {"user": user, **context}, status_code=status)


@router.get("/account", response_class=HTMLResponse)
async def account_page(request: Request, svc: Svc) -> HTMLResponse:
    """Your user, projects and roles, tokens (name, created, last used, expires, scope), password."""
    return await _account_page(request, svc)


@router.post("/account/tokens", response_class=HTMLResponse)
async def create_token(request: Request, svc: Svc) -> HTMLResponse:
    """A new token for the caller, shown once on the page that answers."""
    form = await _form(request)
    try:
        made = await run_in_threadpool(
            svc.access.create_token,
            form.get("name", "").strip() or "web",
            None,
            form.get("expires") or None,
            form.get("read_only") == "on",
            form.get("project") or None,
        )
    except AssayError as exc:
        return await _account_page(request, svc, 400, error=exc.message)
    return await _account_page(request, svc, 201, new_token=made)


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(token_id: str, svc: Svc) -> Response:
    """Revoke one of the caller's tokens; back to the account page."""
    await run_in_threadpool(svc.access.revoke_token, token_id)
    return RedirectResponse("/account", status_code=303)


@router.post("/account/password", response_class=HTMLResponse)
async def change_password(request: Request, svc: Svc) -> Response:
    """Change the caller's password; every session ends, this one too, so sign in again."""
    form = await _form(request)
    new = form.get("new_password", "")
    if new != form.get("confirm_password", ""):
        return await _account_page(request, svc, 400, password_error="the two new passwords differ")
    try:
        await run_in_threadpool(svc.access.set_password, new, None, form.get("current_password") or None)
    except AssayError as exc:
        return await _account_page(request, svc, 400, password_error=exc.message)
    notice = "your password changed and every session ended: sign in with the new password"
    response = RedirectResponse("/login?" + urlencode({"next": "/account", "notice": notice}), 303)
    response.delete_cookie(SESSION_COOKIE)
    return response
