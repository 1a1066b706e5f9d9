"""The runner's pages: the jobs (queued, running, history), one job (its spec, attempts, run and live log,
a Cancel button), and the schedules (cron, next fire times, Pause and Resume).

Everything goes through ``Svc``, so the roles are the services': a viewer sees, an editor acts (the
buttons are shown to those who may press them, and the service refuses the others anyway). Forms post the
session's CSRF token. The live log is the page's script polling ``/jobs/{id}/log`` with the offset it has
reached (``Jobs.read_log``), once a second while the attempt runs.
"""

from __future__ import annotations

import codecs
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from assay.access import Role
from assay.errors import InvalidInput, NotFound
from assay.runner import cron
from assay.runner.entities import JOB_TAG, Job, JobState, Schedule
from assay.services import Services
from assay.services.tracking import now_ms
from assay.ui.views import _page, _url
from assay.web.auth import Svc

router = APIRouter(include_in_schema=False)

#: Jobs shown per table.
LIMIT = 200
#: Next fire times shown per schedule.
NEXT_FIRES = 3
#: Bytes of log one poll returns at most (the page asks again at once while there is more).
LOG_READ = 256 << 10


def editable_projects(svc: Services) -> set[str] | None:
    """The projects where the caller may act (editor or more); None: every project (an admin)."""
    caller = svc.caller
    if caller is None or caller.is_admin:
        return None
    return {p.name for p in svc.access.list_projects() if caller.can(Role.EDITOR, p.project_id)}


def may_act(editable: set[str] | None, project: str) -> bool:
    return editable is None or project in editable


def _states(state: str) -> list[JobState] | None:
    if not state:
        return None
    try:
        return [JobState(state.upper())]
    except ValueError:
        raise InvalidInput(
            f"unknown job state {state!r}: use one of {', '.join(s.value.lower() for s in JobState)}"
        ) from None


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request, svc: Svc, state: str = "", project: str = "", schedule: str = ""
) -> HTMLResponse:
    """Queued and running jobs, then the history; or the jobs in one ``state``, of one project or schedule."""
    states = _states(state)

    def find(wanted: list[JobState]) -> list[Job]:
        return svc.jobs.list_jobs(project or None, wanted, schedule or None, LIMIT)

    if states is not None:
        sections = [(states[0].value.lower(), find(states))]
    else:
        sections = [
            ("queued", find([JobState.QUEUED])),
            ("running", find([JobState.RUNNING])),
            ("history", find([s for s in JobState if s.done])),
        ]
    live = any(j.state in (JobState.QUEUED, JobState.RUNNING) for _, found in sections for j in found)
    return _page(
        request,
        "jobs.html",
        svc,
        sections=sections,
        state=state.lower(),
        states=[s.value.lower() for s in JobState],
        project=project,
        projects=sorted(p.name for p in svc.access.list_projects()),
        schedule=schedule,
        live=live,
        now=now_ms(),
        url=lambda **q: _url("/jobs", **{"state": state, "project": project, "schedule": schedule, **q}),
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, svc: Svc) -> HTMLResponse:
    """A job: what it runs and how, its attempts and their runs, the live log, Cancel."""
    job = svc.jobs.get_job(job_id)
    where = f"tags.`{JOB_TAG}` = '{job.job_id}'"
    attempts = list(svc.tracking.search_runs((), where, ["attributes.start_time asc"], 100))
    return _page(
        request,
        "job.html",
        svc,
        job=job,
        spec=job.spec,
        attempts=attempts,
        may_cancel=not job.state.done and may_act(editable_projects(svc), job.spec.project),
    )


