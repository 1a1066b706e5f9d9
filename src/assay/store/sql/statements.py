"""The statements of the hot paths, compiled once per store (see prepared.py), and the summary upsert."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.engine import Engine

from assay.entities import RunStatus
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


class HotStatements:
    """The statements of the hot paths, compiled once per store (see prepared.py)."""

    def __init__(self, engine: Engine) -> None:
        upsert_summary = summary_upsert(engine)
        kv_keys = ["run_pk", "key", "value", "num_value"]
        self.insert_run = Prepared(engine, runs.insert(), [c.name for c in runs.c if c.name != "run_pk"])
        self.insert_param = Prepared(engine, params.insert(), kv_keys)
        self.insert_tag = Prepared(engine, tags.insert(), kv_keys)
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
