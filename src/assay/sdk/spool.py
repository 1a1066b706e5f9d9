"""The offline spool: writes the tracking store could not take, kept on disk until it can.

When a write fails for a reason other than being refused (the server is down, the network broke), the
background writer appends it here instead of holding it in memory, and every later write follows it, so
order is kept. Writes are batches (run creations, points, run ends), changes to a run's params and tags
(``assay.sdk.run_data``) and artifact uploads, in one sequence, so a run's params, tags and artifacts are
written after the batch that creates the run. Each tick tries to replay the
spool first; ``assay sync`` replays what a finished process left behind. Batches carry ids and the store
applies an id once; an artifact upload replaces the file at its path; a param, tag or tag deletion sent
again changes nothing. So a write replayed after its first attempt did land (a crash between delivery and
the offset update) is not applied twice.

Layout of ``$ASSAY_HOME/spool/<hash of the tracking URI>/``:

``<pid>-<random>.spool``
    One file per writer, an append-only sequence of records: 4-byte little-endian length, then a msgpack
    body, either the batch as the ingest body (``assay.wire``; the only kind of record older versions
    wrote, so their files replay unchanged), ``{"artifact": {...}}`` (run, path, and the bytes inline or
    the name of a copy in ``blobs/``) or ``{"run_data": {...}}`` (params or tags: run, kind, keys and
    values). A ``.offset`` file beside it says how far replay got. A live writer holds an exclusive lock
    on its file, so ``assay sync`` never replays a file still written.
``blobs/<id>/<file name>``
    The copy of a large artifact, made (written, fsynced, renamed into place) before its record is
    appended, so a record never names a file that may change or vanish; uploads stream from it. It is
    removed once uploaded (a record whose copy is gone was uploaded, or discarded, before).
``held/<run id>/*.spool``
    The writes of a run the server refused for a missing role (``assay.sdk.policy``, HOLD_RUN), with the
    later writes of that run, in order, until ``assay sync`` delivers them (or ``--discard RUN`` drops
    them). Other runs keep flowing.
``rejected/``
    An operation the store refuses for good, in the same record format, with its reason in
    ``rejected/reasons.log``; ``assay sync --rejected`` sends those again.

Nothing is deleted before the store has confirmed it: replay stops at the first write that must be kept
(an outage, a token to fix) and leaves it and everything after it in place. The offset is written after
each record is delivered, a copy is removed after its upload, and a file once all of it was delivered.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import posixpath
import re
import shutil
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgpack

from assay import wire
from assay.entities import WriteBatch
from assay.errors import AssayError, InvalidInput
from assay.sdk.policy import Action, decide, deliver, describe, runs_of
from assay.sdk.run_data import KINDS, RunDataRecord, deliver_run_data
from assay.services.tracking import Tracking

log = logging.getLogger("assay")

_LEN = struct.Struct("<I")
#: Artifacts up to this size travel inside their record; larger ones are copied to ``blobs/``.
INLINE_MAX = 1 << 20
_CHUNK = 1 << 20


def spool_dir(home: Path, tracking_uri: str) -> Path:
    """Where writes for ``tracking_uri`` are spooled."""
    return home / "spool" / hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]


# ---- records ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactRecord:
    """One artifact file to upload: its bytes inline (``data``) or a copy in ``blobs/`` (``blob``)."""

    run_id: str
    path: str
    record_id: str
    data: bytes | None = None
    blob: str | None = None
    size: int = 0

    def describe(self) -> str:
        return f"the artifact {self.path!r} of run {self.run_id}"


#: What a spool file holds, in order.
Record = WriteBatch | ArtifactRecord | RunDataRecord


def record_runs(record: Record) -> set[str]:
    """The runs a record writes to."""
    return runs_of(record) if isinstance(record, WriteBatch) else {record.run_id}


def record_text(record: Record) -> str:
    """A record in words, for messages."""
    return describe(record) if isinstance(record, WriteBatch) else record.describe()


def record_kind(record: Record) -> str:
    """What a record is, for counts: "batch", "artifact" or "run data" (params and tags)."""
    if isinstance(record, WriteBatch):
        return "batch"
    return "artifact" if isinstance(record, ArtifactRecord) else "run data"


def encode_record(record: Record) -> bytes:
    """The body of ``record`` in a spool file (see the module docstring)."""
    if isinstance(record, WriteBatch):
        return wire.encode_ingest(record, batch_id=record.batch_id)
    if isinstance(record, RunDataRecord):
        data = {"id": record.record_id, "run_id": record.run_id, "kind": record.kind, "items": record.items}
        packed_data: bytes = msgpack.packb({"v": 1, "run_data": data}, use_bin_type=True)
        return packed_data
    body: dict[str, Any] = {
        "id": record.record_id,
        "run_id": record.run_id,
        "path": record.path,
        "size": record.size,
    }
    if record.data is not None:
        body["data"] = record.data
    else:
        body["blob"] = record.blob
    packed: bytes = msgpack.packb({"v": 1, "artifact": body}, use_bin_type=True)
    return packed


def decode_record(data: bytes) -> Record:
    """A record from its body; InvalidInput when it is neither an ingest body nor an artifact record."""
    try:
        body = msgpack.unpackb(data, raw=False)
    except Exception as exc:
        raise InvalidInput(f"not a msgpack record ({exc})") from None
    if isinstance(body, dict) and "artifact" in body:
        a = body["artifact"]
        try:
            return ArtifactRecord(
                run_id=str(a["run_id"]),
                path=str(a["path"]),
                record_id=str(a["id"]),
                data=a.get("data"),
                blob=a.get("blob"),
                size=int(a.get("size", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"artifact record without a valid {exc}") from None
    if isinstance(body, dict) and "run_data" in body:
        return _run_data_record(body["run_data"])
    decoded = wire.decode_ingest(data)
    b = decoded.batch
    return WriteBatch(b.new_runs, b.series, b.ends, decoded.batch_id)


def _run_data_record(d: Any) -> RunDataRecord:
    try:
        kind = next(k for k in KINDS if k == d["kind"])
        items = {str(k): str(val) for k, val in dict(d["items"]).items()}
        return RunDataRecord(str(d["run_id"]), kind, items, str(d.get("id", "")))
    except (KeyError, TypeError, ValueError, StopIteration) as exc:
        raise InvalidInput(f"params/tags record without a valid {exc or 'kind'}") from None


# ---- copies of large artifacts ---------------------------------------------------------------------------


def blob_path(root: Path, record: ArtifactRecord) -> Path:
    """The spool's copy of an artifact record's file (named as the artifact, for the upload)."""
    return root / "blobs" / str(record.blob) / posixpath.basename(record.path)


def _store_blob(root: Path, name: str, source: bytes | Path) -> str:
    """Copy ``source`` into ``blobs/<id>/<name>`` durably (a whole copy or none) and return the id."""
    blob = uuid.uuid4().hex
    folder = root / "blobs"
    tmp = folder / f".{blob}.tmp"
    tmp.mkdir(parents=True)
    with open(tmp / name, "wb") as out:
        if isinstance(source, bytes):
            out.write(source)
        else:
            with open(source, "rb") as src:
                shutil.copyfileobj(src, out, _CHUNK)
        out.flush()
        os.fsync(out.fileno())
    os.rename(tmp, folder / blob)
    _fsync_dir(folder)
    return blob


def drop_blob(root: Path, record: Record) -> None:
    """Remove an artifact record's copy (after its upload, or when it is discarded)."""
    if isinstance(record, ArtifactRecord) and record.blob:
        shutil.rmtree(root / "blobs" / record.blob, ignore_errors=True)


