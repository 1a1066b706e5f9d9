"""The ``Jobs`` interface: the runner's queue of jobs, their logs, and cron schedules that fire jobs.
Implemented in-process over the SQL store (``assay.embedded.jobs``), over HTTP (``assay.remote.jobs``),
and checked against roles (``assay.services.authorized_jobs``).

The contract every implementation keeps (``assay.testing.jobs`` checks it on each):

- **The jobs table is the queue.** ``claim`` hands each QUEUED job whose ``not_before`` has come to one
  worker only, highest ``priority`` first, then oldest: on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, on
  SQLite inside one ``BEGIN IMMEDIATE`` transaction. A claim also expires the leases that have passed
  (``assay.runner.states.expire``), in the same transaction, ending their runs KILLED (once per
  ``EXPIRE_EVERY_S`` per store client and set of projects at most: see ``claim``).
- **Decisions are the state machine's** (``assay.runner.states``): the store applies them to the rows it
  locked. A worker that lost its lease is refused (``InvalidState``) on heartbeat and finish.
- **Each attempt is one run**, whose id is decided at claim (``Job.run_id``) and tagged ``assay.job.id``
  and ``assay.job.attempt``; the worker creates the run with that id.
- **Logs**: ``append_log`` is idempotent by offset (a chunk sent twice is stored once); ``read_log`` reads
  what has arrived, so a reader follows a running attempt.
- **Schedules** have names unique per project, of the characters project names take (1-128 letters,
  digits, '.', '_', '@' or '-', starting with a letter or digit): a name is one path segment of the
  schedule's routes, and no '/' keeps it from reading as ``project/name``, as models and experiments may
  be named. ``fire_due`` creates one job per due time at most, whatever
  number of schedulers call it at once: (schedule, due time) is unique in the store, and the schedule's
  ``next_due_at`` moves by compare-and-set.

Errors: ``NotFound`` (unknown job or schedule), ``InvalidInput`` (a spec that does not validate, a cron
expression or time zone that does not parse), ``InvalidState`` (a lease lost), ``Conflict`` (a schedule
name taken), ``PermissionDenied`` (a role missing: viewer to read, editor to submit, cancel, schedule, and
to work jobs). Implementations are thread-safe.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import orjson

from assay.errors import InvalidInput
from assay.runner import cron
from assay.runner.entities import (
    KINDS,
    NOTEBOOK,
    PYTHON,
    Ended,
    Job,
    JobSpec,
    JobState,
    LogChunk,
    Result,
    Schedule,
    ScheduleSpec,
)
from assay.services import validation as v
from assay.services.access import check_name

#: Longest log chunk ``read_log`` returns at once.
MAX_LOG_READ = 1 << 20
#: How often at most a client's claims look for passed leases, in seconds.
EXPIRE_EVERY_S = 0.5
#: Largest notebook a job carries.
MAX_SOURCE = 32 << 20
MAX_ATTEMPTS = 100
MAX_PRIORITY = 1000


def check_spec(spec: JobSpec) -> JobSpec:
    """Refuse (InvalidInput, one line) a job spec that breaks a rule; returns it unchanged."""
    if spec.kind not in KINDS:
        raise InvalidInput(f"job kind {spec.kind!r} is unknown: use {NOTEBOOK!r} or {PYTHON!r}")
    if not spec.target or not spec.target.strip():
        raise InvalidInput(
            "a job needs a target: a notebook path or a Python entry point 'pkg.module:function'"
        )
    if spec.kind == PYTHON and spec.target.count(":") != 1:
        raise InvalidInput(
            f"Python entry point {spec.target!r} must read 'pkg.module:function' (one ':' between the module "
            "and the function)"
        )
    v.check_name(spec.project, "project")
    if spec.experiment is not None:
        v.check_name(spec.experiment, "experiment")
    if spec.name is not None:
        v.check_name(spec.name, "run")
    try:
        orjson.dumps(dict(spec.params))
    except TypeError as exc:
        raise InvalidInput(
            f"job params must be JSON values (numbers, strings, lists, mappings): {exc}"
        ) from None
    for key in spec.params:
        v.check_key(key, "param")
    for key in spec.tags:
        v.check_key(key, "tag")
    if not isinstance(spec.priority, int) or abs(spec.priority) > MAX_PRIORITY:
        raise InvalidInput(f"priority must be a whole number from -{MAX_PRIORITY} to {MAX_PRIORITY}")
    if spec.timeout_s is not None and not (math.isfinite(spec.timeout_s) and spec.timeout_s > 0):
        raise InvalidInput(f"timeout must be a positive number of seconds, not {spec.timeout_s!r}")
    if not isinstance(spec.max_attempts, int) or not 1 <= spec.max_attempts <= MAX_ATTEMPTS:
        raise InvalidInput(
            f"attempts must be from 1 to {MAX_ATTEMPTS} (retries from 0 to {MAX_ATTEMPTS - 1})"
        )
    if not (math.isfinite(spec.backoff_s) and spec.backoff_s >= 0):
        raise InvalidInput(f"backoff must be zero or a positive number of seconds, not {spec.backoff_s!r}")
    if spec.source is not None and len(spec.source) > MAX_SOURCE:
        raise InvalidInput(f"the notebook is {len(spec.source)} bytes; a job carries at most {MAX_SOURCE}")
    return spec


def check_schedule(spec: ScheduleSpec) -> ScheduleSpec:
    """Refuse (InvalidInput, one line) a schedule whose name, cron, time zone, policy or job is wrong."""
    check_name(spec.name, "schedule")  # a project's rule: see the module docstring
    cron.check(spec.cron, spec.tz, spec.missed, spec.max_catchup)
    check_spec(spec.job)
    return spec


class Jobs(ABC):
    """The queue, the logs and the schedules of one store or server (see the module docstring)."""

    def acting_as(self, actor: str) -> Jobs:
        """These jobs with ``actor`` recorded as who submitted and scheduled (the server binds each caller)."""
        return self

    # ---- submitting and watching ------------------------------------------------------------------------

    @abstractmethod
    def submit(self, spec: JobSpec) -> Job:
        """Queue a job (validated first: ``InvalidInput`` names what is wrong before anything is stored)."""

    @abstractmethod
    def get_job(self, job_id: str) -> Job: ...

    @abstractmethod
    def list_jobs(
        self,
        project: str | None = None,
        states: Sequence[JobState] | None = None,
        schedule: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Jobs, newest first (of ``project``, in ``states``, fired by ``schedule`` when given)."""

    @abstractmethod
    def cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued one at once, a running one at its worker's next heartbeat."""

    # ---- working ----------------------------------------------------------------------------------------

    @abstractmethod
    def claim(
        self,
        worker: str,
        limit: int,
        lease_s: float,
        projects: Sequence[str] | None = None,
        ended: Sequence[Ended] = (),
    ) -> list[Job]:
        """Up to ``limit`` jobs for ``worker`` (of ``projects`` when given), each RUNNING under a lease of
        ``lease_s`` seconds with its attempt's ``run_id`` decided; expires passed leases first (at most once per
        ``EXPIRE_EVERY_S`` per store client and set of projects: a lease lasts many seconds, and a worker
        claiming hundreds of times a second should not re-read every running attempt each time). ``ended``:
        attempts of ``worker`` that ended since its last call, finished first in the same transaction (as
        ``finish`` would; an end refused because the lease was lost is dropped, as ``finish`` refuses it):
        a worker that finishes one job and takes the next pays one transaction, not two."""

    @abstractmethod
    def expire_leases(self, projects: Sequence[str] | None = None) -> list[Job]:
        """End now every attempt whose lease has passed (of ``projects`` when given): retried or failed by
        policy, its run ended KILLED. Claims do it too; a scheduler calls it on its ticks, so a queue whose
        workers all died still shows their jobs for what they are. Returns the jobs after expiry."""

    @abstractmethod
    def heartbeat(self, worker: str, job_ids: Sequence[str], lease_s: float) -> Mapping[str, str]:
        """Renew ``worker``'s leases on ``job_ids``; returns the jobs it must stop now, each with why:
        ``"cancel"`` (a cancel was asked) or ``"lost"`` (the lease is no longer its own)."""

    @abstractmethod
    def finish(self, job_id: str, worker: str, result: Result, error: str | None = None) -> Job:
        """Report how ``worker``'s attempt ended (``InvalidState`` if it lost the lease meanwhile)."""

    @abstractmethod
    def append_log(self, job_id: str, attempt: int, offset: int, data: bytes) -> None:
        """Store bytes ``[offset, offset + len(data))`` of an attempt's output (idempotent by offset)."""

    @abstractmethod
    def read_log(
        self, job_id: str, attempt: int | None = None, offset: int = 0, limit: int = MAX_LOG_READ
    ) -> LogChunk:
        """What has arrived of an attempt's output (default: the latest attempt) from ``offset`` on."""

    # ---- schedules ----------------------------------------------------------------------------------------

    @abstractmethod
    def add_schedule(self, spec: ScheduleSpec, now: int | None = None) -> Schedule:
        """Store a schedule; its first due time is the first cron time after ``now`` (default: the clock)."""

    @abstractmethod
    def get_schedule(self, name: str, project: str | None = None) -> Schedule: ...

    @abstractmethod
    def list_schedules(self, project: str | None = None) -> list[Schedule]: ...

    @abstractmethod
    def pause_schedule(self, name: str, paused: bool, project: str | None = None) -> Schedule:
        """Pause, or resume (due times missed while paused are skipped; the next one after now is due)."""

    @abstractmethod
    def delete_schedule(self, name: str, project: str | None = None) -> None:
        """Delete a schedule; the jobs it fired stay."""

    @abstractmethod
    def fire_due(self, now: int | None = None, projects: Sequence[str] | None = None) -> list[Job]:
        """Fire every schedule due at ``now`` (of ``projects`` when given): one job per due time, by the
        schedule's missed-fire policy, then move ``next_due_at`` on. Returns the jobs this call created."""

    @abstractmethod
    def next_due(self, projects: Sequence[str] | None = None) -> int | None:
        """The earliest next due time among schedules not paused (a scheduler sleeps until then)."""

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release what the implementation holds."""


__all__ = ["MAX_LOG_READ", "Jobs", "check_schedule", "check_spec"]
