"""``assay artifacts``: list a run's artifacts and download them.

A run is named by its id (or a unique prefix) or by a ``runs:/<run_id>/<path>`` URI; an extra PATH
argument is taken relative to the URI's path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from assay.cli import render
from assay.cli.context import artifact_target, resolve_run_id, tracking

app = typer.Typer(help="List and download run artifacts.", no_args_is_help=True)

RunRef = Annotated[
    str, typer.Argument(metavar="RUN_ID_OR_URI", help="A run id, a unique prefix, or runs:/<id>/<path>.")
]
PathArg = Annotated[str | None, typer.Argument(help="Artifact path inside the run (default: its root).")]


@app.command("ls")
def ls(
    ctx: typer.Context,
    run: RunRef,
    path: PathArg = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """List the artifacts directly under PATH: directories first, then files with their sizes."""
    run_ref, rel = artifact_target(run, path)
    t = tracking(ctx)
    run_id = resolve_run_id(t, run_ref)
    entries = t.list_artifacts(run_id, rel or None)
    if as_json:
        render.emit_json([{"path": e.path, "is_dir": e.is_dir, "size": e.size} for e in entries])
        return
    if not entries:
        render.note(f"no artifacts at runs:/{run_id}/{rel}")
        return
    table = render.table("path", "size")
    table.columns[1].justify = "right"
    for e in entries:
        name = Text(e.path + "/", style="bold blue") if e.is_dir else Text(e.path)
        table.add_row(name, "" if e.is_dir else render.fmt_size(e.size))
    render.console().print(table)


@app.command("get")
def get(
    ctx: typer.Context,
    run: RunRef,
    path: PathArg = None,
    dest: Annotated[
        Path,
        typer.Option(
            "--dest", "-d", metavar="DIR", help="Local directory to download into.", file_okay=False
        ),
    ] = Path("."),
) -> None:
    """Download an artifact file or directory (default: all the run's artifacts); print its local path."""
    run_ref, rel = artifact_target(run, path)
    t = tracking(ctx)
    run_id = resolve_run_id(t, run_ref)
    local = t.download_artifacts(run_id, rel or None, dest)
    typer.echo(str(Path(local).resolve()))
