"""``assay sync``: replay the batches that processes spooled while the tracking store was unreachable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assay.cli.context import CliState
from assay.entities import WriteBatch
from assay.errors import AccessDenied, AssayError


def sync(
    ctx: typer.Context,
    rejected: Annotated[
        bool,
        typer.Option(
            "--rejected",
            help="Send again the operations the store refused and set aside (after fixing the cause).",
        ),
    ] = False,
) -> None:
    """Send spooled runs, points and run ends to the tracking store (each batch is applied once).

    A refused token stops the sync and deletes nothing. Refused operations are set aside in rejected/.
    """
    from assay import bundle
    from assay.sdk.policy import deliver
    from assay.sdk.spool import rejected_dir, replay_directory, set_aside, spool_dir

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    uri = state.tracking_uri or bundle.default_tracking_uri()
    backend = bundle.get_backend(uri)
    directory = spool_dir(bundle.assay_home().resolve(), uri)
    source = rejected_dir(directory) if rejected else directory
    waiting = list(source.glob("*.spool")) + (
        list((source / "resending").glob("*.spool")) if rejected else []
    )
    if not waiting:
        typer.echo(f"nothing to sync for {uri}")
        return
    refused: list[AssayError] = []

    def aside(op: WriteBatch, error: AssayError) -> None:
        refused.append(error)
        set_aside(directory, op, error)

    if rejected:
        _move_rejected_away(source)
        source = source / "resending"
    try:
        sent, busy = replay_directory(source, lambda b: deliver(backend.ingest, b, aside))
    except AccessDenied as exc:
        raise AssayError(
            f"{exc.message}\nNothing was deleted: the spooled batches wait in {source}; "
            "fix the token (ASSAY_TRACKING_TOKEN), then run assay sync again"
        ) from None
    except AssayError as exc:
        raise AssayError(
            f"{exc.message}\nNothing was deleted: the spooled batches wait in {source}; run assay sync again"
        ) from None
    except Exception as exc:
        raise AssayError(
            f"could not reach {uri} ({exc}); nothing was deleted: run assay sync again when it answers"
        ) from None
    typer.echo(f"replayed {sent} spooled batch{'es' if sent != 1 else ''} to {uri}")
    if busy:
        typer.echo(f"{busy} spool file(s) belong to running processes, which replay them themselves")
    if refused:
        where = rejected_dir(directory)
        typer.echo(
            f"{len(refused)} operation(s) were refused and set aside in {where} (reasons in "
            f"{where / 'reasons.log'}); first: {refused[0].message}\n"
            "Send them again with `assay sync --rejected` once the cause is fixed, or delete that folder to "
            "drop them."
        )


def _move_rejected_away(folder: Path) -> None:
    """Move the set-aside files into ``resending/`` (with what an interrupted resend left there): what
    is refused again is set aside anew. A name already taken there gets a suffix, never overwritten."""
    target = folder / "resending"
    target.mkdir(exist_ok=True)
    for path in folder.glob("*.spool"):
        dest, n = target / path.name, 0
        while dest.exists():
            n += 1
            dest = target / f"{path.stem}-{n}.spool"
        path.rename(dest)