def _text(data: bytes, complete: bool) -> tuple[str, int]:
    """``data`` as text, and how many of its bytes that text used: a character cut by the chunk's end is
    left for the next read (unless nothing follows)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(data, final=complete)
    pending = len(decoder.getstate()[0])
    return text, len(data) - pending


@router.get("/jobs/{job_id}/log")
def job_log(
    job_id: str,
    svc: Svc,
    offset: Annotated[int, Query(ge=0)] = 0,
    attempt: Annotated[int | None, Query(ge=1)] = None,
) -> JSONResponse:
    """What has arrived of an attempt's output (default: the latest) from ``offset`` on, as text, and the
    offset to ask from next. ``complete``: the attempt ended and nothing follows; ``more``: more has
    already arrived (ask again at once); ``current``: the job's latest attempt (a retry started)."""
    job = svc.jobs.get_job(job_id)
    answer: dict[str, Any] = {"state": job.state.value, "current": job.attempt}
    if job.attempt == 0:  # not started yet: nothing to read
        return JSONResponse(
            {**answer, "attempt": 0, "text": "", "next_offset": 0, "complete": job.state.done}
        )
    try:
        chunk = svc.jobs.read_log(job_id, attempt, offset, LOG_READ)
    except NotFound:  # the attempt has written nothing yet
        done = job.state.done and (attempt is None or attempt == job.attempt)
        empty = {"attempt": attempt or job.attempt, "text": "", "next_offset": offset, "complete": done}
        return JSONResponse({**answer, **empty})
    text, used = _text(chunk.data, chunk.complete)
    return JSONResponse(
        {
            **answer,
            "attempt": chunk.attempt,
            "text": text,
            "next_offset": chunk.offset + used,
            "complete": chunk.complete,
            "more": len(chunk.data) >= LOG_READ - 3,
        }
    )


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, svc: Svc) -> RedirectResponse:
    """Cancel a job (editors): a queued one at once, a running one at its worker's next heartbeat."""
    svc.jobs.cancel(job_id)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


# ---- schedules -------------------------------------------------------------------------------------------


def next_fires(s: Schedule, count: int = NEXT_FIRES) -> list[int]:
    """The schedule's next ``count`` due times (none while paused)."""
    if s.paused or s.next_due_at is None:
        return []
    return [s.next_due_at, *cron.upcoming(s.spec.cron, s.spec.tz, s.next_due_at, count - 1)]


def local_time(ms: int | None, tz: str) -> str:
    """``ms`` as the wall-clock time of ``tz`` ("2025-06-02 02:00 CEST")."""
    import datetime as dt

    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, cron.zone(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


@router.get("/schedules", response_class=HTMLResponse)
def schedules_page(request: Request, svc: Svc, project: str = "") -> HTMLResponse:
    """Every schedule the caller may read: cron and time zone, next fire times, last fired, paused."""
    found = svc.jobs.list_schedules(project or None)
    editable = editable_projects(svc)
    rows: list[dict[str, Any]] = [
        {
            "s": s,
            "next": [local_time(t, s.spec.tz) for t in next_fires(s)],
            "last": local_time(s.last_due_at, s.spec.tz),
            "may_act": may_act(editable, s.spec.project),
        }
        for s in found
    ]
    return _page(request, "schedules.html", svc, rows=rows, project=project)


def _set_paused(svc: Services, project: str, name: str, paused: bool) -> RedirectResponse:
    svc.jobs.pause_schedule(name, paused, project)
    return RedirectResponse(_url("/schedules") + f"#schedule-{project}-{name}", status_code=303)


@router.post("/schedules/{project}/{name}/pause")
def pause_schedule(project: str, name: str, svc: Svc) -> RedirectResponse:
    """Pause a schedule (editors)."""
    return _set_paused(svc, project, name, True)


@router.post("/schedules/{project}/{name}/resume")
def resume_schedule(project: str, name: str, svc: Svc) -> RedirectResponse:
    """Resume a schedule (editors), from its next due time after now."""
    return _set_paused(svc, project, name, False)


def job_label(job: Job) -> str:
    """What a job runs, short: the notebook's file name or the entry point."""
    target = job.spec.target
    return target.rsplit("/", 1)[-1] if job.spec.kind == "notebook" else target
