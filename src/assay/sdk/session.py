"""What the SDK keeps for the whole process, in one object: ``SESSION``.

A process has one background writer per store (so every Client of a store shares its buffers, its
batches and its spool), one record of the capture files already stored per store (the requirements list
and a git diff are stored once, with the first run that sees them), and one system-metrics sampler.
``reset()`` flushes and forgets all of it, and the cached service bundles (tests, or switching stores).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from assay import bundle
from assay.entities import RunStatus
from assay.sdk import lifecycle
from assay.sdk.spool import SpoolFile, spool_dir
from assay.sdk.sysmetrics import SystemSampler
from assay.sdk.writer import BackgroundWriter
from assay.services.tracking import Tracking


class Session:
    """The SDK's process-wide state (see the module docstring). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.writers: dict[int, BackgroundWriter] = {}
        #: backend -> (artifact path, sha256 of content) -> runs:/ URI of the first run that stored it.
        self.captured: dict[int, dict[tuple[str, str], str]] = {}
        self._sampler: SystemSampler | None = None

    def writer_for(self, backend: Tracking, tracking_uri: str | None = None) -> BackgroundWriter:
        """The process's one background writer for ``backend`` (created on first use, flushed at exit).

        Batches the store cannot take go to the offline spool for ``tracking_uri`` (see assay.sdk.spool).
        """
        w = self.writers.get(id(backend))
        if w is not None:
            return w
        with self._lock:
            w = self.writers.get(id(backend))
            if w is None:
                uri = tracking_uri or bundle.default_tracking_uri()
                w = self.writers[id(backend)] = BackgroundWriter(
                    backend,
                    interval=float(os.environ.get("ASSAY_FLUSH_INTERVAL", "0.05")),
                    heartbeat_interval=float(os.environ.get("ASSAY_HEARTBEAT_INTERVAL", "5")),
                    spool=SpoolFile(spool_dir(bundle.assay_home().resolve(), uri)),
                )
                lifecycle.on_shutdown(_closer(w))
        return w

    def writer_of(self, backend: Tracking) -> BackgroundWriter | None:
        """The writer of ``backend`` if one was started, without starting one."""
        return self.writers.get(id(backend))

    def flush_pending(self, backend: Tracking) -> None:
        """Write what any writer of the process holds, so a read of ``backend`` sees every write accepted
        so far. Only the failure of ``backend``'s own writer reaches the reader: another store's outage is
        that store's writer's business (it keeps its batches, retries with backoff and says so), and a
        writer that is failing is not tried again for another store's read."""
        own = self.writers.get(id(backend))
        for w in list(self.writers.values()):
            if w is own:
                if w.dirty or w.has_points():
                    w.flush()
            elif not w.failing and (w.dirty or w.has_points()):
                w.flush(raise_errors=False)  # a store that is failing is retried by its own writer

    def captured_for(self, backend: Tracking) -> dict[tuple[str, str], str]:
        return self.captured.setdefault(id(backend), {})

    def sampler(self) -> SystemSampler:
        with self._lock:
            if self._sampler is None:
                self._sampler = SystemSampler()
            return self._sampler

    def stop_sampling(self, run_id: str) -> None:
        if self._sampler is not None:
            self._sampler.remove(run_id)

    def reset(self) -> None:
        """Flush and stop every background writer, forget captures and cached bundles."""
        for w in list(self.writers.values()):
            w.close()
        self.writers.clear()
        self.captured.clear()
        bundle.reset()


def _closer(w: BackgroundWriter) -> Callable[[RunStatus], None]:
    def close(_status: RunStatus) -> None:
        w.close()

    return close


SESSION = Session()


def writer_for(backend: Tracking, tracking_uri: str | None = None) -> BackgroundWriter:
    """``SESSION.writer_for``."""
    return SESSION.writer_for(backend, tracking_uri)


def reset() -> None:
    """``SESSION.reset``: flush and stop every background writer, forget cached bundles."""
    SESSION.reset()
