"""The offline spool: write batches the tracking store could not take, kept on disk until it can.

When a batch fails for a reason other than being refused (the server is down, the network broke), the
background writer appends it here instead of holding it in memory, and every later batch follows it, so
order is kept. Each tick tries to replay the spool first; ``assay sync`` replays what a finished process
left behind. Batches carry ids and the store applies an id once, so a batch replayed after its first
attempt did land is not applied twice.

Layout: ``$ASSAY_HOME/spool/<hash of the tracking URI>/<pid>-<random>.spool``, one file per writer,
each an append-only sequence of records (4-byte little-endian length, then the batch as the msgpack
ingest body), with a ``.offset`` file beside it saying how far replay got. A live writer holds an
exclusive lock on its file, so ``assay sync`` never replays a file that is still being written.

Nothing is deleted before the store has confirmed it: replay stops at the first batch that must be kept
(``assay.sdk.policy``: an outage, a token or role to fix) and leaves it and everything after it in place.
An operation the store refuses for good is set aside in ``rejected/`` beside the spool files, in the same
record format, with its reason in ``rejected/reasons.log``; ``assay sync --rejected`` sends those again
(after the cause is fixed, a run restored, say).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from assay import wire
from assay.entities import WriteBatch
from assay.errors import AssayError, InvalidInput
from assay.sdk.policy import describe

log = logging.getLogger("assay")

_LEN = struct.Struct("<I")


def spool_dir(home: Path, tracking_uri: str) -> Path:
    """Where batches for ``tracking_uri`` are spooled."""
    return home / "spool" / hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]


class SpoolFile:
    """One writer's append-only spool file (created on first append, locked while this object lives)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.spool"
        self._file: IO[bytes] | None = None

    def append(self, batch: WriteBatch) -> None:
        """Append ``batch`` durably (fsync) before returning."""
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open (and locked) for the writer's life
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        data = wire.encode_ingest(batch, batch_id=batch.batch_id)
        self._file.write(_LEN.pack(len(data)) + data)
        self._file.flush()
        os.fsync(self._file.fileno())

    def set_aside(self, op: WriteBatch, error: AssayError) -> Path:
        """Keep an operation the store refused for good in ``rejected/`` (see the module docstring)."""
        return set_aside(self.directory, op, error)

    def pending(self) -> bool:
        return self._file is not None and _offset(self.path) < self.path.stat().st_size

    def replay(self, send: Callable[[WriteBatch], object]) -> int:
        """Send the batches not yet replayed, in order; stops at the first failure (raised)."""
        if self._file is None:
            return 0
        sent = replay_file(self.path, send)
        if not self.pending():  # all sent: start afresh
            self.close(remove=True)
        return sent

    def close(self, remove: bool = False) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if remove:
            self.path.unlink(missing_ok=True)
            _offset_path(self.path).unlink(missing_ok=True)


def _offset_path(path: Path) -> Path:
    return path.with_suffix(".offset")


def _offset(path: Path) -> int:
    try:
        return int(_offset_path(path).read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _records(path: Path, start: int) -> Iterator[tuple[int, WriteBatch | None]]:
    """(offset after the record, batch) for each complete record from ``start``; a torn tail is skipped.

    A record that does not decode comes as None, after its bytes were copied to ``rejected/``."""
    with open(path, "rb") as f:
        f.seek(start)
        pos = start
        while True:
            head = f.read(_LEN.size)
            if len(head) < _LEN.size:
                return
            (n,) = _LEN.unpack(head)
            data = f.read(n)
            if len(data) < n:
                log.warning(
                    "assay: %s ends in a partly written batch (a crash while spooling); skipped", path
                )
                return
            pos += _LEN.size + n
            try:
                decoded = wire.decode_ingest(data)
            except InvalidInput as exc:
                folder = rejected_dir(path.parent)
                folder.mkdir(parents=True, exist_ok=True)
                with open(folder / "unreadable.bin", "ab") as out:
                    out.write(head + data)
                log.error("assay: unreadable batch in %s copied to %s: %s", path, folder, exc.message)
                yield pos, None
                continue
            yield (
                pos,
                WriteBatch(
                    decoded.batch.new_runs, decoded.batch.series, decoded.batch.ends, decoded.batch_id
                ),
            )


def replay_file(path: Path, send: Callable[[WriteBatch], object]) -> int:
    """Replay one spool file from its recorded offset, recording progress after each batch delivered.

    ``send`` delivers a batch (setting aside what is refused for good) or raises: then replay stops, and
    that batch and all after it stay in the file, to be sent again.
    """
    sent = 0
    for pos, batch in _records(path, _offset(path)):
        if batch is not None:
            send(batch)
            sent += 1
        _offset_path(path).write_text(str(pos))
    return sent


def replay_directory(directory: Path, send: Callable[[WriteBatch], object]) -> tuple[int, int]:
    """Replay every spool file no live writer holds (``assay sync``): (batches sent, files still held).

    A file is removed only once every batch in it was delivered; the first failure is raised.
    """
    sent = busy = 0
    for path in sorted(directory.glob("*.spool"), key=lambda p: p.stat().st_mtime):
        with open(path, "rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                busy += 1  # its writer is alive and replays it itself
                continue
            sent += replay_file(path, send)
            path.unlink(missing_ok=True)
            _offset_path(path).unlink(missing_ok=True)
    return sent, busy


def rejected_dir(directory: Path) -> Path:
    """Where operations refused for good are set aside, beside the spool files of ``directory``."""
    return directory / "rejected"


def set_aside(directory: Path, op: WriteBatch, error: AssayError) -> Path:
    """Append ``op`` to this process's file in ``rejected/`` (fsync) and its reason to ``reasons.log``."""
    folder = rejected_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{os.getpid()}.spool"
    data = wire.encode_ingest(op, batch_id=op.batch_id)
    with open(path, "ab") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        f.write(_LEN.pack(len(data)) + data)
        f.flush()
        os.fsync(f.fileno())
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with open(folder / "reasons.log", "a", encoding="utf-8") as f:
        f.write(f"{when} {path.name}: {describe(op)} was refused ({error.code}): {error.message}\n")
    return path
