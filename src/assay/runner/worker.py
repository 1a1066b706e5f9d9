"""``assay worker``: claims jobs from the queue and runs each as a task on an engine, under a lease.

One loop, on one thread, does everything the store must hear from a worker:

- **claim** up to the engine's free slots (``Jobs.claim``), at once after a job ends, and, while the queue
  is empty, again after a wait that doubles up to ``poll_s`` (0.5 s): an idle worker costs a query every
  half second;
- **heartbeat** every running job in one call (``Jobs.heartbeat``) about every second; the answer names
  the jobs to stop: ``"cancel"`` (killed, finished CANCELLED) or ``"lost"`` (killed; the lease is another's,
  so nothing is reported). An attempt whose lease could not be renewed (the store is away) is stopped by
  the worker itself before the lease ends, since the store will give the job to another worker then;
- **time limits**: a job past its ``timeout_s`` is killed and finished TIMED_OUT (a notebook gets a few
  seconds more, so that its own limit, which keeps its output notebook, stops it first);
- **finish** each attempt with its result: carried by the claim that follows it (``Jobs.claim(...,
  ended=...)``, one transaction for both), or alone (``Jobs.finish``) when no claim follows (every slot
  busy, or stopping); a finish the store does not take now is tried again while the lease lasts.

On SIGTERM or SIGINT (``request_stop``) it stops claiming and lets running jobs end for ``grace_s``;
then (or at a second signal) it kills them and finishes them FAILED "worker stopped".

The engine is anything with the ``Engine`` shape: ``assay.runner.slots.LocalEngine`` (``--engine local``,
which kills a stopped task with its process group), or ``FuturesEngine`` over an engine of
``assay.runner.engines`` (``--engine dask``), which cannot kill a task that has started: see there.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from assay.entities import RunStatus
from assay.errors import AssayError, InvalidState
from assay.runner import engines, execute
from assay.runner.entities import ATTEMPT_TAG, JOB_TAG, NOTEBOOK, SCHEDULE_TAG, Ended, Job, Result
from assay.runner.slots import Done
from assay.runner.task import Task, TaskResult
from assay.services.jobs import Jobs

log = logging.getLogger("assay.worker")

#: How long a notebook may run past its ``timeout_s`` before the worker kills it (its own limit first).
NOTEBOOK_GRACE_S = 10.0


class Engine(Protocol):
    """Where tasks run: ``start`` them, ``wait`` for those that end, ``stop`` (kill) one."""

    @property
    def capacity(self) -> int: ...

    @property
    def free(self) -> int: ...

    def start(self, key: str, task: Task) -> None: ...

    def wait(self, timeout: float) -> list[Done]: ...

    def stop(
        self, key: str, result: Result, reason: str, status: RunStatus = RunStatus.KILLED
    ) -> Done | None: ...

    def close(self) -> None: ...


#: The tag of a run whose job was stopped while its task kept running (an engine that cannot kill it).
UNSTOPPED_TAG = "assay.job.unstopped"
UNSTOPPED = (
    "the {engine} engine cannot kill a task that has started: it may still be running on its worker, "
    "and it may still add tags and artifacts to this run (the run has ended: its metrics are refused)"
)


class FuturesEngine:
    """The worker's ``Engine`` over an engine of ``assay.runner.engines`` (the Dask engine): each claimed
    job's task is submitted to it, ``capacity`` at a time (default: the engine's ``parallel``, a Dask
    cluster's worker count; its workers should run one thread each, ``dask worker --nthreads 1``, since a
    task changes its process's working directory and standard streams).

    Dask cannot kill one running task, so ``stop`` (a cancel, a time limit, a lost lease) is best effort:

    - the task's future is cancelled: a task that has not started on a Dask worker never starts;
    - its current run is ended now with the stop's status and reason: the job's run, or once Dask ran the
      task again after losing a worker, the run of that re-run (``execute.abandon`` follows the task's
      chain of runs). It is created so if the task had not created it yet: a task that starts late finds
      its run ended and does not run its work (``assay.runner.rerun``). The job is finished at once as
      the queue's state machine decides (CANCELLED; a time limit's TIMED_OUT attempt retried or FAILED);
    - a task that had started runs on to its end on its Dask worker (that worker's thread stays busy, and
      tasks submitted meanwhile queue behind it), and its result is discarded. Its ended run refuses its
      metrics and its end, but may still get the tags and artifacts it writes (its output log): the run
      is tagged ``assay.job.unstopped`` saying so.

    A notebook's own time limit (``timeout_s``, enforced inside the task) does stop it: the worker gives
    it ``NOTEBOOK_GRACE_S`` to do so first. A Python function's limit can only be enforced as above.
    A task whose engine failed (the cluster went away, or Dask gave up after losing workers) ends FAILED,
    its current run too. A task whose Dask worker died is run again by Dask on another: it ends in a fresh
    run tagged with the job's id and attempt, the lost one KILLED (``assay.runner.rerun``).
    """

    def __init__(self, engine: engines.Engine, capacity: int | None = None) -> None:
        self.engine = engine
        self._capacity = capacity or engine.parallel
        self.running: dict[str, tuple[Future[TaskResult], Task]] = {}

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def free(self) -> int:
        return max(0, self._capacity - len(self.running))

    def start(self, key: str, task: Task) -> None:
        self.running[key] = (self.engine.submit(task), task)

    def wait(self, timeout: float) -> list[Done]:
        if not self.running:
            if timeout > 0:
                time.sleep(timeout)
            return []
        futures = [f for f, _ in self.running.values()]
        ready, _ = concurrent.futures.wait(futures, timeout, concurrent.futures.FIRST_COMPLETED)
        done: list[Done] = []
        for key, (future, task) in list(self.running.items()):
            if future in ready:
                del self.running[key]
                done.append(Done(key, task, self._result(task, future)))
        return done

    def _result(self, task: Task, future: Future[TaskResult]) -> TaskResult:
        try:
            return future.result()
        except Exception as exc:  # the engine failed (a Dask worker died), not the task's work
            reason = f"the {self.engine.name} engine lost the task: {type(exc).__name__}: {exc}"
            execute.abandon(task, RunStatus.FAILED, reason, output_here=False)
            return TaskResult(task.run_id, Result.FAILED, reason)

    def stop(
        self, key: str, result: Result, reason: str, status: RunStatus = RunStatus.KILLED
    ) -> Done | None:
        found = self.running.get(key)
        if found is None:
            return None
        future, task = found
        if not future.cancel():  # it ended meanwhile: ``wait`` reports it
            return None
        del self.running[key]
        note = UNSTOPPED.format(engine=self.engine.name)
        execute.abandon(task, status, reason, output_here=False, started_tags={UNSTOPPED_TAG: note})
        return Done(key, task, TaskResult(task.run_id, result, reason))

    def close(self) -> None:
        for future, _ in self.running.values():
            future.cancel()
        self.running.clear()
        self.engine.close()


@dataclass
class _Running:
    job: Job
    task: Task
    #: time.monotonic() after which the attempt is stopped for its time limit
    deadline: float | None
    #: time.monotonic() by which the lease ends unless renewed (counted from before the call renewing it)
    lease_until: float


def worker_name() -> str:
    """A name unique to this worker process: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def task_of(job: Job, tracking_uri: str) -> Task:
    """The task of ``job``'s current attempt: its spec, its run (decided at claim) and the job's tags (the
    job's id and attempt, and the schedule that fired it)."""
    spec = job.spec
    if job.run_id is None:
        raise InvalidState(f"job {job.job_id} was claimed without a run id")
    tags = {**spec.tags, JOB_TAG: job.job_id, ATTEMPT_TAG: str(job.attempt)}
    if job.schedule is not None:
        tags[SCHEDULE_TAG] = job.schedule
    return Task(
        kind=spec.kind,
        target=spec.target,
        params=dict(spec.params),
        tracking_uri=tracking_uri,
        run_id=job.run_id,
        project=spec.project,
        experiment=spec.experiment,
        name=spec.name,
        source=spec.source,
        cwd=spec.cwd,
        tags=tags,
        parent_run_id=spec.parent_run_id,
        timeout_s=spec.timeout_s,
        job_id=job.job_id,
        attempt=job.attempt,
    )


