"""``assay datasets``: the datasets runs logged, with their digest, schema, statistics and users."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from assay.cli import render
from assay.cli.context import registry

app = typer.Typer(help="Datasets the runs used.", no_args_is_help=True)


def _dump(value: Any) -> Any:
    from assay.registry.entities import to_json

    return to_json(value)


@app.command("ls")
def ls(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", help="Only this project's datasets.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List datasets: id, name, digest, kind, rows, size, source."""
    found = registry(ctx).list_datasets(project)
    if as_json:
        render.emit_json([_dump(d) for d in found])
        return
    if not found:
        render.note("no datasets yet: log one in a run with assay.log_dataset(df, name='train')")
        return
    t = render.table("id", "name", "digest", "kind", "rows", "size", "source")
    t.columns[0].justify = "right"
    for d in found:
        t.add_row(
            str(d.dataset_id),
            Text(d.name),
            d.digest[:24],
            d.kind,
            "" if d.rows is None else str(d.rows),
            render.fmt_size(d.size_bytes),
            Text(d.source or ""),
        )
    render.console().print(t)


@app.command("show")
def show(
    ctx: typer.Context,
    dataset_id: Annotated[int, typer.Argument(help="The dataset's id (from `assay datasets ls`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Show a dataset: digest, schema and statistics, the runs that used it and the model versions
    registered from those runs."""
    reg = registry(ctx)
    d = reg.get_dataset(dataset_id)
    uses, versions = reg.dataset_usage(dataset_id)
    if as_json:
        render.emit_json(
            {"dataset": _dump(d), "runs": [_dump(u) for u in uses], "versions": [_dump(v) for v in versions]}
        )
        return
    con = render.console()
    con.print(Text(d.name, style="bold"), f"({d.kind}, project {d.project})")
    con.print(f"  digest  {d.digest}")
    con.print(f"  rows    {d.rows}   size {render.fmt_size(d.size_bytes)}")
    if d.source:
        con.print(f"  source  {d.source}")
    if d.schema:
        t = render.table("column", "dtype", "count", "nulls", "min", "max", "mean", "std", title="schema")
        for col in d.schema:
            name = str(col.get("name", ""))
            st = d.stats.get(name, {})
            t.add_row(
                Text(name),
                str(col.get("dtype", "")),
                *(
                    ""
                    if st.get(k) is None
                    else str(st[k])
                    if not isinstance(st[k], float)
                    else render.fmt_number(st[k])
                    for k in ("count", "nulls", "min", "max", "mean", "std")
                ),
            )
        con.print(t)
    t = render.table("run", "context", "logged", title="used by")
    for u in uses:
        t.add_row(u.run_id, u.context, render.fmt_time_ago(u.logged_at))
    con.print(t)
    if versions:
        con.print("  model versions: " + ", ".join(f"{v.name} v{v.version}" for v in versions))
