"""Shared output helpers: Rich consoles and tables, JSON emission and the formatting of numbers and times.

Every command renders through here so tables look alike and ``--json`` output is always plain, valid JSON
(no Rich markup, NaN and infinities as ``null``) that scripts can parse.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

#: What a cell shows when a run has no value for a column.
MISSING = "—"

STATUS_STYLES: dict[str, str] = {
    "RUNNING": "blue",
    "FINISHED": "green",
    "FAILED": "red",
    "KILLED": "yellow",
}


#: Width for output that is not a terminal (a pipe, a file): wide enough that tables never squeeze.
PIPE_WIDTH = 1000


def console(stderr: bool = False) -> Console:
    """A console on the current stdout/stderr (built per call, so test runners that swap streams see output).

    A terminal (or an explicit $COLUMNS) sets the width; piped output gets tables at their natural width
    rather than Rich's 80-column default, so ``assay runs ls > runs.txt`` or ``| grep`` loses nothing.
    """
    stream = sys.stderr if stderr else sys.stdout
    is_tty = hasattr(stream, "isatty") and stream.isatty()
    width = None if is_tty or os.environ.get("COLUMNS") else PIPE_WIDTH
    return Console(stderr=stderr, highlight=False, width=width)


def emit_json(data: Any) -> None:
    """Write ``data`` to stdout as indented JSON; NaN and infinities, which JSON lacks, become ``null``."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
    sys.stdout.write("\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """A hint for humans on stderr (dim), so it never mixes with tables or JSON piped from stdout."""
    console(stderr=True).print(Text(message, style="dim"))


def table(*headers: str, title: str | None = None) -> Table:
    """A table in the CLI's house style, with the given column headers."""
    t = Table(title=title, header_style="bold", title_justify="left", show_edge=False, pad_edge=False)
    for h in headers:
        t.add_column(h)
    return t


def column_width(header: str, cells: Sequence[str | Text]) -> int:
    """How wide a table column is at its natural size, with its padding and separator."""
    return (
        max([Text(header).cell_len, *(Text(c).cell_len if isinstance(c, str) else c.cell_len for c in cells)])
        + 3
    )


def fmt_number(x: float | None) -> str:
    """Up to 6 significant digits (``0.912346``, ``1.5e+07``); NaN as ``nan``, None as the missing mark."""
    if x is None:
        return MISSING
    return f"{x:.6g}"


def json_number(x: float) -> float | None:
    """``x`` for JSON output: NaN and infinities, which JSON cannot represent, become None (``null``)."""
    return x if math.isfinite(x) else None


def status_text(status: str) -> Text:
    """A run status colored by meaning: RUNNING blue, FINISHED green, FAILED red, KILLED yellow."""
    return Text(status, style=STATUS_STYLES.get(status, ""))


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