class Worker:
    """Claims and runs jobs until ``request_stop`` (see the module docstring)."""

    def __init__(
        self,
        jobs: Jobs,
        engine: Engine,
        tracking_uri: str,
        *,
        name: str | None = None,
        projects: Sequence[str] | None = None,
        lease_s: float = 30.0,
        heartbeat_s: float = 1.0,
        poll_s: float = 0.5,
        grace_s: float = 30.0,
    ) -> None:
        self.jobs = jobs
        self.engine = engine
        self.tracking_uri = tracking_uri
        self.name = name or worker_name()
        self.projects = list(projects) if projects else None
        self.lease_s = lease_s
        self.heartbeat_s = min(heartbeat_s, lease_s / 3)
        self.poll_s = poll_s
        self.grace_s = grace_s
        self.running: dict[str, _Running] = {}
        #: ends not sent yet, for the next claim to carry: job id -> (result, error, lease end)
        self.ended: dict[str, tuple[Result, str | None, float]] = {}
        #: finishes the store did not take yet: job id -> (result, error, lease end)
        self.unfinished: dict[str, tuple[Result, str | None, float]] = {}
        self.finished = 0
        self._stop = threading.Event()
        self._kill = threading.Event()
        self._wake = 0.0

    # ---- control ----------------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked (no more claims)."""
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Stop claiming and end once running jobs end (within ``grace_s``); a second call kills them now."""
        if self._stop.is_set():
            self._kill.set()
        self._stop.set()

    def run(self, max_jobs: int | None = None) -> None:
        """Work until stopped (or until ``max_jobs`` attempts have ended, for tests and benchmarks)."""
        next_claim = next_beat = time.monotonic()
        idle = 0.0
        stop_at: float | None = None
        try:
            while True:
                now = time.monotonic()
                if self._stop.is_set() and stop_at is None:
                    stop_at = now + self.grace_s
                    if self.running:
                        log.info("stopping: %d job(s) running, %g s to end", len(self.running), self.grace_s)
                    else:
                        log.info("stopping: no job running")
                if stop_at is not None and (not self.running or self._kill.is_set() or now >= stop_at):
                    self._stop_all(Result.FAILED, "worker stopped")
                    self._report_ended()
                    self._retry_finishes(final=True)
                    return
                if max_jobs is not None and self.finished >= max_jobs and not self.running:
                    self._report_ended()
                    return
                if stop_at is None and self.engine.free and now >= next_claim:
                    claimed = self._claim()
                    if claimed or self.engine.free == 0:
                        idle = 0.0
                        next_claim = now
                    else:
                        idle = min(max(idle * 2, 0.05), self.poll_s)
                        next_claim = now + idle
                if now >= next_beat:
                    self._heartbeat()
                    self._retry_finishes()
                    next_beat = time.monotonic() + self.heartbeat_s
                self._enforce_limits()
                waits = [next_beat]
                if stop_at is None and self.engine.free:
                    waits.append(next_claim)
                if stop_at is not None:
                    waits.append(stop_at)
                waits += [r.deadline for r in self.running.values() if r.deadline is not None]
                timeout = max(0.0, min(waits) - time.monotonic())
                ended = self.engine.wait(min(timeout, 0.25) if self._stop.is_set() else timeout)
                for done in ended:
                    self._finish(done.key, done.result.result, done.result.error)
                if ended:
                    next_claim = time.monotonic()
                if self.ended and (self._stop.is_set() or not self.engine.free):
                    self._report_ended()  # no claim comes next to carry them
        finally:
            self.engine.close()

    # ---- the steps --------------------------------------------------------------------------------------

    def _claim(self) -> int:
        """Report the attempts that ended and claim up to the free slots, in one call."""
        before = time.monotonic()
        ended, self.ended = self.ended, {}
        try:
            claimed = self.jobs.claim(
                self.name,
                self.engine.free,
                self.lease_s,
                self.projects,
                [Ended(job_id, result, error) for job_id, (result, error, _until) in ended.items()],
            )
        except AssayError as exc:
            log.warning("claiming failed: %s", exc.message)
            self.unfinished.update(ended)  # reported one by one at the next heartbeat
            return 0
        for job in claimed:
            self._start(job, before)
        return len(claimed)

    def _start(self, job: Job, claimed_at: float) -> None:
        try:
            task = task_of(job, self.tracking_uri)
        except AssayError as exc:
            self._report(job.job_id, Result.FAILED, exc.message)
            return
        limit = job.spec.timeout_s
        if limit is not None and job.spec.kind == NOTEBOOK:
            limit += NOTEBOOK_GRACE_S
        deadline = None if limit is None else claimed_at + limit
        self.running[job.job_id] = _Running(job, task, deadline, claimed_at + self.lease_s)
        self.engine.start(job.job_id, task)
        log.info("job %s attempt %d started (run %s)", job.job_id, job.attempt, job.run_id)

    def _heartbeat(self) -> None:
        if not self.running:
            return
        before = time.monotonic()
        ids = list(self.running)
        try:
            told = self.jobs.heartbeat(self.name, ids, self.lease_s)
        except AssayError as exc:
            log.warning("heartbeat failed (%s): jobs stop before their leases end", exc.message)
            return
        for job_id in ids:
            running = self.running.get(job_id)
            if running is None:
                continue
            why = told.get(job_id)
            if why is None:
                running.lease_until = before + self.lease_s
            elif why == "cancel":
                self._stop_one(job_id, Result.CANCELLED, "cancelled")
            else:
                self._stop_one(job_id, None, "the worker lost the job's lease: it is no longer its own")

    def _enforce_limits(self) -> None:
        now = time.monotonic()
        margin = min(2.0, self.lease_s / 4)
        for job_id, running in list(self.running.items()):
            if running.lease_until - margin <= now:
                self._stop_one(job_id, None, "the worker could not renew the job's lease")
            elif running.deadline is not None and running.deadline <= now:
                limit = running.job.spec.timeout_s or 0.0
                self._stop_one(job_id, Result.TIMED_OUT, f"timed out after {limit:g} s")

    def _stop_one(self, job_id: str, result: Result | None, reason: str) -> None:
        """Kill the attempt; finish it with ``result`` unless None (the lease is lost: nothing to report)."""
        log.info("job %s: stopping (%s)", job_id, reason)
        done = self.engine.stop(job_id, result or Result.FAILED, reason)
        if done is None:
            return  # it ended meanwhile: ``wait`` reports it
        if result is None:
            self.running.pop(job_id, None)
            self.finished += 1
            return
        self._finish(job_id, result, reason)

    def _stop_all(self, result: Result, reason: str) -> None:
        for job_id in list(self.running):
            self._stop_one(job_id, result, reason)

    def _finish(self, job_id: str, result: Result, error: str | None) -> None:
        """An attempt ended: its end goes to the store with the next claim (or alone, if none comes)."""
        running = self.running.pop(job_id, None)
        self.finished += 1
        if running is None:
            return
        log.info("job %s attempt %d: %s", job_id, running.job.attempt, result.value)
        self.ended[job_id] = (result, error, running.lease_until)

    def _report_ended(self) -> None:
        ended, self.ended = self.ended, {}
        for job_id, (result, error, lease_until) in ended.items():
            self._report(job_id, result, error, lease_until)

    def _report(self, job_id: str, result: Result, error: str | None, lease_until: float = 0.0) -> None:
        try:
            self.jobs.finish(job_id, self.name, result, error)
        except InvalidState as exc:
            log.warning("job %s: the store refused its end: %s", job_id, exc.message)
        except AssayError as exc:
            log.warning("job %s: could not report its end (%s): trying again", job_id, exc.message)
            self.unfinished[job_id] = (result, error, lease_until)

    def _retry_finishes(self, final: bool = False) -> None:
        now = time.monotonic()
        for job_id, (result, error, lease_until) in list(self.unfinished.items()):
            del self.unfinished[job_id]
            if lease_until < now:
                log.warning("job %s: its lease ended before its end could be reported", job_id)
                continue
            self._report(job_id, result, error, lease_until)
            if final:
                self.unfinished.pop(job_id, None)
