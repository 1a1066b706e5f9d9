"""The web UI's pages: experiments, an experiment's runs table, a run, an artifact preview, the compare view.

Pages are rendered on the server (Jinja2) and keep their whole state in the URL (filter, order, columns,
page, selected runs, chart options), so a link shows exactly what its sender saw. Each page asks the same
``Caller`` as the API for the role it needs. Charts are drawn by plotly.js, served from the installed
``plotly`` package; series reach the browser already downsampled (``assay.series``).
"""

from __future__ import annotations

import mimetypes
import posixpath
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from assay.artifacts.uri import clean_path
from assay.entities import Run
from assay.errors import AssayError, FilterSyntaxError, InvalidInput, NotFound
from assay.fmt import MISSING, fmt_datetime, fmt_duration, fmt_number, fmt_size, fmt_time_ago
from assay.services import Services
from assay.services.tracking import Tracking
from assay.ui import compare as cmp
from assay.ui import pager
from assay.ui import runs_table as rt
from assay.web.auth import Svc, csrf_token

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(
    fmt_number=fmt_number,
    fmt_datetime=fmt_datetime,
    fmt_duration=fmt_duration,
    fmt_time_ago=fmt_time_ago,
    fmt_size=fmt_size,
    MISSING=MISSING,
    csrf_token=csrf_token,
)
router = APIRouter(include_in_schema=False)

PAGE_SIZES = (25, 50, 100, 200)
#: Artifacts previewed inline up to this size; bigger ones are offered as downloads.
PREVIEW_BYTES = 2 << 20
_TEXT = {
    ".txt",
    ".log",
    ".md",
    ".py",
    ".yaml",
    ".yml",
    ".toml",
    ".cfg",
    ".ini",
    ".diff",
    ".patch",
    ".sh",
    ".rst",
}
_IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".bmp"}


def _page(request: Request, name: str, svc: Services, **context: Any) -> HTMLResponse:
    user = svc.caller.name if request.app.state.auth and svc.caller is not None else None
    return templates.TemplateResponse(request, name, {"user": user, **context})


def _url(path: str, **query: Any) -> str:
    pairs = [
        (k, v)
        for k, vs in query.items()
        for v in (vs if isinstance(vs, list) else [vs])
        if v not in (None, "")
    ]
    return f"{path}?{urlencode(pairs)}" if pairs else path


# ---- experiments ----------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def experiments_page(request: Request, svc: Svc) -> HTMLResponse:
    """Every experiment the caller may read, newest activity first."""
    found = sorted(svc.tracking.list_experiments(), key=lambda e: e.last_activity or 0, reverse=True)
    return _page(request, "experiments.html", svc, experiments=found)


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
def runs_page(
    request: Request,
    experiment_id: str,
    svc: Svc,
    filter: str = "",
    o: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI reads the default, never mutates it
    c: Annotated[list[str], Query()] = [],  # noqa: B006
    page: Annotated[int, Query(ge=-1_000_000, le=1_000_000)] = 1,
    at: str = "",
    n: Annotated[int, Query(ge=1, le=max(PAGE_SIZES))] = 50,
    rows: bool = False,
) -> HTMLResponse:
    """The runs table: filter in the search language, sort by any column, choose columns, page (see
    ``assay.ui.pager``), select. The header counts the experiment's runs exactly up to
    ``EXACT_COUNT_UP_TO``, beyond that it shows the store's estimate ("about 1,000,000 runs")."""
    exp = svc.tracking.get_experiment(experiment_id, with_run_count=False)
    count = svc.tracking.count_runs(experiment_id)
    order = [x for x in o if x.strip()] or ["attributes.start_time desc"]
    error: FilterSyntaxError | InvalidInput | None = None
    runs: list[Run] = []
    shown = pager.Page(max(page, 1), None, n)
    links: dict[str, dict[str, object]] = {}
    try:
        shown = pager.page_to_show(page, at, n, count.n if count.exact and not filter else None, order)
        found = svc.tracking.search_runs(
            [experiment_id], filter or None, order, shown.max_results, shown.token
        )
        runs = list(found)
        links = pager.neighbours(shown, found.next_page_token, found.prev_page_token, order)
    except (FilterSyntaxError, InvalidInput) as exc:
        error = exc
    keys = rt.keys_on_page(runs)
    columns = [rt.column(ref) for ref in rt.FIXED] + rt.choose_columns(c, keys)
    state = {"filter": filter, "o": o, "c": c, "n": n if n != 50 else None}
    context = {
        "experiment": exp,
        "runs": runs,
        "columns": columns,
        "cell": rt.cell,
        "keys": keys,
        "chosen": {col.ref for col in columns},
        "filter": filter,
        "error": error,
        "order": order,
        "run_count": rt.count_text(count),
        "page": shown,
        "at": at,
        "n": n,
        "page_sizes": PAGE_SIZES,
        **{f"{rel}_url": None for rel in ("first", "prev", "next", "last")},
        **{f"{rel}_url": _url(request.url.path, **state, **to) for rel, to in links.items()},
        "sort_url": lambda ref: _url(request.url.path, **{**state, "o": [rt.next_order(order, ref)]}),
        "sorted_by": lambda ref: rt.sorted_by(order, ref),
        "live": any(r.info.status.value == "RUNNING" for r in runs),
    }
    return _page(request, "runs_rows.html" if rows else "runs.html", svc, **context)


