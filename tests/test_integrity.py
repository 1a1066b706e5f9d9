"""Regression tests for the integrity defects of issue 8: each failed before its fix.

Accepted data is never lost, duplicated or attached to the wrong run, whatever the threads, signals or
outages around it. Tests that involve a store run on SQLite, PostgreSQL and over HTTP (``tracking_uri``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from typer.testing import CliRunner

import assay
from assay import Client
from assay.access import Role
from assay.bundle import get_backend
from assay.cli.main import app
from assay.embedded.tracking import TrackingService
from assay.entities import RunEnd, RunStatus, SeriesBatch, WriteBatch
from assay.errors import FilterSyntaxError, InvalidInput, InvalidState, Unavailable
from assay.remote import RemoteTracking
from assay.sdk.policy import deliver
from assay.sdk.spool import SpoolFile, rejected_dir, spool_dir
from assay.server.main import build_services
from assay.server.testing import ServerThread
from assay.services.tracking import new_run
from assay.store.sql.dialect import pool_sizes
from assay.wire import new_batch_id
from conftest import _truncate_pg, reset_sdk


def _points(run_id: str, start: int, n: int, key: str = "x") -> SeriesBatch:
    steps = np.arange(start, start + n, dtype=np.int64)
    return SeriesBatch(run_id, key, steps, steps * 1000, steps.astype(np.float64))


def test_threads_logging_one_key_keep_every_value_with_its_step(tracking_uri: str) -> None:
    """Item 1: 4 threads x N points on one key; each value must still sit at its own step."""
    n, threads = 20_000, 4
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows at once
    try:
        with assay.start_run() as run:

            def work(t: int) -> None:
                for i in range(n):
                    step = t * n + i
                    assay.log_metric("x", float(step), step=step)

            pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
            for th in pool:
                th.start()
            for th in pool:
                th.join()
    finally:
        sys.setswitchinterval(old)
    h = assay.get_metric_history(run.id, "x")
    assert len(h.values) == n * threads
    assert np.array_equal(h.values, h.steps.astype(np.float64))
    assert sorted(h.steps.tolist()) == list(range(n * threads))


def test_a_batch_rolled_back_leaves_no_stale_run_key(tracking_uri: str) -> None:
    """Item 2: a new run refused with its batch, retried after another run was created, keeps its own
    params and points (SQLite reuses the rolled-back row id for the other run)."""
    backend = get_backend(tracking_uri)
    exp = backend.create_experiment("keys")
    ended = new_run(exp.experiment_id, name="ended")
    backend.ingest(WriteBatch(new_runs=[ended], ends=[RunEnd(ended.run_id, RunStatus.FINISHED, 1)]))

    a = new_run(exp.experiment_id, name="a", params={"who": "a"})
    points = SeriesBatch(a.run_id, "m", np.arange(3), np.arange(3), np.array([1.0, 2.0, 3.0]))
    refused = WriteBatch([a], [points], [RunEnd(ended.run_id, RunStatus.FINISHED, 2)], batch_id="b1")
    with pytest.raises(InvalidState):
        backend.ingest(refused)  # ending an ended run: the whole batch rolls back

    b = new_run(exp.experiment_id, name="b")
    backend.ingest(WriteBatch(new_runs=[b], batch_id="b2"))
    backend.ingest(WriteBatch([a], [points], batch_id="b3"))

    assert backend.get_run(b.run_id).params == {}
    assert backend.get_run(b.run_id).metric_summaries == {}
    assert backend.get_run(a.run_id).params == {"who": "a"}
    assert backend.get_metric_history(a.run_id, "m").values.tolist() == [1.0, 2.0, 3.0]


def test_sync_with_a_refused_token_keeps_every_spooled_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 4: `assay sync` with a wrong token deleted the spool; now it stops, says why, keeps it all."""
    services = build_services(str(tmp_path / "server.db"), str(tmp_path / "artifacts"))
    service = services.tracking
    secret = services.access.create_user("root", is_admin=True).secret
    exp = service.create_experiment("offline")
    home = tmp_path / "home"
    monkeypatch.setenv("ASSAY_HOME", str(home))
    try:
        with ServerThread(services, auth=True) as url:
            directory = spool_dir(home.resolve(), url)
            spool = SpoolFile(directory)
            run = new_run(exp.experiment_id, name="spooled")
            spool.append(WriteBatch([run], [_points(run.run_id, 0, 5)], batch_id="one"))
            spool.append(WriteBatch(series=[_points(run.run_id, 5, 5)], batch_id="two"))
            spool.close()

            monkeypatch.setenv("ASSAY_TRACKING_TOKEN", "assay_" + "0" * 16 + "_" + "1" * 64)
            reset_sdk()
            refused = CliRunner().invoke(app, ["--tracking-uri", url, "sync"])
            assert refused.exit_code == 1
            assert "Nothing was deleted" in refused.output and "ASSAY_TRACKING_TOKEN" in refused.output
            assert list(directory.glob("*.spool")) == [spool.path]

            monkeypatch.setenv("ASSAY_TRACKING_TOKEN", secret)
            reset_sdk()
            done = CliRunner().invoke(app, ["--tracking-uri", url, "sync"])
            assert done.exit_code == 0, done.output
            assert "replayed 2 spooled batches" in done.output
            assert not list(directory.glob("*.spool"))
            assert service.get_metric_history(run.run_id, "x").steps.tolist() == list(range(10))
    finally:
        reset_sdk()
        services.close()


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda rid: WriteBatch(series=[_points(rid, 0, 3, key="")]), id="empty key"),
        pytest.param(lambda rid: WriteBatch(series=[_points(rid, 0, 3, key="a\x00b")]), id="bad key"),
        pytest.param(lambda rid: WriteBatch(series=[_points(rid, 0, 0)]), id="no points"),
        pytest.param(
            lambda rid: WriteBatch(series=[replace(_points(rid, 0, 2), timestamps=np.array([-5, 1]))]),
            id="negative time",
        ),
        pytest.param(lambda rid: WriteBatch(ends=[RunEnd(rid, RunStatus.FINISHED, 2**70)]), id="end 2**70"),
        pytest.param(
            lambda rid: WriteBatch(ends=[RunEnd(rid, RunStatus.FINISHED, -(2**70))]), id="end -2**70"
        ),
    ],
)
def test_ingest_refuses_invalid_operations_with_a_clear_error(
    tracking_uri: str, bad: Callable[[str], WriteBatch]
) -> None:
    """Item 5: invalid operations answered 500 (IndexError, OverflowError) or were stored."""
    backend = get_backend(tracking_uri)
    exp = backend.create_experiment("bad")
    run = backend.create_run(exp.experiment_id)
    with pytest.raises(InvalidInput):
        backend.ingest(bad(run.run_id))
    assert backend.get_run(run.run_id).metric_summaries == {}
    assert backend.get_run_info(run.run_id).status is RunStatus.RUNNING


