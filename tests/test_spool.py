"""The offline spool: batches the store cannot take are kept on disk in order and replayed exactly once,
by the writer when the store returns or by `assay sync` after the process has exited."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assay import Client, wire
from assay.bundle import get_backend
from assay.cli.main import app
from assay.embedded.tracking import TrackingService
from assay.entities import SeriesBatch, WriteBatch
from assay.errors import InvalidInput, NotFound, PermissionDenied
from assay.sdk.policy import Action, decide, runs_of
from assay.sdk.spool import INLINE_MAX, SpoolFile, clear_orphans, replay_directory, spool_dir
from assay.sdk.writer import ArtifactWrite, BackgroundWriter
from assay.services.tracking import new_run


class FlakyService(TrackingService):
    """The real embedded service, unreachable while ``down`` is set."""

    down = False

    def ingest(self, batch: WriteBatch) -> None:
        if self.down:
            raise ConnectionError("store unreachable")
        super().ingest(batch)


def _points(run_id: str, start: int, n: int) -> SeriesBatch:
    steps = np.arange(start, start + n, dtype=np.int64)
    return SeriesBatch(run_id, "x", steps, steps * 1000, steps.astype(np.float64))


def test_spool_replays_in_order_and_resumes_after_a_failure(tmp_path: Path) -> None:
    spool = SpoolFile(tmp_path / "spool")
    for i in range(5):
        spool.append(WriteBatch(series=[_points("r", i * 10, 10)], batch_id=f"b{i}"))
    got: list[str | None] = []

    def flaky(batch: WriteBatch) -> None:
        if len(got) == 2 and batch.batch_id == "b2" and "failed" not in got:
            got.append("failed")
            raise ConnectionError("down again")
        got.append(batch.batch_id)
        assert batch.series[0].steps.tolist() == list(
            range(int(batch.batch_id[1:]) * 10, int(batch.batch_id[1:]) * 10 + 10)
        )

    with pytest.raises(ConnectionError):
        spool.replay(flaky)
    assert spool.pending()
    assert spool.replay(flaky) == 3  # resumes at b2, not at the start
    assert got == ["b0", "b1", "failed", "b2", "b3", "b4"]
    assert not spool.pending() and not spool.path.exists()


def test_a_torn_last_record_is_skipped(tmp_path: Path) -> None:
    spool = SpoolFile(tmp_path / "spool")
    spool.append(WriteBatch(series=[_points("r", 0, 3)], batch_id="ok"))
    spool.close()
    with open(spool.path, "ab") as f:
        f.write(b"\x50\x00\x00\x00partial")  # a crash in the middle of appending
    sent: list[WriteBatch] = []
    assert replay_directory(tmp_path / "spool", sent.append) == (1, 0)
    assert [b.batch_id for b in sent] == ["ok"]


def test_outage_spools_to_disk_and_assay_sync_replays_after_exit(
    sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    real = get_backend(sqlite_uri)
    assert isinstance(real, TrackingService)
    flaky = FlakyService(real.store, real.artifact_root)
    directory = spool_dir((tmp_path / "home").resolve(), sqlite_uri)
    writer = BackgroundWriter(flaky, interval=3600, spool=SpoolFile(directory))
    exp = flaky.create_experiment("offline")
    run = new_run(exp.experiment_id, name="started offline")
    buf = writer.create(run)
    flaky.down = True
    for i in range(300):
        buf.add("x", float(i), i, 1.0 + i)
    writer.flush(raise_errors=False)  # the run's creation and its points go to disk
    for i in range(300, 500):
        buf.add("x", float(i), i, 1.0 + i)
    writer.close()  # the process ends while the store is still down
    assert list(directory.glob("*.spool"))
    with pytest.raises(Exception, match="no run"):
        flaky.get_run(run.run_id)

    result = CliRunner().invoke(app, ["--tracking-uri", sqlite_uri, "sync"])
    assert result.exit_code == 0, result.output
    assert "replayed 2 spooled batches" in result.output
    h = Client(sqlite_uri).get_metric_history(run.run_id, "x")
    assert h.steps.tolist() == list(range(500))  # created on replay, every point once, in order
    again = CliRunner().invoke(app, ["--tracking-uri", sqlite_uri, "sync"])
    assert (again.exit_code == 0 and "nothing to sync" in again.output) or "replayed 0" in again.output
    assert len(Client(sqlite_uri).get_metric_history(run.run_id, "x")) == 500


def test_the_writer_replays_its_own_spool_when_the_store_returns(sqlite_uri: str, tmp_path: Path) -> None:
    real = get_backend(sqlite_uri)
    assert isinstance(real, TrackingService)
    flaky = FlakyService(real.store, real.artifact_root)
    writer = BackgroundWriter(flaky, interval=3600, spool=SpoolFile(tmp_path / "spool"))
    try:
        exp = flaky.create_experiment("blip")
        run = new_run(exp.experiment_id)
        buf = writer.create(run)
        flaky.down = True
        for i in range(100):
            buf.add("x", float(i), i, 1.0)
            if i % 25 == 24:
                writer.flush(raise_errors=False)
        assert writer.spool is not None and writer.spool.pending()
        flaky.down = False
        buf.add("x", 100.0, 100, 1.0)
        writer.flush()
        assert not writer.spool.pending()
        assert flaky.get_metric_history(run.run_id, "x").steps.tolist() == list(range(101))
    finally:
        writer.close()


def test_spool_files_of_the_previous_format_still_replay(sqlite_uri: str, tmp_path: Path) -> None:
    """A team upgrading with batches pending: files written before artifacts were spooled (every record a
    4-byte length and an ingest body, an ``.offset`` beside) replay from their offset, each batch once."""
    backend = get_backend(sqlite_uri)
    run = new_run(backend.create_experiment("upgrade").experiment_id)
    batches = [
        WriteBatch(new_runs=[run], batch_id="old-0"),
        WriteBatch(series=[_points(run.run_id, 0, 5)], batch_id="old-1"),
        WriteBatch(series=[_points(run.run_id, 5, 5)], batch_id="old-2"),
    ]
    records = [wire.encode_ingest(b, batch_id=b.batch_id) for b in batches]
    directory = spool_dir((tmp_path / "home").resolve(), sqlite_uri)
    directory.mkdir(parents=True)
    old = directory / "4242-0badc0de.spool"
    old.write_bytes(b"".join(struct.pack("<I", len(r)) + r for r in records))
    backend.ingest(batches[0])  # delivered before the upgrade, as its offset says
    old.with_suffix(".offset").write_text(str(4 + len(records[0])))
    result = CliRunner().invoke(
        app, ["--tracking-uri", sqlite_uri, "sync"], env={"ASSAY_HOME": str(tmp_path / "home")}
    )
    assert result.exit_code == 0, result.output
    assert "replayed 2 spooled batches" in result.output
    assert backend.get_metric_history(run.run_id, "x").steps.tolist() == list(range(10))
    assert not list(directory.glob("*.spool")) and not list(directory.glob("*.offset"))


def test_a_missing_role_holds_the_run_and_a_batch_of_several_runs_is_split() -> None:
    assert decide(PermissionDenied("m"), single=True) is Action.HOLD_RUN
    assert decide(PermissionDenied("m"), single=False, one_run=True) is Action.HOLD_RUN
    assert decide(PermissionDenied("m"), single=False, one_run=False) is Action.SPLIT
    assert decide(InvalidInput("m"), single=False, one_run=True) is Action.SPLIT
    assert decide(InvalidInput("m"), single=True) is Action.SET_ASIDE


def test_discard_drops_one_run_from_spooled_batches_and_keeps_the_others(
    sqlite_uri: str, tmp_path: Path
) -> None:
    """`assay sync --discard RUN` on batches that mix runs: the other runs' operations stay, and are
    delivered once by the next sync."""
    backend = get_backend(sqlite_uri)
    eid = backend.create_experiment("mixed").experiment_id
    keep, drop = new_run(eid), new_run(eid)
    directory = spool_dir((tmp_path / "home").resolve(), sqlite_uri)
    spool = SpoolFile(directory)
    spool.append(WriteBatch(new_runs=[keep, drop], batch_id="m0"))
    spool.append(WriteBatch(series=[_points(drop.run_id, 0, 4)], batch_id="m1"))
    spool.add_artifact(drop.run_id, "big.bin", b"x" * (INLINE_MAX + 1))
    spool.append(WriteBatch(series=[_points(keep.run_id, 0, 4), _points(drop.run_id, 4, 4)], batch_id="m2"))
    spool.close()
    env = {"ASSAY_HOME": str(tmp_path / "home")}
    listed = CliRunner().invoke(app, ["--tracking-uri", sqlite_uri, "sync", "--list"], env=env)
    assert drop.run_id in listed.output and keep.run_id in listed.output
    dropped = CliRunner().invoke(
        app, ["--tracking-uri", sqlite_uri, "sync", "--discard", drop.run_id], env=env
    )
    assert dropped.exit_code == 0, dropped.output
    assert f"dropped 3 batches and 1 artifact of run {drop.run_id}" in dropped.output
    bad = CliRunner().invoke(app, ["--tracking-uri", sqlite_uri, "sync", "--discard", "../x"], env=env)
    assert bad.exit_code == 1 and "'../x' is not a run id" in bad.output
    assert not [p for p in (directory / "blobs").iterdir() if not p.name.startswith(".")]
    result = CliRunner().invoke(app, ["--tracking-uri", sqlite_uri, "sync"], env=env)
    assert result.exit_code == 0, result.output
    assert backend.get_metric_history(keep.run_id, "x").steps.tolist() == [0, 1, 2, 3]
    with pytest.raises(NotFound):
        backend.get_run(drop.run_id)


class GuardedService(FlakyService):
    """The real embedded service, refusing the runs in ``denied`` as a server refuses a removed role."""

    denied: set[str] = set()

    def ingest(self, batch: WriteBatch) -> None:
        if not self.down and runs_of(batch) & self.denied:
            raise PermissionDenied("user 'ada' has no role in project 'vision'")
        super().ingest(batch)

    def write_artifact(self, run_id: str, path: str, data: bytes) -> None:
        if run_id in self.denied:
            raise PermissionDenied("user 'ada' has no role in project 'vision'")
        super().write_artifact(run_id, path, data)


def test_a_held_run_through_an_outage_is_delivered_once_by_assay_sync(
    sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A run refused mid-run is held while the other run flows, through an outage too (the part of a batch
    kept for the outage does not carry the held run's points a second time); `assay sync` delivers it."""
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    real = get_backend(sqlite_uri)
    assert isinstance(real, TrackingService)
    guarded = GuardedService(real.store, real.artifact_root)
    guarded.denied = set()
    directory = spool_dir((tmp_path / "home").resolve(), sqlite_uri)
    writer = BackgroundWriter(guarded, interval=3600, spool=SpoolFile(directory))
    eid = guarded.create_experiment("held").experiment_id
    held, flowing = new_run(eid), new_run(eid)
    bufs = [writer.create(held), writer.create(flowing)]
    for i in range(10):
        for buf in bufs:
            buf.add("x", float(i), i, 1.0)
    writer.flush()
    guarded.denied = {held.run_id}
    with caplog.at_level(logging.ERROR, logger="assay"):
        for i in range(10, 20):
            for buf in bufs:
                buf.add("x", float(i), i, 1.0)
        writer.flush()
        guarded.down = True
        for i in range(20, 30):
            for buf in bufs:
                buf.add("x", float(i), i, 1.0)
        writer.flush(raise_errors=False)
        guarded.down = False
        writer.artifact(ArtifactWrite(held.run_id, "notes.txt", data=b"kept"))
        writer.flush()
    assert [r.getMessage().count(held.run_id) > 0 for r in caplog.records] == [True]  # one error line
    assert guarded.get_metric_history(flowing.run_id, "x").steps.tolist() == list(range(30))
    assert guarded.get_metric_history(held.run_id, "x").steps.tolist() == list(range(10))
    assert writer.retry_held() == []  # still refused: still held
    writer.close()
    guarded.denied = set()  # the role is back
    result = CliRunner().invoke(
        app, ["--tracking-uri", sqlite_uri, "sync"], env={"ASSAY_HOME": str(tmp_path / "home")}
    )
    assert result.exit_code == 0, result.output
    assert guarded.get_metric_history(held.run_id, "x").steps.tolist() == list(range(30))  # each once
    assert guarded.read_artifact(held.run_id, "notes.txt") == b"kept"
    assert not list(directory.rglob("*.spool"))


