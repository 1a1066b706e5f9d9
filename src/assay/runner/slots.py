"""The local engine: N long-lived child processes ("slots"), each running one ``Task`` at a time.

A child is started once (from a forkserver that has imported assay, so a fork costs milliseconds, not an
interpreter start) and runs task after task: ``run_task`` in the child, the ``TaskResult`` sent back on a
pipe. So a no-op job costs a pipe round trip and its run's writes, not an interpreter.

A task is stopped (a cancel, a timeout, a lost lease) by killing its child's process group with SIGKILL
(each child leads a group of its own, so the subprocesses a function started die with it), and the
process groups of the notebook kernels it started (a kernel runs in a session of its own); a fresh child
takes the slot. The task's run is then ended and its output stored by ``execute.abandon``, here, since the
child cannot. A child that dies on its own mid-task (a segfault, the OOM killer, ``os._exit``) is
reported as a FAILED task saying how it died. A child whose worker died (``kill -9``) kills its own
group and kernels at once: the job's lease will pass and another worker will run it, and it must not
run here still.

Used from one thread (the worker's loop).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from assay.entities import RunStatus
from assay.errors import InvalidInput, InvalidState
from assay.runner.entities import Result
from assay.runner.task import Task, TaskResult
from assay.sdk.handover import TRACKING_URI

#: What the forkserver imports once, so every child starts with it loaded (see ``assay.runner.preload``).
PRELOAD = ["assay.runner.preload"]


@dataclass
class Done:
    """A task that ended: its key (the caller's name for it), the task, and how it ended."""

    key: str
    task: Task
    result: TaskResult


@dataclass
class _Slot:
    process: Any
    conn: Connection
    #: never written: the child watches its other end to learn that the worker died
    lifeline: Connection
    key: str | None = None
    task: Task | None = None
    kernels: list[int] = field(default_factory=list)


def _watch_parent(lifeline: Connection, kernels: list[int]) -> None:
    """Kill this process's group and its kernels when the worker is gone (killed with -9, say): its lease
    will pass and the job will be claimed again, and must not be running here still. The worker holds
    the other end of ``lifeline`` and never writes: it reads as ready only once the worker has died."""
    with contextlib.suppress(OSError):
        lifeline.poll(None)
    for pgid in kernels:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    os.killpg(0, signal.SIGKILL)


def _child(conn: Connection, lifeline: Connection, env: Mapping[str, str]) -> None:
    """A slot's process: run the tasks the parent sends, one at a time, until the pipe closes."""
    os.setpgrp()  # a group of its own: a stop kills the task's subprocesses with it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the worker's to handle
    os.environ.update(env)
    from assay.runner import execute

    kernels: list[int] = []
    threading.Thread(
        target=_watch_parent, args=(lifeline, kernels), name="assay-slot-watch", daemon=True
    ).start()

    def started(pgid: int) -> None:
        kernels.append(pgid)
        conn.send(("kernel", pgid))

    execute.kernel_started = started
    uri = env.get(TRACKING_URI)
    if uri:  # open the store while idle, not in the first task's time
        with contextlib.suppress(Exception):
            execute.warm(uri)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        kernels.clear()
        try:
            result = execute.run_task(task)
        except BaseException as exc:  # run_task does not raise; if it ever does, the slot says why
            result = TaskResult(task.run_id, Result.FAILED, f"{type(exc).__name__}: {exc}")
        conn.send(("done", result))


def _how_it_died(code: int | None) -> str:
    if code is None:
        return "the task's process vanished"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"the task's process was killed by {name}{hint}"
    return f"the task's process exited with status {code}"


class LocalEngine:
    """``concurrency`` child processes running tasks (see the module docstring)."""

    def __init__(self, concurrency: int, env: Mapping[str, str] | None = None, method: str = "forkserver"):
        if concurrency < 1:
            raise InvalidInput(f"concurrency must be at least 1, not {concurrency}")
        self.ctx: Any = multiprocessing.get_context(method)
        if method == "forkserver":
            self.ctx.set_forkserver_preload(PRELOAD)
        self.env = dict(env or {})
        self.slots = [self._spawn() for _ in range(concurrency)]

    def _spawn(self) -> _Slot:
        parent, child = self.ctx.Pipe()
        lifeline, held = self.ctx.Pipe(duplex=False)
        process = self.ctx.Process(
            target=_child, args=(child, lifeline, self.env), name="assay-slot", daemon=True
        )
        process.start()
        child.close()
        lifeline.close()
        return _Slot(process, parent, held)

    @property
    def capacity(self) -> int:
        return len(self.slots)

    @property
    def free(self) -> int:
        return sum(1 for s in self.slots if s.key is None)

    def running(self) -> list[str]:
        return [s.key for s in self.slots if s.key is not None]

    def start(self, key: str, task: Task) -> None:
        """Run ``task`` in a free slot; ``key`` names it in ``wait``'s and ``stop``'s answers."""
        slot = next((s for s in self.slots if s.key is None), None)
        if slot is None:
            raise InvalidState("every slot is busy")
        slot.key, slot.task, slot.kernels = key, task, []
        try:
            slot.conn.send(task)
        except OSError:  # the idle child died: a fresh one takes the task
            self._replace(slot)
            slot = self.slots[-1]
            slot.key, slot.task = key, task
            slot.conn.send(task)

    def wait(self, timeout: float) -> list[Done]:
        """The tasks that ended within ``timeout`` seconds (an empty list if none did)."""
        busy = [s for s in self.slots if s.key is not None]
        if not busy:
            if timeout > 0:
                time.sleep(timeout)
            return []
        handles: list[Any] = [s.conn for s in busy] + [s.process.sentinel for s in busy]
        ready = set(wait(handles, timeout))
        done: list[Done] = []
        for slot in busy:
            if slot.conn in ready or slot.process.sentinel in ready:
                found = self._receive(slot)
                if found is not None:
                    done.append(found)
        return done

    def _receive(self, slot: _Slot) -> Done | None:
        assert slot.key is not None and slot.task is not None
        key, task = slot.key, slot.task
        try:
            while slot.conn.poll():
                kind, payload = slot.conn.recv()
                if kind == "kernel":
                    slot.kernels.append(int(payload))
                    continue
                slot.key, slot.task, slot.kernels = None, None, []
                return Done(key, task, payload)
        except (EOFError, OSError):
            pass
        if slot.process.is_alive():
            return None
        slot.process.join(1)
        reason = _how_it_died(slot.process.exitcode)
        self._kill_kernels(slot)
        self._replace(slot)
        from assay.runner import execute

        execute.abandon(task, RunStatus.FAILED, reason)
        return Done(key, task, TaskResult(task.run_id, Result.FAILED, reason))

    def stop(
        self, key: str, result: Result, reason: str, status: RunStatus = RunStatus.KILLED
    ) -> Done | None:
        """Kill the task ``key`` (its process group, and its kernels'), end its run ``status`` with
        ``reason``, and give its slot a fresh process. None if it had ended meanwhile (``wait`` tells)."""
        slot = next((s for s in self.slots if s.key == key), None)
        if slot is None:
            return None
        task = slot.task
        assert task is not None
        self._kill(slot)
        self._replace(slot)
        from assay.runner import execute

        execute.abandon(task, status, reason)
        return Done(key, task, TaskResult(task.run_id, result, reason))

    def _kill(self, slot: _Slot) -> None:
        pid = slot.process.pid
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:  # not yet a group leader (killed as it started): the process alone
            with contextlib.suppress(OSError):
                slot.process.kill()
        with contextlib.suppress(OSError):
            while slot.conn.poll():  # a kernel it reported just before dying
                kind, payload = slot.conn.recv()
                if kind == "kernel":
                    slot.kernels.append(int(payload))
        self._kill_kernels(slot)
        slot.process.join(5)

    @staticmethod
    def _kill_kernels(slot: _Slot) -> None:
        for pgid in slot.kernels:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        slot.kernels = []

    def _replace(self, slot: _Slot) -> None:
        with contextlib.suppress(OSError):
            slot.conn.close()
            slot.lifeline.close()
        self.slots.remove(slot)
        self.slots.append(self._spawn())

    def close(self) -> None:
        """Stop every child: idle ones are asked to exit; busy ones are killed (stop them first to end their
        runs)."""
        for slot in self.slots:
            if slot.key is None:
                with contextlib.suppress(OSError):
                    slot.conn.send(None)
            else:
                self._kill(slot)
        for slot in self.slots:
            slot.process.join(5)
            if slot.process.is_alive():
                self._kill(slot)
            with contextlib.suppress(OSError):
                slot.conn.close()
                slot.lifeline.close()
        self.slots = []

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
