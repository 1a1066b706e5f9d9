"""``RemoteJobs``: the ``Jobs`` interface over the server's REST API (team mode), on the HTTP client of a
``RemoteTracking`` (so it sends the same token). Specs are checked here too, so a bad one is refused
before a request is made."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from assay.api import jobs as s
from assay.remote.errors import check
from assay.remote.urls import API, segment
from assay.runner.entities import Ended, Job, JobSpec, JobState, LogChunk, Result, Schedule, ScheduleSpec
from assay.services.jobs import MAX_LOG_READ, Jobs, check_schedule, check_spec


def _job(job_id: str) -> str:
    return f"/jobs/{segment(job_id, 'job')}"


def _schedule(name: str) -> str:
    return f"/schedules/{segment(name, 'schedule')}"


def _project(project: str | None) -> dict[str, str]:
    return {} if project is None else {"project": project}


class RemoteJobs(Jobs):
    """``Jobs`` as the caller whose token ``http`` sends."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, API + path, **kwargs)
        check(response)
        return response

    def _jobs(self, method: str, path: str, **kwargs: Any) -> list[Job]:
        found = s.JobList.model_validate_json(self._send(method, path, **kwargs).content)
        return [j.entity() for j in found.jobs]

    def _one(self, method: str, path: str, **kwargs: Any) -> Job:
        return s.JobOut.model_validate_json(self._send(method, path, **kwargs).content).entity()

    def _sched(self, method: str, path: str, **kwargs: Any) -> Schedule:
        return s.ScheduleOut.model_validate_json(self._send(method, path, **kwargs).content).entity()

    # ---- submitting and watching ------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Job:
        body = s.Spec.of(check_spec(spec)).model_dump(mode="json")
        return self._one("POST", "/jobs", json=body)

    def get_job(self, job_id: str) -> Job:
        return self._one("GET", _job(job_id))

    def list_jobs(
        self,
        project: str | None = None,
        states: Sequence[JobState] | None = None,
        schedule: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        params: dict[str, Any] = {"limit": limit, **_project(project)}
        if states:
            params["state"] = [JobState(x).value for x in states]
        if schedule is not None:
            params["schedule"] = schedule
        return self._jobs("GET", "/jobs", params=params)

    def cancel(self, job_id: str) -> Job:
        return self._one("POST", _job(job_id) + "/cancel")

    # ---- working ----------------------------------------------------------------------------------------

    def claim(
        self,
        worker: str,
        limit: int,
        lease_s: float,
        projects: Sequence[str] | None = None,
        ended: Sequence[Ended] = (),
    ) -> list[Job]:
        body = s.Claim(
            worker=worker,
            limit=limit,
            lease_s=lease_s,
            projects=None if projects is None else list(projects),
            ended=[s.EndedIn(job_id=e.job_id, result=e.result, error=e.error) for e in ended],
        )
        return self._jobs("POST", "/jobs/claim", json=body.model_dump(mode="json"))

    def expire_leases(self, projects: Sequence[str] | None = None) -> list[Job]:
        body = {"projects": None if projects is None else list(projects)}
        return self._jobs("POST", "/jobs/expire", json=body)

    def heartbeat(self, worker: str, job_ids: Sequence[str], lease_s: float) -> Mapping[str, str]:
        if not job_ids:
            return {}
        body = s.Heartbeat(worker=worker, job_ids=list(job_ids), lease_s=lease_s)
        sent = self._send("POST", "/jobs/heartbeat", json=body.model_dump(mode="json"))
        return s.Stops.model_validate_json(sent.content).stop

    def finish(self, job_id: str, worker: str, result: Result, error: str | None = None) -> Job:
        body = s.Finish(worker=worker, result=Result(result), error=error)
        return self._one("POST", _job(job_id) + "/finish", json=body.model_dump(mode="json"))

    def append_log(self, job_id: str, attempt: int, offset: int, data: bytes) -> None:
        if data:
            self._send("PUT", f"{_job(job_id)}/logs/{int(attempt)}/{int(offset)}", content=bytes(data))

    def read_log(
        self, job_id: str, attempt: int | None = None, offset: int = 0, limit: int = MAX_LOG_READ
    ) -> LogChunk:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if attempt is not None:
            params["attempt"] = attempt
        sent = self._send("GET", _job(job_id) + "/logs", params=params)
        return s.LogOut.model_validate_json(sent.content).entity()

    # ---- schedules ----------------------------------------------------------------------------------------

    def add_schedule(self, spec: ScheduleSpec, now: int | None = None) -> Schedule:
        check_schedule(spec)
        body = s.ScheduleIn(
            name=spec.name,
            cron=spec.cron,
            job=s.Spec.of(spec.job),
            tz=spec.tz,
            missed=spec.missed,
            max_catchup=spec.max_catchup,
            now=now,
        )
        return self._sched("POST", "/schedules", json=body.model_dump(mode="json"))

    def get_schedule(self, name: str, project: str | None = None) -> Schedule:
        return self._sched("GET", _schedule(name), params=_project(project))

    def list_schedules(self, project: str | None = None) -> list[Schedule]:
        sent = self._send("GET", "/schedules", params=_project(project))
        return [x.entity() for x in s.ScheduleList.model_validate_json(sent.content).schedules]

    def pause_schedule(self, name: str, paused: bool, project: str | None = None) -> Schedule:
        return self._sched(
            "POST", _schedule(name) + "/pause", params=_project(project), json={"paused": paused}
        )

    def delete_schedule(self, name: str, project: str | None = None) -> None:
        self._send("DELETE", _schedule(name), params=_project(project))

    def fire_due(self, now: int | None = None, projects: Sequence[str] | None = None) -> list[Job]:
        body = s.Fire(now=now, projects=None if projects is None else list(projects))
        return self._jobs("POST", "/schedules/fire", json=body.model_dump(mode="json"))

    def next_due(self, projects: Sequence[str] | None = None) -> int | None:
        params = {} if projects is None else {"project": list(projects)}
        sent = self._send("GET", "/schedules/next-due", params=params)
        return s.NextDue.model_validate_json(sent.content).next_due_at