def test_a_refused_operation_is_set_aside_and_the_rest_flows(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 5: a refused operation is kept aside with its reason; nothing behind it is blocked."""
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    c = Client()
    exp = c.create_experiment("aside")
    run = c.create_run(exp.experiment_id)
    c.log_metric(run.run_id, "good", 1.0)
    with c.writer._lock:
        c.writer._series.append(_points(run.run_id, 0, 0))  # no points: refused by the store
    with pytest.raises(InvalidInput, match="no points"):
        c.flush()
    c.log_metric(run.run_id, "good", 2.0)
    c.flush()
    assert c.get_metric_history(run.run_id, "good").values.tolist() == [1.0, 2.0]
    assert c.writer.spool is not None and not c.writer.spool.pending()
    rejected = rejected_dir(c.writer.spool.directory)
    assert len(list(rejected.glob("*.spool"))) == 1
    assert "has no points" in (rejected / "reasons.log").read_text()


def test_every_client_of_a_store_sees_every_write_the_process_accepted(tracking_uri: str) -> None:
    """Item 6: a second Client did not see a run that had just ended (NotFound, or RUNNING for a Client
    made before the block), nor points still buffered."""
    before = Client(tracking_uri)
    spellings = [tracking_uri]
    if "://" not in tracking_uri:
        spellings.append(f"sqlite:///{tracking_uri}")  # another name of the same SQLite store
    with assay.start_run() as live:
        assay.log_metric("m", 2.0)
        for uri in spellings:
            assert Client(uri).get_run(live.id).metrics == {"m": 2.0}
        Client(tracking_uri).log_param(live.id, "p", 1)  # the run's creation is written first
    for uri in spellings:
        run = Client(uri).get_run(live.id)
        assert run.info.status is RunStatus.FINISHED and run.params == {"p": "1"}
    assert before.get_run(live.id).info.status is RunStatus.FINISHED
    assert before.search_runs(filter="metrics.m = 2")[0].info.run_id == live.id


@pytest.mark.parametrize("text", ["(" * 500 + "metrics.a > 1" + ")" * 500, "not " * 500 + "metrics.a > 1"])
def test_a_filter_nested_too_deep_is_refused_with_a_reason(tracking_uri: str, text: str) -> None:
    """Item 11: 500 nested parentheses raised RecursionError (a 500 over HTTP)."""
    with pytest.raises(FilterSyntaxError, match="more than 64 deep"):
        Client().search_runs(filter=text)
    assert Client().search_runs(filter="(" * 60 + "metrics.a > 1" + ")" * 60) == []
    assert Client().search_runs(filter=" or ".join(f"metrics.a = {i}" for i in range(500))) == []
    with pytest.raises(FilterSyntaxError, match="more than 500 comparisons"):
        Client().search_runs(filter=" or ".join(f"metrics.a = {i}" for i in range(501)))
    values = ", ".join(str(i) for i in range(20_000))
    assert Client().search_runs(filter=f"params.p in ({values})") == []


def test_a_batch_older_than_the_dedup_window_is_refused_not_applied_twice(tracking_uri: str) -> None:
    """Item 12: batch ids are kept for a retention window only, so a batch made before it is refused."""
    backend = get_backend(tracking_uri)
    exp = backend.create_experiment("old")
    run = backend.create_run(exp.experiment_id)
    old_ms = int((time.time() - 40 * 86_400) * 1000)
    old = WriteBatch(series=[_points(run.run_id, 0, 3)], batch_id=f"t{old_ms:012x}-{'a' * 32}")
    with pytest.raises(InvalidState, match="ASSAY_BATCH_RETENTION_DAYS"):
        backend.ingest(old)
    fresh = WriteBatch(series=[_points(run.run_id, 0, 3)], batch_id=new_batch_id())
    backend.ingest(fresh)
    backend.ingest(fresh)  # resent: applied once
    assert backend.get_metric_history(run.run_id, "x").steps.tolist() == [0, 1, 2]


@pytest.mark.parametrize("store_uri", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_applied_batch_ids_are_pruned_after_the_window(
    store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Item 12: ``ingested_batches`` grew by a row per batch forever."""
    from sqlalchemy import func, select

    from assay.store.sql.schema import ingested_batches

    if store_uri == "postgres":
        url = request.getfixturevalue("pg_database")
        _truncate_pg(url)
    else:
        url = str(tmp_path / "p.db")
    services = build_services(url, str(tmp_path / "artifacts"))
    service = services.tracking
    assert isinstance(service, TrackingService)
    try:
        exp = service.create_experiment("prune")
        run = service.create_run(exp.experiment_id)
        for i in range(5):
            service.ingest(WriteBatch(series=[_points(run.run_id, i, 1)], batch_id=new_batch_id()))

        def count() -> int:
            with service.store.engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(ingested_batches)).scalar_one())

        assert count() == 5
        monkeypatch.setenv("ASSAY_BATCH_RETENTION_DAYS", str(0.5 / 86_400))  # half a second
        time.sleep(0.6)
        service._pruned_at = 0  # an hour has passed
        last = WriteBatch(series=[_points(run.run_id, 5, 1)], batch_id=new_batch_id())
        service.ingest(last)
        assert count() == 1  # only the batch applied within the window
        service.ingest(last)
        assert service.get_metric_history(run.run_id, "x").steps.tolist() == list(range(6))
    finally:
        services.close()


