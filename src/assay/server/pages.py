"""The placeholder home page: experiments with their run counts and latest runs, as plain HTML.

It stands in until the web UI (Jinja2 templates, charts) replaces it; it only reads the service.
"""

from __future__ import annotations

import datetime as dt
import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from assay.entities import Run
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
def home(request: Request) -> str:
    """Experiments, newest activity first, each with its 20 latest runs."""
    service: Tracking = request.app.state.service
    experiments = sorted(service.list_experiments(), key=lambda e: e.last_activity or 0, reverse=True)
    parts = [f"<!doctype html><title>assay</title><style>{_STYLE}</style><h1>assay</h1>"]
    if not experiments:
        parts.append("<p>No experiments yet: log a run with <code>assay.start_run()</code>.</p>")
    for e in experiments:
        runs = list(service.search_runs([e.experiment_id], max_results=20))
        parts.append(
            f"<h2>{html.escape(e.name)}</h2><p>{e.run_count} runs, last activity {_when(e.last_activity)}</p>"
        )
        parts.append(_runs_table(runs) if runs else "<p>No runs.</p>")
    parts.append('<p><a href="/docs">REST API</a></p>')
    return "".join(parts)