@contextmanager
def _blobs_lock(root: Path, how: int) -> Iterator[bool]:
    """``blobs.lock``: shared while a writer copies a file and appends its record, exclusive (never
    waited for) while ``clear_orphans`` looks for copies no record names."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "blobs.lock", "a") as f:
        try:
            fcntl.flock(f.fileno(), how)
        except BlockingIOError:
            yield False
            return
        yield True


def clear_orphans(root: Path) -> bool:
    """Remove what no spool file needs any more once none is left (``assay sync``, after a full replay):
    copies left by a crash between copying a file and appending its record, or named only by records
    dropped by hand, and offsets of gone files. False when a writer is at work (nothing removed)."""
    with _blobs_lock(root, fcntl.LOCK_EX | fcntl.LOCK_NB) as taken:
        if not taken or any(root.rglob("*.spool")):
            return False
        shutil.rmtree(root / "blobs", ignore_errors=True)
        for stale in root.glob("*.offset*"):
            stale.unlink(missing_ok=True)
        for folder in held_dir(root).glob("*"):
            _rmdir(folder)
        return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- one writer's file ------------------------------------------------------------------------------------


class SpoolFile:
    """One writer's append-only spool file in ``directory`` (created on first append, locked while this
    object lives); ``root`` is the spool directory whose ``blobs/`` and ``rejected/`` it shares."""

    def __init__(self, directory: Path, root: Path | None = None) -> None:
        self.directory = directory
        self.root = root or directory
        self.path = directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.spool"
        self._file: IO[bytes] | None = None

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open (and locked) for the writer's life
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self._file

    def append(self, record: Record) -> None:
        """Append ``record`` durably (fsync) before returning."""
        f = self._open()
        data = encode_record(record)
        f.write(_LEN.pack(len(data)) + data)
        f.flush()
        os.fsync(f.fileno())

    def add_artifact(self, run_id: str, path: str, source: bytes | Path) -> ArtifactRecord:
        """Spool the artifact file ``path`` of ``run_id``: ``source``'s bytes, or a copy of the local file
        ``source`` (made now: the file may change or vanish before the upload)."""
        self._open()  # first: a spool file tells `assay sync` not to clear blobs/ (see clear_orphans)
        rid = uuid.uuid4().hex
        if isinstance(source, bytes) and len(source) <= INLINE_MAX:
            record = ArtifactRecord(run_id, path, rid, data=source, size=len(source))
            self.append(record)
            return record
        n = len(source) if isinstance(source, bytes) else source.stat().st_size
        with _blobs_lock(self.root, fcntl.LOCK_SH) as taken:
            assert taken
            blob = _store_blob(self.root, posixpath.basename(path), source)
            record = ArtifactRecord(run_id, path, rid, blob=blob, size=n)
            self.append(record)
        return record

    def pending(self) -> bool:
        return self._file is not None and _offset(self.path) < self.path.stat().st_size

    def replay(self, send: Callable[[Record], object]) -> int:
        """Send the records not yet replayed, in order; stops at the first failure (raised)."""
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


def _records(path: Path, start: int, keep_bad: bool = True) -> Iterator[tuple[int, Record | None]]:
    """(offset after the record, record) for each complete record from ``start``; a torn tail is skipped.

    A record that does not decode comes as None, after its bytes were copied to ``rejected/`` (unless
    ``keep_bad`` is off: a listing only reads)."""
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
                if keep_bad:
                    log.warning(
                        "assay: %s ends in a partly written record (a crash while spooling); skipped", path
                    )
                return
            pos += _LEN.size + n
            try:
                record = decode_record(data)
            except InvalidInput as exc:
                if keep_bad:
                    folder = rejected_dir(_root_of(path))
                    folder.mkdir(parents=True, exist_ok=True)
                    with open(folder / "unreadable.bin", "ab") as out:
                        out.write(head + data)
                    log.error("assay: unreadable record in %s copied to %s: %s", path, folder, exc.message)
                yield pos, None
                continue
            yield pos, record


def _root_of(path: Path) -> Path:
    """The spool directory of a spool file (which may sit in ``held/<run>/`` or ``rejected/``)."""
    parent = path.parent
    if parent.parent.name == "held":
        return parent.parent.parent
    if parent.name == "resending":
        return parent.parent.parent
    return parent.parent if parent.name == "rejected" else parent


def replay_file(path: Path, send: Callable[[Record], object]) -> int:
    """Replay one spool file from its recorded offset, recording progress after each record delivered.

    ``send`` delivers a record (setting aside or holding what is refused) or raises: then replay stops, and
    that record and all after it stay in the file, to be sent again.
    """
    sent = 0
    for pos, record in _records(path, _offset(path)):
        if record is not None:
            send(record)
            sent += 1
        _write_offset(path, pos)
    return sent


def _write_offset(path: Path, pos: int) -> None:
    """Record how far replay got, by rename: a crash leaves the old offset or the new, never a torn one
    (a torn one would read as 0 and send the whole file again: applied once, but slowly)."""
    tmp = path.with_suffix(".offset-tmp")
    tmp.write_text(str(pos))
    os.replace(tmp, _offset_path(path))


@contextmanager
def _claimed(path: Path) -> Iterator[bool | None]:
    """Hold ``path``'s lock inside the block: True when taken, False when a live writer holds it, None
    when the file is gone (another sync took it)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        yield None
        return
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    _offset_path(path).unlink(missing_ok=True)


