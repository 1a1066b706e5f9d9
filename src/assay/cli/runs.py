"""``assay runs``: search and list runs, show one, compare several, delete and restore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from assay.cli import columns as cols
from assay.cli import render
from assay.cli.compare import compare
from assay.cli.context import resolve_experiment, resolve_run, resolve_run_id, tracking

if TYPE_CHECKING:
    pass

app = typer.Typer(help="Search, show, compare, delete and restore runs.", no_args_is_help=True)
app.command("compare")(compare)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command("ls")
def ls(
    ctx: typer.Context,
    experiment: Annotated[
        list[str] | None,
        typer.Option(
            "--experiment",
            "-e",
            metavar="NAME_OR_ID",
            help="Experiment name, project/name or id (repeatable). Default: all experiments.",
        ),
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option(
            "--filter",
            "-f",
            metavar="EXPR",
            help="Search filter, e.g. \"metrics.auc > 0.9 and params.model = 'rf'\".",
        ),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            "--order-by", "-o", metavar="KEY", help="Sort key, e.g. 'metrics.auc desc' (repeatable)."
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            "-c",
            metavar="COLUMNS",
            help="Extra columns, e.g. 'params.lr,metrics.auc,tags.team'.",
        ),
    ] = None,
    max_results: Annotated[
        int, typer.Option("--max-results", "-n", min=1, metavar="N", help="At most this many runs.")
    ] = 50,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include deleted runs.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first unless --order-by says otherwise."""
    picked = cols.parse_columns(columns) if columns is not None else None
    t = tracking(ctx)
    exps = [resolve_experiment(t, e) for e in experiment or []]
    found = t.search_runs(
        [e.experiment_id for e in exps],
        filter=filter_,
        order_by=order_by or None,
        max_results=max_results,
        include_deleted=all_,
    )
    more = f"showing the first {len(found)} run(s); more match: raise --max-results or narrow --filter"
    if as_json:
        render.emit_json([cols.run_json(r) for r in found])
        if found.next_page_token:
            render.note(more)
        return
    if not found:
        render.note("no runs match")
        return
    hidden = 0
    if picked is None:
        picked, hidden = cols.default_columns(found, cols.order_by_columns(order_by or []))
    by_exp = len({r.info.experiment_id for r in found}) > 1 and not exps
    exp_names = (
        {e.experiment_id: e.name for e in t.list_experiments(include_deleted=True)} if by_exp else None
    )
    out = render.console()
    table, cut = cols.runs_table(found, picked, exp_names, None if columns is not None else out.width)
    out.print(table)
    hidden += cut
    if hidden:
        render.note(f"{hidden} more metric/param columns not shown: pick columns with --columns")
    if found.next_page_token:
        render.note(more)


def _kv_table(title: str, items: dict[str, str]) -> Table:
    table = render.table("key", "value", title=title)
    for k, v in sorted(items.items()):
        table.add_row(Text(k), Text(v))
    return table


@app.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    as_json: JsonOpt = False,
) -> None:
    """Show one run: its attributes, params, tags and a summary of each metric."""
    t = tracking(ctx)
    run = resolve_run(t, run_id)
    summaries = sorted(run.metric_summaries.values(), key=lambda s: s.key)
    if as_json:
        render.emit_json(
            {
                "info": cols.info_json(run.info),
                "params": dict(sorted(run.params.items())),
                "tags": dict(sorted(run.tags.items())),
                "metrics": {
                    s.key: {
                        "last": render.json_number(s.last),
                        "min": render.json_number(s.min),
                        "max": render.json_number(s.max),
                        "step": s.last_step,
                        "timestamp": s.last_timestamp,
                        "count": s.num_points,
                    }
                    for s in summaries
                },
            }
        )
        return
    i = run.info
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    info.add_row("run id", i.run_id)
    info.add_row("name", cols.name_text(run))
    info.add_row("experiment", Text(_experiment_label(ctx, i.experiment_id)))
    info.add_row("status", render.status_text(i.status.value))
    info.add_row("user", Text(i.user))
    info.add_row("start", f"{render.fmt_datetime(i.start_time)} ({render.fmt_time_ago(i.start_time)})")
    info.add_row("end", render.fmt_datetime(i.end_time))
    info.add_row("duration", render.fmt_duration(i.duration))
    if i.parent_run_id:
        info.add_row("parent run", i.parent_run_id)
    info.add_row("artifacts", Text(i.artifact_uri))
    out = render.console()
    out.print(info)
    for title, items in (("params", run.params), ("tags", run.tags)):
        if items:
            out.print()
            out.print(_kv_table(title, dict(items)))
    if summaries:
        metrics = render.table("key", "last", "min", "max", "step", "count", title="metrics")
        for column in metrics.columns[1:]:
            column.justify = "right"
        for s in summaries:
            metrics.add_row(
                Text(s.key),
                *(render.fmt_number(x) for x in (s.last, s.min, s.max)),
                str(s.last_step),
                str(s.num_points),
            )
        out.print()
        out.print(metrics)


def _experiment_label(ctx: typer.Context, experiment_id: str) -> str:
    """``name (id)`` for the run's experiment."""
    exp = tracking(ctx).get_experiment(experiment_id)
    return f"{exp.name} ({exp.experiment_id})"


@app.command("delete")
def delete(
    ctx: typer.Context, run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")]
) -> None:
    """Delete a run (soft: it is hidden from searches and can be restored)."""
    t = tracking(ctx)
    rid = resolve_run_id(t, run_id)
    t.delete_run(rid)
    typer.echo(f"deleted run {rid} (undo with: assay runs restore {rid})")


@app.command("restore")
def restore(
    ctx: typer.Context, run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")]
) -> None:
    """Restore a deleted run."""
    t = tracking(ctx)
    rid = resolve_run_id(t, run_id)
    t.restore_run(rid)
    typer.echo(f"restored run {rid}")


@app.command("rename")
def rename(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    name: Annotated[str, typer.Argument(help="The run's new name.")],
) -> None:
    """Give a run a new name (its id stays)."""
    t = tracking(ctx)
    rid = resolve_run_id(t, run_id)
    t.rename_run(rid, name)
    typer.echo(f"run {rid} is now {name!r}")
