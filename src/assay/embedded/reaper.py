"""``Reaper``: marks silent runs KILLED on a timer, so that reads never write.

A run whose process stopped heartbeating (killed, suspended, lost its network) must end KILLED. Doing it
before every read made each search and get a write transaction: on a busy server that is a lock taken by
every reader. Instead one daemon thread per store checks every ``interval`` seconds (a cheap indexed read;
a write only when some run is stale), and readers see such a run as KILLED at once through
``assay.services.tracking.as_read``. A server and an embedded process each run one; several at once (server
workers) are harmless: the update is idempotent.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable

from assay.services.tracking import heartbeat_timeout_ms, now_ms
from assay.store.sql.tracking import TrackingStore

log = logging.getLogger("assay.reaper")


def reap_interval() -> float:
    """Seconds between two checks: ``$ASSAY_REAP_INTERVAL``, else a quarter of the heartbeat timeout (at
    least 0.5 s), so a silent run is written KILLED within 1.25 timeouts of its last heartbeat."""
    given = os.environ.get("ASSAY_REAP_INTERVAL")
    return float(given) if given else max(0.5, heartbeat_timeout_ms() / 4000)


class Reaper:
    """One daemon thread reaping ``store`` every ``interval`` seconds until ``close`` (or until the store is
    garbage collected: the thread holds it weakly)."""

    def __init__(self, store: TrackingStore, interval: float | None = None) -> None:
        self.interval = reap_interval() if interval is None else interval
        self._stop = threading.Event()
        self._failing = False
        ref = weakref.ref(store)
        self._thread = threading.Thread(target=self._loop, args=(ref,), name="assay-reaper", daemon=True)
        self._thread.start()

    def _loop(self, ref: Callable[[], TrackingStore | None]) -> None:
        while True:
            store = ref()
            if store is None:
                return
            self.reap_once(store)
            del store
            if self._stop.wait(self.interval):
                return

    def reap_once(self, store: TrackingStore) -> int:
        """Mark the stale runs of ``store`` KILLED now; how many. A failure (the database is away) is
        logged once until it recovers, and never raised: the next tick tries again."""
        try:
            n = store.reap_stale_runs(now_ms() - heartbeat_timeout_ms())
        except Exception as exc:
            if not self._failing:
                log.warning("assay: could not reap silent runs (will retry): %s", exc)
            self._failing = True
            return 0
        self._failing = False
        return n

    def close(self) -> None:
        """Stop the thread (it ends within one check)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
