"""What the runner stores, as frozen dataclasses: jobs (one queued unit of work, run as a tracked run),
their log chunks, and schedules (a job template fired on cron due times).

Pure module: no I/O. Times are integer milliseconds since the Unix epoch (UTC), as everywhere in assay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: A job that executes a notebook through the notebook runtime (``assay.run_notebook``'s path).
NOTEBOOK = "notebook"
#: A job that calls a Python entry point ``pkg.module:function`` with the params as keyword arguments.
PYTHON = "python"
KINDS = (NOTEBOOK, PYTHON)

#: Missed-fire policies of a schedule: fire only the latest missed due time, or each of them (bounded).
SKIP = "skip"
CATCHUP = "catchup"
MISSED_POLICIES = (SKIP, CATCHUP)

#: Tags every job run carries, so a run leads back to its job (and the UI links the two).
JOB_TAG = "assay.job.id"
ATTEMPT_TAG = "assay.job.attempt"
SCHEDULE_TAG = "assay.schedule"
#: Tags linking the two runs of a task an engine ran again after losing it (``assay.runner.rerun``): the
#: lost execution's run names the run that replaced it, and that run names the one it replaces.
RERUN_AS_TAG = "assay.rerun.as"
RERUN_OF_TAG = "assay.rerun.of"


class JobState(StrEnum):
    """Where a job is. QUEUED jobs wait (from ``not_before`` on) for a worker; RUNNING ones hold a lease."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def done(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class Result(StrEnum):
    """How one attempt ended, as the worker that ran it reports it."""

    SUCCEEDED = "succeeded"
    #: the notebook or function raised, or its run ended FAILED
    FAILED = "failed"
    #: it ran past the job's ``timeout_s`` and was stopped
    TIMED_OUT = "timed_out"
    #: it was stopped because a cancel was asked
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What to run, where its run goes, and the policy around it: everything ``assay submit`` decides."""

    #: ``NOTEBOOK`` or ``PYTHON``
    kind: str
    #: the notebook's location as submitted (a path or URL), or ``pkg.module:function``
    target: str
    #: notebook parameters or keyword arguments (JSON values)
    params: Mapping[str, Any] = field(default_factory=dict)
    project: str = "default"
    #: the experiment's name (created on first use); None: "Default"
    experiment: str | None = None
    #: the run's name; None: the notebook's stem or the function's name
    name: str | None = None
    #: a notebook's bytes at submit time: what the worker executes, wherever it runs
    source: bytes | None = None
    #: the submitter's working directory: the worker runs there when it exists on its machine
    cwd: str | None = None
    #: higher first; ties in submit order
    priority: int = 0
    #: seconds one attempt may run before it is stopped (None: no limit)
    timeout_s: float | None = None
    #: attempts in all (1: no retry). Failures, timeouts and lost workers use one each; cancels end the job.
    max_attempts: int = 1
    #: retry n waits ``backoff_s * 2 ** (n - 1)`` seconds (capped at an hour)
    backoff_s: float = 10.0
    tags: Mapping[str, str] = field(default_factory=dict)
    #: the run becomes this run's child (a sweep's trials)
    parent_run_id: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """A submitted job and where it stands. ``run_id`` is the run of the current (or last) attempt: it is
    decided when the attempt is claimed, so a worker that dies leaves a run that can be found and ended."""

    job_id: str
    spec: JobSpec
    state: JobState = JobState.QUEUED
    #: attempts started so far
    attempt: int = 0
    run_id: str | None = None
    #: the worker of the current (or last) attempt: kept after it ends, so the history says who ran it
    worker: str | None = None
    lease_expires: int | None = None
    #: a QUEUED job is not claimed before this time (retry backoff)
    not_before: int = 0
    created_at: int = 0
    created_by: str = ""
    started_at: int | None = None
    finished_at: int | None = None
    #: why the last attempt failed (or why the job was cancelled)
    error: str | None = None
    #: a cancel was asked while the job ran: its worker stops it at the next heartbeat
    cancel_requested: bool = False
    #: the schedule that fired the job, and the due time it fired for
    schedule: str | None = None
    due_at: int | None = None


@dataclass(frozen=True, slots=True)
class Ended:
    """An attempt's end as its worker reports it with its next claim (``Jobs.claim(..., ended=...)``)."""

    job_id: str
    result: Result
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LogChunk:
    """Part of an attempt's combined stdout and stderr: bytes ``[offset, next_offset)``. ``complete`` once
    the attempt has ended and nothing follows."""

    job_id: str
    attempt: int
    offset: int
    data: bytes
    next_offset: int
    complete: bool


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A job template fired at each due time of a cron expression in a time zone."""

    name: str
    #: five-field cron (``"0 2 * * *"``), as croniter reads it
    cron: str
    job: JobSpec
    #: an IANA time zone (``"Europe/Paris"``); due times follow its daylight saving changes
    tz: str = "UTC"
    #: what a scheduler that was down does with the due times it missed: ``SKIP`` or ``CATCHUP``
    missed: str = SKIP
    #: ``CATCHUP`` fires at most this many of the latest missed due times
    max_catchup: int = 10

    @property
    def project(self) -> str:
        return self.job.project


@dataclass(frozen=True, slots=True)
class Schedule:
    """A stored schedule: its spec, whether it is paused, and its next due time."""

    spec: ScheduleSpec
    schedule_id: str
    paused: bool = False
    #: the next due time not yet fired (None while paused)
    next_due_at: int | None = None
    #: the last due time a job was fired for
    last_due_at: int | None = None
    created_at: int = 0
    created_by: str = ""

    @property
    def name(self) -> str:
        return self.spec.name


def default_run_name(kind: str, target: str) -> str:
    """A job's run name when its spec has none: the function's name, or the notebook's stem."""
    if kind == PYTHON:
        return target.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    stem = target.rsplit("/", 1)[-1]
    return (stem[: -len(".ipynb")] if stem.endswith(".ipynb") else stem.rsplit(".", 1)[0]) or "notebook"