def _by_age(paths: Iterator[Path]) -> list[Path]:
    return sorted(paths, key=lambda p: p.stat().st_mtime)


def replay_directory(directory: Path, send: Callable[[Record], object]) -> tuple[int, int]:
    """Replay every spool file of ``directory`` no live writer holds (``assay sync``): (records sent,
    files still held by live writers). A file is removed once every record in it was delivered; the
    first failure is raised."""
    sent = busy = 0
    for path in _by_age(directory.glob("*.spool")):
        with _claimed(path) as mine:
            if mine is False:
                busy += 1  # its writer is alive and replays it itself
            if not mine:
                continue
            sent += replay_file(path, send)
            _remove(path)
    return sent, busy


# ---- refused writes: set aside, or held for their run ----------------------------------------------------


def rejected_dir(directory: Path) -> Path:
    """Where operations refused for good are set aside, beside the spool files of ``directory``."""
    return directory / "rejected"


_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it can name a run (and so a folder of the spool), else InvalidInput."""
    if not _RUN_ID.fullmatch(run_id):
        raise InvalidInput(f"{run_id!r} is not a run id (letters, digits, '_', '-' and '.')")
    return run_id


def held_dir(directory: Path, run_id: str | None = None) -> Path:
    """Where the writes of runs refused for a missing role wait (``held/<run id>/``)."""
    if run_id is None:
        return directory / "held"
    if not _RUN_ID.fullmatch(run_id):  # never a path outside held/
        run_id = "id-" + hashlib.sha256(run_id.encode()).hexdigest()[:16]
    return directory / "held" / run_id


def set_aside(directory: Path, op: Record, error: AssayError) -> Path:
    """Append ``op`` to this process's file in ``rejected/`` (fsync) and its reason to ``reasons.log``."""
    folder = rejected_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{os.getpid()}.spool"
    data = encode_record(op)
    with open(path, "ab") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        f.write(_LEN.pack(len(data)) + data)
        f.flush()
        os.fsync(f.fileno())
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with open(folder / "reasons.log", "a", encoding="utf-8") as f:
        f.write(f"{when} {path.name}: {record_text(op)} was refused ({error.code}): {error.message}\n")
    return path


