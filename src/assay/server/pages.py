"""The placeholder home page: experiments with their run counts and latest runs, as plain HTML.

It stands in until the web UI (Jinja2 templates, charts) replaces it; it only reads the service.
"""

from __future__ import annotations

import datetime as dt
import html
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from assay.entities import Run
from assay.errors import AssayError
from assay.server.auth import COOKIE, CallerDep
from assay.services.access import AccessService
from assay.services.tracking import Tracking

router = APIRouter(include_in_schema=False)

_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0 2rem}"
    "td,th{border-bottom:1px solid #ddd;padding:.3rem .7rem;text-align:left}th{background:#f4f4f4}"
    ".FINISHED{color:#1a7f37}.FAILED{color:#cf222e}.KILLED{color:#9a6700}.RUNNING{color:#0969da}"
    "code{color:#555}"
)


def _when(ms: int | None) -> str:
    if ms is None:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _runs_table(runs: list[Run]) -> str:
    keys = sorted({k for r in runs for k in r.metrics if not k.startswith("system/")})[:6]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    rows = []
    for r in runs:
        cells = "".join(f"<td>{r.metrics[k]:.6g}</td>" if k in r.metrics else "<td>—</td>" for k in keys)
        status = r.info.status.value
        rows.append(
            f"<tr><td><code>{r.id[:8]}</code></td><td>{html.escape(r.info.name)}</td>"
            f'<td class="{status}">{status}</td><td>{_when(r.info.start_time)}</td>{cells}</tr>'
        )
    return f"<table><tr><th>run</th><th>name</th><th>status</th><th>started</th>{head}</tr>{''.join(rows)}</table>"


@router.get("/", response_class=HTMLResponse)
def home(request: Request, caller: CallerDep) -> str:
    """Experiments the caller may read, newest activity first, each with its 20 latest runs."""
    service: Tracking = request.app.state.service
    experiments = sorted(
        caller.visible(service.list_experiments()), key=lambda e: e.last_activity or 0, reverse=True
    )
    parts = [f"<!doctype html><title>assay</title><style>{_STYLE}</style><h1>assay</h1>"]
    if not experiments:
        parts.append("<p>No experiments yet: log a run with <code>assay.start_run()</code>.</p>")
    for e in experiments:
        runs = list(service.search_runs([e.experiment_id], max_results=20))
        parts.append(
            f"<h2>{html.escape(e.name)}</h2><p>{e.run_count} runs, last activity {_when(e.last_activity)}</p>"
        )
        parts.append(_runs_table(runs) if runs else "<p>No runs.</p>")
    parts.append('<p><a href="/openapi.json">REST API (OpenAPI)</a></p>')
    return "".join(parts)


_LOGIN = (
    "<!doctype html><title>assay: sign in</title><style>{style}</style><h1>assay</h1>"
    "<p>This server requires an API token (from <code>assay token create</code> or an admin).</p>{error}"
    '<form method="post" action="/login"><input type="hidden" name="next" value="{next}">'
    '<input name="token" type="password" size="90" placeholder="assay_..." autofocus> '
    "<button>Sign in</button></form>"
)


def _safe_next(target: str) -> str:
    """Only same-site paths: ``next`` must never send a browser to another origin."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(next: str = "/", error: str = "") -> str:
    """The sign-in form of team mode: the token goes into an HttpOnly, SameSite=Strict cookie."""
    note = f'<p style="color:#cf222e">{html.escape(error)}</p>' if error else ""
    return _LOGIN.format(style=_STYLE, error=note, next=html.escape(_safe_next(next)))


@router.post("/login")
async def login(request: Request) -> Response:
    form = parse_qs((await request.body()).decode(errors="replace"))
    token = (form.get("token") or [""])[0].strip()
    target = _safe_next((form.get("next") or ["/"])[0])
    access: AccessService | None = request.app.state.access
    if request.app.state.auth and access is not None:
        try:
            await run_in_threadpool(access.authenticate, token)
        except AssayError as exc:
            query = urlencode({"next": target, "error": exc.message})
            return RedirectResponse(f"/login?{query}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
