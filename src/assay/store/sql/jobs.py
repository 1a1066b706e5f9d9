"""The SQL side of the runner: the jobs queue, their logs and schedules; the only code that reads and writes
those tables.

Every decision is ``assay.runner.states``'s: a transition reads the rows it changes under a lock (PostgreSQL:
``FOR UPDATE``, and ``SKIP LOCKED`` where workers compete for queued jobs; SQLite: the whole transaction is
``BEGIN IMMEDIATE``, one writer at a time), applies the pure function, and writes back the columns it
changed. So two workers never claim one job, and a late report from a worker that lost its lease is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Row, and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from assay.errors import Conflict, InvalidState, NotFound
from assay.runner import states
from assay.runner.entities import Ended, Job, JobSpec, JobState, LogChunk, Schedule, ScheduleSpec
from assay.store.sql import dialect
from assay.store.sql.jobs_statements import JOB_COLUMNS, MUTABLE, JobsStatements
from assay.store.sql.prepared import raw_transaction
from assay.store.sql.schema import job_logs, jobs, projects, schedules

_J = jobs.c
_S = schedules.c

#: The JobSpec fields kept in the ``spec`` JSON column (the others have columns of their own).
_SPEC_JSON = ("params", "experiment", "name", "cwd", "timeout_s", "backoff_s", "tags", "parent_run_id")


def _no_job(job_id: str) -> NotFound:
    return NotFound(f"no job {job_id!r}: list them with `assay jobs ls`")


def _no_schedule(name: str, project: str) -> NotFound:
    return NotFound(f"no schedule {name!r} in project {project!r}: list them with `assay schedule ls`")


def spec_json(spec: JobSpec) -> str:
    return orjson.dumps({k: getattr(spec, k) for k in _SPEC_JSON}, default=_plain).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _spec(
    kind: str, target: str, doc: str, project: str, priority: int, max_attempts: int, source: Any
) -> JobSpec:
    fields = orjson.loads(doc)
    return JobSpec(
        kind=kind,
        target=target,
        project=project,
        priority=priority,
        max_attempts=max_attempts,
        source=None if source is None else bytes(source),
        **{k: fields[k] for k in _SPEC_JSON if k in fields},
    )


class JobsStore:
    """Jobs, log chunks and schedules in the store behind ``engine`` (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = dialect.is_sqlite(engine)
        # Projects are never renamed nor deleted: their ids are remembered both ways.
        self._project_names: dict[int, str] = {}
        self._project_ids_by_name: dict[str, int] = {}
        self._statements: JobsStatements | None = None

    def _hot(self) -> JobsStatements:
        if self._statements is None:
            self._statements = JobsStatements(self.engine)
        return self._statements

    def _write(self) -> Any:
        return self.engine.connect().execution_options(assay_write=True)

    def _lock(self, stmt: Any, skip_locked: bool = False) -> Any:
        if self.sqlite:
            return stmt  # BEGIN IMMEDIATE already serializes writers
        return stmt.with_for_update(skip_locked=skip_locked)

    # ---- projects ----------------------------------------------------------------------------------------

    def project_id(self, name: str) -> int:
        found = self._project_ids_by_name.get(name)
        if found is not None:
            return found
        with self.engine.connect() as conn:
            pid = conn.execute(select(projects.c.project_id).where(projects.c.name == name)).scalar()
        if pid is None:
            raise NotFound(f"no project {name!r}: list them with `assay projects ls`")
        self._project_ids_by_name[name] = int(pid)
        self._project_names[int(pid)] = name
        return int(pid)

    def _name_of(self, project_id: int) -> str:
        name = self._project_names.get(project_id)
        if name is None:
            with self.engine.connect() as conn:
                found = conn.execute(
                    select(projects.c.name).where(projects.c.project_id == project_id)
                ).scalar()
            name = str(found) if found is not None else f"#{project_id}"
            self._project_names[project_id] = name
        return name

    def _project_ids(self, names: Sequence[str] | None) -> list[int] | None:
        """The ids of the projects named (unknown names are left out); None for None."""
        if names is None:
            return None
        ids = []
        for name in names:
            try:
                ids.append(self.project_id(name))
            except NotFound:
                continue
        return ids

    # ---- rows <-> jobs ------------------------------------------------------------------------------------

    def _job(self, row: Sequence[Any], with_source: bool = False) -> Job:
        """A job from a row of ``JOB_COLUMNS`` (and ``source`` after them, ``with_source``)."""
        (
            _pk, job_id, project_id, kind, target, doc, priority, state, attempt, max_attempts, run_id,
            worker, lease_expires, not_before, cancel_requested, created_at, created_by, started_at,
            finished_at, error, schedule, due_at,
        ) = row[: len(JOB_COLUMNS)]  # fmt: skip
        source = row[len(JOB_COLUMNS)] if with_source else None
        spec = _spec(
            kind, target, doc, self._name_of(int(project_id)), int(priority), int(max_attempts), source
        )
        return Job(
            job_id=job_id,
            spec=spec,
            state=JobState(state),
            attempt=int(attempt),
            run_id=run_id,
            worker=worker,
            lease_expires=lease_expires,
            not_before=int(not_before),
            created_at=int(created_at),
            created_by=created_by,
            started_at=started_at,
            finished_at=finished_at,
            error=error,
            cancel_requested=bool(cancel_requested),
            schedule=schedule,
            due_at=due_at,
        )

    @staticmethod
    def _values(pk: int, job: Job) -> dict[str, Any]:
        values: dict[str, Any] = {k: getattr(job, k) for k in MUTABLE}
        values["state"] = job.state.value
        values["pk"] = pk
        return values

    def _job_values(
        self, spec: JobSpec, project_id: int, job_id: str, now: int, actor: str, **extra: Any
    ) -> dict[str, Any]:
        values = {
            "job_id": job_id,
            "project_id": project_id,
            "kind": spec.kind,
            "target": spec.target,
            "spec": spec_json(spec),
            "source": spec.source,
            "priority": spec.priority,
            "state": JobState.QUEUED.value,
            "attempt": 0,
            "max_attempts": spec.max_attempts,
            "run_id": None,
            "worker": None,
            "lease_expires": None,
            "not_before": 0,
            "cancel_requested": False,
            "created_at": now,
            "created_by": actor,
            "started_at": None,
            "finished_at": None,
            "error": None,
            "schedule_id": None,
            "schedule": None,
            "due_at": None,
        }
        values.update(extra)
        return values

    # ---- the queue ----------------------------------------------------------------------------------------

    def insert_job(self, spec: JobSpec, job_id: str, now: int, actor: str) -> Job:
        values = self._job_values(spec, self.project_id(spec.project), job_id, now, actor)
        with raw_transaction(self.engine) as cur:
            self._hot().insert_job.run(cur, values)
        return Job(job_id=job_id, spec=spec, created_at=now, created_by=actor)

    def get_job(self, job_id: str, with_source: bool = False) -> Job:
        with raw_transaction(self.engine, write=False) as cur:
            row = self._hot().by_id(cur, job_id, with_source)
        if row is None:
            raise _no_job(job_id)
        return self._job(row, with_source)

    def list_jobs(
        self,
        project: str | None,
        states_: Sequence[JobState] | None,
        schedule: str | None,
        limit: int,
        projects_: Sequence[str] | None = None,
    ) -> list[Job]:
        q = select(*JOB_COLUMNS).order_by(_J.job_pk.desc()).limit(limit)
        if project is not None:
            q = q.where(_J.project_id == self.project_id(project))
        ids = self._project_ids(projects_)
        if ids is not None:
            q = q.where(_J.project_id.in_(ids))
        if states_:
            q = q.where(_J.state.in_([JobState(s).value for s in states_]))
        if schedule is not None:
            q = q.where(_J.schedule == schedule)
        with self.engine.connect() as conn:
            return [self._job(tuple(r)) for r in conn.execute(q)]

    def transition(self, job_id: str, decide: Callable[[Job], Job]) -> Job:
        """Apply ``decide`` to the job under its lock, in one transaction; returns the job after it."""
        hot = self._hot()
        with raw_transaction(self.engine) as cur:
            row = hot.by_id(cur, job_id)
            if row is None:
                raise _no_job(job_id)
            before = self._job(row)
            after = decide(before)
            if after != before:
                hot.update.run(cur, self._values(int(row[0]), after))
        return after

    def expire_leases(self, now: int, projects_: Sequence[str] | None = None) -> list[states.Step]:
        """End every attempt whose lease passed before ``now`` (``states.expire``); the steps taken."""
        with raw_transaction(self.engine) as cur:
            self._hot().plan_for_the_queue(cur)
            return self._expire(cur, now, self._project_ids(projects_))

    def _expire(self, cur: Any, now: int, project_ids: list[int] | None) -> list[states.Step]:
        hot = self._hot()
        steps, changed = [], []
        for row in hot.expired(cur, now, project_ids):
            step = states.expire(self._job(row), now)
            steps.append(step)
            changed.append(self._values(int(row[0]), step.job))
        hot.update.run_many(cur, changed)
        return steps

    def claim(
        self,
        worker: str,
        limit: int,
        now: int,
        lease_ms: int,
        projects_: Sequence[str] | None,
        new_run_id: Callable[[], str],
        ended: Sequence[Ended] = (),
        expire: bool = True,
    ) -> tuple[list[Job], list[states.Step]]:
        """Finish ``ended`` (ends the state machine refuses, a lease lost, are dropped), expire passed
        leases (when ``expire``), then take up to ``limit`` claimable jobs for ``worker`` (sources included), in one
        transaction; returns the claimed jobs and the expiries."""
        ids = self._project_ids(projects_)
        hot = self._hot()
        ends = {end.job_id: end for end in ended}
        with raw_transaction(self.engine) as cur, hot.pipeline(cur):
            hot.plan_for_the_queue(cur)
            for row in hot.by_ids(cur, list(ends)):
                end = ends[str(row[1])]
                try:
                    after = states.finish(self._job(row), now, worker, end.result, end.error)
                except InvalidState:
                    continue
                hot.update.run(cur, self._values(int(row[0]), after))
            expired = self._expire(cur, now, ids) if expire else []
            if ids is not None and not ids:
                return [], expired
            claimed, changed = [], []
            for row in hot.queued(cur, now, limit, ids) if limit else []:
                after = states.claim(self._job(row, with_source=True), now, worker, lease_ms, new_run_id())
                claimed.append(after)
                changed.append(self._values(int(row[0]), after))
            hot.update.run_many(cur, changed)
        return claimed, expired

    def heartbeat(self, worker: str, job_ids: Sequence[str], now: int, lease_ms: int) -> dict[str, str]:
        """Renew ``worker``'s leases; the jobs it must stop, with why (``"cancel"`` or ``"lost"``)."""
        stop: dict[str, str] = {}
        if not job_ids:
            return stop
        hot = self._hot()
        with raw_transaction(self.engine) as cur:
            renew = []
            for job_id in sorted(set(job_ids)):  # one lock order for every worker
                row = hot.by_id(cur, job_id)
                job = None if row is None else self._job(row)
                if row is None or job is None or not states.holds(job, worker, now):
                    stop[job_id] = "lost"
                    continue
                renew.append({"pk": int(row[0]), "until": now + lease_ms})
                if job.cancel_requested:
                    stop[job_id] = "cancel"
            hot.renew.run_many(cur, renew)
        return stop

    # ---- logs -----------------------------------------------------------------------------------------------

    def _job_state(self, cur: Any, job_id: str) -> tuple[int, str, int]:
        row = self._hot().job_state.run(cur, {"job_id": job_id}).fetchone()
        if row is None:
            raise _no_job(job_id)
        return int(row[0]), str(row[1]), int(row[2])

    def append_log(self, job_id: str, attempt: int, offset: int, data: bytes) -> None:
        with raw_transaction(self.engine) as cur:
            pk, _state, _attempt = self._job_state(cur, job_id)
            row = {"job_pk": pk, "attempt": attempt, "offset": offset, "data": data}
            self._hot().append_log.run(cur, row)

    def read_log(self, job_id: str, attempt: int | None, offset: int, limit: int) -> LogChunk:
        with raw_transaction(self.engine, write=False) as cur:
            pk, state, last = self._job_state(cur, job_id)
        which = last if attempt is None else attempt
        L = job_logs.c
        q = (
            select(L.offset, L.data)
            .where(L.job_pk == pk, L.attempt == which, L.offset + func.length(L.data) > offset)
            .order_by(L.offset)
        )
        out = bytearray()
        at = offset
        with self.engine.connect() as conn:
            for chunk_offset, data in conn.execute(q):
                start = int(chunk_offset)
                if start > at:
                    break  # a gap: what follows has not all arrived yet
                piece = bytes(data)[at - start :]
                room = limit - len(out)
                out += piece[:room]
                at += min(len(piece), room)
                if len(out) >= limit:
                    break
        # An attempt is over once a later one started, or the job left RUNNING after it.
        done = which < last or (which == last and state != JobState.RUNNING.value)
        return LogChunk(job_id, which, offset, bytes(out), at, complete=done and len(out) < limit)

    # ---- schedules -------------------------------------------------------------------------------------------

    def _schedule(self, conn: Connection, row: Row[Any]) -> Schedule:
        m = row._mapping
        doc = orjson.loads(m["job"])
        project = self._name_of(int(m["project_id"]))
        job = _spec(
            doc["kind"],
            doc["target"],
            m["job"],
            project,
            int(doc.get("priority", 0)),
            int(doc.get("max_attempts", 1)),
            m["source"],
        )
        spec = ScheduleSpec(
            name=m["name"],
            cron=m["cron"],
            job=job,
            tz=m["tz"],
            missed=m["missed"],
            max_catchup=m["max_catchup"],
        )
        return Schedule(
            spec=spec,
            schedule_id=m["schedule_id"],
            paused=bool(m["paused"]),
            next_due_at=m["next_due_at"],
            last_due_at=m["last_due_at"],
            created_at=int(m["created_at"]),
            created_by=m["created_by"],
        )

    @staticmethod
    def _template(job: JobSpec) -> str:
        doc = orjson.loads(spec_json(job))
        doc.update(kind=job.kind, target=job.target, priority=job.priority, max_attempts=job.max_attempts)
        return orjson.dumps(doc).decode()

    def insert_schedule(
        self, spec: ScheduleSpec, schedule_id: str, next_due: int, now: int, actor: str
    ) -> Schedule:
        pid = self.project_id(spec.project)
        values = {
            "schedule_id": schedule_id,
            "project_id": pid,
            "name": spec.name,
            "cron": spec.cron,
            "tz": spec.tz,
            "missed": spec.missed,
            "max_catchup": spec.max_catchup,
            "job": self._template(spec.job),
            "source": spec.job.source,
            "paused": False,
            "next_due_at": next_due,
            "created_at": now,
            "created_by": actor,
        }
        try:
            with self._write() as conn, conn.begin():
                conn.execute(insert(schedules).values(values))
        except IntegrityError:
            raise Conflict(
                f"project {spec.project!r} already has a schedule named {spec.name!r}: pick another name, or "
                f"delete it first with `assay schedule delete {spec.name}`"
            ) from None
        return Schedule(spec, schedule_id, next_due_at=next_due, created_at=now, created_by=actor)

    def get_schedule(self, name: str, project: str) -> Schedule:
        pid = self.project_id(project)
        with self.engine.connect() as conn:
            row = conn.execute(select(schedules).where(_S.project_id == pid, _S.name == name)).first()
            if row is None:
                raise _no_schedule(name, project)
            return self._schedule(conn, row)

    def list_schedules(self, project: str | None, projects_: Sequence[str] | None = None) -> list[Schedule]:
        q = select(schedules).order_by(_S.name, _S.project_id)
        with self.engine.connect() as conn:
            if project is not None:
                q = q.where(_S.project_id == self.project_id(project))
            if projects_ is not None:
                q = q.where(_S.project_id.in_(self._project_ids(projects_) or []))
            return [self._schedule(conn, r) for r in conn.execute(q)]

    def set_paused(
        self, name: str, project: str, paused: bool, next_due: Callable[[Schedule], int | None]
    ) -> Schedule:
        pid = self.project_id(project)
        with self._write() as conn, conn.begin():
            q = select(schedules).where(_S.project_id == pid, _S.name == name)
            row = conn.execute(self._lock(q)).first()
            if row is None:
                raise _no_schedule(name, project)
            found = self._schedule(conn, row)
            if found.paused == paused:
                return found
            after = dataclasses.replace(found, paused=paused, next_due_at=next_due(found))
            conn.execute(
                update(schedules)
                .where(_S.schedule_pk == row._mapping["schedule_pk"])
                .values(paused=paused, next_due_at=after.next_due_at)
            )
        return after

    def delete_schedule(self, name: str, project: str) -> None:
        pid = self.project_id(project)
        with self._write() as conn, conn.begin():
            done = conn.execute(delete(schedules).where(_S.project_id == pid, _S.name == name))
            if done.rowcount == 0:
                raise _no_schedule(name, project)

    def due_schedules(self, now: int, projects_: Sequence[str] | None) -> list[Schedule]:
        q = select(schedules).where(_S.paused.is_(False), _S.next_due_at <= now).order_by(_S.next_due_at)
        with self.engine.connect() as conn:
            if projects_ is not None:
                q = q.where(_S.project_id.in_(self._project_ids(projects_) or []))
            return [self._schedule(conn, r) for r in conn.execute(q)]

    def next_due(self, projects_: Sequence[str] | None = None) -> int | None:
        """The earliest due time among schedules not paused (a scheduler sleeps until then)."""
        q = select(func.min(_S.next_due_at)).where(_S.paused.is_(False))
        with self.engine.connect() as conn:
            if projects_ is not None:
                q = q.where(_S.project_id.in_(self._project_ids(projects_) or []))
            found = conn.execute(q).scalar()
        return None if found is None else int(found)

    def fire(
        self,
        schedule: Schedule,
        due_times: Iterable[int],
        following: int,
        now: int,
        new_job_id: Callable[[], str],
    ) -> list[Job]:
        """Move ``schedule``'s next due time from what was read to ``following`` (compare-and-set: another
        scheduler that moved it first wins, and this call fires nothing), and queue one job per due time
        (the unique (schedule, due time) index drops any that exists). Returns the jobs queued here."""
        times = list(due_times)
        fired: list[Job] = []
        with self._write() as conn, conn.begin():
            moved = conn.execute(
                update(schedules)
                .where(
                    and_(
                        _S.schedule_id == schedule.schedule_id,
                        _S.next_due_at == schedule.next_due_at,
                        _S.paused.is_(False),
                    )
                )
                .values(next_due_at=following, last_due_at=times[-1] if times else schedule.last_due_at)
            )
            if moved.rowcount != 1:
                return []
            pid = conn.execute(
                select(_S.project_id).where(_S.schedule_id == schedule.schedule_id)
            ).scalar_one()
            spec = schedule.spec.job
            stmt = dialect.insert_ignore(self.engine, jobs, ["schedule_id", "due_at"])
            for due_at in times:
                job_id = new_job_id()
                values = self._job_values(
                    spec,
                    int(pid),
                    job_id,
                    now,
                    schedule.created_by,
                    schedule_id=schedule.schedule_id,
                    schedule=schedule.name,
                    due_at=due_at,
                )
                if conn.execute(stmt.values(values).returning(_J.job_pk)).first() is not None:
                    fired.append(
                        Job(
                            job_id=job_id,
                            spec=spec,
                            created_at=now,
                            created_by=schedule.created_by,
                            schedule=schedule.name,
                            due_at=due_at,
                        )
                    )
        return fired
