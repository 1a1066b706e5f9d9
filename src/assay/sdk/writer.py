"""The hot path's other half: per-run series buffers and the background thread that drains them.

``log_metric`` packs value, step and time into one record and appends it to a bytearray per (run, key)
(see SeriesBuffer for why that needs no lock, even with many threads). A daemon thread wakes every
``interval`` seconds, drains every buffer into numpy arrays and hands one list of SeriesBatch to the sink
(the tracking backend). It also heartbeats the live runs and writes queued artifacts (automatic
capture's files) off the caller's thread. Artifacts the caller logs go through it too (``artifact``), so
they are written after the batch that creates their run, or spooled behind it. So do the params and tags
of the runs it writes (``assay.sdk.run_data``): queued, merged per run, and sent after the batch that
creates their run and before the one that ends it. What happens when a send fails is decided by one
table, ``assay.sdk.policy``: writes that were not accepted are kept (spooled) and sent again; an
operation the store refuses for good is set aside with its reason; the writes of a run refused for a
missing role are held for that run while other runs go on. Nothing accepted is dropped.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.artifacts.uri import clean_path
from assay.entities import NewRun, RunEnd, RunStatus, SeriesBatch, WriteBatch
from assay.errors import AssayError, InvalidInput, InvalidState, NotFound
from assay.sdk.policy import Action, decide, deliver
from assay.sdk.run_data import PendingRunData, RunDataRecord, deliver_run_data, param_conflict
from assay.sdk.spool import (
    Courier,
    Record,
    SpoolFile,
    check_run_id,
    held_message,
    record_text,
    rejected_dir,
)
from assay.services import validation as v
from assay.services.tracking import Tracking
from assay.wire import new_batch_id

log = logging.getLogger("assay")

#: The hot path's view of one series: ``append(RECORD.pack(value, step, seconds))``.
Appender = Callable[[bytes], None]

#: The longest wait between two background tries while sends keep failing.
MAX_BACKOFF_S = 5.0

#: How many runs ended by this writer it remembers, to queue their later tags and refuse their params.
MAX_ENDED = 10_000

#: Stands for "no step given" in a step buffer; the writer replaces it with the previous step + 1.
NO_STEP = -(2**63)

#: One point as the hot path packs it: value (float64), step (int64), time (float64 seconds).
RECORD = struct.Struct("<dqd")
_POINTS = np.dtype([("value", "<f8"), ("step", "<i8"), ("time", "<f8")])


class SeriesBuffer:
    """Unwritten points of one (run, key): packed records in one bytearray, appended by any thread.

    Each point is one ``RECORD`` appended with one ``bytearray.extend`` call: a single C call that runs no
    Python code, so it is atomic under the GIL. Several threads logging the same key therefore interleave
    whole points, never parts of points (three separate appends of value, step and time would pair a value
    with another thread's step after any thread switch between them). Packing one record is also cheaper
    than three appends. The writer takes a prefix of whole records and deletes it with one call; deleting
    from the front of a bytearray is cheap (it moves a start offset), and appends only touch the end.
    """

    __slots__ = ("append", "data")

    def __init__(self) -> None:
        self.data = bytearray()
        #: The hot path's view: the bound extend method.
        self.append: Appender = self.data.extend

    def take(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
        k = len(self.data)
        k -= k % RECORD.size  # always whole records: each extend added one whole
        if not k:
            return None
        raw = bytes(self.data[:k])
        del self.data[:k]
        points = np.frombuffer(raw, dtype=_POINTS)
        return (
            np.ascontiguousarray(points["value"]),
            np.ascontiguousarray(points["step"]),
            np.ascontiguousarray(points["time"]),
        )


def bad_point(key: str, step: int, timestamp: object) -> InvalidInput:
    """The error for a point whose step or timestamp does not fit its record (the hot path's slow exit)."""
    if step != NO_STEP:
        v.metric_step(key, step)  # raises for a step beyond 64 bits
    if timestamp is not None:
        v.time_ms(timestamp, f"metric {key!r} timestamp")
    return InvalidInput(f"metric {key!r}: the point does not fit (step {step!r}, timestamp {timestamp!r})")


def fill_steps(steps: npt.NDArray[np.int64], start: int) -> npt.NDArray[np.int64]:
    """Replace NO_STEP entries by the previous point's step + 1 (``start`` for a leading one)."""
    missing = steps == NO_STEP
    if not missing.any():
        return steps
    pos = np.arange(steps.shape[0])
    last = np.maximum.accumulate(np.where(missing, -1, pos))
    base = np.where(last >= 0, steps[np.maximum(last, 0)], start - 1)
    offset = np.where(last >= 0, pos - last, pos + 1)
    return np.where(missing, base + offset, steps).astype(np.int64)


class RunBuffer:
    """The buffered, not yet written points of one run: a SeriesBuffer per metric key."""

    __slots__ = ("appenders", "closed", "next_step", "params", "run_id", "series")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.series: dict[str, SeriesBuffer] = {}
        #: key -> the series' append method; what ``log_metric`` looks up.
        self.appenders: dict[str, Appender] = {}
        self.next_step: dict[str, int] = {}
        self.closed = False
        #: The params this process gave the run: a new value for one is refused at the call.
        self.params: dict[str, str] = {}

    def open(self, key: str) -> Appender:
        """The append method of ``key``'s series, created on first use (``key`` must already be valid)."""
        app = self.appenders.get(key)
        if app is None:
            sb = self.series.setdefault(key, SeriesBuffer())
            app = self.appenders.setdefault(key, sb.append)
        return app

    def add(self, key: str, value: float, step: int | None, when: float) -> None:
        """Append one point (slower than the hot path's direct append; for background samplers)."""
        self.open(key)(RECORD.pack(value, NO_STEP if step is None else step, when))

    def drain(self) -> list[SeriesBatch]:
        """Take every complete buffered point out, as one batch per key, filling in missing steps."""
        out = []
        for key, sb in list(self.series.items()):
            taken = sb.take()
            if taken is None:
                continue
            values, steps, times = taken
            steps = fill_steps(steps, self.next_step.get(key, 0))
            self.next_step[key] = int(steps[-1]) + 1
            out.append(SeriesBatch(self.run_id, key, steps, (times * 1000.0).astype(np.int64), values))
        return out


@dataclass(frozen=True)
class ArtifactWrite:
    """An artifact to write to a run: ``data`` as the file ``path``, or the local file or directory
    ``local`` copied under ``path`` (a directory keeps its own name, as ``Tracking.upload_artifact``)."""

    run_id: str
    path: str | None
    data: bytes | None = None
    local: Path | None = None

    def check(self) -> None:
        """Raise what the store would for a write that can never succeed (a bad path, no such file)."""
        check_run_id(self.run_id)
        if self.local is None:
            if not clean_path(self.path):
                raise InvalidInput("an artifact needs a file name, e.g. 'notes.md'")
        elif not self.local.exists():
            raise NotFound(f"cannot log artifact {str(self.local)!r}: no such file or directory")
        else:
            clean_path(self.path)

    def send(self, backend: Tracking) -> None:
        if self.local is None:
            backend.write_artifact(self.run_id, str(self.path), self.data or b"")
        else:
            backend.upload_artifact(self.run_id, self.local, self.path)

    def files(self) -> list[tuple[str, bytes | Path]]:
        """(artifact file path, bytes or local file) of each file it writes: what the spool keeps."""
        dest = clean_path(self.path)
        if self.local is None:
            return [(dest, self.data or b"")]
        target = f"{dest}/{self.local.name}" if dest else self.local.name
        if not self.local.is_dir():
            return [(target, self.local)]
        found = sorted(p for p in self.local.rglob("*") if p.is_file())
        return [(f"{target}/{p.relative_to(self.local).as_posix()}", p) for p in found]

    def describe(self) -> str:
        what = self.path if self.local is None else str(self.local)
        return f"artifact {what!r} of run {self.run_id}"


class BackgroundWriter:
    """One per backend and process: sends queued run creations, points and run ends to ``backend.ingest``,
    and the queued params and tags of its runs.

    Everything queued since the last tick goes in one WriteBatch (so one transaction for many runs; the
    params and tags of a run not yet created join its creation, those of other runs follow the batch),
    heartbeats keep this process's runs alive, and artifacts queued in the background (capture's files)
    are written after the batch that creates their run. Artifacts the caller logs are written at once
    (``artifact``), after what is queued, and spooled like batches when the store cannot take them.
    """

    def __init__(
        self,
        backend: Tracking,
        interval: float = 0.05,
        heartbeat_interval: float = 5.0,
        spool: SpoolFile | None = None,
        held_retry_interval: float = 60.0,
    ) -> None:
        self.backend = backend
        #: How often the writes held for a missing role are tried again (the role may be given back).
        self.held_retry_interval = held_retry_interval
        self._last_held_retry = time.monotonic()
        self.spool = spool
        self.courier = None if spool is None else Courier(backend, spool.root, self._held, self._refused)
        self.interval = interval
        self.heartbeat_interval = heartbeat_interval
        self.buffers: dict[str, RunBuffer] = {}
        self._new_runs: list[NewRun] = []
        self._unsent: set[str] = set()  # ids of runs whose creation is not written yet
        self._series: list[SeriesBatch] = []
        self._ends: list[RunEnd] = []
        #: run id -> its params and tags queued since the last tick (see ``assay.sdk.run_data``).
        self._run_data: dict[str, PendingRunData] = {}
        #: The runs this writer ended (their final status), newest last: their tags are still queued.
        self._ended: OrderedDict[str, RunStatus] = OrderedDict()
        self._artifacts: list[ArtifactWrite] = []
        self._tasks: deque[Callable[[], Any]] = deque()
        # _lock guards the queues and is held only to change them; _send_lock orders the sends, so
        # the caller's thread never waits for the database to queue a run.
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._last_heartbeat = time.monotonic()
        self._warned = False
        #: Failed sends in a row: the background loop waits longer between tries (up to MAX_BACKOFF_S),
        #: so a process whose server is down or refuses its token does not send 20 requests a second.
        self._failures = 0
        self._thread = threading.Thread(target=self._loop, name="assay-writer", daemon=True)
        self._thread.start()

    # -- queueing -----------------------------------------------------------------------------------

    def buffer(self, run_id: str) -> RunBuffer:
        """The buffer of a run that exists already (created by another process or an earlier call)."""
        buf = self.buffers.get(run_id)
        if buf is None:
            with self._lock:
                buf = self.buffers.setdefault(run_id, RunBuffer(run_id))
        return buf

    def create(self, new: NewRun) -> RunBuffer:
        """Queue the creation of ``new`` and return its (empty) buffer."""
        with self._lock:
            self._new_runs.append(new)
            self._unsent.add(new.run_id)
            buf = self.buffers.setdefault(new.run_id, RunBuffer(new.run_id))
            buf.params.update(new.params)
            return buf

    def end(self, end: RunEnd) -> None:
        """Queue the end of a run of this process, after its last buffered points and its queued params
        and tags; its buffer closes."""
        with self._lock:
            buf = self.buffers.pop(end.run_id, None)
            if buf is not None:
                buf.closed = True
                self._series += buf.drain()
            self._ends.append(end)
            self._ended[end.run_id] = end.status
            if len(self._ended) > MAX_ENDED:
                self._ended.popitem(last=False)

    def forget(self, run_id: str) -> None:
        """Stop buffering and heartbeating ``run_id`` (after a flush, so nothing accepted is dropped)."""
        self.flush()
        with self._lock:
            self._ended.pop(run_id, None)
            buf = self.buffers.pop(run_id, None)
            if buf is not None:
                buf.closed = True
                self._series += buf.drain()

    def submit(self, task: Callable[[], Any]) -> None:
        """Run ``task`` on the writer thread after what is queued now is written (errors are logged)."""
        with self._lock:
            self._tasks.append(task)

    def queue_artifact(self, write: ArtifactWrite) -> None:
        """Write an artifact on the writer thread after what is queued now (spooled when the store cannot
        take it; a refusal is logged): for files the caller did not ask for, such as capture's."""
        with self._lock:
            self._artifacts.append(write)

    def unsent(self, run_id: str) -> bool:
        """Whether ``run_id``'s creation, or a change to its params or tags, is still queued here (a
        direct backend call about it must flush first)."""
        return run_id in self._unsent or run_id in self._run_data

    # -- params and tags of the runs this writer writes --------------------------------------------------

    def writes(self, run_id: str) -> bool:
        """Whether this writer writes ``run_id`` (its buffer is open here, or this writer ended it):
        its params and tags then go through here, in order with its other writes."""
        buf = self.buffers.get(run_id)
        return (buf is not None and not buf.closed) or run_id in self._ended

    def _queued_new(self, run_id: str) -> int | None:
        """Where ``run_id``'s creation waits in the queue, if it does and nothing else of the run waits
        beside it: params and tags then join the creation itself (no write of their own)."""
        if run_id not in self._unsent or run_id in self._run_data:
            return None
        for i in range(len(self._new_runs) - 1, -1, -1):
            if self._new_runs[i].run_id == run_id:
                return i
        return None  # taken by a send in flight: they follow it

    def log_params(self, run_id: str, items: Mapping[str, str]) -> None:
        """Queue params (keys and values checked already) of a run this writer writes. Raises at once
        what is known here, queueing nothing: InvalidState for a run this writer ended, Conflict for a
        param this process gave another value. A conflict with a value logged elsewhere is found by the
        store when the params arrive: that param is set aside and said in one error line (and raised by
        a ``flush`` that sends it), the others are written."""
        with self._lock:
            status = self._ended.get(run_id)
            if status is not None:
                raise InvalidState(f"run {run_id} has ended ({status.value}); start a new run to log more")
            buf = self.buffers.get(run_id)
            known = buf.params if buf is not None else {}
            for k, val in items.items():
                old = known.get(k)
                if old is not None and old != val:
                    raise param_conflict(run_id, k, old, val)
            known.update(items)
            i = self._queued_new(run_id)
            if i is not None:
                new = self._new_runs[i]
                self._new_runs[i] = replace(new, params={**new.params, **items})
            else:
                self._run_data.setdefault(run_id, PendingRunData()).params.update(items)

    def set_tags(self, run_id: str, items: Mapping[str, str]) -> None:
        """Queue tags (keys and values checked already) of a run this writer writes."""
        with self._lock:
            i = self._queued_new(run_id)
            if i is not None:
                new = self._new_runs[i]
                self._new_runs[i] = replace(new, tags={**new.tags, **items})
            else:
                self._run_data.setdefault(run_id, PendingRunData()).set_tags(items)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Delete a tag of a run this writer writes, after everything queued (so a tag set, then deleted,
        ends deleted), as ``artifact`` writes a file: now, raising ``NotFound`` as the store does for a
        tag the run does not have; or, when the store cannot be reached (or writes wait in the spool
        before it), kept in the spool and sent when it answers, after one warning line."""
        with self._lock:
            i = self._queued_new(run_id)
            if i is not None:  # the run is not created yet: its tags are all here
                new = self._new_runs[i]
                if key not in new.tags:
                    raise NotFound(f"run {run_id} has no tag {key!r}")
                self._new_runs[i] = replace(new, tags={k: t for k, t in new.tags.items() if k != key})
                return
        record = RunDataRecord(run_id, "delete_tags", {key: ""}, new_batch_id())
        with self._send_lock:
            self._flush_locked(raise_errors=False)
            self._send_now(record)

    def _send_now(self, record: RunDataRecord) -> None:
        """Send ``record``, or keep it where the policy says (see ``delete_tag``); under the send lock."""
        courier, spool = self.courier, self.spool
        if courier is not None and spool is not None:
            if spool.pending():  # behind writes the store has not taken yet
                self._spool_now(record, "writes before it wait in the spool")
                return
            if record.run_id in courier.held():
                courier.hold(record, None)
                return
        try:
            record.apply(self.backend, strict=True)
        except Exception as exc:
            action = decide(exc, single=True)
            if courier is None or action is Action.SET_ASIDE:
                raise
            if action is Action.HOLD_RUN:
                assert isinstance(exc, AssayError)
                courier.hold(record, exc)
                return
            self._failures += 1
            self._spool_now(record, exc.message if isinstance(exc, AssayError) else str(exc))

    def _spool_now(self, record: RunDataRecord, reason: str) -> None:
        assert self.spool is not None
        self.spool.append(record)
        log.warning(
            "assay: could not send %s now (%s); it is kept in %s and sent when the store answers (or by "
            "`assay sync`)",
            record.describe(),
            reason,
            self.spool.path,
        )

    @property
    def dirty(self) -> bool:
        """Whether runs are queued to be created or ended, a batch is being sent right now, or writes
        wait in the spool: reads should flush (which waits for a send in flight, and replays the spool)
        to see their own writes."""
        if self._new_runs or self._ends or self._run_data or self._tasks or self._artifacts:
            return True
        if self._send_lock.locked():
            return True
        return self.spool is not None and self.spool.pending()  # kept through an outage, not yet sent

    @property
    def failing(self) -> bool:
        """Whether the last send failed (the store is down or refuses the token): batches wait."""
        return self._failures > 0

    def has_points(self) -> bool:
        """Whether any point is buffered (not yet taken by a flush)."""
        return any(sb.data for buf in list(self.buffers.values()) for sb in list(buf.series.values()))

    # -- flushing ---------------------------------------------------------------------------------------

    def flush(self, raise_errors: bool = True) -> None:
        """Write everything queued so far, then run side tasks; by default errors reach the caller."""
        with self._send_lock:
            self._flush_locked(raise_errors)

    def artifact(self, write: ArtifactWrite) -> None:
        """Write an artifact now, after everything queued (so after the creation of its run).

        When the store cannot be reached (or writes wait in the spool before it), or the server refuses
        the run for a missing role, the file is copied into the spool (or the run's held writes) and
        uploaded later, and this returns normally: after one warning line for a spooled file (a held run
        was said to be held once). Other refusals (a bad path, a deleted run) are raised, as when the
        store answers."""
        write.check()
        with self._send_lock:
            self._flush_locked(raise_errors=False)
            self._write_artifact(write, background=False)

    def _flush_locked(self, raise_errors: bool) -> None:
        with self._lock:
            series = self._series
            for buf in list(self.buffers.values()):
                series += buf.drain()
            run_data, self._run_data = self._run_data, {}
            # A run's queued params and tags go after the batch that creates it, before its end.
            ends = [e for e in self._ends if e.run_id not in run_data]
            later = [e for e in self._ends if e.run_id in run_data]
            batch = WriteBatch(self._new_runs, series, ends, batch_id=new_batch_id())
            self._new_runs, self._series, self._ends = [], [], []
            tasks, self._tasks = self._tasks, deque()
            artifacts, self._artifacts = self._artifacts, []
        records: list[Record] = [batch] if batch else []
        for run_id, pending in run_data.items():
            records += pending.records(run_id, new_batch_id())
        if later:
            records.append(WriteBatch(ends=later, batch_id=new_batch_id()))
        error: Exception | None = None
        refused: list[AssayError] = []
        if self.spool is not None and self.spool.pending():
            try:
                self.spool.replay(self._deliver)
                self._failures = 0
            except Exception as exc:
                # Still undeliverable: these writes join the spool behind the others, keeping order.
                self._keep(records)
                records, error = [], exc
        for i, record in enumerate(records):
            error, more = self._send(record, records[i + 1 :])
            refused += more
            if error is not None:
                break
        for write in artifacts:
            try:
                self._write_artifact(write, background=True)
            except Exception:
                log.warning("assay: could not write the %s", write.describe(), exc_info=True)
        self._run_tasks(tasks)
        if error is not None:
            self._outage(raise_errors, error)
        elif refused and raise_errors:
            raise refused[0]

    def _send(self, record: Record, rest: list[Record]) -> tuple[Exception | None, list[AssayError]]:
        """Deliver ``record`` by the error policy (``assay.sdk.policy``): what must be kept is kept with
        ``rest`` (the writes after it), in order (on disk when there is a spool, else in memory); refused
        operations are set aside, a run refused for a missing role is held. Returns the error that kept
        it, and those set aside."""
        if self.courier is not None and isinstance(record, WriteBatch):
            record = self.courier.take_held(record)  # first: kept or sent, the rest is one record
        try:
            if self.courier is not None:
                refused = self.courier.send(record)
            elif isinstance(record, RunDataRecord):
                refused = deliver_run_data(self.backend, record, self._dropped)
            else:
                assert isinstance(record, WriteBatch)
                refused = deliver(self.backend.ingest, record, self._dropped)
        except Exception as exc:
            self._keep([record, *rest])
            return exc, []
        self._warned = False
        self._failures = 0
        for r in record.new_runs if isinstance(record, WriteBatch) else ():
            self._unsent.discard(r.run_id)
        return None, refused

    def _deliver(self, record: Record) -> list[AssayError]:
        assert self.courier is not None
        return self.courier.send(record)

    def retry_held(self) -> list[str]:
        """Send again the writes held for a missing role (the background thread does so every
        ``held_retry_interval`` seconds), unless writes wait in the spool for the store to answer;
        returns the runs released, which log straight to the store again."""
        if self.courier is None or not self.courier.held_files or self.failing:
            return []
        with self._send_lock:
            if self.spool is not None and self.spool.pending():
                return []
            try:
                released = self.courier.retry_held()
            except Exception:
                log.debug("assay: held writes could not be sent again", exc_info=True)
                return []
        for run_id in released:
            log.warning(
                "assay: the held writes of run %s were delivered (its role is back); it logs on", run_id
            )
        return released

    def _write_artifact(self, write: ArtifactWrite, background: bool) -> None:
        """Send ``write``, or keep it where the policy says (see ``artifact``); under the send lock."""
        courier, spool = self.courier, self.spool
        if courier is not None and spool is not None:
            if spool.pending():  # behind writes the store has not taken yet
                self._spool_artifact(write, "writes before it wait in the spool")
                return
            if write.run_id in courier.held():
                for path, source in write.files():
                    courier.held_file(write.run_id).add_artifact(write.run_id, path, source)
                return
        try:
            write.send(self.backend)
            return
        except Exception as exc:
            action = decide(exc, single=True)
            if courier is None or action is Action.SET_ASIDE:
                if background:
                    log.error("assay: the %s was refused: %s", write.describe(), exc)
                    return
                raise
            if action is Action.HOLD_RUN:
                assert isinstance(exc, AssayError)
                for path, source in write.files():
                    courier.held_file(write.run_id).add_artifact(write.run_id, path, source)
                courier.tell(write.run_id, exc)
                return
            self._failures += 1
            self._spool_artifact(write, exc.message if isinstance(exc, AssayError) else str(exc))

    def _spool_artifact(self, write: ArtifactWrite, reason: str) -> None:
        assert self.spool is not None
        for path, source in write.files():
            self.spool.add_artifact(write.run_id, path, source)
        log.warning(
            "assay: could not write the %s now (%s); a copy is kept in %s and is uploaded when the store "
            "answers (or by `assay sync`)",
            write.describe(),
            reason,
            self.spool.path,
        )

    def _held(self, run_id: str, error: AssayError) -> None:
        assert self.spool is not None
        log.error("%s", held_message(run_id, error, self.spool.root, live=True))

    def _refused(self, op: Record, error: AssayError) -> None:
        assert self.spool is not None
        where = rejected_dir(self.spool.root)
        log.error("assay: %s was refused and set aside in %s: %s", record_text(op), where, error.message)
        for r in op.new_runs if isinstance(op, WriteBatch) else ():
            self._unsent.discard(r.run_id)

    def _dropped(self, op: Record, error: AssayError | None) -> None:
        """What a writer without a spool does with a refused operation: say it is lost."""
        message = "" if error is None else f": {error.message}"
        log.error("assay: %s was refused and dropped (this writer has no spool)%s", record_text(op), message)
        for r in op.new_runs if isinstance(op, WriteBatch) else ():
            self._unsent.discard(r.run_id)

    def _keep(self, records: list[Record]) -> None:
        """Keep writes not delivered, in order: appended to the spool, else put back before what was
        queued since (a writer without a spool)."""
        if self.spool is not None:
            for record in records:
                self._spooled(record)
            return
        batches = [r for r in records if isinstance(r, WriteBatch)]
        with self._lock:
            self._new_runs = [n for b in batches for n in b.new_runs] + self._new_runs
            self._series = [s for b in batches for s in b.series] + self._series
            self._ends = [e for b in batches for e in b.ends] + self._ends
            for r in reversed(records):
                if isinstance(r, RunDataRecord):
                    self._run_data.setdefault(r.run_id, PendingRunData()).put_back(r)

    def _spooled(self, record: Record) -> None:
        assert self.spool is not None
        self.spool.append(record)
        for r in record.new_runs if isinstance(record, WriteBatch) else ():
            self._unsent.discard(r.run_id)

    def _outage(self, raise_errors: bool, error: Exception) -> None:
        """Report a batch kept for later: raise it to a caller who flushed, warn once in the background."""
        self._failures += 1
        if raise_errors:
            raise error
        if not self._warned:
            where = f"kept in {self.spool.path}" if self.spool is not None else "kept in memory"
            reason = f" ({error.message})" if isinstance(error, AssayError) else ""
            log.warning(
                "assay: could not write to the tracking store%s; batches are %s and will be retried",
                reason,
                where,
            )
            self._warned = True

    @staticmethod
    def _run_tasks(tasks: deque[Callable[[], Any]]) -> None:
        while tasks:
            task = tasks.popleft()
            try:
                task()
            except Exception:
                log.warning("assay: background task failed", exc_info=True)

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(min(MAX_BACKOFF_S, self.interval * 2 ** min(self._failures, 16)))
            self._wake.clear()
            try:
                self.flush(raise_errors=False)
            except Exception:
                log.warning("assay: background writer error", exc_info=True)
            now = time.monotonic()
            if now - self._last_held_retry >= self.held_retry_interval:
                self._last_held_retry = now
                self.retry_held()
            if now - self._last_heartbeat >= self.heartbeat_interval:
                self._last_heartbeat = now
                held = self.courier.held() if self.courier is not None else set()
                ids = [rid for rid, b in list(self.buffers.items()) if not b.closed and rid not in held]
                try:
                    if ids:
                        self.backend.heartbeat(ids)
                except Exception:  # the store is unreachable: flush has said so already
                    log.debug("assay: heartbeat failed", exc_info=True)

    def close(self) -> None:
        """Flush and stop the thread."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush(raise_errors=False)
        if self.spool is not None:
            self.spool.close()  # what is still spooled stays on disk for `assay sync`
        if self.courier is not None:
            self.courier.close()
