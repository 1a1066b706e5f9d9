"""What the store costs and survives per request: reads that never write, one connection per ingested batch,
and a dropped PostgreSQL connection discarded and the batch retried once (never applied twice)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, select

from assay import bundle
from assay.entities import RunStatus, SeriesBatch, WriteBatch
from assay.errors import NotFound
from assay.services import Services
from assay.services.tracking import new_run, now_ms
from assay.store.sql.schema import runs
from assay.testing.fixtures import _truncate_pg
from assay.wire import new_batch_id


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    monkeypatch.setenv("ASSAY_REAP_INTERVAL", "3600")  # the timer stays out of the way unless a test asks
    if request.param == "sqlite":
        uri = str(tmp_path / "assay.db")
    else:
        uri = request.getfixturevalue("pg_database")
        _truncate_pg(uri)
    services = bundle.embedded_services(uri, str(tmp_path / "artifacts"))
    yield services
    services.close()


def _engine(services: Services):  # type: ignore[no-untyped-def]
    return services.tracking.store.engine  # type: ignore[attr-defined]


def _points(run_id: str, n: int, start: int = 0) -> SeriesBatch:
    steps = np.arange(start, start + n, dtype=np.int64)
    return SeriesBatch(run_id, "loss", steps, steps + 1_700_000_000_000, steps.astype(np.float64))


def _stored_status(services: Services, run_id: str) -> str:
    with _engine(services).connect() as conn:
        return str(conn.execute(select(runs.c.status).where(runs.c.run_id == run_id)).scalar_one())


def test_an_ingested_batch_takes_one_connection(store: Services) -> None:
    exp = store.tracking.create_experiment("e")
    run = new_run(exp.experiment_id)
    store.tracking.ingest(WriteBatch(new_runs=[run], batch_id=new_batch_id()))
    checkouts: list[int] = []
    listener = lambda *_: checkouts.append(1)  # noqa: E731
    event.listen(_engine(store).pool, "checkout", listener)
    try:
        store.tracking.ingest(WriteBatch(series=[_points(run.run_id, 100)], batch_id=new_batch_id()))
        assert len(checkouts) == 1  # the run's check, the batch's claim and the points: one transaction
        with pytest.raises(NotFound, match="no run with id 'nope'"):
            store.tracking.ingest(WriteBatch(series=[_points("nope", 1)], batch_id=new_batch_id()))
    finally:
        event.remove(_engine(store).pool, "checkout", listener)
    assert store.tracking.get_metric_history(run.run_id, "loss").steps.size == 100


def test_reads_never_write_and_the_reaper_ends_silent_runs(
    store: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_HEARTBEAT_TIMEOUT", "5")
    exp = store.tracking.create_experiment("e")
    silent = new_run(exp.experiment_id, start_time=now_ms() - 60_000)  # its last heartbeat: a minute ago
    store.tracking.ingest(WriteBatch(new_runs=[silent]))
    seen = store.tracking.get_run(silent.run_id).info
    assert seen.status is RunStatus.KILLED and seen.end_time == silent.start_time  # read as it will be...
    found = store.tracking.search_runs([exp.experiment_id])
    assert [r.info.status for r in found] == [RunStatus.KILLED]
    assert _stored_status(store, silent.run_id) == "RUNNING"  # ...but no read wrote it
    reaper = store.tracking.reaper  # type: ignore[attr-defined]
    assert reaper.reap_once(store.tracking.store) == 1  # type: ignore[attr-defined]
    assert _stored_status(store, silent.run_id) == "KILLED"
    assert store.tracking.get_run(silent.run_id).info.end_time == silent.start_time
    store.tracking.heartbeat([silent.run_id])  # its process was only slow: it comes back
    assert store.tracking.get_run(silent.run_id).info.status is RunStatus.RUNNING


def test_the_reaper_runs_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_HEARTBEAT_TIMEOUT", "5")
    monkeypatch.setenv("ASSAY_REAP_INTERVAL", "0.1")
    services = bundle.embedded_services(str(tmp_path / "assay.db"), str(tmp_path / "artifacts"))
    try:
        exp = services.tracking.create_experiment("e")
        silent = new_run(exp.experiment_id, start_time=now_ms() - 60_000)
        services.tracking.ingest(WriteBatch(new_runs=[silent]))
        deadline = time.monotonic() + 20
        while _stored_status(services, silent.run_id) == "RUNNING":
            assert time.monotonic() < deadline, "the reaper did not end a silent run within 20 s"
            time.sleep(0.05)
    finally:
        services.close()
    assert not services.tracking.reaper._thread.is_alive()  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_a_dropped_connection_is_discarded_and_the_batch_retried_once(
    tmp_path: Path, pg_database: str
) -> None:
    import psycopg

    _truncate_pg(pg_database)
    services = bundle.embedded_services(pg_database, str(tmp_path / "artifacts"))
    try:
        exp = services.tracking.create_experiment("e")
        run = new_run(exp.experiment_id)
        services.tracking.ingest(WriteBatch(new_runs=[run], series=[_points(run.run_id, 10)]))
        # The database restarts under the pool: every connection it holds is closed by the server.
        with psycopg.connect(pg_database, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        batch = WriteBatch(series=[_points(run.run_id, 10, start=10)], batch_id=new_batch_id())
        services.tracking.ingest(batch)  # no error: the dead connection was found, dropped, and retried
        services.tracking.ingest(batch)  # resent: applied once
        history = services.tracking.get_metric_history(run.run_id, "loss")
        assert history.steps.tolist() == list(range(20))
    finally:
        services.close()


def test_a_run_without_heartbeats_is_never_reaped_embedded_or_over_http(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose client never heartbeats (an MLflow client, an import) keeps RUNNING while quiet, also
    when it is created through the team server's ingest route."""
    from dataclasses import replace

    monkeypatch.setenv("ASSAY_HEARTBEAT_TIMEOUT", "1")
    exp = services.tracking.create_experiment("quiet")
    old = now_ms() - 3_600_000
    quiet = replace(new_run(exp.experiment_id, start_time=old), heartbeats=False)
    silent = new_run(exp.experiment_id, start_time=old)
    services.tracking.ingest(WriteBatch(new_runs=[quiet, silent], batch_id=new_batch_id()))
    assert services.tracking.get_run(quiet.run_id).info.status is RunStatus.RUNNING
    assert services.tracking.get_run(silent.run_id).info.status is RunStatus.KILLED


