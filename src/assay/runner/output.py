"""An attempt's output: its stdout and stderr, at the file-descriptor level, captured into one file and
shipped to the job's log as it grows.

Descriptors 1 and 2 are pointed at one file for the attempt (``dup2``), so what the function prints, what
C extensions write and what its subprocesses inherit all land there, interleaved as written; Python's
``sys.stdout`` and ``sys.stderr`` are swapped for line-buffered writers on those descriptors, so a
``print`` reaches the file at once. A file rather than a pipe: nothing blocks when no one reads, a
subprocess that outlives the attempt cannot hang it, and the process that started this one can read what
was written even after killing it (``path_of``).

A shipper sends what is new every ``interval`` seconds (one thread per process ticks them all) and
once at the end, through ``ship(offset, data)``, which stores it idempotently by offset
(``Jobs.append_log``): a send that fails is sent again from the same offset at the next tick. The
descriptors are the process's: one capture at a time per process (a second one, from another thread,
captures nothing and says so).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TextIO

#: Largest piece one ``ship`` call carries.
CHUNK = 1 << 20

Ship = Callable[[int, bytes], None]

_active = threading.Lock()


def path_of(run_id: str) -> Path:
    """The file an attempt of run ``run_id`` writes its output to (removed when it ends)."""
    return Path(tempfile.gettempdir()) / "assay-runner" / f"{run_id}.log"


def read_from(path: Path, offset: int, limit: int = CHUNK) -> bytes:
    """Up to ``limit`` bytes of ``path`` from ``offset`` (nothing if it is gone)."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(limit)
    except FileNotFoundError:
        return b""


class Shipper:
    """Sends the new bytes of a file through ``ship``: every ``interval`` s on a thread, and on ``close``."""

    def __init__(self, path: Path, ship: Ship | None, interval: float = 1.0) -> None:
        self.path = path
        self.ship = ship
        self.interval = interval
        self.sent = 0
        self._next = 0.0
        self._lock = threading.Lock()

    def start(self) -> None:
        if self.ship is not None:
            self._next = time.monotonic() + self.interval
            _TICKER.add(self)

    def tick(self, now: float) -> None:
        """Send what is new if ``interval`` has passed since the last tick's send (the ticker's call)."""
        if now >= self._next:
            self._next = now + self.interval
            self.send(final=False)

    def send(self, final: bool) -> bool:
        """Send what is new; True if everything written so far has been delivered."""
        if self.ship is None:
            return True
        with self._lock:
            while True:
                data = read_from(self.path, self.sent)
                if not data:
                    return True
                try:
                    self.ship(self.sent, data)
                except Exception as exc:  # the store is away: the next tick sends it again
                    if final:
                        print(f"assay: could not ship the job's log: {exc}", file=sys.__stderr__)
                    return False
                self.sent += len(data)

    def close(self) -> bool:
        """Stop the ticks and send the rest; True if all of it was delivered."""
        _TICKER.remove(self)
        return self.send(final=True)


class _Ticker:
    """One thread per process ticks every running shipper (a thread per attempt would cost a no-op job a
    fifth of its time to start and join); started on first use, again in a forked child."""

    PERIOD = 0.1

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shippers: set[Shipper] = set()
        self._pid = 0
        self._thread: threading.Thread | None = None

    def add(self, shipper: Shipper) -> None:
        with self._lock:
            self._shippers.add(shipper)
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name="assay-log-shipper", daemon=True)
                self._thread.start()

    def remove(self, shipper: Shipper) -> None:
        with self._lock:
            self._shippers.discard(shipper)

    def _loop(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(self.PERIOD)
            with self._lock:
                shippers = list(self._shippers)
            now = time.monotonic()
            for shipper in shippers:
                try:
                    shipper.tick(now)
                except Exception as exc:  # one attempt's log, not every later one's: the next tick retries
                    print(f"assay: could not ship a job's log: {exc}", file=sys.__stderr__)


_TICKER = _Ticker()


class Capture:
    """``with Capture(path, ship):`` the process's stdout and stderr go to ``path`` (see the module
    docstring); ``data()`` reads them back once the block is left."""

    def __init__(self, path: Path, ship: Ship | None = None, interval: float = 1.0) -> None:
        self.path = path
        self.shipper = Shipper(path, ship, interval)
        self.delivered = True
        self._owned = False
        self._saved: list[int] = []
        self._streams: tuple[TextIO, TextIO] | None = None

    def __enter__(self) -> Capture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._owned = _active.acquire(blocking=False)
        if not self._owned:
            self.path.write_bytes(b"assay: output not captured: another task of this process captures it\n")
            return self
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            self._saved = [os.dup(1), os.dup(2)]
            os.dup2(fd, 1)
            os.dup2(fd, 2)
        finally:
            os.close(fd)
        self._streams = (sys.stdout, sys.stderr)
        sys.stdout = _writer(1)
        sys.stderr = _writer(2)
        self.shipper.start()
        return self

    def __exit__(
        self, tp: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._owned:
            self.delivered = self.shipper.close()
            return
        try:
            if self._streams is not None:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                sys.stdout, sys.stderr = self._streams
            for target, saved in zip((1, 2), self._saved, strict=True):
                os.dup2(saved, target)
                os.close(saved)
        finally:
            _active.release()
        self.delivered = self.shipper.close()

    def data(self) -> bytes:
        """Everything captured (read back from the file)."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""


def _writer(fd: int) -> TextIO:
    return open(fd, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
