"""``JobsService``: the ``Jobs`` interface in-process, over the SQL store's jobs tables (``JobsStore``).

It validates, reads the clock and makes ids; the store applies ``assay.runner.states``'s decisions under
its locks. When a lease passes, the attempt's run is ended KILLED here, after the transaction that
expired it (through the tracking service, with the reason in its ``assay.error`` tag): a run that was
never created (the worker died first) has nothing to end.
"""

from __future__ import annotations

import getpass
import logging
import time
import uuid
from collections.abc import Mapping, Sequence

from assay.access import DEFAULT_PROJECT
from assay.entities import RunStatus
from assay.errors import AssayError, Conflict, InvalidInput, InvalidState, NotFound
from assay.runner import cron, states
from assay.runner.entities import (
    ATTEMPT_TAG,
    JOB_TAG,
    SCHEDULE_TAG,
    Ended,
    Job,
    JobSpec,
    JobState,
    LogChunk,
    Result,
    Schedule,
    ScheduleSpec,
    default_run_name,
)
from assay.services.jobs import EXPIRE_EVERY_S, MAX_LOG_READ, Jobs, check_schedule, check_spec
from assay.services.tracking import Tracking, now_ms
from assay.store.sql.jobs import JobsStore

log = logging.getLogger(__name__)

#: Bounds of a lease a worker may ask for, in seconds.
MIN_LEASE_S, MAX_LEASE_S = 1.0, 24 * 3600.0
MAX_CLAIM = 1000


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _lease_ms(lease_s: float) -> int:
    if not MIN_LEASE_S <= lease_s <= MAX_LEASE_S:
        raise InvalidInput(f"a lease must be from {MIN_LEASE_S:g} s to {MAX_LEASE_S:g} s, not {lease_s!r}")
    return int(lease_s * 1000)


def _worker(worker: str) -> str:
    if not worker or len(worker) > 256:
        raise InvalidInput(
            "a worker needs a name of 1 to 256 characters (assay worker makes host:pid:random)"
        )
    return worker