def held_message(run_id: str, error: AssayError, directory: Path, live: bool = False) -> str:
    """The one line that says a run's writes are held, why, and what to do (``live``: said by the process
    that logs the run, which tries them again while it runs)."""
    again = "this process sends them (it tries every minute), or run" if live else "run"
    return (
        f"assay: the server refused the writes of run {run_id}: {error.message.rstrip('.')}. They are kept "
        f"in {held_dir(directory, run_id)}, with the later writes of that run; once the role is back, {again} "
        f"`assay sync` to send them (or `assay sync --discard {run_id}` to drop them). Other runs go on."
    )


class Courier:
    """Delivers records to ``backend`` by the error policy (``assay.sdk.policy``), with the effects it
    asks for: refused operations set aside in ``rejected/``, the writes of a run refused for a missing
    role held in ``held/<run id>/`` (with the later writes of that run), copies removed once uploaded.

    ``on_hold(run_id, error)`` is told once per held run; ``on_set_aside(record, error)`` each time.
    The live writer and ``assay sync`` both deliver through one; it is not thread-safe (the writer calls
    it under its send lock)."""

    def __init__(
        self,
        backend: Tracking,
        root: Path,
        on_hold: Callable[[str, AssayError], None],
        on_set_aside: Callable[[Record, AssayError], None],
    ) -> None:
        self.backend = backend
        self.root = root
        self.on_hold = on_hold
        self.on_set_aside = on_set_aside
        #: This process's held files, by run; and runs held by files of other (gone) processes.
        self.held_files: dict[str, SpoolFile] = {}
        self.held_elsewhere: set[str] = set()
        self._held: frozenset[str] = frozenset()  # replaced whole: read by other threads (heartbeats)
        self._told: set[str] = set()

    def held(self) -> set[str]:
        """The runs whose writes wait in ``held/``: later writes of theirs must follow them."""
        return set(self._held | self.held_elsewhere)

    def held_file(self, run_id: str) -> SpoolFile:
        f = self.held_files.get(run_id)
        if f is None:
            f = self.held_files[run_id] = SpoolFile(held_dir(self.root, run_id), self.root)
            self._held = self._held | {run_id}
        return f

    def hold(self, record: Record, error: AssayError | None) -> None:
        """Keep ``record`` (of one run) in that run's held file; say why once per run."""
        for run_id in sorted(record_runs(record)):
            self.held_file(run_id).append(record)
            self.tell(run_id, error)

    def tell(self, run_id: str, error: AssayError | None) -> None:
        """Say once per run why its writes are held (``on_hold``)."""
        if error is not None and run_id not in self._told:
            self._told.add(run_id)
            self.on_hold(run_id, error)

    def set_aside(self, record: Record, error: AssayError) -> None:
        set_aside(self.root, record, error)
        self.on_set_aside(record, error)

    def send(self, record: Record) -> list[AssayError]:
        """Deliver ``record``; returns the errors of what was set aside; raises what must be kept (RETRY,
        HOLD): the caller keeps the record whole (what of it was held or delivered is applied once)."""
        if isinstance(record, ArtifactRecord):
            return self._upload(record)
        if isinstance(record, RunDataRecord):
            return deliver_run_data(self.backend, record, self.set_aside, self.hold, self.held)
        return deliver(self.backend.ingest, record, self.set_aside, self.hold, self.held)

    def send_held(self, record: Record) -> list[AssayError]:
        """Deliver a record from ``held/`` (``assay sync``): as ``send``, except that a refusal for a
        missing role is raised (the run stays held) rather than held again."""
        if isinstance(record, ArtifactRecord):
            return self._upload(record, held_again=False)
        if isinstance(record, RunDataRecord):
            return deliver_run_data(self.backend, record, self.set_aside, _refuse)
        return deliver(self.backend.ingest, record, self.set_aside, _refuse)

    def retry_held(self) -> list[str]:
        """Send this process's held writes again, run by run (the role may be back); returns the runs
        whose held writes were all delivered, which are no longer held. A run still refused stays held;
        an outage is raised (nothing more is tried)."""
        released = []
        for run_id, held_file in list(self.held_files.items()):
            try:
                held_file.replay(self.send_held)
            except AssayError as exc:
                if decide(exc, single=True) is Action.HOLD_RUN:
                    continue
                raise
            if held_file.pending():
                continue
            held_file.close(remove=True)
            _rmdir(held_file.directory)
            del self.held_files[run_id]
            self._held = self._held - {run_id}
            self._told.discard(run_id)
            released.append(run_id)
        return released

    def take_held(self, batch: WriteBatch) -> WriteBatch:
        """Hold the operations of held runs in a batch never sent (one record per run, ids of their own)
        and return the rest under a new id: the batch to send, and to keep if it cannot be sent."""
        held = self.held()
        if not runs_of(batch) & held:
            return batch
        for run_id in sorted(runs_of(batch) & held):
            self.hold(_only(batch, {run_id}, keep=True), None)
        return _only(batch, held, keep=False)

    def _upload(self, record: ArtifactRecord, held_again: bool = True) -> list[AssayError]:
        if held_again and record.run_id in self.held():
            self.hold(record, None)
            return []
        try:
            upload(self.backend, self.root, record)
        except Exception as exc:
            action = decide(exc, single=True)
            if action is Action.RETRY or action is Action.HOLD:
                raise
            assert isinstance(exc, AssayError)
            if action is Action.HOLD_RUN:
                if not held_again:
                    raise
                self.hold(record, exc)
                return []
            self.set_aside(record, exc)
            return [exc]
        drop_blob(self.root, record)
        return []

    def close(self) -> None:
        for f in self.held_files.values():
            f.close()


