"""The hot path's other half: per-run series buffers and the background thread that drains them.

``log_metric`` appends a ``(value, step, time)`` tuple to a ``deque`` per (run, key) and returns; deque
appends and pops are atomic under the GIL, so the caller takes no lock. A daemon thread wakes every
``interval`` seconds, drains every buffer into numpy arrays and hands one list of SeriesBatch to the sink
(the tracking backend). It also heartbeats the live runs and runs queued side tasks (artifact writes of
automatic capture) off the caller's thread. If the sink fails, the batches stay pending and are sent
again on the next tick: nothing accepted is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from assay.entities import SeriesBatch
from assay.errors import AssayError
from assay.services.tracking import Tracking

log = logging.getLogger("assay")

Point = tuple[float, "int | None", float]


class RunBuffer:
    """The buffered, not yet written points of one run: a deque per metric key."""

    __slots__ = ("closed", "next_step", "run_id", "series")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.series: dict[str, deque[Point]] = {}
        self.next_step: dict[str, int] = {}
        self.closed = False

    def drain(self) -> list[SeriesBatch]:
        """Take every buffered point out, as one batch per key, assigning auto-incremented steps."""
        out = []
        for key, q in list(self.series.items()):
            n = len(q)
            if not n:
                continue
            pop = q.popleft
            items = [pop() for _ in range(n)]
            values, steps, times = zip(*items, strict=True)
            nxt = self.next_step.get(key, 0)
            if None in steps:
                filled = []
                for s in steps:
                    if s is None:
                        s = nxt
                    filled.append(s)
                    nxt = s + 1
                step_arr = np.array(filled, dtype=np.int64)
            else:
                step_arr = np.array(steps, dtype=np.int64)
                nxt = int(step_arr[-1]) + 1
            self.next_step[key] = nxt
            out.append(
                SeriesBatch(
                    self.run_id,
                    key,
                    step_arr,
                    (np.array(times, dtype=np.float64) * 1000.0).astype(np.int64),
                    np.array(values, dtype=np.float64),
                )
            )
        return out


class BackgroundWriter:
    """One per backend and process: drains run buffers to ``backend.log_series`` and heartbeats runs."""

    def __init__(self, backend: Tracking, interval: float = 0.05, heartbeat_interval: float = 5.0) -> None:
        self.backend = backend
        self.interval = interval
        self.heartbeat_interval = heartbeat_interval
        self.buffers: dict[str, RunBuffer] = {}
        self._pending: list[SeriesBatch] = []
        self._tasks: deque[Callable[[], Any]] = deque()
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = False
        self._last_heartbeat = time.monotonic()
        self._warned = False
        self._thread = threading.Thread(target=self._loop, name="assay-writer", daemon=True)
        self._thread.start()

    # -- registration ------------------------------------------------------------------------------------

    def buffer(self, run_id: str) -> RunBuffer:
        buf = self.buffers.get(run_id)
        if buf is None:
            with self._lock:
                buf = self.buffers.setdefault(run_id, RunBuffer(run_id))
        return buf

    def release(self, run_id: str) -> list[SeriesBatch]:
        """Stop tracking ``run_id`` and return its unwritten points (pending ones included)."""
        with self._lock:
            buf = self.buffers.pop(run_id, None)
            mine = [b for b in self._pending if b.run_id == run_id]
            self._pending = [b for b in self._pending if b.run_id != run_id]
            if buf is not None:
                buf.closed = True
                mine += buf.drain()
            return mine

    def submit(self, task: Callable[[], Any]) -> None:
        """Run ``task`` on the writer thread (errors are logged, not raised)."""
        self._tasks.append(task)
        self._wake.set()

    # -- flushing ---------------------------------------------------------------------------------------

    def flush(self, raise_errors: bool = True) -> None:
        """Write everything buffered so far, and run queued tasks; by default errors reach the caller."""
        with self._lock:
            self._run_tasks()
            batches = self._pending
            self._pending = []
            for buf in list(self.buffers.values()):
                batches += buf.drain()
            if not batches:
                return
            try:
                self.backend.log_series(batches)
            except AssayError:
                # A run refused writes (ended or deleted elsewhere): keep the rest, drop nothing silently.
                self._send_one_by_one(batches, raise_errors)
            except Exception:
                self._pending = batches + self._pending
                if raise_errors:
                    raise
                if not self._warned:
                    log.warning("assay: could not write metrics, will retry", exc_info=True)
                    self._warned = True
            else:
                self._warned = False

    def _send_one_by_one(self, batches: list[SeriesBatch], raise_errors: bool) -> None:
        first: AssayError | None = None
        for b in batches:
            try:
                self.backend.log_series([b])
            except AssayError as exc:
                log.error(
                    "assay: dropped %d points of %s for run %s: %s", len(b.values), b.key, b.run_id, exc
                )
                first = first or exc
        if first is not None and raise_errors:
            raise first

    def _run_tasks(self) -> None:
        while self._tasks:
            task = self._tasks.popleft()
            try:
                task()
            except Exception:
                log.warning("assay: background task failed", exc_info=True)

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush(raise_errors=False)
                now = time.monotonic()
                if now - self._last_heartbeat >= self.heartbeat_interval:
                    self._last_heartbeat = now
                    ids = [rid for rid, b in list(self.buffers.items()) if not b.closed]
                    if ids:
                        self.backend.heartbeat(ids)
            except Exception:
                log.warning("assay: background writer error", exc_info=True)

    def close(self) -> None:
        """Flush and stop the thread."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush(raise_errors=False)
