"""The background writer: batching, retry after a store outage without loss or duplicates, isolation of a
refused operation."""

from __future__ import annotations

import numpy as np
import pytest

import assay
from assay import Client, RunStatus
from assay.bundle import get_backend
from assay.embedded.tracking import TrackingService
from assay.entities import WriteBatch
from assay.sdk.writer import NO_STEP, RECORD, BackgroundWriter, RunBuffer, fill_steps


class FlakyService(TrackingService):
    """The real embedded service, whose ingest fails while ``down`` is set (a store outage)."""

    down = False
    attempts = 0

    def ingest(self, batch: WriteBatch) -> None:
        self.attempts += 1
        if self.down:
            raise ConnectionError("store unreachable")
        super().ingest(batch)


def test_fill_steps_continues_from_previous_step() -> None:
    steps = np.array([NO_STEP, NO_STEP, 10, NO_STEP, 3, NO_STEP], dtype=np.int64)
    assert fill_steps(steps, 5).tolist() == [5, 6, 10, 11, 3, 4]
    assert fill_steps(np.array([1, 2], dtype=np.int64), 0).tolist() == [1, 2]


def test_run_buffer_drains_whole_points_in_order() -> None:
    buf = RunBuffer("r")
    append = buf.open("k")
    append(RECORD.pack(1.0, 0, 1.0))
    append(RECORD.pack(2.0, NO_STEP, 2.0))
    (batch,) = buf.drain()
    assert batch.values.tolist() == [1.0, 2.0] and batch.steps.tolist() == [0, 1]
    assert batch.timestamps.tolist() == [1000, 2000]
    assert buf.drain() == []
    append(RECORD.pack(3.0, NO_STEP, 3.0))
    (batch,) = buf.drain()
    assert batch.values.tolist() == [3.0] and batch.steps.tolist() == [2]


def test_outage_keeps_everything_and_retries_in_order(sqlite_uri: str) -> None:
    real = get_backend(sqlite_uri)
    assert isinstance(real, TrackingService)
    flaky = FlakyService(real.store, real.artifact_root)
    writer = BackgroundWriter(flaky, interval=3600)  # flushed by hand below
    try:
        exp = flaky.create_experiment("outage")
        from assay.services.tracking import new_run

        new = new_run(exp.experiment_id, name="r")
        buf = writer.create(new)
        flaky.down = True
        for i in range(1000):
            buf.add("loss", float(i), i, 1.0 + i)
        with pytest.raises(ConnectionError):
            writer.flush()
        for i in range(1000, 1500):
            buf.add("loss", float(i), i, 1.0 + i)
        writer.flush(raise_errors=False)  # still down: kept, warned once
        flaky.down = False
        writer.flush()
        h = flaky.get_metric_history(new.run_id, "loss")
        assert h.steps.tolist() == list(range(1500))  # each point once, in order
        assert flaky.get_run(new.run_id).info.status == RunStatus.RUNNING
    finally:
        writer.close()


def test_a_refused_operation_does_not_block_the_others(
    tracking_uri: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No background ticks: the points must still be queued when the run is ended behind the writer's back.
    monkeypatch.setenv("ASSAY_FLUSH_INTERVAL", "3600")
    c = Client()
    exp = c.get_or_create_experiment("e")
    doomed = c.create_run(exp.experiment_id, capture_git=False, capture_environment=False).run_id
    fine = c.create_run(exp.experiment_id, capture_git=False, capture_environment=False).run_id
    c.flush()
    c.log_metric(doomed, "m", 1.0)
    c.log_metric(fine, "m", 2.0)
    c.backend.end_run(doomed, RunStatus.FINISHED)  # ended behind the writer's back
    with pytest.raises(assay.InvalidState):
        c.flush()
    assert "1 points of 'm'" in caplog.text and "was refused and set aside" in caplog.text
    assert c.get_metric_history(fine, "m").values.tolist() == [2.0]
    assert len(c.get_metric_history(doomed, "m")) == 0


def test_many_runs_in_one_batch(tracking_uri: str) -> None:
    assay.set_experiment("batch")
    ids = []
    for i in range(200):
        with assay.start_run(
            name=f"r{i}", params={"i": i}, capture_git=False, capture_environment=False
        ) as r:
            assay.log_metric("x", float(i))
        ids.append(r.id)
    runs = assay.search_runs(experiment="batch", order_by=["params.i"])
    assert [r.id for r in runs] == ids
    assert all(r.info.status == RunStatus.FINISHED and r.metrics["x"] == float(r.params["i"]) for r in runs)


def test_a_batch_sent_twice_is_applied_once(tracking_uri: str) -> None:
    c = Client()
    exp = c.get_or_create_experiment("idem")
    from assay.entities import SeriesBatch
    from assay.services.tracking import new_run

    new = new_run(exp.experiment_id, name="r")
    series = SeriesBatch(
        new.run_id, "m", np.arange(3, dtype=np.int64), np.arange(3, dtype=np.int64), np.array([1.0, 2.0, 3.0])
    )
    batch = WriteBatch(new_runs=[new], series=[series], batch_id="b-123")
    c.backend.ingest(batch)
    c.backend.ingest(batch)  # a retry after a lost response, or a spool replay
    assert c.get_metric_history(new.run_id, "m").values.tolist() == [1.0, 2.0, 3.0]
    assert c.get_run(new.run_id).metric_summaries["m"].num_points == 3


def test_reads_see_this_process_writes_even_mid_send(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read right after a write sees it, even when the background writer is sending it at that moment
    (a flush every millisecond makes that moment frequent)."""
    monkeypatch.setenv("ASSAY_FLUSH_INTERVAL", "0.001")
    c = Client()
    exp = c.get_or_create_experiment("e")
    for i in range(150):
        rid = c.create_run(
            exp.experiment_id, name=f"r{i}", capture_git=False, capture_environment=False
        ).run_id
        c.set_terminated(rid)
        found = c.search_runs("e", f"attributes.run_id = '{rid}'")
        assert [r.info.status for r in found] == [RunStatus.FINISHED], f"iteration {i}"
