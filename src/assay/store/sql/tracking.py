"""The tracking sub-store: the only code that reads and writes the experiments, runs, params, tags and
metric tables.

It enforces what the database must (uniqueness, a param's value never changing) and nothing above that:
validation of keys and values, run ids and clocks belong to the services. Thread-safe: every method takes
its own connection from the engine's pool. Write transactions take the write lock up front on SQLite.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Row, and_, delete, func, null, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from assay.entities import (
    Experiment,
    Lifecycle,
    MetricHistory,
    Run,
    RunCount,
    RunInfo,
    RunStatus,
    SeriesBatch,
    WriteBatch,
    split_parent,
)
from assay.errors import Conflict, NotFound
from assay.query import Cursor, Expr, OrderKey, SortValue
from assay.store.sql import codec, dialect, docs
from assay.store.sql.prepared import fetch_all, integrity_error, raw_transaction, with_retry
from assay.store.sql.rows import (
    DOC_COLUMNS,
    RUN_COLUMNS,
    EndRefused,
    ExperimentClosed,
    experiment_pk,
    gc_paused,
    kv_rows,
    run_from_row,
    run_info,
    run_row,
)
from assay.store.sql.schema import (
    experiments,
    ingested_batches,
    metric_chunks,
    params,
    projects,
    runs,
    tags,
)
from assay.store.sql.search import build_search, build_top_by_metric, check_cursor, first_metric
from assay.store.sql.statements import HotStatements


class SplitBefore(Exception):
    """Raised inside ``apply`` to roll back a whole batch whose parts were applied one by one before."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id


