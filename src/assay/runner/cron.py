"""Cron due times for schedules, computed by croniter in the schedule's time zone (``zoneinfo``), and the
missed-fire policy. Pure: no I/O, no clock (every function takes the times it works from, in ms).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from typing import Any

from assay.errors import InvalidInput
from assay.optional import require
from assay.runner.entities import CATCHUP, MISSED_POLICIES, SKIP

#: The most due times one call looks at: a schedule every minute down for a week is still bounded.
SCAN_LIMIT = 20_000


def _croniter() -> Any:
    """croniter's class (untyped: the package ships no annotations)."""
    return require("croniter", "runner", "schedules").croniter


def zone(tz: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone ``tz`` (InvalidInput, one line, if it is not one)."""
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {tz!r}: give an IANA name such as 'UTC' or 'Europe/Paris'"
        ) from None


def check(cron: str, tz: str = "UTC", missed: str = SKIP, max_catchup: int = 10) -> None:
    """Refuse (InvalidInput, one line) a cron expression, time zone or missed-fire policy that is wrong."""
    zone(tz)
    fields = cron.split()
    cls = _croniter()
    if len(fields) not in (5, 6) or not cls.is_valid(cron):
        raise InvalidInput(
            f"cron expression {cron!r} does not parse: give five fields 'minute hour day-of-month month "
            "day-of-week', e.g. '0 2 * * *' (every day at 02:00) or '*/15 * * * *' (a sixth field, "
            "seconds, is accepted too)"
        )
    try:
        next_after(cron, tz, 0)
    except ValueError:  # croniter's CroniterBadDateError: its fields match no date, ever
        raise InvalidInput(
            f"cron expression {cron!r} never comes: no month has its day of the month (like February 30th)"
        ) from None
    if missed not in MISSED_POLICIES:
        raise InvalidInput(f"missed-fire policy {missed!r} is unknown: use {SKIP!r} or {CATCHUP!r}")
    if not 1 <= max_catchup <= 1000:
        raise InvalidInput(f"max_catchup must be between 1 and 1000, not {max_catchup}")


def _iter(cron: str, tz: str, after_ms: int) -> Iterator[int]:
    """Due times strictly after ``after_ms``, as cron keeps them across daylight saving changes.

    croniter yields a wall-clock time twice when the clocks go back (02:30 CEST, then 02:30 CET). A job at
    fixed hours (``30 2 * * *``) fires once that night, as Vixie cron does: the second pass through the
    repeated hour (``fold == 1``) is dropped unless the hour field is a wildcard (``*``, ``*/2``), whose
    jobs follow real time. When the clocks go forward, croniter moves a time that does not exist to the
    first one after it (02:30 on the spring night fires at 03:00): it still fires once.
    """
    zi = zone(tz)
    fixed_hours = not cron.split()[1].startswith("*")
    it = _croniter()(cron, dt.datetime.fromtimestamp(after_ms / 1000, tz=zi))
    while True:
        nxt: dt.datetime = it.get_next(dt.datetime)
        ms = round(nxt.timestamp() * 1000)
        if fixed_hours and dt.datetime.fromtimestamp(ms / 1000, tz=zi).fold == 1:
            continue
        yield ms


def next_after(cron: str, tz: str, after_ms: int) -> int:
    """The first due time strictly after ``after_ms``."""
    return next(_iter(cron, tz, after_ms))


def upcoming(cron: str, tz: str, after_ms: int, count: int) -> list[int]:
    """The next ``count`` due times after ``after_ms``."""
    it = _iter(cron, tz, after_ms)
    return [next(it) for _ in range(count)]


def due(
    cron: str, tz: str, next_due_ms: int, now_ms: int, missed: str = SKIP, max_catchup: int = 10
) -> tuple[list[int], int]:
    """The due times to fire at ``now_ms`` for a schedule whose next unfired due time is ``next_due_ms``,
    and the next due time after them.

    Every due time in ``[next_due_ms, now_ms]`` has come. ``SKIP`` fires only the latest of them (a
    scheduler that was down does not replay the past); ``CATCHUP`` fires the latest ``max_catchup``, oldest
    first. Nothing has come when ``now_ms < next_due_ms``: ``([], next_due_ms)``.
    """
    if now_ms < next_due_ms:
        return [], next_due_ms
    came = [next_due_ms]
    it = _iter(cron, tz, next_due_ms)
    following = next(it)
    while following <= now_ms and len(came) < SCAN_LIMIT:
        came.append(following)
        following = next(it)
    if following <= now_ms:  # beyond the scan limit: start again from now
        following = next_after(cron, tz, now_ms)
    keep = 1 if missed == SKIP else max_catchup
    return came[-keep:], following
