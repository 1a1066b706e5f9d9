"""``assay onnx``: convert a registered version to ONNX with its parity report and latency card, and print
them back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from assay.cli.context import CliState
from assay.errors import InvalidInput

app = typer.Typer(help="The ONNX bridge: convert, check parity, measure latency.", no_args_is_help=True)


def _client(ctx: typer.Context) -> Any:
    from assay.sdk.client import Client

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    return Client(state.tracking_uri)


def _read_data(path: str) -> Any:
    import pandas as pd

    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".tsv", ".txt"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    raise InvalidInput(f"--data {path!r}: give a .csv, .tsv or .parquet file of rows the model takes")


def _tolerances(items: list[str]) -> dict[str, dict[str, float]]:
    """``probabilities.atol=1e-4`` -> {"probabilities": {"atol": 1e-4}}."""
    found: dict[str, dict[str, float]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        target, dot, field = key.rpartition(".")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or not dot or not target or number != number:
            raise typer.BadParameter(
                f"{item!r}: write OUTPUT.FIELD=NUMBER, e.g. probabilities.atol=1e-4 or label.min_share=0.999",
                param_hint="--tolerance",
            )
        found.setdefault(target, {})[field] = number
    return found


@app.command("convert")
def convert(
    ctx: typer.Context,
    uri: Annotated[str, typer.Argument(help="The version: models:/NAME/VERSION or models:/NAME@ALIAS.")],
    data: Annotated[
        str | None,
        typer.Option(
            "--data", help="Rows to check parity on (.csv or .parquet); default: drawn from the signature."
        ),
    ] = None,
    tolerance: Annotated[
        list[str] | None,
        typer.Option(
            "--tolerance", "-t", help="OUTPUT.FIELD=NUMBER, e.g. probabilities.atol=1e-4 (repeatable)."
        ),
    ] = None,
    precision: Annotated[str, typer.Option("--precision", help="auto, float32 or float64 inputs.")] = "auto",
    no_latency: Annotated[bool, typer.Option("--no-latency", help="Skip the latency card.")] = False,
    trust_type: Annotated[
        list[str] | None,
        typer.Option("--trust-type", help="A type the skops loader may rebuild (repeatable)."),
    ] = None,
    trust_pickle: Annotated[
        bool, typer.Option("--trust-pickle", help="Load a model saved with pickle.")
    ] = False,
) -> None:
    """Convert the version to ONNX, check native and onnxruntime agree, measure both, and keep the file and
    the reports with the version. Exit 1 when parity fails (the reports are kept, showing why)."""
    from assay import onnx

    if precision not in ("auto", "float32", "float64"):
        raise typer.BadParameter("choose auto, float32 or float64", param_hint="--precision")
    result = onnx.convert(
        uri,
        None if data is None else _read_data(data),
        _tolerances(tolerance or []) or None,
        _client(ctx),
        precision=precision,  # type: ignore[arg-type]
        latency=not no_latency,
        trusted_types=trust_type or None,
        trust_pickle=trust_pickle,
    )
    typer.echo(result.render())
    if not result.passed:
        typer.echo(
            f"error: parity failed for {result.uri}: the ONNX file is kept but the version is not "
            "cleared for protected aliases",
            err=True,
        )
        raise typer.Exit(1)


@app.command("report")
def report(
    ctx: typer.Context,
    uri: Annotated[str, typer.Argument(help="The version: models:/NAME/VERSION or models:/NAME@ALIAS.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Print the version's ONNX conversion, parity report and latency card."""
    from assay import onnx

    info, parity, latency = onnx.report(uri, _client(ctx))
    if as_json:
        from assay.cli import render

        render.emit_json(
            {
                "onnx": info.to_dict(),
                "parity": None if parity is None else parity.to_dict(),
                "latency": None if latency is None else latency.to_dict(),
            }
        )
        return
    typer.echo(info.render())
    typer.echo(parity.render() if parity is not None else "parity: not checked")
    typer.echo(latency.render() if latency is not None else "latency: not measured")


@app.command("tolerances")
def tolerances(
    ctx: typer.Context,
    project: Annotated[str, typer.Option("--project", help="The project.")] = "default",
    tolerance: Annotated[
        list[str] | None,
        typer.Option(
            "--tolerance", "-t", help="OUTPUT.FIELD=NUMBER, e.g. probabilities.atol=1e-4 (repeatable)."
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Back to the defaults.")] = False,
) -> None:
    """Show or set the parity tolerances every conversion in the project starts from (owners set them; a
    conversion's own -t overrides them field by field)."""
    from assay.onnx.bridge import TOLERANCES_SETTING

    registry = _client(ctx).registry
    if clear or tolerance:
        registry.set_project_setting(
            project, TOLERANCES_SETTING, {} if clear else _tolerances(tolerance or [])
        )
    current = registry.project_setting(project, TOLERANCES_SETTING) or {}
    if not current:
        typer.echo(
            f"{project}: the defaults (labels agree on every row, probabilities.atol=1e-05, "
            "values.atol=1e-06 values.rtol=1e-05)"
        )
    for target, fields in sorted(current.items()):
        typer.echo(f"{project}: {target} " + " ".join(f"{k}={v:g}" for k, v in sorted(fields.items())))
