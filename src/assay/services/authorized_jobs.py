"""``AuthorizedJobs``: the ``Jobs`` interface as one caller, every operation checked first.

The rules, by the project a job or schedule belongs to:

- viewer (reading): jobs, their logs, schedules; listings show only the projects the caller holds a role in;
- editor (acting): submitting and cancelling jobs, adding, pausing, resuming and deleting schedules, and
  working jobs (a worker's token claims, heartbeats, finishes and ships logs only in projects where its
  user is an editor; firing schedules likewise).

Refusals raise ``PermissionDenied`` naming the role missing; the wrapped service is not called.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

from assay.access import DEFAULT_PROJECT, Principal, Role
from assay.errors import InvalidState
from assay.runner.entities import Ended, Job, JobSpec, JobState, LogChunk, Result, Schedule, ScheduleSpec
from assay.services.access import Authorizer
from assay.services.jobs import MAX_LOG_READ, Jobs


class AuthorizedJobs(Jobs):
    """``inner`` as ``caller``: roles checked by ``authorizer`` before each call (see the module docstring)."""

    def __init__(self, inner: Jobs, authorizer: Authorizer, caller: Principal) -> None:
        self.inner = inner.acting_as(caller.name)
        self.authorizer = authorizer
        self.caller = caller

    def acting_as(self, actor: str) -> Jobs:
        return self

    def _project(self, role: Role, project: str | None, action: str) -> None:
        self.authorizer.require_project(self.caller, role, project or DEFAULT_PROJECT, action)

    def _job(self, role: Role, job_id: str, action: str) -> Job:
        job = self.inner.get_job(job_id)
        self._project(role, job.spec.project, action)
        return job

    def _projects(self, role: Role, asked: Sequence[str] | None, action: str) -> list[str] | None:
        """``asked``, once the caller is found to hold ``role`` in each (PermissionDenied otherwise); when
        nothing is asked, the projects where it does (None: every project, for an admin)."""
        if asked is not None:
            for project in asked:
                self._project(role, project, action)
            return list(asked)
        if self.caller.is_admin:
            return None
        return [self.authorizer.project_name(pid) for pid in self.caller.roles if self.caller.can(role, pid)]

    # ---- submitting and watching ------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Job:
        self._project(Role.EDITOR, spec.project, "submitting jobs")
        return self.inner.submit(spec)

    def get_job(self, job_id: str) -> Job:
        return self._job(Role.VIEWER, job_id, "reading jobs")

    def list_jobs(
        self,
        project: str | None = None,
        states: Sequence[JobState] | None = None,
        schedule: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        if project is not None:
            self._project(Role.VIEWER, project, "reading jobs")
            return self.inner.list_jobs(project, states, schedule, limit)
        readable = self._projects(Role.VIEWER, None, "reading jobs")
        found = self.inner.list_jobs(None, states, schedule, limit)
        return [j for j in found if readable is None or j.spec.project in readable]

    def cancel(self, job_id: str) -> Job:
        self._job(Role.EDITOR, job_id, "cancelling jobs")
        return self.inner.cancel(job_id)

    # ---- working ----------------------------------------------------------------------------------------

    def claim(
        self,
        worker: str,
        limit: int,
        lease_s: float,
        projects: Sequence[str] | None = None,
        ended: Sequence[Ended] = (),
    ) -> list[Job]:
        for end in ended:
            self._job(Role.EDITOR, end.job_id, "working jobs")
        allowed = self._projects(Role.EDITOR, projects, "working jobs")
        if allowed is not None and not allowed:
            for end in ended:
                with contextlib.suppress(InvalidState):  # a lease lost: dropped, as a claim drops it
                    self.inner.finish(end.job_id, worker, end.result, end.error)
            return []
        return self.inner.claim(worker, limit, lease_s, allowed, ended)

    def expire_leases(self, projects: Sequence[str] | None = None) -> list[Job]:
        allowed = self._projects(Role.EDITOR, projects, "working jobs")
        if allowed is not None and not allowed:
            return []
        return self.inner.expire_leases(allowed)

    def heartbeat(self, worker: str, job_ids: Sequence[str], lease_s: float) -> Mapping[str, str]:
        for job_id in job_ids:
            self._job(Role.EDITOR, job_id, "working jobs")
        return self.inner.heartbeat(worker, job_ids, lease_s)

    def finish(self, job_id: str, worker: str, result: Result, error: str | None = None) -> Job:
        self._job(Role.EDITOR, job_id, "working jobs")
        return self.inner.finish(job_id, worker, result, error)

    def append_log(self, job_id: str, attempt: int, offset: int, data: bytes) -> None:
        self._job(Role.EDITOR, job_id, "working jobs")
        self.inner.append_log(job_id, attempt, offset, data)

    def read_log(
        self, job_id: str, attempt: int | None = None, offset: int = 0, limit: int = MAX_LOG_READ
    ) -> LogChunk:
        self._job(Role.VIEWER, job_id, "reading job logs")
        return self.inner.read_log(job_id, attempt, offset, limit)

    # ---- schedules ----------------------------------------------------------------------------------------

    def add_schedule(self, spec: ScheduleSpec, now: int | None = None) -> Schedule:
        self._project(Role.EDITOR, spec.project, "scheduling jobs")
        return self.inner.add_schedule(spec, now)

    def get_schedule(self, name: str, project: str | None = None) -> Schedule:
        self._project(Role.VIEWER, project, "reading schedules")
        return self.inner.get_schedule(name, project)

    def list_schedules(self, project: str | None = None) -> list[Schedule]:
        if project is not None:
            self._project(Role.VIEWER, project, "reading schedules")
            return self.inner.list_schedules(project)
        readable = self._projects(Role.VIEWER, None, "reading schedules")
        return [s for s in self.inner.list_schedules(None) if readable is None or s.spec.project in readable]

    def pause_schedule(self, name: str, paused: bool, project: str | None = None) -> Schedule:
        self._project(Role.EDITOR, project, "pausing schedules")
        return self.inner.pause_schedule(name, paused, project)

    def delete_schedule(self, name: str, project: str | None = None) -> None:
        self._project(Role.EDITOR, project, "deleting schedules")
        self.inner.delete_schedule(name, project)

    def fire_due(self, now: int | None = None, projects: Sequence[str] | None = None) -> list[Job]:
        allowed = self._projects(Role.EDITOR, projects, "firing schedules")
        if allowed is not None and not allowed:
            return []
        return self.inner.fire_due(now, allowed)

    def next_due(self, projects: Sequence[str] | None = None) -> int | None:
        allowed = self._projects(Role.VIEWER, projects, "reading schedules")
        if allowed is not None and not allowed:
            return None
        return self.inner.next_due(allowed)
