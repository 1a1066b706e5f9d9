"""The notebooks pages (what nteract Commuter does, inside assay): notebooks that ran as tracked runs, each
with its parameter schema as a launch form, its executions, an executed notebook at a stable link, and two
executions side by side.

A notebook is known by the ``assay.notebook`` tag its executions carry (``assay run`` sets it). Its schema is
read from the latest execution's output notebook (papermill keeps the ``parameters`` cell), and the launch
form validates with the same rules as ``assay run``, then submits a job (editors) that a worker runs into
the latest execution's experiment, and shows the job's page. Everything is read through ``Svc``, so a
viewer sees only their projects' notebooks.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from assay.entities import Run
from assay.errors import AssayError, InvalidInput, NotFound
from assay.runner.entities import Job
from assay.services import Services
from assay.services.tracking import Tracking
from assay.ui.account import _form
from assay.ui.views import _page
from assay.web.auth import Svc

router = APIRouter(include_in_schema=False)

TAG = "assay.notebook"
OUTPUT = "notebook/output.ipynb"
#: Where executions before pages were rendered on view kept their HTML: served as it is when present.
LEGACY_HTML = "notebook/output.html"
#: Executions read per page (the newest).
MAX_EXECUTIONS = 500


def _quote(text: str) -> str:
    """``text`` as a string literal of the search language."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _executions(tracking: Tracking, source: str | None = None) -> list[Run]:
    where = f"tags.`{TAG}` = {_quote(source)}" if source is not None else f"tags.`{TAG}` like '%'"
    return list(tracking.search_runs((), where, ["attributes.start_time desc"], MAX_EXECUTIONS))


def _output_notebook(tracking: Tracking, run_id: str) -> dict[str, Any] | None:
    try:
        found = orjson.loads(tracking.read_artifact(run_id, OUTPUT))
    except (AssayError, orjson.JSONDecodeError):
        return None
    return found if isinstance(found, dict) else None


@router.get("/notebooks", response_class=HTMLResponse)
def notebooks_page(request: Request, svc: Svc) -> HTMLResponse:
    """Every notebook that ran as a tracked run the caller may read, with its executions' counts."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in _executions(svc.tracking):
        groups[run.tags[TAG]].append(run)
    notebooks = [{"source": s, "runs": runs, "last": runs[0]} for s, runs in sorted(groups.items())]
    return _page(request, "notebooks.html", svc, notebooks=notebooks)


def _notebook(svc: Services, source: str) -> tuple[list[Run], dict[str, Any] | None]:
    """The executions of ``source`` the caller may read (newest first), and the latest output notebook."""
    runs = _executions(svc.tracking, source)
    if not runs:
        raise NotFound(f"no execution of {source!r} that you may read: run it with `assay run {source}`")
    nb = next((found for r in runs if (found := _output_notebook(svc.tracking, r.id)) is not None), None)
    return runs, nb


def _notebook_page(
    request: Request, svc: Services, source: str, values: dict[str, str], error: str | None = None
) -> HTMLResponse:
    from assay.notebooks.schema import schema_of
    from assay.ui.jobs import editable_projects, may_act

    runs, nb = _notebook(svc, source)
    schema = schema_of(nb, source) if nb is not None else None
    project = svc.tracking.get_experiment(runs[0].info.experiment_id).project
    keys = sorted({k for r in runs for k in r.params})
    return _page(
        request,
        "notebook.html",
        svc,
        source=source,
        runs=runs,
        schema=schema,
        values=values,
        error=error,
        keys=keys,
        may_launch=may_act(editable_projects(svc), project),
        project=project,
    )


@router.get("/notebooks/view", response_class=HTMLResponse)
def notebook_page(request: Request, svc: Svc, source: str) -> HTMLResponse:
    """One notebook: its parameters as a launch form (validated as ``assay run`` does), its executions."""
    values = {k[2:]: v for k, v in request.query_params.items() if k.startswith("p.")}
    return _notebook_page(request, svc, source, values)


@router.post("/notebooks/launch", response_model=None)
async def launch_notebook(request: Request, svc: Svc) -> Response:
    """Submit the notebook as a job (editors) with the form's parameters, checked against its schema
    first; the answer is the job's page, or the form again with what is wrong."""
    form = await _form(request)
    source = form.get("source", "")
    values = {k[2:]: v for k, v in form.items() if k.startswith("p.")}
    try:
        job = await run_in_threadpool(_submit, svc, source, values)
    except InvalidInput as exc:
        page = await run_in_threadpool(_notebook_page, request, svc, source, values, exc.message)
        page.status_code = 400
        return page
    return RedirectResponse(f"/jobs/{job.job_id}", status_code=303)


