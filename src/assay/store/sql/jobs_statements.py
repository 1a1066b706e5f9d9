"""The queue's hot statements, compiled once per store and run on the driver's cursor (see prepared.py).

A worker claims, heartbeats and finishes jobs hundreds of times a second; SQLAlchemy's per-statement
building and caching cost several times what the database does for these one-row statements. The claim
and expiry selects lock what they read on PostgreSQL (``FOR UPDATE SKIP LOCKED``: two workers never wait
on, nor take, the same job); on SQLite the transaction is ``BEGIN IMMEDIATE`` and nothing else is needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine

from assay.store.sql import dialect
from assay.store.sql.prepared import Prepared
from assay.store.sql.schema import job_logs, jobs

_J = jobs.c

#: The columns a job is read from, in this order (``JobsStore._job``); ``source`` last, where it is read.
JOB_COLUMNS = (
    _J.job_pk,
    _J.job_id,
    _J.project_id,
    _J.kind,
    _J.target,
    _J.spec,
    _J.priority,
    _J.state,
    _J.attempt,
    _J.max_attempts,
    _J.run_id,
    _J.worker,
    _J.lease_expires,
    _J.not_before,
    _J.cancel_requested,
    _J.created_at,
    _J.created_by,
    _J.started_at,
    _J.finished_at,
    _J.error,
    _J.schedule,
    _J.due_at,
)
#: What a transition may change; written back all at once (one compiled UPDATE for every transition).
MUTABLE = (
    "state",
    "attempt",
    "run_id",
    "worker",
    "lease_expires",
    "not_before",
    "cancel_requested",
    "started_at",
    "finished_at",
    "error",
)


#: For one transaction (``set_config(..., true)`` is ``SET LOCAL``): no bitmap scans, and no sequential scan
#: or sort where the queue index gives the order, whatever the statistics say or a cached generic plan
#: chose (PostgreSQL switches a prepared statement to one after five runs).
_QUEUE_PLAN = (
    "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true),"
    " set_config('enable_sort', 'off', true)"
)


class JobsStatements:
    """One store's compiled queue statements."""

    def __init__(self, engine: Engine) -> None:
        self.sqlite = dialect.is_sqlite(engine)
        self.insert_job = Prepared(
            engine, jobs.insert(), [c.name for c in jobs.c if c.name not in ("job_pk",)]
        )
        cols = ", ".join(c.name for c in JOB_COLUMNS)
        lock = "" if self.sqlite else " FOR UPDATE"
        skip = "" if self.sqlite else " FOR UPDATE SKIP LOCKED"
        self._queued = (
            f"SELECT {cols}, source FROM jobs WHERE state = 'QUEUED' AND not_before <= {self._p('now')}"
            "{projects}"
            f" ORDER BY priority DESC, job_pk LIMIT {self._p('limit')}{skip}"
        )
        self._expired = (
            f"SELECT {cols} FROM jobs WHERE state = 'RUNNING' AND lease_expires < {self._p('now')}"
            "{projects}"
            f" ORDER BY job_pk{skip}"
        )
        self.by_id_sql = f"SELECT {cols} FROM jobs WHERE job_id = {self._p('job_id')}{lock}"
        ids = "IN (SELECT value FROM json_each(:ids))" if self.sqlite else "= ANY(%(ids)s)"
        self.by_ids_sql = f"SELECT {cols} FROM jobs WHERE job_id {ids} ORDER BY job_pk{lock}"
        self.by_id_source_sql = f"SELECT {cols}, source FROM jobs WHERE job_id = {self._p('job_id')}"
        self.update = Prepared(
            engine,
            update(jobs).where(_J.job_pk == bindparam("pk")).values({k: bindparam(k) for k in MUTABLE}),
        )
        self.renew = Prepared(
            engine,
            update(jobs).where(_J.job_pk == bindparam("pk")).values(lease_expires=bindparam("until")),
        )
        self.job_state = Prepared(
            engine, select(_J.job_pk, _J.state, _J.attempt).where(_J.job_id == bindparam("job_id"))
        )
        self.append_log = Prepared(
            engine,
            dialect.insert_ignore(engine, job_logs, ["job_pk", "attempt", "offset"]).values(
                job_pk=bindparam("job_pk"),
                attempt=bindparam("attempt"),
                offset=bindparam("offset"),
                data=bindparam("data"),
            ),
        )

    def _p(self, name: str) -> str:
        """A named placeholder in this driver's style."""
        return f":{name}" if self.sqlite else f"%({name})s"

    def _in_projects(self, project_ids: Sequence[int] | None) -> tuple[str, dict[str, Any]]:
        if project_ids is None:
            return "", {}
        if self.sqlite:
            return " AND project_id IN (SELECT value FROM json_each(:pids))", {
                "pids": orjson.dumps(list(project_ids)).decode()
            }
        return " AND project_id = ANY(%(pids)s)", {"pids": list(project_ids)}

    def plan_for_the_queue(self, cur: Any) -> None:
        """On PostgreSQL, make this transaction's queue reads walk ``ix_jobs_queue`` in order.

        Every claim leaves a dead index entry behind under QUEUED (and every finish one under RUNNING)
        until a vacuum. Read in index order, a scan stops after ``limit`` live rows and marks the dead
        entries it passes so that later scans skip them; but with a queue that just filled or drained the
        planner's row estimate is off and it picks a bitmap scan, which fetches every entry of the state,
        dead ones included, at every claim (measured: a third of the database's time per job at 3,000
        queued jobs). Bitmap scans, sequential scans and sorts are switched off for this transaction only
        (``_QUEUE_PLAN``): the queue's reads run only in such transactions, so a plan the connection caches
        for them is always one made so."""
        if not self.sqlite:
            cur.execute(_QUEUE_PLAN)

    def queued(self, cur: Any, now: int, limit: int, project_ids: Sequence[int] | None) -> list[Any]:
        """Claimable jobs, best first, locked (sources included, last)."""
        where, binds = self._in_projects(project_ids)
        cur.execute(self._queued.format(projects=where), {"now": now, "limit": limit, **binds})
        return list(cur.fetchall())

    def expired(self, cur: Any, now: int, project_ids: Sequence[int] | None) -> list[Any]:
        """RUNNING jobs whose lease passed before ``now``, locked."""
        where, binds = self._in_projects(project_ids)
        cur.execute(self._expired.format(projects=where), {"now": now, **binds})
        return list(cur.fetchall())

    def by_ids(self, cur: Any, job_ids: Sequence[str]) -> list[Any]:
        """The rows of ``job_ids`` that exist, locked in ``job_pk`` order (one lock order for everyone)."""
        if not job_ids:
            return []
        ids: Any = orjson.dumps(list(job_ids)).decode() if self.sqlite else list(job_ids)
        cur.execute(self.by_ids_sql, {"ids": ids})
        return list(cur.fetchall())

    def pipeline(self, cur: Any) -> contextlib.AbstractContextManager[Any]:
        """On PostgreSQL, the driver's pipeline mode: statements are sent without waiting for each answer,
        and only a read waits (a claim makes four round trips, not seven). Nothing on SQLite."""
        if self.sqlite:
            return contextlib.nullcontext()
        pipeline: contextlib.AbstractContextManager[Any] = cur.connection.pipeline()
        return pipeline

    def by_id(self, cur: Any, job_id: str, with_source: bool = False) -> Any:
        cur.execute(self.by_id_source_sql if with_source else self.by_id_sql, {"job_id": job_id})
        return cur.fetchone()
