"""Regression tests for the integrity defects of issue 8: each failed before its fix.

Accepted data is never lost, duplicated or attached to the wrong run, whatever the threads, signals or
outages around it. Tests that involve a store run on SQLite, PostgreSQL and over HTTP (``tracking_uri``).
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import assay
from assay.backends import get_backend
from assay.entities import RunEnd, RunStatus, SeriesBatch, WriteBatch
from assay.errors import InvalidState
from assay.services.tracking import new_run


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
