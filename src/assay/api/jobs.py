"""Wire schemas of the runner's routes (jobs, logs, schedules), and the conversions between them and the
runner's entities (``assay.runner.entities``). Shared by the server and the remote client.

A notebook's bytes travel base64-encoded (``source_b64``); log chunks likewise (``data_b64``). A job read
back carries its notebook only where a worker needs it (a claim); listings leave it out.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import BaseModel, Field

from assay.errors import InvalidInput
from assay.runner.entities import Ended, Job, JobSpec, JobState, LogChunk, Result, Schedule, ScheduleSpec


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def unb64(text: str | None, what: str = "source_b64") -> bytes | None:
    """The bytes ``text`` encodes (InvalidInput, one line, if it is not base64)."""
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} is not base64: send the notebook's bytes base64-encoded") from None


class Spec(BaseModel):
    kind: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    project: str = "default"
    experiment: str | None = None
    name: str | None = None
    source_b64: str | None = None
    cwd: str | None = None
    priority: int = 0
    timeout_s: float | None = None
    max_attempts: int = 1
    backoff_s: float = 10.0
    tags: dict[str, str] = Field(default_factory=dict)
    parent_run_id: str | None = None

    @classmethod
    def of(cls, spec: JobSpec, with_source: bool = True) -> Spec:
        return cls(
            kind=spec.kind,
            target=spec.target,
            params=dict(spec.params),
            project=spec.project,
            experiment=spec.experiment,
            name=spec.name,
            source_b64=b64(spec.source) if with_source else None,
            cwd=spec.cwd,
            priority=spec.priority,
            timeout_s=spec.timeout_s,
            max_attempts=spec.max_attempts,
            backoff_s=spec.backoff_s,
            tags=dict(spec.tags),
            parent_run_id=spec.parent_run_id,
        )

    def entity(self) -> JobSpec:
        fields = self.model_dump(exclude={"source_b64"})
        return JobSpec(source=unb64(self.source_b64), **fields)


class JobOut(BaseModel):
    job_id: str
    spec: Spec
    state: JobState
    attempt: int = 0
    run_id: str | None = None
    worker: str | None = None
    lease_expires: int | None = None
    not_before: int = 0
    created_at: int = 0
    created_by: str = ""
    started_at: int | None = None
    finished_at: int | None = None
    error: str | None = None
    cancel_requested: bool = False
    schedule: str | None = None
    due_at: int | None = None

    @classmethod
    def of(cls, job: Job, with_source: bool = False) -> JobOut:
        fields = {k: getattr(job, k) for k in cls.model_fields if k != "spec"}
        return cls(spec=Spec.of(job.spec, with_source), **fields)

    def entity(self) -> Job:
        fields = self.model_dump(exclude={"spec"})
        fields["state"] = JobState(fields["state"])
        return Job(spec=self.spec.entity(), **fields)


class JobList(BaseModel):
    jobs: list[JobOut]


class EndedIn(BaseModel):
    job_id: str
    result: Result
    error: str | None = None


class Claim(BaseModel):
    worker: str
    limit: int = 1
    lease_s: float = 30.0
    projects: list[str] | None = None
    ended: list[EndedIn] = Field(default_factory=list, description="attempts ended since the last claim")

    def ends(self) -> list[Ended]:
        return [Ended(e.job_id, e.result, e.error) for e in self.ended]


class Projects(BaseModel):
    projects: list[str] | None = None


class Heartbeat(BaseModel):
    worker: str
    job_ids: list[str]
    lease_s: float = 30.0


class Stops(BaseModel):
    stop: dict[str, str] = Field(description="job id -> why it must stop: 'cancel' or 'lost'")


class Finish(BaseModel):
    worker: str
    result: Result
    error: str | None = None


class LogOut(BaseModel):
    job_id: str
    attempt: int
    offset: int
    data_b64: str
    next_offset: int
    complete: bool

    @classmethod
    def of(cls, chunk: LogChunk) -> LogOut:
        return cls(
            job_id=chunk.job_id,
            attempt=chunk.attempt,
            offset=chunk.offset,
            data_b64=b64(chunk.data) or "",
            next_offset=chunk.next_offset,
            complete=chunk.complete,
        )

    def entity(self) -> LogChunk:
        data = unb64(self.data_b64, "data_b64") or b""
        return LogChunk(self.job_id, self.attempt, self.offset, data, self.next_offset, self.complete)


class ScheduleIn(BaseModel):
    name: str
    cron: str
    job: Spec
    tz: str = "UTC"
    missed: str = "skip"
    max_catchup: int = 10
    now: int | None = None

    def entity(self) -> ScheduleSpec:
        return ScheduleSpec(self.name, self.cron, self.job.entity(), self.tz, self.missed, self.max_catchup)


class ScheduleOut(BaseModel):
    name: str
    cron: str
    job: Spec
    tz: str
    missed: str
    max_catchup: int
    schedule_id: str
    paused: bool = False
    next_due_at: int | None = None
    last_due_at: int | None = None
    created_at: int = 0
    created_by: str = ""

    @classmethod
    def of(cls, s: Schedule) -> ScheduleOut:
        return cls(
            name=s.spec.name,
            cron=s.spec.cron,
            job=Spec.of(s.spec.job, with_source=False),
            tz=s.spec.tz,
            missed=s.spec.missed,
            max_catchup=s.spec.max_catchup,
            schedule_id=s.schedule_id,
            paused=s.paused,
            next_due_at=s.next_due_at,
            last_due_at=s.last_due_at,
            created_at=s.created_at,
            created_by=s.created_by,
        )

    def entity(self) -> Schedule:
        spec = ScheduleSpec(self.name, self.cron, self.job.entity(), self.tz, self.missed, self.max_catchup)
        return Schedule(
            spec,
            self.schedule_id,
            self.paused,
            self.next_due_at,
            self.last_due_at,
            self.created_at,
            self.created_by,
        )


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


class Pause(BaseModel):
    paused: bool


class Fire(BaseModel):
    now: int | None = None
    projects: list[str] | None = None


class NextDue(BaseModel):
    next_due_at: int | None