class JobsService(Jobs):
    """The queue, logs and schedules of one SQL store; ``actor`` is recorded as who submits and schedules."""

    def __init__(
        self,
        store: JobsStore,
        tracking: Tracking,
        actor: str | None = None,
        _expiry: dict[frozenset[str] | None, float] | None = None,
    ) -> None:
        self.store = store
        self.tracking = tracking
        self.actor = actor or _local_user()
        #: when claims of each set of projects (None: all) last looked for passed leases (time.monotonic()),
        #: shared by ``acting_as``: a server's callers claiming for one project do not delay another's
        self._expiry = _expiry if _expiry is not None else {}

    def acting_as(self, actor: str) -> JobsService:
        return JobsService(self.store, self.tracking, actor, self._expiry)

    # ---- submitting and watching ------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Job:
        return self.store.insert_job(check_spec(spec), uuid.uuid4().hex, now_ms(), self.actor)

    def get_job(self, job_id: str) -> Job:
        return self.store.get_job(job_id)

    def list_jobs(
        self,
        project: str | None = None,
        states: Sequence[JobState] | None = None,
        schedule: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        if not 1 <= limit <= 10_000:
            raise InvalidInput(f"limit must be from 1 to 10000, not {limit}")
        return self.store.list_jobs(project, states, schedule, limit)

    def cancel(self, job_id: str) -> Job:
        now = now_ms()
        return self.store.transition(job_id, lambda job: states.cancel(job, now))

    # ---- working ----------------------------------------------------------------------------------------

    def claim(
        self,
        worker: str,
        limit: int,
        lease_s: float,
        projects: Sequence[str] | None = None,
        ended: Sequence[Ended] = (),
    ) -> list[Job]:
        if not 0 <= limit <= MAX_CLAIM:
            raise InvalidInput(f"a claim takes from 0 to {MAX_CLAIM} jobs, not {limit}")
        lease = _lease_ms(lease_s)
        now = now_ms()
        scope = None if projects is None else frozenset(projects)
        tick = time.monotonic()
        expire = tick - self._expiry.get(scope, -EXPIRE_EVERY_S) >= EXPIRE_EVERY_S
        if expire:
            if len(self._expiry) > 1000:
                self._expiry.clear()
            self._expiry[scope] = tick
        claimed, expired = self.store.claim(
            _worker(worker), limit, now, lease, projects, lambda: uuid.uuid4().hex, ended, expire
        )
        self._end_runs(expired)
        return claimed

    def expire_leases(self, projects: Sequence[str] | None = None) -> list[Job]:
        steps = self.store.expire_leases(now_ms(), projects)
        self._end_runs(steps)
        return [s.job for s in steps]

    def _end_runs(self, steps: Sequence[states.Step]) -> None:
        for step in steps:
            run_id = step.job.run_id
            if step.end_run is None or run_id is None:
                continue
            reason = f"job {step.job.job_id}: {step.job.error}"
            try:
                try:
                    if self.tracking.get_run_info(run_id).status is not RunStatus.RUNNING:
                        continue
                except NotFound:  # its process died before writing it: created ended, to say so
                    self._create_ended(step.job, RunStatus(step.end_run), reason)
                    continue
                self.tracking.set_tags(run_id, {"assay.error": reason})
                self.tracking.end_run(run_id, RunStatus(step.end_run))
            except (Conflict, InvalidState):
                pass  # created or ended meanwhile
            except AssayError as exc:
                log.warning("could not end run %s of expired job %s: %s", run_id, step.job.job_id, exc)

    def _create_ended(self, job: Job, status: RunStatus, reason: str) -> None:
        """The run of an attempt that never wrote it, created already ended with ``reason``: every attempt
        has its run, whatever happened to the process (a worker may die before its task's first write)."""
        spec = job.spec
        name = spec.experiment or "Default"
        experiment = self.tracking.get_experiment_by_name(name, spec.project)
        if experiment is None:
            try:
                experiment = self.tracking.create_experiment(name, spec.project)
            except Conflict:
                experiment = self.tracking.get_experiment_by_name(name, spec.project)
                if experiment is None:
                    raise
        tags = {**spec.tags, JOB_TAG: job.job_id, ATTEMPT_TAG: str(job.attempt), "assay.error": reason}
        if job.schedule is not None:
            tags[SCHEDULE_TAG] = job.schedule
        assert job.run_id is not None
        self.tracking.create_run(
            experiment.experiment_id,
            name=spec.name or default_run_name(spec.kind, spec.target),
            params=dict(spec.params),
            tags=tags,
            parent_run_id=spec.parent_run_id,
            run_id=job.run_id,
            start_time=job.started_at,
        )
        self.tracking.end_run(job.run_id, status)

    def heartbeat(self, worker: str, job_ids: Sequence[str], lease_s: float) -> Mapping[str, str]:
        return self.store.heartbeat(_worker(worker), list(job_ids), now_ms(), _lease_ms(lease_s))

    def finish(self, job_id: str, worker: str, result: Result, error: str | None = None) -> Job:
        now = now_ms()
        result = Result(result)
        return self.store.transition(job_id, lambda job: states.finish(job, now, worker, result, error))

    def append_log(self, job_id: str, attempt: int, offset: int, data: bytes) -> None:
        if attempt < 1 or offset < 0:
            raise InvalidInput(
                f"a log chunk needs an attempt >= 1 and an offset >= 0, not {attempt}, {offset}"
            )
        if data:
            self.store.append_log(job_id, attempt, offset, bytes(data))

    def read_log(
        self, job_id: str, attempt: int | None = None, offset: int = 0, limit: int = MAX_LOG_READ
    ) -> LogChunk:
        if offset < 0 or not 1 <= limit <= MAX_LOG_READ:
            raise InvalidInput(f"read a log from an offset >= 0, at most {MAX_LOG_READ} bytes at a time")
        return self.store.read_log(job_id, attempt, offset, limit)

    # ---- schedules ----------------------------------------------------------------------------------------

    def add_schedule(self, spec: ScheduleSpec, now: int | None = None) -> Schedule:
        check_schedule(spec)
        at = now_ms() if now is None else now
        first = cron.next_after(spec.cron, spec.tz, at)
        return self.store.insert_schedule(spec, uuid.uuid4().hex, first, at, self.actor)

    def get_schedule(self, name: str, project: str | None = None) -> Schedule:
        return self.store.get_schedule(name, project or DEFAULT_PROJECT)

    def list_schedules(self, project: str | None = None) -> list[Schedule]:
        return self.store.list_schedules(project)

    def pause_schedule(self, name: str, paused: bool, project: str | None = None) -> Schedule:
        now = now_ms()

        def next_due(found: Schedule) -> int | None:
            return None if paused else cron.next_after(found.spec.cron, found.spec.tz, now)

        return self.store.set_paused(name, project or DEFAULT_PROJECT, paused, next_due)

    def delete_schedule(self, name: str, project: str | None = None) -> None:
        self.store.delete_schedule(name, project or DEFAULT_PROJECT)

    def fire_due(self, now: int | None = None, projects: Sequence[str] | None = None) -> list[Job]:
        at = now_ms() if now is None else now
        fired: list[Job] = []
        for schedule in self.store.due_schedules(at, projects):
            assert schedule.next_due_at is not None  # due_schedules reads only those with one
            s = schedule.spec
            times, following = cron.due(s.cron, s.tz, schedule.next_due_at, at, s.missed, s.max_catchup)
            fired += self.store.fire(schedule, times, following, at, lambda: uuid.uuid4().hex)
        return fired

    def next_due(self, projects: Sequence[str] | None = None) -> int | None:
        """The earliest due time among active schedules (a scheduler sleeps until then)."""
        return self.store.next_due(projects)