@pytest.mark.postgres
def test_a_servers_postgresql_connections_are_shared_among_its_workers(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 13: every worker had a pool of 40 + 10, so two workers could exceed PostgreSQL's 100."""
    for workers, expected in ((1, (40, 10)), (2, (20, 5)), (4, (10, 2))):
        assert pool_sizes(workers) == expected
        assert workers * sum(pool_sizes(workers)) <= 50
    services = build_services(pg_database, str(tmp_path / "a"), workers=2)
    try:
        pool: Any = cast(TrackingService, services.tracking).store.engine.pool
        assert (pool.size(), pool._max_overflow) == (20, 5)
    finally:
        services.close()
    monkeypatch.setenv("ASSAY_DB_POOL_SIZE", "8")
    services = build_services(pg_database, str(tmp_path / "a"), workers=2)
    try:
        pool = cast(TrackingService, services.tracking).store.engine.pool
        assert (pool.size(), pool._max_overflow) == (4, 1)
    finally:
        services.close()


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("sqlite:////nonexistent-assay-dir/sub/assay.db", "cannot open or write the SQLite store"),
        (
            "postgresql://postgres:s3cret@127.0.0.1:1/nothing",
            "cannot reach the PostgreSQL store postgresql://postgres:***@",
        ),
        ("http://127.0.0.1:1", "cannot reach the tracking server at http://127.0.0.1:1"),
    ],
)
def test_an_unreachable_store_is_one_line_naming_it_without_its_password(
    uri: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 14: `assay runs ls` printed a traceback; the SDK raised the driver's exceptions."""
    monkeypatch.chdir(tmp_path)
    reset_sdk()
    result = CliRunner().invoke(app, ["--tracking-uri", uri, "runs", "ls"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {says}") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output and "s3cret" not in result.output
    reset_sdk()
    with pytest.raises(Unavailable, match="cannot"):
        Client(uri).search_runs()
    reset_sdk()


def test_a_read_is_not_failed_by_another_stores_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 6's flush before a read covers every writer of the process; another store being down must
    not fail a read of this one (its writer keeps its batches and says so)."""
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    reset_sdk()
    down = get_backend(str(tmp_path / "down" / "assay.db"))
    exp = down.create_experiment("e")
    run = down.create_run(exp.experiment_id)

    broken = Client(str(tmp_path / "down" / "assay.db"))
    broken.log_metric(run.run_id, "m", 1.0)
    real_ingest = down.ingest

    def unreachable(batch: WriteBatch) -> None:
        raise Unavailable("the store is down")

    monkeypatch.setattr(down, "ingest", unreachable)
    healthy = Client(str(tmp_path / "up" / "assay.db"))
    e2 = healthy.create_experiment("fine")
    r2 = healthy.create_run(
        e2.experiment_id, capture_git=False, capture_environment=False, log_system_metrics=False
    )
    healthy.log_metric(r2.run_id, "m", 2.0)
    assert healthy.get_run(r2.run_id).metrics == {"m": 2.0}  # not failed by the other store
    with pytest.raises(Unavailable):
        broken.get_run(run.run_id)  # its own store's outage does reach its reader (the spool waits)
    monkeypatch.setattr(down, "ingest", real_ingest)
    assert broken.get_run(run.run_id).metrics == {"m": 1.0}  # kept, then delivered by the read
    reset_sdk()


def test_a_batch_delivered_in_part_is_never_applied_whole_again(tracking_uri: str) -> None:
    """Review of items 4-5: a batch split because one operation was refused, whose delivery then broke
    off, was kept whole; sent again whole, it applied its first parts a second time."""
    backend = get_backend(tracking_uri)
    exp = backend.create_experiment("parts")
    y = backend.create_run(exp.experiment_id).run_id
    x = backend.create_run(exp.experiment_id).run_id
    backend.delete_run(x)  # refused: points for a deleted run
    batch = WriteBatch(
        series=[_points(y, 0, 3, key="a"), _points(x, 0, 3, key="a"), _points(y, 0, 3, key="b")],
        batch_id=new_batch_id(),
    )
    aside: list[WriteBatch] = []
    calls = {"n": 0}

    def breaks_on_the_third_part(op: WriteBatch) -> None:
        calls["n"] += 1
        if op.batch_id is not None and op.batch_id.endswith(".2"):
            raise Unavailable("the network broke")
        backend.ingest(op)

    with pytest.raises(Unavailable):
        deliver(breaks_on_the_third_part, batch, lambda op, exc: aside.append(op))
    assert [op.batch_id for op in aside] == [f"{batch.batch_id}.1"]
    backend.restore_run(x)  # the cause fixed: now the whole batch would be accepted
    deliver(backend.ingest, batch, lambda op, exc: aside.append(op))  # kept whole, sent again
    assert backend.get_metric_history(y, "a").steps.tolist() == [0, 1, 2]  # once, not twice
    assert backend.get_metric_history(y, "b").steps.tolist() == [0, 1, 2]
    assert backend.get_metric_history(x, "a").steps.tolist() == [0, 1, 2]
    deliver(backend.ingest, batch, lambda op, exc: aside.append(op))  # and a third time: nothing new
    assert backend.get_metric_history(y, "a").steps.tolist() == [0, 1, 2]


def test_the_parts_of_a_batch_applied_whole_are_not_applied_again(tracking_uri: str) -> None:
    """Review of the spool (session 5): a batch applied whole, whose process died before the spool recorded
    it, was replayed and split (one of its runs now refused): its other parts applied a second time."""
    backend = get_backend(tracking_uri)
    exp = backend.create_experiment("whole")
    y = backend.create_run(exp.experiment_id).run_id
    batch = WriteBatch(series=[_points(y, 0, 3, key="a"), _points(y, 0, 3, key="b")], batch_id=new_batch_id())
    backend.ingest(batch)  # landed whole; the sender never learned it
    for i, part in enumerate(batch.series):  # replayed in parts, each by its own id
        backend.ingest(WriteBatch(series=[part], batch_id=f"{batch.batch_id}.{i}"))
    assert backend.get_metric_history(y, "a").steps.tolist() == [0, 1, 2]  # once, not twice
    assert backend.get_metric_history(y, "b").steps.tolist() == [0, 1, 2]


def test_a_missing_role_sets_its_operations_aside_and_lets_the_rest_flow(tmp_path: Path) -> None:
    """Review of item 4: a PermissionDenied held the whole spool, so one project's refusal stopped
    every other project's data (and every read) until it was fixed."""
    services = build_services(str(tmp_path / "server.db"), str(tmp_path / "artifacts"))
    admin = services.access
    token = admin.create_user("dev").secret
    admin.create_project("mine")
    admin.create_project("theirs")
    admin.set_member("mine", "dev", Role.EDITOR)
    admin.set_member("theirs", "dev", Role.EDITOR)
    mine = services.tracking.create_experiment("m", project="mine")
    theirs = services.tracking.create_experiment("t", project="theirs")
    run_m = services.tracking.create_run(mine.experiment_id).run_id
    run_t = services.tracking.create_run(theirs.experiment_id).run_id
    admin.set_member("theirs", "dev", Role.VIEWER)  # the role is taken away mid-run
    try:
        with ServerThread(services, auth=True) as url:
            remote = RemoteTracking(url, token=token)
            batch = WriteBatch(series=[_points(run_m, 0, 3), _points(run_t, 0, 3)], batch_id=new_batch_id())
            aside: list[tuple[WriteBatch, Exception]] = []
            refused = deliver(remote.ingest, batch, lambda op, exc: aside.append((op, exc)))
            assert [type(e).__name__ for e in refused] == ["PermissionDenied"]
            assert services.tracking.get_metric_history(run_m, "x").steps.tolist() == [0, 1, 2]
            assert [op.series[0].run_id for op, _ in aside] == [run_t]  # kept for `assay sync --rejected`
            remote.close()
    finally:
        services.close()


@pytest.mark.parametrize("store_uri", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_remembered_experiment_deleted_by_another_process_takes_no_new_run(
    store_uri: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A service remembers where an experiment keeps its artifacts (no read per new run); the insert itself
    still refuses a run in an experiment deleted since, by another process, and writes nothing of the batch."""
    if store_uri == "postgres":
        url = request.getfixturevalue("pg_database")
        _truncate_pg(url)
    else:
        url = str(tmp_path / "p.db")
    writer, other = (build_services(url, str(tmp_path / "artifacts")) for _ in range(2))
    try:
        exp = writer.tracking.create_experiment("closing")
        keep = writer.tracking.create_experiment("kept")
        writer.tracking.create_run(exp.experiment_id)  # its location is remembered now
        other.tracking.delete_experiment(exp.experiment_id)
        with pytest.raises(InvalidState, match="is deleted: restore it"):
            writer.tracking.create_run(exp.experiment_id)
        two = [new_run(keep.experiment_id), new_run(exp.experiment_id)]
        with pytest.raises(InvalidState, match="is deleted"):
            writer.tracking.ingest(WriteBatch(new_runs=two, batch_id=new_batch_id()))
        assert writer.tracking.count_runs(keep.experiment_id).n == 0  # all or nothing
        other.tracking.restore_experiment(exp.experiment_id)
        writer.tracking.ingest(WriteBatch(new_runs=two, batch_id=new_batch_id()))
        assert writer.tracking.count_runs(exp.experiment_id).n == 2
    finally:
        writer.close()
        other.close()


def test_a_run_created_with_its_points_has_the_summaries_of_one_appended_to(tracking_uri: str) -> None:
    """A run created and logged in one batch gets its summaries computed in Python (no read back): they
    must equal what the database's summary upsert makes of the same points appended to an existing run
    (several parts of one series, steps out of order, ties, NaN first, last and alone)."""
    backend = get_backend(tracking_uri)
    exp = backend.create_experiment("summaries")

    def part(run_id: str, key: str, steps: list[int], values: list[float]) -> SeriesBatch:
        s = np.array(steps, dtype=np.int64)
        return SeriesBatch(run_id, key, s, s * 10 + len(values), np.array(values, dtype=np.float64))

    def parts(run_id: str) -> list[SeriesBatch]:
        nan = float("nan")
        return [
            part(run_id, "loss", [3, 1], [0.5, 0.9]),
            part(run_id, "loss", [2, 3], [nan, 0.4]),  # a tie on the highest step: the later part wins
            part(run_id, "loss", [0], [2.0]),
            part(run_id, "acc", [0, 1], [nan, nan]),
            part(run_id, "acc", [1], [0.7]),
            part(run_id, "lr", [5], [nan]),
            part(run_id, "b", [0, 1, 2], [1.0, -1.0, nan]),
        ]

    born = new_run(exp.experiment_id, name="born")
    backend.ingest(WriteBatch([born], parts(born.run_id), [RunEnd(born.run_id, RunStatus.FINISHED, 9)]))
    grown = new_run(exp.experiment_id, name="grown")
    backend.ingest(WriteBatch(new_runs=[grown]))
    for p in parts(grown.run_id):
        backend.ingest(WriteBatch(series=[p]))

    def summaries(run_id: str) -> list[tuple[object, ...]]:
        got = backend.get_run(run_id).metric_summaries
        return [(k, *("nan" if isinstance(x, float) and np.isnan(x) else x for x in got[k])) for k in got]

    assert summaries(born.run_id) == summaries(grown.run_id)
    assert [k for k, *_ in summaries(born.run_id)] == ["acc", "b", "loss", "lr"]
    for order in ("metrics.loss DESC", "metrics.acc ASC", "metrics.b DESC"):
        found = [r.info.run_id for r in backend.search_runs([exp.experiment_id], "", [order])]
        assert set(found) == {born.run_id, grown.run_id}
    both = backend.search_runs([exp.experiment_id], "metrics.loss = 0.4 and metrics.acc = 0.7", [])
    assert {r.info.run_id for r in both} == {born.run_id, grown.run_id}