def _refuse(_op: Record, error: AssayError | None) -> None:
    """The hold of ``send_held``: the refusal ends this run's replay, its records stay where they are."""
    assert error is not None
    raise error


def _only(batch: WriteBatch, runs: set[str], keep: bool) -> WriteBatch:
    """The operations of ``batch`` whose run is (``keep``) or is not in ``runs``, under a new batch id."""
    return WriteBatch(
        [r for r in batch.new_runs if (r.run_id in runs) == keep],
        [s for s in batch.series if (s.run_id in runs) == keep],
        [e for e in batch.ends if (e.run_id in runs) == keep],
        batch_id=wire.new_batch_id(),
    )


def upload(backend: Tracking, root: Path, record: ArtifactRecord) -> None:
    """Write an artifact record to the store: its inline bytes, or streamed from its copy. A copy that
    is gone was uploaded (or discarded) before: nothing is sent."""
    if record.data is not None:
        backend.write_artifact(record.run_id, record.path, record.data)
        return
    local = blob_path(root, record)
    if not local.is_file():
        log.info("assay: %s was uploaded before (its spooled copy is gone)", record.describe())
        return
    parent = posixpath.dirname(record.path)
    backend.upload_artifact(record.run_id, local, parent or None)


# ---- what waits, per run; dropping a run's writes ------------------------------------------------------