def _submit(svc: Services, source: str, values: dict[str, str]) -> Job:
    """Queue ``source`` with ``values`` into its latest execution's experiment: the notebook the worker runs
    is that execution's output (papermill replaces its injected parameters), so it runs anywhere. The spec
    is built and checked as ``assay submit`` builds it (``assay.runner.submit.job_spec``)."""
    from assay.runner.submit import job_spec

    runs, nb = _notebook(svc, source)
    if nb is None:
        raise InvalidInput(
            f"no execution of {source!r} kept its output notebook: launch it with assay submit"
        )
    given = {k: v for k, v in values.items() if v != ""}
    exp = svc.tracking.get_experiment(runs[0].info.experiment_id)
    spec = job_spec(
        source, given, texts=given, project=exp.project, experiment=exp.name, notebook=orjson.dumps(nb)
    )
    return svc.jobs.submit(spec)


@router.get("/runs/{run_id}/notebook", response_class=HTMLResponse)
def executed_notebook(request: Request, run_id: str, svc: Svc) -> HTMLResponse:
    """An executed notebook, rendered, at a stable link (behind the run's roles)."""
    run = svc.tracking.get_run(run_id)
    if TAG not in run.tags:
        raise NotFound(f"run {run_id} is not a notebook execution")
    return _page(request, "executed.html", svc, run=run, source=run.tags[TAG])


_rendered: list[Any] = []


@router.get("/runs/{run_id}/notebook/html")
def executed_notebook_html(run_id: str, svc: Svc, download: bool = False) -> Response:
    """The executed notebook as one HTML page, rendered on its first view and kept (``RenderCache``), for
    the frame of ``/runs/{run_id}/notebook``. Served with ``Content-Security-Policy: sandbox``: a notebook's
    outputs are anyone-on-the-project's content and must not run script with the UI's origin."""
    from assay.notebooks.render import RenderCache

    run = svc.tracking.get_run(run_id)
    if TAG not in run.tags:
        raise NotFound(f"run {run_id} is not a notebook execution")
    headers = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{run_id}.html"'
    try:
        data = svc.tracking.read_artifact(run_id, OUTPUT)
    except NotFound:
        try:  # an execution stored before pages were rendered on view
            legacy = svc.tracking.read_artifact(run_id, LEGACY_HTML)
            return Response(legacy, media_type="text/html", headers=headers)
        except NotFound:
            raise NotFound(
                f"run {run_id} has no output notebook yet: it is written when the execution ends"
            ) from None
    if not _rendered:
        _rendered.append(RenderCache())
    page = _rendered[0].html(run_id, data)
    return Response(page, media_type="text/html", headers=headers)


def _cell_outputs(nb: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(first source line, outputs as text) of each code cell."""
    cells: list[tuple[str, str]] = []
    for cell in (nb or {}).get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", ""))
        parts = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append("".join(out.get("text", "")))
            elif out.get("output_type") == "error":
                parts.append(f"{out.get('ename')}: {out.get('evalue')}")
            else:
                data = out.get("data", {})
                text = data.get("text/plain")
                parts.append("".join(text) if text is not None else f"[{', '.join(sorted(data))}]")
        cells.append((source.strip().splitlines()[0] if source.strip() else "", "".join(parts).strip()))
    return cells


@router.get("/notebooks/compare", response_class=HTMLResponse)
def compare_executions(
    request: Request,
    svc: Svc,
    run: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI reads the default, never mutates it
) -> HTMLResponse:
    """Two executions side by side: parameters, metrics, and the cells whose outputs differ."""
    if len(run) != 2:
        raise InvalidInput("compare takes two executions: ?run=<id>&run=<id>")
    a, b = (svc.tracking.get_run(r) for r in run)
    params = [(k, a.params.get(k), b.params.get(k)) for k in sorted({*a.params, *b.params})]
    metrics = [(k, a.metrics.get(k), b.metrics.get(k)) for k in sorted({*a.metrics, *b.metrics})]
    left, right = (_cell_outputs(_output_notebook(svc.tracking, r.id)) for r in (a, b))
    cells = []
    for i in range(max(len(left), len(right))):
        la, lb = (left[i] if i < len(left) else ("", "")), (right[i] if i < len(right) else ("", ""))
        if la[1] != lb[1]:
            cells.append({"index": i, "source": la[0] or lb[0], "a": la[1], "b": lb[1]})
    return _page(
        request,
        "notebook_compare.html",
        svc,
        a=a,
        b=b,
        params=params,
        metrics=metrics,
        cells=cells,
        same=len(left) - len(cells) if len(left) == len(right) else None,
    )
