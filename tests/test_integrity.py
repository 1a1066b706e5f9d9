"""Regression tests for the integrity defects of issue 8: each failed before its fix.

Accepted data is never lost, duplicated or attached to the wrong run, whatever the threads, signals or
outages around it. Tests that involve a store run on SQLite, PostgreSQL and over HTTP (``tracking_uri``).
"""

from __future__ import annotations

import sys
import threading

import numpy as np

import assay


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
