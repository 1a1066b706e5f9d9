"""``UsageRecorder``: when each token was last used, written in batches off the request path.

Authenticating a token only notes the time in a dict (no I/O); a daemon thread writes what was noted
every ``interval`` seconds in one statement, so a token costs at most one write per interval however
busy it is, and a request never waits for it. Listing tokens flushes first, so a process sees its own
uses at once; another server process's uses show within the interval.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping

log = logging.getLogger("assay.access")


class UsageRecorder:
    """Notes token uses and hands them to ``write`` (token id -> epoch ms) every ``interval`` seconds."""

    def __init__(self, write: Callable[[Mapping[str, int]], None], interval: float = 60.0) -> None:
        self._write = write
        self.interval = interval
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def touch(self, token_id: str, at_ms: int) -> None:
        """Note a use (a dict write; the thread that writes them starts with the first use)."""
        with self._lock:
            self._pending[token_id] = at_ms
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=_run, args=(weakref.ref(self), self._stop, self.interval), daemon=True
                )
                self._thread.start()

    def flush(self) -> None:
        """Write what was noted since the last flush."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if pending:
            self._write(pending)

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        try:
            self.flush()
        except Exception:
            log.warning("could not record when tokens were last used", exc_info=True)


def _run(ref: weakref.ref[UsageRecorder], stop: threading.Event, interval: float) -> None:
    """The writer thread; it holds its recorder weakly, so a recorder nobody uses any more ends it."""
    while not stop.wait(interval):
        recorder = ref()
        if recorder is None:
            return
        try:
            recorder.flush()
        except Exception:  # the store may be down for a moment: the next round writes newer times
            log.warning("could not record when tokens were last used", exc_info=True)
        del recorder
