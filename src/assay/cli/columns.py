"""Which columns ``assay runs ls`` shows and how a run fills them, plus the JSON form of a run.

By default the table shows the run's attributes and then every metric (its last value) and every param
present in the listed runs, capped so the table stays readable; keys named in ``--order-by`` come first.
``--columns`` picks the extra columns explicitly (``params.lr,metrics.auc,tags.team``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import typer
from rich.table import Table
from rich.text import Text

from assay.cli import render
from assay.query import FIELD_PREFIXES

if TYPE_CHECKING:
    from assay.entities import Run, RunInfo

Kind = Literal["metric", "param", "tag", "attribute"]

#: At most this many metric and param columns are shown unless ``--columns`` names them.
MAX_EXTRA_COLUMNS = 8
#: Longer param and tag values wrap within this many characters.
EXTRA_MAX_WIDTH = 32

_PREFIXES: dict[str, Kind] = {p: k for p, k in FIELD_PREFIXES.items() if k != "dataset"}
_HEADER_PREFIX: dict[Kind, str] = {"metric": "metrics", "param": "params", "tag": "tags", "attribute": ""}
ATTRIBUTE_COLUMNS = ("user", "experiment_id", "end_time", "parent_run_id", "lifecycle", "artifact_uri")


@dataclass(frozen=True, slots=True)
class Column:
    """An extra column of the runs table: a metric, param or tag key, or a run attribute."""

    kind: Kind
    key: str

    @property
    def header(self) -> str:
        prefix = _HEADER_PREFIX[self.kind]
        return f"{prefix}.{self.key}" if prefix else self.key


def parse_columns(text: str) -> list[Column]:
    """Parse ``--columns``: comma-separated ``metrics.<key>``, ``params.<key>``, ``tags.<key>`` or
    ``attributes.<name>``. A malformed entry is a usage error (exit code 2)."""
    out: list[Column] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        prefix, dot, key = item.partition(".")
        kind = _PREFIXES.get(prefix)
        if not dot or not key or kind is None:
            raise typer.BadParameter(
                f"{item!r} is not a column: write metrics.<key>, params.<key>, tags.<key> "
                "or attributes.<name>",
                param_hint="--columns",
            )
        if kind == "attribute" and key not in ATTRIBUTE_COLUMNS:
            raise typer.BadParameter(
                f"no attribute column {key!r}: choose from {', '.join(ATTRIBUTE_COLUMNS)}",
                param_hint="--columns",
            )
        out.append(Column(kind, key))
    return out


def default_columns(runs: Sequence[Run], first: Sequence[Column] = ()) -> tuple[list[Column], int]:
    """Every metric, then every param, present in ``runs`` (``first`` leading), capped; and how many
    were cut."""
    metrics = sorted({k for r in runs for k in r.metric_summaries})
    params = sorted({k for r in runs for k in r.params})
    present = [Column("metric", k) for k in metrics] + [Column("param", k) for k in params]
    ordered = [c for c in first if c in present]
    ordered += [c for c in present if c not in ordered]
    return ordered[:MAX_EXTRA_COLUMNS], max(0, len(ordered) - MAX_EXTRA_COLUMNS)


def order_by_columns(order_by: Sequence[str]) -> list[Column]:
    """The metric and param keys ``--order-by`` sorts on, so the default table shows them first."""
    from assay.query import parse_order_by

    return [
        Column(k.field.kind, k.field.key)
        for k in parse_order_by(list(order_by))
        if k.field.kind in ("metric", "param")
    ]


def cell(run: Run, column: Column) -> str | Text:
    """What ``run`` shows in ``column``: a metric's last value, a param or tag as given, or an attribute."""
    if column.kind == "metric":
        summary = run.metric_summaries.get(column.key)
        return render.fmt_number(None if summary is None else summary.last)
    if column.kind == "param":
        return Text(run.params.get(column.key, render.MISSING))
    if column.kind == "tag":
        return Text(run.tags.get(column.key, render.MISSING))
    if column.key == "end_time":
        return render.fmt_time_ago(run.info.end_time)
    value = info_json(run.info).get(column.key)
    return render.MISSING if value is None else Text(str(value))


def name_text(run: Run) -> Text:
    """The run's name, marked when the run is deleted (shown with ``--all``)."""
    name = Text(run.info.name)
    if run.info.lifecycle.value == "deleted":
        name.append(" (deleted)", style="dim")
    return name


def runs_table(
    runs: Sequence[Run], extra: Sequence[Column], exp_names: dict[str, str] | None, width: int | None
) -> tuple[Table, int]:
    """The ``runs ls`` table and how many ``extra`` columns were left out to fit ``width``.

    Attribute columns never wrap; extra columns that would not fit are dropped (the caller says so)
    rather than squeezed to ``m…``. ``width`` None keeps every column (they were named on purpose);
    ``exp_names`` adds an experiment column when runs of several experiments are listed.
    """
    headers = [
        "run id",
        *(["experiment"] if exp_names is not None else []),
        "name",
        "status",
        "start",
        "duration",
    ]
    base_rows: list[list[str | Text]] = []
    for r in runs:
        exp = (
            [Text(exp_names.get(r.info.experiment_id, r.info.experiment_id))] if exp_names is not None else []
        )
        base_rows.append(
            [
                r.info.run_id[:8],
                *exp,
                name_text(r),
                render.status_text(r.info.status.value),
                render.fmt_time_ago(r.info.start_time),
                render.fmt_duration(r.info.duration),
            ]
        )
    extra_cells = [(c, [cell(r, c) for r in runs]) for c in extra]
    cut = 0
    if width is not None:
        budget = width - sum(
            render.column_width(h, [row[i] for row in base_rows]) for i, h in enumerate(headers)
        )
        for n, (c, cells) in enumerate(extra_cells):
            budget -= min(render.column_width(c.header, cells), EXTRA_MAX_WIDTH + 3)
            if budget < 0:
                cut = len(extra_cells) - n
                extra_cells = extra_cells[:n]
                break
    table = render.table(*headers)
    for base in table.columns:
        base.no_wrap = True
    for c, _ in extra_cells:
        table.add_column(
            c.header, justify="right" if c.kind == "metric" else "left", max_width=EXTRA_MAX_WIDTH
        )
    for i, row in enumerate(base_rows):
        table.add_row(*row, *(cells[i] for _, cells in extra_cells))
    return table, cut


def info_json(info: RunInfo) -> dict[str, Any]:
    """A run's attributes as JSON; times are milliseconds since the Unix epoch, as stored."""
    return {
        "run_id": info.run_id,
        "experiment_id": info.experiment_id,
        "name": info.name,
        "status": info.status.value,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "duration_ms": info.duration,
        "user": info.user,
        "artifact_uri": info.artifact_uri,
        "lifecycle": info.lifecycle.value,
        "parent_run_id": info.parent_run_id,
    }


def run_json(run: Run) -> dict[str, Any]:
    """A run as ``runs ls --json`` prints it: attributes, last metric values, params and tags."""
    return {
        **info_json(run.info),
        "metrics": {k: render.json_number(s.last) for k, s in sorted(run.metric_summaries.items())},
        "params": dict(sorted(run.params.items())),
        "tags": dict(sorted(run.tags.items())),
    }