@dataclass
class RunPending:
    """What waits in the spool for one run."""

    run_id: str
    batches: int = 0
    points: int = 0
    artifacts: int = 0
    held: bool = False
    live: bool = False
    files: set[Path] = field(default_factory=set)


def _is_live(path: Path) -> bool:
    with _claimed(path) as mine:
        return mine is False


def pending_by_run(directory: Path) -> dict[str, RunPending]:
    """Every run with writes waiting in the spool (main files from their offsets, and held files)."""
    out: dict[str, RunPending] = {}
    paths = list(directory.glob("*.spool")) + list(held_dir(directory).glob("*/*.spool"))
    for path in paths:
        held = path.parent.parent.name == "held"
        live = _is_live(path)
        try:
            records = list(_records(path, _offset(path), keep_bad=False))
        except FileNotFoundError:
            continue
        for _, record in records:
            if record is None:
                continue
            for run_id in record_runs(record):
                p = out.setdefault(run_id, RunPending(run_id))
                p.held |= held
                p.live |= live
                p.files.add(path)
                if isinstance(record, ArtifactRecord):
                    p.artifacts += 1
                else:
                    p.batches += 1  # params and tags count as batches: writes other than files
                if isinstance(record, WriteBatch):
                    p.points += sum(len(s.values) for s in record.series if s.run_id == run_id)
    return out


def held_runs(directory: Path) -> set[str]:
    """The runs with writes in ``held/``."""
    return {p.parent.name for p in held_dir(directory).glob("*/*.spool")}


