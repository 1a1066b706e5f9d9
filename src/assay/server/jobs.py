"""Runner routes: the jobs queue (submit, list, cancel; claim, heartbeat, finish for workers), job logs, and
schedules. Thin: parse, call ``svc.jobs`` (which checks the caller's roles), serialize (``assay.api.jobs``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from assay.api import jobs as s
from assay.runner.entities import JobState
from assay.server.artifacts import FILE_BODY
from assay.services.jobs import MAX_LOG_READ
from assay.web.auth import Svc

router = APIRouter(tags=["runner"])
JOB = "/jobs/{job_id}"
SCHEDULE = "/schedules/{name}"


@router.post("/jobs", status_code=201)
def submit(body: s.Spec, svc: Svc) -> s.JobOut:
    """Queue a job (editors of its project): a notebook (its bytes in ``source_b64``) or a Python entry point."""
    return s.JobOut.of(svc.jobs.submit(body.entity()))


@router.get("/jobs")
def list_jobs(
    svc: Svc,
    project: str | None = None,
    state: Annotated[list[JobState] | None, Query()] = None,
    schedule: str | None = None,
    limit: int = 100,
) -> s.JobList:
    """Jobs newest first, of the projects the caller can read."""
    return s.JobList(jobs=[s.JobOut.of(j) for j in svc.jobs.list_jobs(project, state, schedule, limit)])


@router.post("/jobs/claim")
def claim(body: s.Claim, svc: Svc) -> s.JobList:
    """A worker reports the attempts that ended (``ended``) and takes up to ``limit`` queued jobs under a
    lease (sources included), in one transaction."""
    found = svc.jobs.claim(body.worker, body.limit, body.lease_s, body.projects, body.ends())
    return s.JobList(jobs=[s.JobOut.of(j, with_source=True) for j in found])


@router.post("/jobs/expire")
def expire_leases(body: s.Projects, svc: Svc) -> s.JobList:
    """End the attempts whose lease passed (editors; of ``projects`` when given); the jobs after expiry."""
    return s.JobList(jobs=[s.JobOut.of(j) for j in svc.jobs.expire_leases(body.projects)])


@router.post("/jobs/heartbeat")
def heartbeat(body: s.Heartbeat, svc: Svc) -> s.Stops:
    """A worker renews its leases; the answer names the jobs it must stop."""
    return s.Stops(stop=dict(svc.jobs.heartbeat(body.worker, body.job_ids, body.lease_s)))


@router.get(JOB)
def get_job(job_id: str, svc: Svc) -> s.JobOut:
    return s.JobOut.of(svc.jobs.get_job(job_id))


@router.post(JOB + "/cancel")
def cancel(job_id: str, svc: Svc) -> s.JobOut:
    """Cancel: a queued job at once, a running one at its worker's next heartbeat (editors)."""
    return s.JobOut.of(svc.jobs.cancel(job_id))


@router.post(JOB + "/finish")
def finish(job_id: str, body: s.Finish, svc: Svc) -> s.JobOut:
    """A worker reports how its attempt ended (409-like INVALID_STATE if it lost the lease)."""
    return s.JobOut.of(svc.jobs.finish(job_id, body.worker, body.result, body.error))


@router.put(
    JOB + "/logs/{attempt}/{offset}",
    status_code=204,
    openapi_extra={"requestBody": {"required": True, **FILE_BODY}},
)
async def append_log(job_id: str, attempt: int, offset: int, request: Request, svc: Svc) -> None:
    """Bytes of an attempt's output at ``offset`` (the raw body; sending a chunk twice stores it once)."""
    data = await request.body()
    await run_in_threadpool(svc.jobs.append_log, job_id, attempt, offset, data)


@router.get(JOB + "/logs")
def read_log(
    job_id: str, svc: Svc, attempt: int | None = None, offset: int = 0, limit: int = MAX_LOG_READ
) -> s.LogOut:
    """What has arrived of an attempt's output from ``offset`` on (default: the latest attempt)."""
    return s.LogOut.of(svc.jobs.read_log(job_id, attempt, offset, limit))


@router.post("/schedules", status_code=201)
def add_schedule(body: s.ScheduleIn, svc: Svc) -> s.ScheduleOut:
    """A cron schedule that fires its job template at each due time (editors)."""
    return s.ScheduleOut.of(svc.jobs.add_schedule(body.entity(), body.now))


@router.get("/schedules")
def list_schedules(svc: Svc, project: str | None = None) -> s.ScheduleList:
    return s.ScheduleList(schedules=[s.ScheduleOut.of(x) for x in svc.jobs.list_schedules(project)])


@router.post("/schedules/fire")
def fire_due(body: s.Fire, svc: Svc) -> s.JobList:
    """Fire every due schedule (of the projects where the caller is an editor); the jobs queued."""
    return s.JobList(jobs=[s.JobOut.of(j) for j in svc.jobs.fire_due(body.now, body.projects)])


@router.get("/schedules/next-due")
def next_due(svc: Svc, project: Annotated[list[str] | None, Query()] = None) -> s.NextDue:
    return s.NextDue(next_due_at=svc.jobs.next_due(project))


@router.get(SCHEDULE)
def get_schedule(name: str, svc: Svc, project: str | None = None) -> s.ScheduleOut:
    return s.ScheduleOut.of(svc.jobs.get_schedule(name, project))


@router.post(SCHEDULE + "/pause")
def pause_schedule(name: str, body: s.Pause, svc: Svc, project: str | None = None) -> s.ScheduleOut:
    """Pause (``paused: true``) or resume a schedule (editors)."""
    return s.ScheduleOut.of(svc.jobs.pause_schedule(name, body.paused, project))


@router.delete(SCHEDULE, status_code=204)
def delete_schedule(name: str, svc: Svc, project: str | None = None) -> None:
    """Delete a schedule (editors); the jobs it fired stay."""
    svc.jobs.delete_schedule(name, project)
