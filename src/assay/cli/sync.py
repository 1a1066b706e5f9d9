"""``assay sync``: replay the batches that processes spooled while the tracking store was unreachable."""

from __future__ import annotations

import typer

from assay.cli.context import CliState


def sync(ctx: typer.Context) -> None:
    """Send spooled runs, points and run ends to the tracking store (each batch is applied once)."""
    from assay import backends
    from assay.sdk.spool import replay_directory, spool_dir

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    uri = state.tracking_uri or backends.default_tracking_uri()
    backend = backends.get_backend(uri)
    directory = spool_dir(backends.assay_home().resolve(), uri)
    if not directory.is_dir():
        typer.echo(f"nothing to sync for {uri}")
        return
    sent, busy = replay_directory(directory, backend.ingest)
    typer.echo(f"sent {sent} spooled batch{'es' if sent != 1 else ''} to {uri}")
    if busy:
        typer.echo(f"{busy} spool file(s) belong to running processes, which replay them themselves")