# ---- one run --------------------------------------------------------------------------------------------


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str, svc: Svc) -> HTMLResponse:
    """A run: info, params, tags, system info, metric charts (live while running), artifacts, git diff."""
    run = svc.tracking.get_run(run_id)
    exp = svc.tracking.get_experiment(run.info.experiment_id)
    tags = {k: v for k, v in sorted(run.tags.items()) if not k.startswith("assay.")}
    system = {k: v for k, v in sorted(run.tags.items()) if k.startswith("assay.")}
    keys = sorted(run.metric_summaries)
    diff = None
    diff_uri = run.tags.get("assay.git.diff", "")
    if diff_uri.startswith("runs:/"):
        # The tag names another run (the first of this process to store the diff), and anyone who may
        # tag a run can point it anywhere: read it through the caller's own services, so with its own rights.
        rid, _, path = diff_uri[len("runs:/") :].partition("/")
        try:
            diff = svc.tracking.read_artifact(rid, path)[:PREVIEW_BYTES].decode(errors="replace")
        except AssayError:
            diff = None
    return _page(
        request,
        "run.html",
        svc,
        run=run,
        experiment=exp,
        tags=tags,
        system=system,
        metric_keys=[k for k in keys if not k.startswith("system/")],
        chart_keys=[
            k for k in keys if not k.startswith("system/") and run.metric_summaries[k].num_points > 1
        ],
        system_keys=[k for k in keys if k.startswith("system/") and run.metric_summaries[k].num_points > 1],
        files=svc.tracking.list_artifacts(run_id),
        diff=diff,
        evaluations=_json_for_script(evaluations(svc.tracking, run_id)),
        datasets=svc.registry.run_datasets(run_id),
    )


def evaluations(service: Tracking, run_id: str) -> dict[str, Any]:
    """The run's logged evaluations (``evaluation/<name>.json``, from ``assay.evaluate``) by name."""
    found: dict[str, Any] = {}
    try:
        entries = service.list_artifacts(run_id, "evaluation")
    except NotFound:
        return found
    for e in entries:
        if e.is_dir or not e.path.endswith(".json") or (e.size or 0) > PREVIEW_BYTES:
            continue
        try:
            found[e.path.rsplit("/", 1)[-1][: -len(".json")]] = orjson.loads(
                service.read_artifact(run_id, e.path)
            )
        except (orjson.JSONDecodeError, AssayError):
            continue  # not an evaluation file after all: the artifact browser still shows it
    return found


def _json_for_script(data: Any) -> str:
    """JSON safe inside a <script> element (no "</script>" can end it early)."""
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode().replace("</", "<\\/")


def _preview_kind(path: str, size: int | None) -> str:
    ext = posixpath.splitext(path)[1].lower()
    if size is not None and size > PREVIEW_BYTES:
        return "download"
    if ext in _IMAGES:
        return "image"
    if ext == ".json":
        return "json"
    if ext in (".csv", ".tsv"):
        return "csv"
    if ext in (".html", ".htm"):
        return "html"
    if ext in _TEXT or ext == "":
        return "text"
    return "download"


