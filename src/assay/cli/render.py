"""Shared output helpers: Rich consoles and tables, JSON emission and the formatting of numbers and times.

Every command renders through here so tables look alike and ``--json`` output is always plain, valid JSON
(no Rich markup, NaN and infinities as ``null``) that scripts can parse.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from assay.fmt import MISSING, fmt_datetime, fmt_duration, fmt_number, fmt_size, fmt_time_ago

__all__ = ["MISSING", "fmt_datetime", "fmt_duration", "fmt_number", "fmt_size", "fmt_time_ago"]

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


def json_number(x: float) -> float | None:
    """``x`` for JSON output: NaN and infinities, which JSON cannot represent, become None (``null``)."""
    return x if math.isfinite(x) else None


def status_text(status: str) -> Text:
    """A run status colored by meaning: RUNNING blue, FINISHED green, FAILED red, KILLED yellow."""
    return Text(status, style=STATUS_STYLES.get(status, ""))
