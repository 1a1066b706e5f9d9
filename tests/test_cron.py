"""Cron due times (``assay.runner.cron``): time zones, daylight saving changes, the missed-fire policy, and
the one-line refusals. Pure: every clock is passed in."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo

import pytest

from assay.errors import InvalidInput
from assay.runner import cron

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def _ms(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=PARIS).timestamp() * 1000)  # type: ignore[misc]


def _local(times: list[int]) -> list[str]:
    return [dt.datetime.fromtimestamp(t / 1000, PARIS).strftime("%m-%d %H:%M%z") for t in times]


def test_a_nightly_schedule_fires_once_a_night_across_both_changes() -> None:
    # 2025-03-30: 02:00 CET becomes 03:00 CEST, so 02:30 does not exist: it fires at 03:00 instead.
    spring = cron.upcoming("30 2 * * *", "Europe/Paris", _ms(2025, 3, 28, 12), 4)
    assert _local(spring) == ["03-29 02:30+0100", "03-30 03:00+0200", "03-31 02:30+0200", "04-01 02:30+0200"]
    # 2025-10-26: 03:00 CEST becomes 02:00 CET, so 02:30 comes twice: a fixed-time job fires at the first.
    autumn = cron.upcoming("30 2 * * *", "Europe/Paris", _ms(2025, 10, 24, 12), 4)
    assert _local(autumn) == ["10-25 02:30+0200", "10-26 02:30+0200", "10-27 02:30+0100", "10-28 02:30+0100"]
    assert autumn[2] - autumn[1] == 25 * 3600 * 1000  # the longer day


def test_an_hourly_schedule_follows_real_time_through_the_repeated_hour() -> None:
    autumn = cron.upcoming("0 * * * *", "Europe/Paris", _ms(2025, 10, 26, 0, 30), 5)
    assert _local(autumn) == [
        "10-26 01:00+0200",
        "10-26 02:00+0200",
        "10-26 02:00+0100",
        "10-26 03:00+0100",
        "10-26 04:00+0100",
    ]
    assert {b - a for a, b in itertools.pairwise(autumn)} == {3600 * 1000}
    spring = cron.upcoming("0 * * * *", "Europe/Paris", _ms(2025, 3, 30, 0, 30), 3)
    assert _local(spring) == ["03-30 01:00+0100", "03-30 03:00+0200", "03-30 04:00+0200"]


def test_the_time_zone_moves_the_due_time() -> None:
    after = int(dt.datetime(2025, 5, 31, 12, tzinfo=dt.UTC).timestamp() * 1000)
    utc = cron.next_after("0 2 * * *", "UTC", after)
    paris = cron.next_after("0 2 * * *", "Europe/Paris", after)
    assert utc - paris == 2 * 3600 * 1000  # 02:00 in Paris (CEST) is 00:00 UTC


def test_seconds_field_and_strictly_after() -> None:
    t = _ms(2025, 6, 1, 12, 0)
    assert cron.upcoming("* * * * * *", "UTC", t, 3) == [t + 1000, t + 2000, t + 3000]
    assert cron.next_after("*/5 * * * * */10", "UTC", t) == t + 10_000


def test_missed_due_times_skip_or_catch_up_bounded() -> None:
    first = _ms(2025, 6, 1, 0, 0)
    now = first + 10 * 60_000 + 30_000  # down for ten and a half minutes: 11 due times came
    fired, following = cron.due("* * * * *", "UTC", first, now, cron.SKIP)
    assert fired == [first + 10 * 60_000] and following == first + 11 * 60_000
    fired, following = cron.due("* * * * *", "UTC", first, now, cron.CATCHUP, max_catchup=3)
    assert fired == [first + m * 60_000 for m in (8, 9, 10)] and following == first + 11 * 60_000
    fired, _ = cron.due("* * * * *", "UTC", first, now, cron.CATCHUP, max_catchup=100)
    assert len(fired) == 11 and fired == sorted(fired)
    assert cron.due("* * * * *", "UTC", first, first - 1) == ([], first)  # not due yet
    assert cron.due("* * * * *", "UTC", first, first) == ([first], first + 60_000)  # due on the dot


def test_a_long_outage_is_bounded() -> None:
    first = _ms(2025, 1, 1)
    now = first + 90 * 24 * 3600 * 1000  # a per-minute schedule down for 90 days
    fired, following = cron.due("* * * * *", "UTC", first, now, cron.CATCHUP, max_catchup=5)
    assert len(fired) == 5 and following > now and fired[-1] <= now


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("61 * * * *",), "does not parse"),
        (("every day",), "does not parse"),
        (("* * * *",), "does not parse"),
        (("0 2 30 2 *",), "never comes"),
        (("0 2 31 4 *",), "never comes"),
        (("0 2 * * *", "Mars/Olympus"), "unknown time zone"),
        (("0 2 * * *", "UTC", "sometimes"), "missed-fire policy"),
        (("0 2 * * *", "UTC", "catchup", 0), "max_catchup"),
    ],
)
def test_bad_input_is_refused_in_one_line(args: tuple[object, ...], words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        cron.check(*args)  # type: ignore[arg-type]
    assert words in caught.value.message and "\n" not in caught.value.message


def test_a_cron_that_comes_rarely_is_accepted() -> None:
    cron.check("0 2 29 2 *")  # February 29th: once every four years
    assert cron.next_after("0 2 29 2 *", "UTC", 0) == 68_176_800_000  # 1972-02-29 02:00 UTC
