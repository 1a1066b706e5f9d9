"""The scheduler: a loop that fires schedules' due times into the queue (``Jobs.fire_due``) and sleeps until
the next one. It runs inside ``assay server`` (a background thread) or alone as ``assay scheduler``.

Exactly-once is the store's, not the loop's: (schedule, due time) is unique there and ``next_due_at``
moves by compare-and-set, so any number of schedulers may run against one store, and a scheduler that
crashes mid-fire loses nothing a peer or its restart does not fire. The loop only decides *when* to ask.

When to ask (``wake_at``, pure): at the earliest due time of the schedules not paused (``Jobs.next_due``,
one query), read again after each due time and at least every ``refresh_s`` seconds, so that schedules
added, resumed, paused or fired by another process are seen. It waits on an ``Event`` (the OS's timed
wait: a millisecond or so late), not in steps, so a due time is asked for within a few milliseconds of
coming; the rest of the "due time to job start" delay is the worker's poll of the queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from assay.runner.entities import Job
from assay.services.jobs import Jobs

log = logging.getLogger(__name__)

#: Seconds between two reads of the schedules, at most: a schedule added or resumed elsewhere is seen
#: (and its first due time asked for) within this.
REFRESH_S = 1.0
#: The shortest wait, in ms, when the store still says a schedule is due right after it was asked to fire
#: it (a peer's transaction not yet visible): the loop polls, it does not spin.
MIN_WAIT_MS = 50
#: Seconds between two expiries of passed leases (``Jobs.expire_leases``): the attempts of workers that
#: died end even when no live worker claims. A write, so not on every tick; never before a due fire.
EXPIRE_S = 5.0
#: Seconds to wait after the store failed (it is down, or locked), before asking again.
RETRY_S = 1.0


def wake_at(next_due_ms: int | None, refresh_at_ms: int) -> int:
    """When to ask the store next: the earliest due time, or the next read of the schedules if sooner."""
    return refresh_at_ms if next_due_ms is None else min(next_due_ms, refresh_at_ms)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Scheduler:
    """Fires the due schedules of ``jobs`` (of ``projects`` when given) until ``stop()``.

    ``on_fire`` is called with the jobs each ask created (``assay scheduler`` prints them). ``clock``
    gives the time in ms; tests pass their own. Thread-safe to stop from any thread or a signal handler.
    """

    def __init__(
        self,
        jobs: Jobs,
        projects: Sequence[str] | None = None,
        refresh_s: float = REFRESH_S,
        on_fire: Callable[[list[Job]], None] | None = None,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self.jobs = jobs
        self.projects = list(projects) if projects is not None else None
        self.refresh_ms = int(refresh_s * 1000)
        self.on_fire = on_fire
        self.clock = clock
        self.fired = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now_ms: int) -> list[Job]:
        """Fire what is due at ``now_ms`` (one ask of the store)."""
        created = self.jobs.fire_due(now_ms, self.projects)
        if created:
            self.fired += len(created)
            if self.on_fire is not None:
                self.on_fire(created)
        return created

    def run(self) -> None:
        """Loop in this thread until ``stop()``."""
        next_due: int | None = None
        refresh_at = expire_at = 0
        while not self._stop.is_set():
            now = self.clock()
            try:
                self.tick(now)
                # Read again on the period, and whenever a due time was reached: the schedules that fired
                # (here or in a peer) have moved on, and their next due times are the store's to say.
                if now >= refresh_at or (next_due is not None and next_due <= now):
                    next_due = self.jobs.next_due(self.projects)
                    refresh_at = now + self.refresh_ms
                if now >= expire_at and (next_due is None or next_due - self.clock() > MIN_WAIT_MS):
                    self.jobs.expire_leases(self.projects)
                    expire_at = now + int(EXPIRE_S * 1000)
            except Exception:  # the store is down or locked: the next ask may succeed, keep the loop alive
                log.warning("the scheduler could not reach the store; retrying", exc_info=True)
                self._stop.wait(RETRY_S)
                refresh_at = 0
                continue
            wake = wake_at(next_due, refresh_at)
            wait_ms = wake - self.clock() if wake > now else MIN_WAIT_MS
            if wait_ms > 0:
                self._stop.wait(wait_ms / 1000)

    def start(self) -> Scheduler:
        """Run the loop in a daemon thread (``assay server``'s)."""
        self._thread = threading.Thread(target=self.run, name="assay-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ask the loop to end, then wait up to ``timeout`` seconds for ``start``'s thread (0: do not wait,
        as from a signal handler: it only sets an event)."""
        self._stop.set()
        if timeout != 0 and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for ``start``'s thread to end; whether it is still running."""
        if self._thread is None:
            return False
        self._thread.join(timeout)
        return self._thread.is_alive()

    def __enter__(self) -> Scheduler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["EXPIRE_S", "REFRESH_S", "Scheduler", "wake_at"]