def test_the_wire_carries_whether_a_run_heartbeats() -> None:
    from dataclasses import replace

    from assay import wire

    quiet = replace(new_run("1"), heartbeats=False)
    loud = new_run("1")
    body = wire.decode_ingest(wire.encode_ingest(WriteBatch(new_runs=[quiet, loud])))
    assert [r.heartbeats for r in body.batch.new_runs] == [False, True]


def test_a_local_artifact_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    """A crash mid-write leaves no truncated artifact: the bytes go to a hidden file renamed over it once
    whole (a leftover hidden file is never listed or downloaded)."""
    from assay.artifacts.repository import PARTIAL, ArtifactRepository

    repo = ArtifactRepository(str(tmp_path / "art"))
    repo.write_bytes(b"first", "notes/a.txt")
    (tmp_path / "art" / "notes" / f"{PARTIAL}dead.a.txt").write_bytes(b"fir")  # what a crash would leave
    repo.write_bytes(b"second, longer", "notes/a.txt")
    source = tmp_path / "b.txt"
    source.write_bytes(b"uploaded")
    repo.upload(source, "notes")
    assert [f.path for f in repo.list("notes")] == ["notes/a.txt", "notes/b.txt"]
    assert repo.read_bytes("notes/a.txt") == b"second, longer"
    got = repo.download("notes", tmp_path / "down")
    assert sorted(p.name for p in got.iterdir()) == ["a.txt", "b.txt"]
