"""``assay experiments``: list the experiments of the store with their run counts and last activity; rename one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from assay.cli import render
from assay.cli.context import tracking

if TYPE_CHECKING:
    from assay.entities import Experiment

app = typer.Typer(help="List and rename experiments.", no_args_is_help=True)


def experiment_json(exp: Experiment) -> dict[str, Any]:
    """An experiment as a JSON object; times are milliseconds since the Unix epoch, as stored."""
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "project": exp.project,
        "run_count": exp.run_count,
        "last_activity": exp.last_activity,
        "created_at": exp.created_at,
        "artifact_location": exp.artifact_location,
        "lifecycle": exp.lifecycle.value,
        "tags": dict(exp.tags),
    }


@app.command("ls")
def ls(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include deleted experiments.")] = False,
    project: Annotated[str | None, typer.Option("--project", help="Only this project's experiments.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """List experiments: id, name, project, number of runs, last activity and artifact location."""
    exps = tracking(ctx).list_experiments(include_deleted=all_, project=project)
    if as_json:
        render.emit_json([experiment_json(e) for e in exps])
        return
    if not exps:
        render.note("no experiments yet: runs logged with the SDK create them")
        return
    t = render.table("id", "name", "project", "runs", "last activity", "artifact location")
    t.columns[0].justify = "right"
    t.columns[3].justify = "right"
    for e in exps:
        name = Text(e.name)
        if e.lifecycle.value == "deleted":
            name.append(" (deleted)", style="dim")
        runs = "" if e.run_count is None else str(e.run_count)
        t.add_row(
            e.experiment_id,
            name,
            Text(e.project),
            runs,
            render.fmt_time_ago(e.last_activity),
            Text(e.artifact_location),
        )
    render.console().print(t)


@app.command("rename")
def rename(
    ctx: typer.Context,
    experiment: Annotated[str, typer.Argument(help="Experiment id, name or project/name.")],
    name: Annotated[str, typer.Argument(help="Its new name (unique in its project).")],
) -> None:
    """Rename an experiment (project owners): its id, runs and artifacts stay."""
    from assay.cli.context import resolve_experiment

    t = tracking(ctx)
    exp = resolve_experiment(t, experiment)
    t.rename_experiment(exp.experiment_id, name)
    typer.echo(f"experiment {exp.experiment_id} ({exp.project}) is now {name!r}")