def replay_held(directory: Path, send: Callable[[Record], object]) -> tuple[int, dict[str, AssayError], int]:
    """Send the held writes of every run (``assay sync``), oldest file first: (records sent, runs still
    refused with their error, files of live writers). A run's files stop at its first refusal, which
    ``send`` raises as PermissionDenied."""
    sent = busy = 0
    still: dict[str, AssayError] = {}
    for folder in sorted(p for p in held_dir(directory).glob("*") if p.is_dir()):
        for path in _by_age(folder.glob("*.spool")):
            with _claimed(path) as mine:
                if mine is False:
                    busy += 1
                if not mine:
                    continue
                try:
                    sent += replay_file(path, send)
                except AssayError as exc:
                    if decide(exc, single=True) is not Action.HOLD_RUN:
                        raise
                    still[folder.name] = exc
                    break
                _remove(path)
        _rmdir(folder)
    return sent, still, busy


def _rmdir(folder: Path) -> None:
    with suppress(OSError):  # not empty, or gone
        folder.rmdir()


def discard_run(directory: Path, run_id: str) -> tuple[int, int, int]:
    """Drop every write of ``run_id`` waiting in the spool, on purpose: (batches, artifacts dropped,
    files of live writers left alone). Held files go whole; a main file is rewritten without the run's
    records (a batch of several runs keeps the others' operations, split as the policy splits)."""
    check_run_id(run_id)
    batches = artifacts = busy = 0
    held = _by_age(held_dir(directory, run_id).glob("*.spool"))
    for path in held + _by_age(directory.glob("*.spool")):
        with _claimed(path) as mine:
            if mine is False:
                busy += 1
            if not mine:
                continue
            if path.parent.name == run_id:
                b, a = _drop_records(path, directory)
                _remove(path)
            else:
                b, a = _rewrite_without(path, run_id, directory)
            batches, artifacts = batches + b, artifacts + a
    _rmdir(held_dir(directory, run_id))
    return batches, artifacts, busy


def _drop_records(path: Path, root: Path) -> tuple[int, int]:
    """Count the records of a file being dropped, removing the copies its artifact records name."""
    batches = artifacts = 0
    for _, record in _records(path, _offset(path), keep_bad=False):
        if isinstance(record, ArtifactRecord):
            artifacts += 1
            drop_blob(root, record)
        elif record is not None:
            batches += 1
    return batches, artifacts


def _rewrite_without(path: Path, run_id: str, root: Path) -> tuple[int, int]:
    """Replace ``path`` by a file of its records not yet replayed, less those of ``run_id``.

    The new file is written whole (fsync) under a new name with the old file's time (replay goes oldest
    first), then the old file goes. A crash between the two leaves both: their records carry the same ids,
    so each is applied once."""
    kept: list[Record] = []
    batches = artifacts = 0
    for _, record in _records(path, _offset(path), keep_bad=False):
        if record is None:
            continue
        if run_id not in record_runs(record):
            kept.append(record)
        elif isinstance(record, ArtifactRecord):
            artifacts += 1
        elif isinstance(record, RunDataRecord) or runs_of(record) == {run_id}:
            batches += 1
        else:
            batches += 1
            kept += [op for op in record.split() if run_id not in runs_of(op)]
    if not batches and not artifacts:
        return 0, 0
    if not kept:
        _drop_run_blobs(path, run_id, root)
        _remove(path)
        return batches, artifacts
    stat = path.stat()
    tmp = path.with_name(f".{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as out:
        for record in kept:
            data = encode_record(record)
            out.write(_LEN.pack(len(data)) + data)
        out.flush()
        os.fsync(out.fileno())
    os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.rename(tmp, path.with_name(f"{path.stem}-{uuid.uuid4().hex[:4]}.spool"))
    _fsync_dir(path.parent)
    _drop_run_blobs(path, run_id, root)
    _remove(path)
    return batches, artifacts


def _drop_run_blobs(path: Path, run_id: str, root: Path) -> None:
    for _, record in _records(path, _offset(path), keep_bad=False):
        if isinstance(record, ArtifactRecord) and record.run_id == run_id:
            drop_blob(root, record)