class TrackingStore:
    """The tracking tables of one SQL store (``SqlStore.tracking``), on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sql = HotStatements(self.engine)
        self._integrity_error = integrity_error(self.engine)
        self._pk_cache: dict[str, int] = {}
        self._pks_by_ids = dialect.rows_by_ids_sql(self.engine, "run_pk, run_id", "runs", "run_id")
        info_columns = ", ".join(c.name for c in RUN_COLUMNS)
        self._infos_by_ids = dialect.rows_by_ids_sql(self.engine, info_columns, "runs", "run_id")
        # The second step of a search: the rows of the page's runs, found and ordered by the first.
        columns = ", ".join(["run_pk", *(c.name for c in (*RUN_COLUMNS, *DOC_COLUMNS))])
        self._runs_by_pks = dialect.rows_by_ids_sql(self.engine, columns, "runs", "run_pk")

    def close(self) -> None:
        self.engine.dispose()

    def _pks(self, cur: Any, run_ids: Sequence[str], pending: dict[str, int] | None = None) -> dict[str, int]:
        """The integer keys of ``run_ids`` (child tables join on them), cached: a run's key never changes.

        Inside a write transaction, pass ``pending``: keys read there go into it, not into the cache, and the
        caller caches them after the commit (``_cache_keys``). A key read inside a transaction that then
        rolls back may be given to another run (SQLite reuses row ids), and must never be cached.
        """
        cache = self._pk_cache
        known = pending if pending is not None else cache
        missing = [r for r in dict.fromkeys(run_ids) if r not in cache and r not in known]
        if missing:
            sql, bind = self._pks_by_ids
            cur.execute(sql, bind(missing))
            rows = cur.fetchall()
            if pending is None:
                self._cache_keys({rid: pk for pk, rid in rows})
            else:
                pending.update((rid, pk) for pk, rid in rows)
        out = {}
        for r in run_ids:
            pk = cache.get(r)
            if pk is None:
                pk = known.get(r)
                if pk is None:
                    raise NotFound(f"no run with id {r!r}")
            out[r] = pk
        return out

    def _cache_keys(self, keys: Mapping[str, int]) -> None:
        """Remember committed runs' keys (bounded: forgotten wholesale past 200,000 entries)."""
        if len(self._pk_cache) + len(keys) > 200_000:
            self._pk_cache.clear()
        self._pk_cache.update(keys)

    def _pk(self, run_id: str) -> int:
        """The integer key of one run (NotFound if there is no such run)."""
        pk = self._pk_cache.get(run_id)
        if pk is None:
            with raw_transaction(self.engine, write=False) as cur:
                pk = self._pks(cur, [run_id])[run_id]
        return pk

    def _write(self) -> Connection:
        return self.engine.connect().execution_options(assay_write=True)

    # ---- experiments -------------------------------------------------------------------------------

    def create_experiment(self, name: str, artifact_root: str, now: int, project_id: int = 1) -> str:
        """Insert an experiment; its artifact location is ``artifact_root/<id>``. Conflict if the project has
        one of that name."""
        with self._write() as conn, conn.begin():
            try:
                key = conn.execute(
                    experiments.insert().values(
                        name=name, artifact_location="", created_at=now, project_id=project_id
                    )
                ).inserted_primary_key
                assert key is not None
                eid = key[0]
            except IntegrityError as exc:
                raise Conflict(f"an experiment named {name!r} already exists") from exc
            conn.execute(
                update(experiments)
                .where(experiments.c.experiment_id == eid)
                .values(artifact_location=f"{artifact_root.rstrip('/')}/{eid}")
            )
        return str(eid)

    def _experiment_query(self, with_run_count: bool = True) -> Any:
        """Experiments with their active run count (or NULL without ``with_run_count``) and latest run
        start, each a correlated lookup on the covering index (experiment_id, lifecycle, start_time): no
        scan of the runs table, but the count reads an index entry per run."""
        r = runs.alias()
        mine = and_(r.c.experiment_id == experiments.c.experiment_id, r.c.lifecycle == Lifecycle.ACTIVE.value)
        n = select(func.count()).select_from(r).where(mine).scalar_subquery() if with_run_count else null()
        last = select(func.max(r.c.start_time)).where(mine).scalar_subquery()
        project = (
            select(projects.c.name).where(projects.c.project_id == experiments.c.project_id).scalar_subquery()
        )
        return select(experiments, n.label("n"), last.label("last"), project.label("project"))

    @staticmethod
    def _experiment(row: Row[Any]) -> Experiment:
        return Experiment(
            experiment_id=str(row.experiment_id),
            name=row.name,
            artifact_location=row.artifact_location,
            lifecycle=Lifecycle(row.lifecycle),
            created_at=row.created_at,
            run_count=row.n,  # NULL when not counted
            last_activity=row.last if row.last is not None else row.created_at,
            project=row.project,
        )

    def project_id(self, name: str) -> int:
        """The id of the project called ``name`` (experiments belong to projects)."""
        with self.engine.connect() as conn:
            pid = conn.execute(select(projects.c.project_id).where(projects.c.name == name)).scalar()
        if pid is None:
            raise NotFound(f"no project named {name!r}: list them with `assay projects ls`")
        return int(pid)

    def get_experiment(self, experiment_id: str, with_run_count: bool = True) -> Experiment:
        eid = experiment_pk(experiment_id)
        query = self._experiment_query(with_run_count).where(experiments.c.experiment_id == eid)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no experiment with id {experiment_id!r}")
        return self._experiment(row)

    def count_runs(self, experiment_id: str, exact_up_to: int) -> RunCount:
        """The experiment's active runs, counted up to ``exact_up_to + 1`` entries of the covering index;
        beyond, PostgreSQL's planner estimate (at least ``exact_up_to + 1``). SQLite, a local store with no
        such estimate, counts them all. NotFound for an unknown experiment."""
        eid = experiment_pk(experiment_id)
        mine = select(runs.c.start_time).where(
            runs.c.experiment_id == eid, runs.c.lifecycle == Lifecycle.ACTIVE.value
        )
        known = select(experiments.c.experiment_id).where(experiments.c.experiment_id == eid)
        estimates = dialect.has_row_estimates(self.engine)
        with self.engine.connect() as conn:
            if conn.execute(known).first() is None:
                raise NotFound(f"no experiment with id {experiment_id!r}")
            counted = mine.limit(exact_up_to + 1) if estimates else mine
            n = conn.execute(select(func.count()).select_from(counted.subquery())).scalar_one()
            if n <= exact_up_to or not estimates:
                return RunCount(n)
            return RunCount(max(dialect.estimated_rows(conn, mine), n), exact=False)

    def list_experiments(
        self,
        include_deleted: bool = False,
        project_ids: Collection[int] | None = None,
        name: str | None = None,
    ) -> list[Experiment]:
        """Experiments by id; only those of ``project_ids`` if given, only those called ``name`` if given
        (one per project at most: names are unique within a project)."""
        q = self._experiment_query().order_by(experiments.c.experiment_id)
        if project_ids is not None:
            q = q.where(experiments.c.project_id.in_(list(project_ids)))
        if name is not None:
            q = q.where(experiments.c.name == name)
        if not include_deleted:
            q = q.where(experiments.c.lifecycle == Lifecycle.ACTIVE.value)
        with self.engine.connect() as conn:
            return [self._experiment(r) for r in conn.execute(q)]

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        """NotFound for an unknown id; Conflict if the experiment's project has another of that name."""
        try:
            with self._write() as conn, conn.begin():
                n = conn.execute(
                    update(experiments)
                    .where(experiments.c.experiment_id == experiment_pk(experiment_id))
                    .values(name=name)
                ).rowcount
        except IntegrityError as exc:
            raise Conflict(
                f"an experiment named {name!r} already exists in the project of experiment {experiment_id}: "
                "pick another name"
            ) from exc
        if n == 0:
            raise NotFound(f"no experiment with id {experiment_id!r}")

    def rename_run(self, run_id: str, name: str) -> None:
        with self._write() as conn, conn.begin():
            n = conn.execute(update(runs).where(runs.c.run_id == run_id).values(name=name)).rowcount
        if n == 0:
            raise NotFound(f"no run with id {run_id!r}")

    def set_experiment_lifecycle(self, experiment_id: str, lifecycle: Lifecycle) -> None:
        with self._write() as conn, conn.begin():
            n = conn.execute(
                update(experiments)
                .where(experiments.c.experiment_id == experiment_pk(experiment_id))
                .values(lifecycle=lifecycle.value)
            ).rowcount
        if n == 0:
            raise NotFound(f"no experiment with id {experiment_id!r}")

    # ---- runs --------------------------------------------------------------------------------------

    @staticmethod
    def _insert_kv(conn: Connection, table: Any, run_id: int, items: Mapping[str, str]) -> None:
        if items:
            conn.execute(table.insert(), kv_rows(run_id, items))

    def experiment_for_new_run(self, experiment_id: str) -> tuple[str, Lifecycle]:
        """(artifact location, lifecycle) of an experiment: the cheap lookup ``create_run`` needs."""
        eid = experiment_pk(experiment_id)
        with raw_transaction(self.engine, write=False) as cur:
            row = self._sql.experiment_light.run(cur, {"eid": eid}).fetchone()
        if row is None:
            raise NotFound(f"no experiment with id {experiment_id!r}")
        return row[0], Lifecycle(row[1])

    def get_run_info(self, run_id: str) -> RunInfo:
        with raw_transaction(self.engine, write=False) as cur:
            row = self._sql.run_info.run(cur, {"rid": run_id}).fetchone()
        if row is None:
            raise NotFound(f"no run with id {run_id!r}")
        return run_info(row)

    def get_run_infos(self, run_ids: Iterable[str]) -> dict[str, RunInfo]:
        ids = list(run_ids)
        with self.engine.connect() as conn:
            rows = conn.execute(select(*RUN_COLUMNS).where(runs.c.run_id.in_(ids))).all()
        return {r[0]: run_info(r) for r in rows}

    def get_run(self, run_id: str) -> Run:
        with raw_transaction(self.engine, write=False) as cur:
            row = self._sql.run_with_docs.run(cur, {"rid": run_id}).fetchone()
        if row is None:
            raise NotFound(f"no run with id {run_id!r}")
        return run_from_row(row)

    def apply(
        self,
        batch: WriteBatch,
        artifact_uris: Mapping[str, str],
        check: Callable[[Mapping[str, RunInfo | None]], None] | None = None,
    ) -> None:
        """Create runs, append points, end runs: one connection, one transaction, all or nothing.

        ``artifact_uris`` gives each new run's artifact URI; a new run whose experiment is not active raises
        ExperimentClosed and nothing is written. ``check`` is called inside the transaction with
        the stored info of each run the batch appends to but does not create (None for one not found), and
        may refuse the batch by raising. A run to end that is not RUNNING (or reaped for a stale heartbeat)
        raises EndRefused and nothing is written; a duplicate run id, Conflict. A batch with an id is tried
        once more on a new connection if its connection was dropped (its id makes that safe).
        """
        ended: list[str] = []
        keys: dict[str, int] = {}  # run keys read in this transaction, cached once it commits
        new = {r.run_id for r in batch.new_runs}
        existing = list(dict.fromkeys(b.run_id for b in batch.series if b.run_id not in new))
        single_chunk = _single_chunk_runs(batch, new) if batch.ends else set()
        # A run this batch creates and ends (once) is inserted ended: no update right after the insert.
        end_counts = Counter(e.run_id for e in batch.ends)
        born_ended = {e.run_id: e for e in batch.ends if e.run_id in new and end_counts[e.run_id] == 1}
        # The series of the runs this batch creates are summarized here, once: their summary rows go in as
        # they are, and their summary documents ride in their runs rows (nothing read back, no update).
        fresh = _fresh_summaries(batch.series, new)

        def body(cur: Any) -> None:
            ended.clear()
            keys.clear()
            if batch.batch_id is not None:
                # A batch split into operations (ids "<batch>.<i>") leaves a mark, "<batch>#split". A
                # whole batch so marked was delivered in part before: applying it whole would apply
                # those parts twice, so it is refused, and the sender splits it again (each part is
                # then applied once, by its own id).
                bid = batch.batch_id
                at = int(time.time() * 1000)
                parent = split_parent(bid)
                if parent is None:
                    # One statement in the common case: the id is taken unless taken before or marked.
                    mark = bid + "#split"
                    if not self._sql.claim_whole_batch.run(
                        cur, {"bid": bid, "at": at, "mark": mark}
                    ).rowcount:
                        if self._sql.batch_seen.run(cur, {"bid": bid}).fetchone():
                            return  # applied before: a resent or replayed batch
                        raise SplitBefore(bid)
                else:
                    if not self._sql.claim_batch.run(cur, {"bid": bid, "at": at}).rowcount:
                        return  # applied before: a resent or replayed batch
                    if self._sql.batch_seen.run(cur, {"bid": parent}).fetchone():
                        return  # the whole batch was applied before it was split: this part is in it
                    self._sql.claim_batch.run(cur, {"bid": parent + "#split", "at": at})
            if check is not None and existing:
                sql, bind = self._infos_by_ids
                cur.execute(sql, bind(existing))
                found = {row[0]: run_info(row) for row in cur.fetchall()}
                check({run_id: found.get(run_id) for run_id in existing})
            if batch.new_runs:
                rows = [
                    run_row(
                        r,
                        artifact_uris[r.run_id],
                        born_ended.get(r.run_id),
                        _summary_doc(fresh.get(r.run_id)),
                    )
                    for r in batch.new_runs
                ]
                if len(rows) == 1:
                    got = self._sql.insert_run.run(cur, rows[0]).fetchone()
                    if got is None:
                        raise ExperimentClosed(str(rows[0]["experiment_id"]))
                    keys[rows[0]["run_id"]] = int(got[0])
                else:
                    self._sql.insert_runs.run_many(cur, rows)
                    if cur.rowcount != len(rows):
                        raise ExperimentClosed(self._closed_experiment(cur, rows))
                pks = self._pks(cur, [r.run_id for r in batch.new_runs], keys)
                self._sql.insert_param.run_many(
                    cur, [x for r in batch.new_runs for x in kv_rows(pks[r.run_id], r.params)]
                )
                self._sql.insert_tag.run_many(
                    cur, [x for r in batch.new_runs for x in kv_rows(pks[r.run_id], r.tags)]
                )
            self._append_raw(cur, batch.series, keys, fresh)
            for end in batch.ends:
                row = {"rid": end.run_id, "status": end.status.value, "end": end.end_time}
                if end.run_id not in born_ended and not self._sql.end_run.run(cur, row).rowcount:
                    raise EndRefused(end.run_id)
                if end.run_id in single_chunk:
                    continue  # created by this batch with one chunk per series: nothing to compact
                pk = self._pks(cur, [end.run_id], keys)[end.run_id]
                if self._sql.multi_chunk_keys.run(cur, {"pk": pk}).fetchone() is not None:
                    ended.append(end.run_id)

        try:
            with_retry(self.engine, body, retry=batch.batch_id is not None)
        except self._integrity_error as exc:
            ids = ", ".join(r.run_id for r in batch.new_runs)
            raise Conflict(f"a run with one of these ids already exists: {ids}") from exc
        except SplitBefore as exc:
            raise Conflict(
                f"batch {exc.batch_id} was delivered in part before: send its operations one by one"
            ) from None
        self._cache_keys(keys)
        for run_id in ended:
            self.compact_series(run_id)

    def _closed_experiment(self, cur: Any, rows: Sequence[Mapping[str, Any]]) -> str:
        """Which of ``rows``' experiments took no new run (inside the transaction that tried)."""
        wanted = list(dict.fromkeys(int(r["experiment_id"]) for r in rows))
        for eid in wanted:
            found = self._sql.experiment_light.run(cur, {"eid": eid}).fetchone()
            if found is None or found[1] != Lifecycle.ACTIVE.value:
                return str(eid)
        return str(wanted[0])

    def set_run_lifecycle(self, run_id: str, lifecycle: Lifecycle) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(lifecycle=lifecycle.value))

    def log_params(self, run_id: str, items: Mapping[str, str]) -> None:
        """Add params; one already logged must be given the same value again, or Conflict (nothing written)."""
        if not items:
            return
        pk = self._pk(run_id)
        with self._write() as conn, conn.begin():
            existing = dict(
                conn.execute(
                    select(params.c.key, params.c.value).where(
                        params.c.run_pk == pk, params.c.key.in_(list(items))
                    )
                ).all()
            )
            for k, old in existing.items():
                if items[k] != old:
                    raise Conflict(
                        f"param {k!r} of run {run_id} is already {old!r}; it cannot change to {items[k]!r}. "
                        "Params are inputs fixed for a run: log a different key, or start a new run."
                    )
            self._insert_kv(conn, params, pk, {k: v for k, v in items.items() if k not in existing})
            self._refresh_kv_doc(conn, params, runs.c.params_doc, pk)

    @staticmethod
    def _refresh_kv_doc(conn: Connection, table: Any, column: Any, pk: int) -> None:
        """Rewrite a run's params or tags document from its rows (inside the caller's transaction)."""
        items: dict[str, str] = dict(
            conn.execute(select(table.c.key, table.c.value).where(table.c.run_pk == pk)).all()
        )
        conn.execute(update(runs).where(runs.c.run_pk == pk).values({column: docs.pack_kv(items)}))

    def set_tags(self, run_id: str, items: Mapping[str, str]) -> None:
        """Set tags, replacing earlier values."""
        if not items:
            return
        stmt = dialect.upsert(
            self.engine,
            tags,
            ("run_pk", "key"),
            {"value": lambda ex, _t: ex.value, "num_value": lambda ex, _t: ex.num_value},
        )
        pk = self._pk(run_id)
        with self._write() as conn, conn.begin():
            conn.execute(stmt, kv_rows(pk, items))
            self._refresh_kv_doc(conn, tags, runs.c.tags_doc, pk)

    def delete_tag(self, run_id: str, key: str) -> bool:
        pk = self._pk(run_id)
        with self._write() as conn, conn.begin():
            n = conn.execute(delete(tags).where(tags.c.run_pk == pk, tags.c.key == key)).rowcount
            if n:
                self._refresh_kv_doc(conn, tags, runs.c.tags_doc, pk)
        return bool(n)

    def prune_batches(self, cutoff: int) -> int:
        """Forget the ids of batches applied before ``cutoff`` (ms); returns how many."""
        with self._write() as conn, conn.begin():
            return int(
                conn.execute(delete(ingested_batches).where(ingested_batches.c.ingested_at < cutoff)).rowcount
            )

    # ---- heartbeats ----------------------------------------------------------------------------------

    def heartbeat(self, run_ids: Sequence[str], now: int) -> None:
        """Record that ``run_ids`` are alive; a run reaped while its process was merely slow (a suspended
        laptop) comes back to RUNNING."""
        if not run_ids:
            return
        with raw_transaction(self.engine) as cur:
            self._sql.heartbeat.run_many(cur, [{"rid": rid, "now": now} for rid in run_ids])

    def reap_stale_runs(self, cutoff: int) -> int:
        """Mark KILLED every RUNNING run whose last heartbeat is older than ``cutoff``; end = last heartbeat."""
        stale = and_(
            runs.c.status == RunStatus.RUNNING.value,
            runs.c.heartbeat_at.is_not(None),
            runs.c.heartbeat_at < cutoff,
        )
        with self.engine.connect() as conn:  # a cheap read first: usually nothing is stale
            if conn.execute(select(runs.c.run_id).where(stale).limit(1)).first() is None:
                return 0
        with self._write() as conn, conn.begin():
            return int(
                conn.execute(
                    update(runs)
                    .where(stale)
                    .values(status=RunStatus.KILLED.value, end_time=runs.c.heartbeat_at)
                ).rowcount
            )

    # ---- metrics -------------------------------------------------------------------------------------

    def _append_raw(
        self,
        cur: Any,
        batches: Sequence[SeriesBatch],
        keys: dict[str, int],
        fresh: Mapping[str, Mapping[str, codec.BatchSummary]],
    ) -> None:
        """Store the chunks of ``batches`` and merge their summaries; ``fresh`` holds the summaries of the
        runs created in this transaction (``_fresh_summaries``), whose documents are already written."""
        if not batches:
            return
        pks = self._pks(cur, [b.run_id for b in batches], keys)
        chunk_rows = []
        summary_rows = []
        for b in batches:
            pk = pks[b.run_id]
            chunk_rows.append(
                {
                    "run_pk": pk,
                    "key": b.key,
                    "n": int(b.values.shape[0]),
                    "steps": codec.pack_int(b.steps),
                    "timestamps": codec.pack_int(b.timestamps),
                    "vals": codec.pack_float(b.values),
                }
            )
            if b.run_id not in fresh:
                summary_rows.append(_summary_row(pk, b.key, codec.summarize(b.steps, b.timestamps, b.values)))
        for run_id, by_key in fresh.items():
            summary_rows += [_summary_row(pks[run_id], k, s) for k, s in by_key.items()]
        self._sql.insert_chunk.run_many(cur, chunk_rows)
        self._sql.upsert_summary.run_many(cur, summary_rows)
        # Rewrite the summary document of every other run that got points, from the merged summaries.
        updates = []
        for pk in dict.fromkeys(pks[b.run_id] for b in batches if b.run_id not in fresh):
            rows = self._sql.summaries_of_run.run(cur, {"pk": pk}).fetchall()
            updates.append({"pk": pk, "doc": docs.pack_metrics(rows)})
        if updates:
            self._sql.set_metrics_doc.run_many(cur, updates)

    def get_metric_history(self, run_id: str, key: str, writable: bool = True) -> MetricHistory:
        """The whole series in logged order (empty arrays if nothing was logged under ``key``).

        With ``writable=False`` the arrays may be read-only views of the stored bytes: no copy, for readers
        that only look (downsampling for charts).
        """
        pk = self._pk(run_id)
        with raw_transaction(self.engine, write=False) as cur:
            rows = self._sql.series_chunks.run(cur, {"pk": pk, "key": key}).fetchall()
        if not rows:
            empty_i = np.empty(0, dtype=np.int64)
            return MetricHistory(key, empty_i, empty_i.copy(), np.empty(0, dtype=np.float64))
        return MetricHistory(
            key,
            codec.unpack_int([bytes(r[0]) for r in rows], writable),
            codec.unpack_int([bytes(r[1]) for r in rows], writable),
            codec.unpack_float([bytes(r[2]) for r in rows], writable),
        )

    def compact_series(self, run_id: str) -> None:
        """Merge each series of a run into one chunk, so later reads are a single row per series."""
        pk = self._pk(run_id)
        with self._write() as conn, conn.begin():
            self._compact(conn, pk)

    def _compact(self, conn: Connection, pk: int) -> None:
        """Merge every multi-chunk series of run ``pk`` into a single chunk, inside ``conn``'s transaction."""
        mc = metric_chunks
        keys = (
            conn.execute(
                select(mc.c.key).where(mc.c.run_pk == pk).group_by(mc.c.key).having(func.count() > 1)
            )
            .scalars()
            .all()
        )
        for key in keys:
            rows = conn.execute(
                select(mc.c.steps, mc.c.timestamps, mc.c.vals)
                .where(mc.c.run_pk == pk, mc.c.key == key)
                .order_by(mc.c.chunk_id)
            ).all()
            conn.execute(delete(mc).where(mc.c.run_pk == pk, mc.c.key == key))
            conn.execute(
                mc.insert().values(
                    run_pk=pk,
                    key=key,
                    n=sum(len(r[2]) for r in rows) // 8,
                    steps=b"".join(r[0] for r in rows),
                    timestamps=b"".join(r[1] for r in rows),
                    vals=b"".join(r[2] for r in rows),
                )
            )

    # ---- search --------------------------------------------------------------------------------------

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_expr: Expr | None,
        order_by: Sequence[OrderKey],
        max_results: int | None,
        start: Cursor | int = 0,
        lifecycle: Lifecycle | None = Lifecycle.ACTIVE,
    ) -> SearchPage:
        """A page of runs matching ``filter_expr``, ordered, from ``start``: a cursor (the runs after its
        position, or before it), or an offset (that many runs skipped: the cost grows with it)."""
        limit = None if max_results is None else max_results + 1
        eids = [experiment_pk(e) for e in experiment_ids]
        life = None if lifecycle is None else lifecycle.value
        reverse = isinstance(start, Cursor) and start.before
        if isinstance(start, Cursor):
            check_cursor(order_by, start.keys)
            rows = self._seek(eids, filter_expr, order_by, limit, start, life)
        else:
            rows = self._skip(eids, filter_expr, order_by, limit, start, life)
        more = max_results is not None and len(rows) > max_results
        if more:
            rows = rows[:max_results]
        if reverse:
            rows.reverse()
        return SearchPage(
            self._runs_of([r[0] for r in rows]),
            tuple(rows[0][1:]) if rows else None,
            tuple(rows[-1][1:]) if rows else None,
            more,
        )

    def _seek(
        self,
        eids: list[int],
        filter_expr: Expr | None,
        order_by: Sequence[OrderKey],
        limit: int | None,
        cursor: Cursor,
        life: str | None,
    ) -> list[Any]:
        """The rows (``run_pk``, sort key values...) of up to ``limit`` runs from ``cursor`` on, in the
        direction it reads. A page of a search ordered by a metric is read in two parts: the runs with a
        value first, from the metric's index (``build_top_by_metric``), then those without (NULL sorts
        last); backwards, the other way round. The part holding the cursor is read from the cursor on;
        the next one, if the page reaches it, from its start."""
        metric = first_metric(order_by) if limit is not None else None
        reverse, keys = cursor.before, cursor.keys
        if metric is None or limit is None:
            q = build_search(
                self.engine, eids, filter_expr, order_by, limit, 0, life, after=keys, reverse=reverse
            )
            return fetch_all(self.engine, q)
        parts = ["without", "with"] if reverse else ["with", "without"]
        if keys is not None:
            parts = parts[parts.index("with" if keys[0] is not None else "without") :]
        rows: list[Any] = []
        for i, part in enumerate(parts):
            after = keys if i == 0 else None
            if part == "with":
                q = build_top_by_metric(
                    self.engine, eids, filter_expr, order_by, limit - len(rows), life, after, reverse
                )
            else:
                q = build_search(
                    self.engine,
                    eids,
                    filter_expr,
                    order_by,
                    limit - len(rows),
                    0,
                    life,
                    without_metric=metric,
                    after=after,
                    reverse=reverse,
                )
            rows += fetch_all(self.engine, q)
            if len(rows) >= limit:
                break
        return rows

    def _skip(
        self,
        eids: list[int],
        filter_expr: Expr | None,
        order_by: Sequence[OrderKey],
        limit: int | None,
        offset: int,
        life: str | None,
    ) -> list[Any]:
        """The rows of up to ``limit`` runs after the first ``offset`` (an offset page token)."""
        metric = first_metric(order_by)
        if limit is not None and metric is not None:
            # The runs with a value come first, read from the metric's index until the page is full; only
            # a page that reaches past them reads the rest.
            wanted = offset + limit
            top = build_top_by_metric(self.engine, eids, filter_expr, order_by, wanted, life)
            rows = fetch_all(self.engine, top)
            if len(rows) < wanted:
                rest = build_search(
                    self.engine,
                    eids,
                    filter_expr,
                    order_by,
                    wanted - len(rows),
                    0,
                    life,
                    without_metric=metric,
                )
                rows += fetch_all(self.engine, rest)
            return rows[offset:]
        return fetch_all(
            self.engine, build_search(self.engine, eids, filter_expr, order_by, limit, offset, life)
        )

    def _runs_of(self, pks: list[int]) -> list[Run]:
        """The runs of ``pks``, in that order, their documents decoded lazily."""
        sql, bind = self._runs_by_pks
        kv, metrics = docs.lazy_kv, docs.lazy_metrics
        out = []
        # Building a page makes ~10 objects per run, none cyclic. In a process that holds much data (a
        # notebook), the collections these allocations trigger would walk all of it, doubling the time.
        with gc_paused(), raw_transaction(self.engine, write=False) as cur:
            cur.execute(sql, bind(pks))
            found: dict[int, Any] = {r[0]: r for r in cur.fetchall()}
            for pk in pks:
                r = found[pk][1:]
                out.append(Run(run_info(r), kv(r[11]), kv(r[12]), metrics(r[13])))
        return out


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of a search: its runs in order, the sort key values of its first and last run (what
    cursors hold; None for an empty page), and whether more runs follow in the direction it was read."""

    runs: list[Run]
    first: tuple[SortValue, ...] | None
    last: tuple[SortValue, ...] | None
    more: bool


def _single_chunk_runs(batch: WriteBatch, new: set[str]) -> set[str]:
    """The runs this batch creates whose every series it writes as one chunk: ending them needs no check
    for chunks to compact (a short run, created, logged and ended in one batch, is the common case)."""
    seen: set[tuple[str, str]] = set()
    repeated: set[str] = set()
    for b in batch.series:
        key = (b.run_id, b.key)
        if key in seen:
            repeated.add(b.run_id)
        seen.add(key)
    return new - repeated


def _fresh_summaries(
    series: Sequence[SeriesBatch], new: set[str]
) -> dict[str, dict[str, codec.BatchSummary]]:
    """The summary of each series of the runs in ``new`` (created by the same batch), merged in order
    across the batch's parts of one series as the summary upsert would merge them."""
    out: dict[str, dict[str, codec.BatchSummary]] = {}
    for b in series:
        if b.run_id not in new:
            continue
        s = codec.summarize(b.steps, b.timestamps, b.values)
        by_key = out.setdefault(b.run_id, {})
        old = by_key.get(b.key)
        by_key[b.key] = s if old is None else codec.merge(old, s)
    return out


def _summary_doc(by_key: Mapping[str, codec.BatchSummary] | None) -> bytes | None:
    """The metrics document of a new run from its summaries (``pack_metrics`` puts them in key order)."""
    if not by_key:
        return None
    return docs.pack_metrics((k, *s) for k, s in by_key.items())


def _summary_row(pk: int, key: str, s: codec.BatchSummary) -> dict[str, Any]:
    return {
        "run_pk": pk,
        "key": key,
        "last_value": s.last,
        "min_value": s.min,
        "max_value": s.max,
        "last_step": s.last_step,
        "last_timestamp": s.last_timestamp,
        "count": s.num_points,
    }
