"""``assay runs compare``: params and metrics of several runs side by side, differences highlighted.

Rows are keys (params, then metrics by their last value), columns are runs. A row differs when its values
are not all equal, comparing raw values (two metrics may print alike at 6 digits yet differ) and counting
a missing value as different; NaN equals NaN here, since both runs "have no number" alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from assay.cli import render
from assay.cli.context import resolve_run, tracking

if TYPE_CHECKING:
    from assay.entities import Run

#: Marks rows whose values differ across the compared runs (in the table's first column).
DIFF_MARK = "≠"
DIFF_STYLE = "bold yellow"

Value = str | float | None


@dataclass(frozen=True, slots=True)
class Row:
    """One key compared across runs: ``values[i]`` belongs to the i-th run (None where it has none)."""

    section: str
    key: str
    values: tuple[Value, ...]
    differs: bool


def _differs(values: Sequence[Value]) -> bool:
    norm = {"nan" if isinstance(v, float) and math.isnan(v) else v for v in values}
    return len(norm) > 1


def comparison_rows(runs: Sequence[Run]) -> list[Row]:
    """The params rows then the metrics rows of ``runs``, each key once, sorted by key."""
    rows: list[Row] = []
    for key in sorted({k for r in runs for k in r.params}):
        pvals: tuple[Value, ...] = tuple(r.params.get(key) for r in runs)
        rows.append(Row("params", key, pvals, _differs(pvals)))
    for key in sorted({k for r in runs for k in r.metric_summaries}):
        summaries = [r.metric_summaries.get(key) for r in runs]
        mvals: tuple[Value, ...] = tuple(None if s is None else s.last for s in summaries)
        rows.append(Row("metrics", key, mvals, _differs(mvals)))
    return rows


def _cell(value: Value) -> str | Text:
    if value is None:
        return render.MISSING
    if isinstance(value, float):
        return render.fmt_number(value)
    return Text(value)


def _json_value(value: Value) -> Any:
    return render.json_number(value) if isinstance(value, float) else value


def compare(
    ctx: typer.Context,
    run_ids: Annotated[
        list[str], typer.Argument(metavar="RUN_ID", help="Two or more run ids (or unique prefixes).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Compare the params and metrics of two or more runs; rows that differ are marked with ≠."""
    if len(run_ids) < 2:
        raise typer.BadParameter(f"compare needs at least 2 runs, got {len(run_ids)}", param_hint="RUN_ID")
    t = tracking(ctx)
    runs = [resolve_run(t, ref) for ref in run_ids]
    rows = comparison_rows(runs)
    if as_json:
        render.emit_json(
            {
                "runs": [{"run_id": r.info.run_id, "name": r.info.name} for r in runs],
                "rows": [
                    {
                        "section": row.section,
                        "key": row.key,
                        "values": [_json_value(v) for v in row.values],
                        "differs": row.differs,
                    }
                    for row in rows
                ],
            }
        )
        return
    if not rows:
        render.note("these runs have no params or metrics to compare")
        return
    n_diff = sum(row.differs for row in rows)
    table = render.table("", "key", *(f"{r.info.run_id[:8]}\n{r.info.name}" for r in runs))
    table.caption = f"{n_diff} of {len(rows)} rows differ (marked {DIFF_MARK})"
    table.caption_justify = "left"
    section = rows[0].section
    for row in rows:
        if row.section != section:
            table.add_section()
            section = row.section
        table.add_row(
            DIFF_MARK if row.differs else "",
            Text(f"{row.section}.{row.key}"),
            *(_cell(v) for v in row.values),
            style=DIFF_STYLE if row.differs else None,
        )
    render.console().print(table)
