"""The statements of the hot paths, compiled once per store (see prepared.py), and the summary upsert."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, literal, or_, select, update
from sqlalchemy.engine import Engine

from assay.entities import Lifecycle, RunStatus
from assay.store.sql import dialect
from assay.store.sql.prepared import Prepared
from assay.store.sql.rows import DOC_COLUMNS, RUN_COLUMNS
from assay.store.sql.schema import (
    experiments,
    ingested_batches,
    latest_metrics,
    metric_chunks,
    params,
    runs,
    tags,
)


def summary_upsert(engine: Engine) -> Any:
    """Merge a batch's summary into ``latest_metrics``: the last value at the highest step, min, max, count."""

    def pick_last(ex: Any, t: Any, col: str) -> Any:
        return case((ex.last_step >= t.c.last_step, getattr(ex, col)), else_=getattr(t.c, col))

    def pick(ex: Any, t: Any, col: str, newer_wins: Any) -> Any:
        new, old = getattr(ex, col), getattr(t.c, col)
        return case((old.is_(None), new), (new.is_(None), old), (newer_wins(new, old), new), else_=old)

    return dialect.upsert(
        engine,
        latest_metrics,
        ("run_pk", "key"),
        {
            "last_value": lambda ex, t: pick_last(ex, t, "last_value"),
            "last_timestamp": lambda ex, t: pick_last(ex, t, "last_timestamp"),
            "last_step": lambda ex, t: pick_last(ex, t, "last_step"),
            "min_value": lambda ex, t: pick(ex, t, "min_value", lambda a, b: a < b),
            "max_value": lambda ex, t: pick(ex, t, "max_value", lambda a, b: a > b),
            "count": lambda ex, t: t.c.count + ex.count,
        },
    )


class KvInsert:
    """Rows of a params or tags table inserted in one statement: on PostgreSQL, the rows travel as one
    array per column and ``unnest`` turns them back into rows (one statement for a run's fifteen tags, not
    fifteen executions); SQLite runs in-process, where ``executemany`` costs nothing more."""

    def __init__(self, engine: Engine, table: Any, keys: list[str]) -> None:
        self.keys = keys
        self.many = Prepared(engine, table.insert(), keys)
        self.arrays: str | None = None
        if not dialect.is_sqlite(engine):
            # Arrays of the column types without their lengths: a cast to VARCHAR(250) would cut a longer
            # value short where the insert it replaces refuses it.
            types = {k: re.sub(r"\(\d+\)", "", table.c[k].type.compile(dialect=engine.dialect)) for k in keys}
            casts = ", ".join(f"%({k})s::{types[k]}[]" for k in keys)
            self.arrays = f"INSERT INTO {table.name} ({', '.join(keys)}) SELECT * FROM unnest({casts})"

    def run_many(self, cur: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.arrays is None or len(rows) == 1:
            self.many.run_many(cur, rows)
            return
        cur.execute(self.arrays, {k: [r[k] for r in rows] for k in self.keys})


class HotStatements:
    """The statements of the hot paths, compiled once per store (see prepared.py)."""

    def __init__(self, engine: Engine) -> None:
        upsert_summary = summary_upsert(engine)
        kv_keys = ["run_pk", "key", "value", "num_value"]
        # A new run is inserted only while its experiment is active (one statement, no read before it):
        # ``RETURNING`` gives its key, or no row when the experiment is deleted or gone.
        run_columns = [c for c in runs.c if c.name != "run_pk"]
        open_experiment = exists().where(
            experiments.c.experiment_id == bindparam("experiment_id", type_=runs.c.experiment_id.type),
            experiments.c.lifecycle == literal(Lifecycle.ACTIVE.value),
        )
        guarded = runs.insert().from_select(
            [c.name for c in run_columns],
            select(*[bindparam(c.name, type_=c.type) for c in run_columns]).where(open_experiment),
        )
        self.insert_runs = Prepared(engine, guarded)
        self.insert_run = Prepared(engine, guarded.returning(runs.c.run_pk))
        self.insert_param = KvInsert(engine, params, kv_keys)
        self.insert_tag = KvInsert(engine, tags, kv_keys)
        self.experiment_light = Prepared(
            engine,
            select(experiments.c.artifact_location, experiments.c.lifecycle).where(
                experiments.c.experiment_id == bindparam("eid")
            ),
        )
        self.run_info = Prepared(engine, select(*RUN_COLUMNS).where(runs.c.run_id == bindparam("rid")))
        self.run_with_docs = Prepared(
            engine, select(*RUN_COLUMNS, *DOC_COLUMNS).where(runs.c.run_id == bindparam("rid"))
        )
        lm = latest_metrics
        self.summaries_of_run = Prepared(
            engine,
            select(
                lm.c.key,
                lm.c.last_value,
                lm.c.min_value,
                lm.c.max_value,
                lm.c.last_step,
                lm.c.last_timestamp,
                lm.c["count"],
            )
            .where(lm.c.run_pk == bindparam("pk"))
            .order_by(lm.c.key),
        )
        mc = metric_chunks
        self.series_chunks = Prepared(
            engine,
            select(mc.c.steps, mc.c.timestamps, mc.c.vals)
            .where(mc.c.run_pk == bindparam("pk"), mc.c.key == bindparam("key"))
            .order_by(mc.c.chunk_id),
        )
        self.batch_seen = Prepared(
            engine, select(ingested_batches.c.batch_id).where(ingested_batches.c.batch_id == bindparam("bid"))
        )
        ib = ingested_batches
        self.claim_whole_batch = Prepared(
            engine,
            dialect.insert_ignore(engine, ib, ["batch_id"]).from_select(
                ["batch_id", "ingested_at"],
                select(
                    bindparam("bid", type_=ib.c.batch_id.type), bindparam("at", type_=ib.c.ingested_at.type)
                ).where(~exists().where(ib.c.batch_id == bindparam("mark", type_=ib.c.batch_id.type))),
            ),
        )
        self.claim_batch = Prepared(
            engine,
            dialect.insert_ignore(engine, ingested_batches, ["batch_id"]).values(
                batch_id=bindparam("bid"), ingested_at=bindparam("at")
            ),
        )
        self.set_metrics_doc = Prepared(
            engine, update(runs).where(runs.c.run_pk == bindparam("pk")).values(metrics_doc=bindparam("doc"))
        )
        running = runs.c.status == RunStatus.RUNNING.value
        reaped = and_(runs.c.status == RunStatus.KILLED.value, runs.c.end_time == runs.c.heartbeat_at)
        self.end_run = Prepared(
            engine,
            update(runs)
            .where(runs.c.run_id == bindparam("rid"), or_(running, reaped))
            .values(status=bindparam("status"), end_time=bindparam("end"), heartbeat_at=None),
        )
        self.heartbeat = Prepared(
            engine,
            update(runs)
            .where(runs.c.run_id == bindparam("rid"), or_(running, reaped))
            .values(heartbeat_at=bindparam("now"), status=RunStatus.RUNNING.value, end_time=None),
        )
        self.insert_chunk = Prepared(
            engine, metric_chunks.insert(), ["run_pk", "key", "n", "steps", "timestamps", "vals"]
        )
        self.upsert_summary = Prepared(engine, upsert_summary, [c.name for c in latest_metrics.c])
        self.multi_chunk_keys = Prepared(
            engine,
            select(metric_chunks.c.key)
            .where(metric_chunks.c.run_pk == bindparam("pk"))
            .group_by(metric_chunks.c.key)
            .having(func.count() > 1),
        )
