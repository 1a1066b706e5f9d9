"""Engines: where tasks (one notebook or function execution inside a tracked run) run, in other processes.

``open_engine(name, parallel, scheduler)`` gives an ``Engine``; ``engine.submit(task)`` returns a
``concurrent.futures.Future`` of its ``TaskResult``, and ``engine.close()`` (or ``with``) stops what the
engine started. Both engines are a ``concurrent.futures.Executor`` underneath, so a caller waits on their
futures with ``concurrent.futures.wait`` / ``as_completed`` whatever the engine:

- ``local``: a ``ProcessPoolExecutor`` of ``parallel`` long-lived processes (forkserver context: a fresh
  interpreter per worker, no inherited threads or locks; the imports a task pays for are paid once per
  worker, so short trials are cheap). A worker whose parent dies (the driver was killed) exits.
- ``dask``: dask.distributed. Without ``scheduler``, a ``LocalCluster`` of ``parallel`` worker processes
  (one thread each, no dashboard); with ``scheduler="tcp://host:8786"``, that running cluster. Tasks go
  through ``Client.get_executor`` (Dask's own ``concurrent.futures`` executor). Dask runs a task again
  when the worker running it dies: its tasks are marked ``may_rerun``, and each execution first looks
  at the task's current run in the store, the last of its chain of re-runs (``assay.runner.rerun``: a
  lost execution's run is ended KILLED and the task runs in a fresh one; an ended one's result is
  returned as the store holds it).

The task carries the tracking URI (an embedded store's path or a server's URL), so every task logs into
the same store wherever it runs; an embedded SQLite store is in WAL mode, and several processes write it
safely. Tasks are pickled with cloudpickle when it is installed (functions defined in ``__main__`` or in
a notebook travel by value), else with pickle.

New engines are added with ``register(name, factory)``: the one registry, read by ``open_engine`` and by
the CLI's ``--engine`` check.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pickle
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from types import TracebackType
from typing import Any

from assay.errors import InvalidInput
from assay.optional import require
from assay.runner.execute import run_task as default_runner
from assay.runner.task import Task, TaskResult

#: What an engine calls with each task in the worker process: ``assay.runner.execute.run_task`` unless a
#: caller (a test, a worker with its own wrapper) gives another picklable function.
Runner = Callable[[Task], TaskResult]


class Engine(ABC):
    """Runs tasks in other processes. ``submit`` may be called from one thread at a time; the futures it
    returns may be waited on from any thread. A task's failure comes back as a ``TaskResult`` (run_task
    never raises for the work); an exception on the future means the engine itself failed (a worker
    process died, the cluster went away)."""

    #: the engine's name, as ``open_engine`` takes it
    name: str
    #: how many tasks run at once
    parallel: int

    @abstractmethod
    def submit(self, task: Task) -> Future[TaskResult]:
        """Start ``task`` as soon as a worker is free."""

    @abstractmethod
    def close(self) -> None:
        """Stop the workers the engine started (a cluster it only connected to keeps running); tasks not
        yet started are dropped."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, tp: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _dumps(obj: Any) -> bytes:
    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps(obj)
    data: bytes = cloudpickle.dumps(obj)
    return data


def run_pickled(runner: Runner, blob: bytes) -> TaskResult:
    """In the worker: unpickle the task and run it (a local worker whose driver died runs nothing more:
    the tasks left in the pool's queue belong to a sweep that may be resumed meanwhile)."""
    if _driver is not None and (os.getppid() != _driver[1] or not _alive(_driver[0])):
        os._exit(70)
    task: Task = pickle.loads(blob)
    return runner(task)


#: In a local worker: (the driver's pid, this worker's parent's pid), set by ``_init_local``.
_driver: tuple[int, int] | None = None


class ExecutorEngine(Engine):
    """An engine over a ``concurrent.futures.Executor``; ``on_close`` stops what was started for it."""

    def __init__(
        self,
        name: str,
        parallel: int,
        executor: Executor,
        runner: Runner,
        on_close: Callable[[], None] | None = None,
        reruns: bool = False,
    ) -> None:
        self.name = name
        self.parallel = parallel
        self.executor = executor
        self.runner = runner
        self._on_close = on_close
        #: the executor may run a task more than once (see ``Task.may_rerun``)
        self.reruns = reruns

    def submit(self, task: Task) -> Future[TaskResult]:
        if self.reruns and not task.may_rerun:
            task = dataclasses.replace(task, may_rerun=True)
        return self.executor.submit(run_pickled, self.runner, _dumps(task))

    def close(self) -> None:
        if isinstance(self.executor, ProcessPoolExecutor):
            self.executor.shutdown(wait=True, cancel_futures=True)
        else:  # Dask's executor cancels what it has not run on its own
            self.executor.shutdown(wait=True)
        if self._on_close is not None:
            self._on_close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _init_local(driver: int) -> None:
    """In a local worker: exit when the driver that started the pool is gone, so a driver killed with
    kill -9 leaves no worker finishing a trial into a sweep that is being resumed meanwhile."""
    global _driver
    parent = os.getppid()
    _driver = (driver, parent)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent or not _alive(driver):
                os._exit(70)

    threading.Thread(target=watch, name="assay-driver-watch", daemon=True).start()


def _local(parallel: int, scheduler: str | None, runner: Runner) -> Engine:
    if scheduler is not None:
        raise InvalidInput("--dask-scheduler goes with --engine dask, not the local engine")
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(
        max_workers=parallel, mp_context=context, initializer=_init_local, initargs=(os.getpid(),)
    )
    return ExecutorEngine("local", parallel, pool, runner)


def _dask(parallel: int, scheduler: str | None, runner: Runner) -> Engine:
    distributed = require("distributed", "dask", "the dask engine")
    if scheduler is None:
        cluster = distributed.LocalCluster(
            n_workers=parallel, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = distributed.Client(cluster)

        def stop() -> None:
            client.close()
            cluster.close()

    else:
        try:
            client = distributed.Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InvalidInput(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        cluster = None
        stop = client.close
    executor = client.get_executor(pure=False)
    workers = len(client.scheduler_info().get("workers", {})) if cluster is None else parallel
    return ExecutorEngine("dask", workers or parallel, executor, runner, stop, reruns=True)


Factory = Callable[[int, "str | None", Runner], Engine]
ENGINES: dict[str, Factory] = {"local": _local, "dask": _dask}


def register(name: str, factory: Factory) -> None:
    """Make ``open_engine(name, ...)`` call ``factory(parallel, scheduler, runner)``."""
    ENGINES[name] = factory


def check_engine(name: str, parallel: int = 1) -> None:
    """InvalidInput (one line) for an unknown engine or a parallelism below 1: before anything runs."""
    if name not in ENGINES:
        raise InvalidInput(f"unknown engine {name!r}: use one of {', '.join(sorted(ENGINES))}")
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise InvalidInput(f"parallel must be a whole number >= 1, not {parallel!r}")


def open_engine(
    name: str, parallel: int = 1, scheduler: str | None = None, runner: Runner | None = None
) -> Engine:
    """An engine running ``parallel`` tasks at once: ``"local"`` (processes on this machine) or ``"dask"``
    (a LocalCluster, or the cluster whose scheduler is at ``scheduler``). ``runner`` (default
    ``run_task``) is what each worker calls with a task; it must be importable there (pickled by name)."""
    check_engine(name, parallel)
    return ENGINES[name](parallel, scheduler, runner or default_runner)
