"""How an execution ended, read from the executed notebook and what the executor saw (pure, no I/O).

- every cell ran: FINISHED; ``sys.exit(0)`` (or ``sys.exit()``) in a cell stops there and still FINISHES,
  as papermill treats it, with the cell recorded;
- a cell raised: FAILED, the message naming the cell (its index, ``In [n]`` and first lines) and the error;
- a time limit passed, the kernel died (``os._exit``, a crash, the OOM killer), the notebook called
  ``sys.exit`` with a failure status, or the caller was interrupted: KILLED, with the reason.

Cell indices are positions in the executed notebook (papermill's injected-parameters cell included), the
same as the ``notebook/cell_seconds`` steps and ``notebook/cells.json``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assay.entities import RunStatus

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    """``text`` without terminal colour codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


def source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def first_lines(cell: Mapping[str, Any], n: int = 3, width: int = 100) -> list[str]:
    lines = [ln for ln in source(cell).splitlines() if ln.strip()]
    out = [ln if len(ln) <= width else ln[: width - 3] + "..." for ln in lines[:n]]
    if len(lines) > n:
        out.append("...")
    return out


def name_cell(cells: list[Any], index: int) -> str:
    """``cell 3 (In [2])`` followed by the cell's first lines, indented."""
    cell = cells[index]
    count = cell.get("execution_count")
    head = f"cell {index}" + (f" (In [{count}])" if count else "")
    return head + "".join(f"\n  | {ln}" for ln in first_lines(cell))


@dataclass(frozen=True, slots=True)
class Outcome:
    status: RunStatus
    message: str | None = None  # why it did not finish; None when it did
    cell: int | None = None  # the cell where it stopped
    cell_status: str = "ok"  # what that cell's row in cells.json says
    traceback: str | None = None
    note: str | None = None  # a FINISHED execution that stopped early (sys.exit(0))


def _error_output(cell: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for out in cell.get("outputs", []) or []:
        if out.get("output_type") == "error":
            return dict(out)
    return None


def classify(
    cells: list[Any],
    *,
    timed_out: str | None = None,
    limit: float | None = None,
    current: int | None = None,
    died: int | bool | None = False,
    interrupted: bool = False,
    error: str | None = None,
    log_tail: str = "",
) -> Outcome:
    """The outcome of an execution whose notebook's ``cells`` ran as far as they did.

    ``timed_out`` names the limit that stopped it (``limit`` seconds); ``died`` is the kernel's exit status
    (True when unknown) if it died; ``interrupted``: the caller was interrupted; ``error``: an error of the
    executor itself; ``current``: the cell running when one of these happened."""
    at = f" in {name_cell(cells, current)}" if current is not None else ""
    if interrupted:
        return Outcome(RunStatus.KILLED, f"interrupted{at}", current, "interrupted")
    if timed_out is not None:
        return Outcome(
            RunStatus.KILLED, f"timed out: {timed_out} of {limit:g} s passed{at}", current, "timeout"
        )
    if died is not False:
        status = "" if died is True or died is None else f" (exit status {died})"
        tail = f"\nthe kernel's last words:\n{log_tail}" if log_tail.strip() else ""
        return Outcome(RunStatus.KILLED, f"the kernel died{status}{at}{tail}", current, "died")
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        out = _error_output(cell)
        if out is None:
            if cell.get("metadata", {}).get("papermill", {}).get("exception") is True:
                return Outcome(RunStatus.FAILED, f"{name_cell(cells, index)}\nfailed", index, "error")
            continue
        ename, evalue = str(out.get("ename", "")), str(out.get("evalue", ""))
        trace = plain("\n".join(out.get("traceback", []) or []))
        if ename == "SystemExit" and evalue in ("", "0", "None"):
            return Outcome(
                RunStatus.FINISHED, cell=index, cell_status="exit", note=f"sys.exit(0) in cell {index}"
            )
        if ename == "SystemExit":
            msg = f"the notebook called sys.exit({evalue}) in {name_cell(cells, index)}"
            return Outcome(RunStatus.KILLED, msg, index, "exit", trace)
        msg = f"{name_cell(cells, index)}\nraised {ename}: {evalue}"
        return Outcome(RunStatus.FAILED, msg, index, "error", trace)
    if error is not None:
        return Outcome(RunStatus.FAILED, f"{error}{at}", current, "error")
    return Outcome(RunStatus.FINISHED)


def cell_rows(cells: list[Any], seconds: Mapping[int, float], outcome: Outcome) -> list[dict[str, Any]]:
    """One row per code cell for ``notebook/cells.json``: index, first line, duration and status (ok, the
    stopping cell's status, or "not run")."""
    rows = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        if outcome.cell is not None and index == outcome.cell:
            status = outcome.cell_status
        elif index in seconds and (outcome.cell is None or index < outcome.cell):
            status = "ok"
        else:
            status = "not run"
        lines = first_lines(cell, 1)
        rows.append(
            {
                "index": index,
                "first_line": lines[0] if lines else "",
                "seconds": round(seconds.get(index, 0.0), 6),
                "status": status,
                "execution_count": cell.get("execution_count"),
                "tags": list(cell.get("metadata", {}).get("tags", [])),
            }
        )
    return rows
