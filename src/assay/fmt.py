"""How numbers, times, durations and sizes read to people: shared by the CLI's tables and the web UI.

Pure module: no I/O.
"""

from __future__ import annotations

import datetime as dt
import time

#: What a cell shows when a run has no value for a column.
MISSING = "—"


def fmt_number(x: float | None) -> str:
    """Up to 6 significant digits (``0.912346``, ``1.5e+07``); NaN as ``nan``, None as the missing mark."""
    if x is None:
        return MISSING
    return f"{x:.6g}"


def fmt_time_ago(ms: int | None, now_ms: int | None = None) -> str:
    """A timestamp as a human time: ``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``, older as a local date."""
    if ms is None:
        return MISSING
    now = int(time.time() * 1000) if now_ms is None else now_ms
    secs = (now - ms) / 1000
    if -60 < secs < 60:
        return "just now" if secs < 1 else f"{int(secs)}s ago"
    if 0 < secs < 3600:
        return f"{int(secs // 60)}m ago"
    if 0 < secs < 86400:
        return f"{int(secs // 3600)}h ago"
    if 0 < secs < 7 * 86400:
        return f"{int(secs // 86400)}d ago"
    return fmt_datetime(ms)


def fmt_datetime(ms: int | None) -> str:
    """A timestamp in local time, to the minute (``2024-05-01 14:03``)."""
    if ms is None:
        return MISSING
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def fmt_duration(ms: int | None) -> str:
    """A duration as people read it: ``0.35s``, ``12.3s``, ``3m 04s``, ``2h 05m``, ``1d 03h``."""
    if ms is None:
        return MISSING
    secs = ms / 1000
    if secs < 10:
        return f"{secs:.2f}s"
    if secs < 60:
        return f"{secs:.1f}s"
    whole = int(secs)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600:02d}h"


def fmt_size(size: int | None) -> str:
    """A byte count with a binary unit (``512 B``, ``1.5 KiB``); the missing mark for directories."""
    if size is None:
        return MISSING
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
