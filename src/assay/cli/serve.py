"""``assay serve models:/churn@champion``: a registered version behind an HTTP prediction endpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli.context import CliState


def serve(
    ctx: typer.Context,
    uri: Annotated[str, typer.Argument(help="The model to serve: models:/NAME@ALIAS, models:/NAME/VERSION.")],
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="TCP port.")] = 8080,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    native: Annotated[
        bool, typer.Option("--native", help="Serve the native model instead of its ONNX conversion.")
    ] = False,
    poll: Annotated[
        float, typer.Option("--poll", min=0.1, help="Seconds between checks for a moved alias.")
    ] = 5.0,
    trust_type: Annotated[
        list[str] | None,
        typer.Option("--trust-type", help="With --native: a type the skops loader may rebuild (repeatable)."),
    ] = None,
    trust_pickle: Annotated[
        bool, typer.Option("--trust-pickle", help="With --native: load a model saved with pickle.")
    ] = False,
) -> None:
    """Serve a model version over HTTP: POST /predict (JSON records or columns, one row or a batch),
    GET /metadata (signature, version, parity verdict, latency card), /health and /metrics (Prometheus).

    By default the version's ONNX conversion runs on onnxruntime (`assay onnx convert` makes it); --native
    serves the framework's own model. An alias is followed: when it moves, the new version is loaded in
    the background and swapped in without a restart. Against a team server, set ASSAY_TRACKING_TOKEN.
    """
    import uvicorn

    from assay.sdk.client import Client
    from assay.server.protocol import NoDelayProtocol
    from assay.serving.app import create_serving_app
    from assay.serving.source import ModelSource

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    client = Client(state.tracking_uri)
    source = ModelSource(
        uri, client, native=native, poll_s=poll, trusted_types=trust_type or (), trust_pickle=trust_pickle
    )
    mv = source.current.version
    typer.echo(
        f"serving {mv.name} v{mv.version} ({source.current.runtime}) from {uri} on http://{host}:{port}"
        f"{' (following the alias)' if source.follows else ''}",
        err=True,
    )
    uvicorn.run(
        create_serving_app(source),
        host=host,
        port=port,
        http=NoDelayProtocol,  # small answers leave at once, not after Nagle's delay
        log_level="warning",
        access_log=False,
    )
