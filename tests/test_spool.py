"""The offline spool: batches the store cannot take are kept on disk in order and replayed exactly once,
by the writer when the store returns or by `assay sync` after the process has exited."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assay import Client
from assay.bundle import get_backend
from assay.cli.main import app
from assay.embedded.tracking import TrackingService
from assay.entities import SeriesBatch, WriteBatch
from assay.sdk.spool import SpoolFile, replay_directory, spool_dir
from assay.sdk.writer import BackgroundWriter
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
