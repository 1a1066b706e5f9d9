"""``assay import mlflow SOURCE``: bring an MLflow history into the assay store, with a progress bar and a
summary table (imported / already present / skipped per kind). Run it again to pick up new runs: nothing
is imported twice.

Everything goes into one project (``--project``). Runs keep their MLflow ids, and a run id names one run in
the whole store, so an MLflow run is imported into one project only: an import whose runs another project
already holds is refused before anything is written, in one line naming that project (import into it
again, or pick other experiments with ``--experiment``); a project the caller may not read is not named.
It is never given copies under new ids, which would break every ``runs:/<MLflow run id>/...`` URI and
make ``mlflow.run_id`` name two runs, and its model versions only ever point at its own runs."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from assay.access import DEFAULT_PROJECT
from assay.cli import context

if TYPE_CHECKING:
    from assay.mlflow.importing import Summary

app = typer.Typer(
    help="Bring history from other trackers into assay.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command("mlflow")
def mlflow(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="MLflow tracking URI: an mlruns directory, sqlite:///path/mlflow.db, postgresql://..., "
            "or http://host:port of an MLflow server.",
            show_default=False,
        ),
    ],
    experiment: Annotated[
        list[str] | None,
        typer.Option(
            "--experiment", "-e", metavar="NAME", help="Import only this MLflow experiment (repeatable)."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Read the source and count what would be imported; write nothing."),
    ] = False,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="The assay project to import into: its experiments and models of MLflow's names are "
            "reused, other projects' never; runs another project holds already are refused "
            "(default: $ASSAY_PROJECT, else default).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Import experiments, runs (params, tags, every metric point, artifacts), datasets and registered
    models from MLflow into one project. Runs keep their ids, so a run is imported into one project only
    (an import of runs another project holds is refused); running it again adds only what is new."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from assay.mlflow.importing import Importer, open_source

    reader = open_source(source)  # checks the source (schema revision...) before anything is written
    try:
        importer = Importer(
            reader,
            context.tracking(ctx),
            context.registry(ctx),
            dry_run=dry_run,
            experiments=experiment or (),
            project=project or os.environ.get("ASSAY_PROJECT") or DEFAULT_PROJECT,
        )
        console = Console(stderr=True)
        with console.status(f"reading {reader.description}"):
            prepared = importer.prepare()
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs · {task.fields[points]:,} points"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(
                "importing" if not dry_run else "counting", total=prepared.runs_to_read, points=0
            )
            points = 0

            def tick(runs: int, new_points: int) -> None:
                nonlocal points
                points += new_points
                bar.update(task, advance=runs, points=points)

            summary = importer.run(prepared, tick)
    finally:
        reader.close()
    _print_summary(summary, reader.description)


def _print_summary(summary: Summary, description: str) -> None:
    from rich.console import Console
    from rich.table import Table

    title = f"{'dry run: nothing written; ' if summary.dry_run else ''}from {description}"
    table = Table(title=title)
    table.add_column("")
    table.add_column("would import" if summary.dry_run else "imported", justify="right")
    table.add_column("already present", justify="right")
    table.add_column("skipped", justify="right")
    for kind, c in summary.counts.items():
        table.add_row(kind, f"{c.imported:,}", f"{c.present:,}", f"{c.skipped:,}")
    console = Console()
    console.print(table)
    for note in summary.notes:
        console.print(f"skipped {note}", markup=False, highlight=False)