def test_assay_sync_clears_copies_no_record_names_once_nothing_waits(sqlite_uri: str, tmp_path: Path) -> None:
    """A crash between copying a large artifact into the spool and appending its record leaves a copy
    that no record names: `assay sync` removes it once no spool file is left, and not while one is."""
    directory = spool_dir((tmp_path / "home").resolve(), sqlite_uri)
    spool = SpoolFile(directory)
    record = spool.add_artifact("r1", "big.bin", b"x" * (INLINE_MAX + 1))
    (directory / "blobs" / ".torn.tmp").mkdir()  # a copy cut short
    env = {"ASSAY_HOME": str(tmp_path / "home")}
    assert not clear_orphans(directory)  # a writer holds its spool file: nothing is touched
    assert (directory / "blobs" / str(record.blob)).is_dir()
    spool.close(remove=True)  # its record gone (dropped by hand, say): the copy is an orphan now
    result = CliRunner().invoke(app, ["--tracking-uri", sqlite_uri, "sync"], env=env)
    assert result.exit_code == 0 and "nothing to sync" in result.output
    assert not (directory / "blobs").exists()


def test_the_writer_sends_held_writes_again_once_the_role_is_back(sqlite_uri: str, tmp_path: Path) -> None:
    real = get_backend(sqlite_uri)
    assert isinstance(real, TrackingService)
    guarded = GuardedService(real.store, real.artifact_root)
    writer = BackgroundWriter(guarded, interval=3600, spool=SpoolFile(tmp_path / "spool"))
    try:
        run = new_run(guarded.create_experiment("back").experiment_id)
        buf = writer.create(run)
        buf.add("x", 0.0, 0, 1.0)
        writer.flush()
        guarded.denied = {run.run_id}
        for i in range(1, 5):
            buf.add("x", float(i), i, 1.0)
            writer.flush()
        writer.artifact(ArtifactWrite(run.run_id, "a.txt", data=b"a"))
        assert guarded.get_metric_history(run.run_id, "x").steps.tolist() == [0]
        guarded.denied = set()
        assert writer.retry_held() == [run.run_id]
        buf.add("x", 5.0, 5, 1.0)  # and it logs straight to the store again, after what was held
        writer.flush()
        assert guarded.get_metric_history(run.run_id, "x").steps.tolist() == list(range(6))
        assert guarded.read_artifact(run.run_id, "a.txt") == b"a"
        assert not list((tmp_path / "spool").rglob("*.spool"))
    finally:
        writer.close()