@router.get("/runs/{run_id}/files", response_class=HTMLResponse)
def files_page(request: Request, run_id: str, svc: Svc, path: str = "") -> HTMLResponse:
    """The artifact browser: a directory's entries, or one file's preview (image, text, JSON, CSV, HTML)."""
    run = svc.tracking.get_run(run_id)
    rel = clean_path(path)
    entries = svc.tracking.list_artifacts(run_id, rel or None)
    is_file = bool(rel) and len(entries) == 1 and not entries[0].is_dir and entries[0].path == rel
    if not is_file:
        if rel and not entries:
            raise NotFound(f"run {run_id} has no artifact {rel!r}")
        return _page(request, "files.html", svc, run=run, path=rel, entries=entries, file=None)
    kind = _preview_kind(rel, entries[0].size)
    content: Any = None
    if kind in ("text", "json", "csv"):
        text = svc.tracking.read_artifact(run_id, rel).decode(errors="replace")
        if kind == "json":
            try:
                content = orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2).decode()
            except orjson.JSONDecodeError:
                content = text
        elif kind == "csv":
            import csv

            delimiter = "\t" if rel.lower().endswith(".tsv") else ","
            content = list(csv.reader(text.splitlines()[:501], delimiter=delimiter))
        else:
            content = text
    return _page(
        request,
        "files.html",
        svc,
        run=run,
        path=rel,
        entries=[],
        file=entries[0],
        kind=kind,
        content=content,
    )


@router.get("/runs/{run_id}/raw/{path:path}")
def raw_file(run_id: str, path: str, svc: Svc, download: bool = False) -> Response:
    """An artifact's bytes with a guessed type, for ``<img>`` and sandboxed previews.

    ``Content-Security-Policy: sandbox`` makes an HTML or SVG artifact opened directly inert: it cannot run
    script with the UI's origin (artifacts are anyone-on-the-project's content).
    """
    rel = clean_path(path)
    entries = svc.tracking.list_artifacts(run_id, rel)
    size = entries[0].size if len(entries) == 1 and entries[0].path == rel else None
    if size is not None and size > PREVIEW_BYTES:
        # Big files stream from the API (through a temporary file), never whole in memory here.
        return RedirectResponse(f"/api/v1/runs/{run_id}/artifacts/{quote(rel)}", status_code=307)
    data = svc.tracking.read_artifact(run_id, path)
    media = mimetypes.guess_type(path)[0] or "application/octet-stream"
    headers = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{posixpath.basename(path)}"'
    return Response(data, media_type=media, headers=headers)


# ---- compare ---------------------------------------------------------------------------------------------


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    svc: Svc,
    run: Annotated[list[str], Query()] = [],  # noqa: B006
) -> HTMLResponse:
    """2 to 50 runs: overlaid curves per metric, parallel coordinates, a scatter, the differences table."""
    comparison = cmp.build(svc.tracking, run)
    payload = {
        "runs": [
            {"id": r.id, "name": label, "color": color, "start": r.info.start_time}
            for r, color, label in zip(comparison.runs, comparison.colors, comparison.labels, strict=True)
        ],
        "series": comparison.series,
        "dimensions": comparison.dimensions,
    }
    payload["evaluations"] = {r.id: evaluations(svc.tracking, r.id) for r in comparison.runs}
    data = _json_for_script(payload)
    return _page(request, "compare.html", svc, comparison=comparison, data=data)


# ---- static files ------------------------------------------------------------------------------


@router.get("/static/plotly.min.js")
def plotly_js() -> FileResponse:
    """plotly.js as shipped inside the installed ``plotly`` Python package (no copy, no npm build)."""
    import plotly

    bundle = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return FileResponse(bundle, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


@router.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    """The UI's own stylesheet and ES module."""
    path = HERE / "static" / name
    if name not in {"app.css", "app.js", "sweep.js", "jobs.js"} or not path.is_file():
        raise NotFound(f"no static file {name!r}")
    media = "text/css" if name.endswith(".css") else "text/javascript"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})


def safe_next(target: str) -> str:
    """Only same-site paths: ``next`` must never send a browser to another origin.

    Browsers read ``\\`` as ``/`` and drop tabs and newlines, so ``/\\evil.com`` or ``/<tab>/evil.com`` would
    leave the site: a target with any of those, or with a scheme or a host, becomes ``/``."""
    if not target.startswith("/") or any(c == "\\" or ord(c) < 0x21 or c == "\x7f" for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return "/"
    return target
