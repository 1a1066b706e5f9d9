"""``assay notebook inspect|new|html`` and ``assay run``: notebooks as tracked runs.

``assay run`` takes papermill's ``-p NAME VALUE`` (also ``-p NAME=VALUE``). Click cannot declare an
option of two values that repeats, so ``RunCommand`` rewrites each pair into one ``NAME=VALUE`` value
before parsing. Every launch (notebooks x parameter grid) is checked before the first kernel starts.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from assay.errors import InvalidInput

app = typer.Typer(
    help="Notebook templates: inspect their parameters, create one from a template.", no_args_is_help=True
)


@app.command("inspect")
def inspect(
    notebook: Annotated[str, typer.Argument(help="A path or fsspec URL (s3://...)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the schema as JSON")] = False,
) -> None:
    """Print the parameters a notebook declares in its cell tagged 'parameters'."""
    from assay.notebooks import sources
    from assay.notebooks.schema import declared_imports, schema_of

    nb, where = sources.load(notebook)
    schema = schema_of(nb, where)
    if as_json:
        typer.echo(json.dumps({**schema.to_dict(), "imports": declared_imports(nb)}, indent=2, default=repr))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not schema.has_cell:
        console.print(f"{where}: no cell tagged 'parameters' (parameters are injected at the top)")
        return
    table = Table(title=f"{Path(where).name}  (schema {schema.digest})")
    for col in ("name", "type", "default", "help"):
        table.add_column(col)
    for p in schema.parameters:
        default = "[bold red]required[/]" if p.required else (p.default_source or repr(p.default))
        table.add_row(p.name, str(p.type), default, p.help)
    console.print(table)


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="The notebook to write (.ipynb is added if missing)")],
    template: Annotated[
        str, typer.Option("--template", "-t", help="classification, regression, pytorch or blank")
    ] = "blank",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
) -> None:
    """Write a notebook from a template that follows the template standard."""
    from assay.notebooks.templates import write_template

    path = write_template(name, template, force)
    typer.echo(f"wrote {path}: assay notebook inspect {path}; assay run {path} -p NAME VALUE")


@app.command("html")
def html(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(metavar="RUN_ID", help="A notebook execution's run id (or prefix)")],
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="The file to write (default: RUN_ID.html)")
    ] = None,
) -> None:
    """Write an executed notebook as one HTML page (what its run's notebook page shows)."""
    from assay.cli.context import resolve_run, tracking
    from assay.errors import NotFound
    from assay.notebooks.execute import ARTIFACTS
    from assay.notebooks.render import RenderCache

    t = tracking(ctx)
    found = resolve_run(t, run)
    try:
        data = t.read_artifact(found.id, f"{ARTIFACTS}/output.ipynb")
    except NotFound:
        raise NotFound(
            f"run {found.id} has no output notebook: it is not a notebook execution, or it has not ended"
        ) from None
    path = Path(output or f"{found.id}.html")
    path.write_text(RenderCache().html(found.id, data), encoding="utf-8")
    typer.echo(f"wrote {path}")


def _pairs(raw: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise InvalidInput(f"-p takes NAME VALUE (or NAME=VALUE), got {item!r}")
        out.append((key, value))
    return out


class RunCommand(TyperCommand):
    """Reads ``-p NAME VALUE`` pairs (papermill's syntax) as one ``NAME=VALUE`` each."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        fixed: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in ("-p", "--parameter") and i + 1 < len(args):
                name = args[i + 1]
                if "=" in name and name.partition("=")[0].isidentifier():
                    fixed += [arg, name]
                    i += 2
                    continue
                if i + 2 < len(args):
                    fixed += [arg, f"{name}={args[i + 2]}"]
                    i += 3
                    continue
            fixed.append(arg)
            i += 1
        result: list[str] = super().parse_args(ctx, fixed)
        return result


def run(
    ctx: typer.Context,
    notebooks: Annotated[
        list[str], typer.Argument(help="Notebooks: paths or fsspec URLs", show_default=False)
    ],
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            "-p",
            "--parameter",
            metavar="NAME VALUE",
            help="A parameter (repeat it, or give a,b,c for numbers and choices, to sweep)",
        ),
    ] = None,
    parameters_file: Annotated[
        str | None, typer.Option("-f", "--parameters-file", help="A YAML file of parameters")
    ] = None,
    experiment: Annotated[str | None, typer.Option("--experiment", "-e", help="Experiment name")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run name (default: the notebook's)")] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds the whole notebook may take")
    ] = None,
    cell_timeout: Annotated[
        float | None, typer.Option("--cell-timeout", help="Seconds one cell may take")
    ] = None,
    kernel: Annotated[str | None, typer.Option("--kernel", "-k", help="Jupyter kernel name")] = None,
    cwd: Annotated[str | None, typer.Option("--cwd", help="The kernel's working directory")] = None,
    warm: Annotated[bool, typer.Option("--warm", help="Reuse warm kernels across these runs")] = False,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Also write the executed notebook here")
    ] = None,
) -> None:
    """Run notebooks with papermill inside tracked runs: assay run NOTEBOOK... [-p NAME VALUE]...

    Parameters are checked against each notebook's schema before any kernel starts. Several notebooks,
    or several values of a parameter, make one run each; --warm shares warm kernels between them.
    """
    from assay.notebooks import kernels
    from assay.notebooks.launch import Options, prepare, start_kernel

    base: dict[str, Any] = {}
    if parameters_file:
        import yaml

        base = dict(yaml.safe_load(Path(parameters_file).read_text()) or {})
    pairs = _pairs(parameter or [])
    launches = []
    for nb in notebooks:
        first = prepare(nb)  # reads it; the schema checks every launch below
        for values in first.schema.grid(pairs, base):
            launches.append(type(first)(first.nb, first.location, first.schema, values))
    if output and len(launches) > 1:
        raise InvalidInput("--output takes one run; download the others with assay artifacts download")
    tracking_uri = ctx.obj.tracking_uri if ctx.obj is not None else None
    options = Options(
        experiment, name, timeout, cell_timeout, kernel, cwd, None, sys.stderr.isatty(), tracking_uri, output
    )
    source: kernels.KernelSource
    if warm:
        from assay.notebooks.warm import KernelPool

        source = KernelPool()
    else:
        source = kernels.ColdKernels()
    failed = 0
    try:
        # The first kernel starts before the store, papermill and the client load: they load while it boots,
        # without the cyclic collector (it walks the growing heap again and again while modules load: ~10%).
        gc.disable()
        try:
            started = start_kernel(launches[0], options, source) if launches else None
            from assay.notebooks.execute import execute
            from assay.sdk.client import Client

            Client(tracking_uri)  # opens the store (kept per process), as the first run will
        finally:
            gc.enable()

        for i, launch in enumerate(launches):
            run, outcome = execute(launch, options, source, started if i == 0 else None)
            shown = ", ".join(f"{k}={v!r}" for k, v in launch.values.items())
            seconds = (run.info.duration or 0) / 1000
            typer.echo(
                f"{run.info.status.value} {run.id} {Path(launch.location).name} {shown} ({seconds:.1f} s)"
            )
            if outcome.message:
                failed += 1
                typer.echo(f"  {outcome.message}".replace("\n", "\n  "), err=True)
    finally:
        source.close()
    if failed:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add ``assay notebook`` and ``assay run`` to the root application."""
    root.add_typer(app, name="notebook")
    root.command("run", cls=RunCommand)(run)
