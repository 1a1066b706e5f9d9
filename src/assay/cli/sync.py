"""``assay sync``: replay the writes that processes spooled while the tracking store was unreachable.

It sends, in order, what processes that have ended left in the spool (``assay.sdk.spool``): batches of
runs, points and run ends, params and tags, and artifact files. The writes of a run the server refused
for a missing role (held) are sent first, once the role is back; ``--discard RUN`` drops a run's writes
on purpose, and ``--list`` shows what waits, per run.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli import render
from assay.cli.context import CliState
from assay.errors import AssayError, Unauthenticated

if TYPE_CHECKING:
    from assay.sdk.spool import Record, RunPending


def sync(
    ctx: typer.Context,
    rejected: Annotated[
        bool,
        typer.Option(
            "--rejected",
            help="Send again the operations the store refused and set aside (after fixing the cause).",
        ),
    ] = False,
    discard: Annotated[
        str | None,
        typer.Option(
            "--discard",
            metavar="RUN",
            help="Drop the spooled writes (batches and artifacts) of run RUN, on purpose; sends nothing.",
        ),
    ] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="List what waits in the spool, per run; sends nothing.")
    ] = False,
) -> None:
    """Send spooled runs, points, run ends, params, tags and artifacts to the tracking store (each once).

    A refused token stops the sync and deletes nothing. Refused operations are set aside in rejected/.

    The writes of a run refused for a missing role stay held until the role is back (or --discard RUN).
    """
    from assay import bundle
    from assay.sdk.spool import discard_run, spool_dir

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    uri = state.tracking_uri or bundle.default_tracking_uri()
    directory = spool_dir(bundle.assay_home().resolve(), uri)
    if list_only:
        _list(directory, uri)
        return
    if discard is not None:
        batches, artifacts, busy = discard_run(directory, discard)
        if batches or artifacts:
            typer.echo(
                f"dropped {_count(batches, 'batch', 'batches')} and {_count(artifacts, 'artifact')} of run "
                f"{discard} from the spool"
            )
        else:
            typer.echo(f"nothing of run {discard} waits in the spool for {uri}")
        if busy:
            typer.echo(f"{busy} spool file(s) belong to running processes and were left alone")
        return
    _send(directory, uri, rejected)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _send(directory: Path, uri: str, rejected: bool) -> None:
    from assay import bundle
    from assay.sdk.spool import (
        Courier,
        clear_orphans,
        held_dir,
        held_message,
        held_runs,
        pending_by_run,
        record_kind,
        rejected_dir,
        replay_directory,
        replay_held,
    )

    source = rejected_dir(directory) if rejected else directory
    waiting = list(source.glob("*.spool")) + (
        list((source / "resending").glob("*.spool"))
        if rejected
        else list(held_dir(directory).glob("*/*.spool"))
    )
    if not waiting:
        if directory.is_dir():
            clear_orphans(directory)  # what a crash while copying a file left behind
        typer.echo(f"nothing to sync for {uri}")
        return
    refused: list[AssayError] = []
    held: dict[str, AssayError] = {}

    def aside(_op: Record, error: AssayError) -> None:
        refused.append(error)

    def hold(run_id: str, error: AssayError) -> None:
        held.setdefault(run_id, error)

    courier = Courier(bundle.get_backend(uri), directory, hold, aside)
    kinds: Counter[str] = Counter()

    def send(record: Record) -> None:
        courier.send(record)
        kinds[record_kind(record)] += 1

    def send_held(record: Record) -> None:
        courier.send_held(record)
        kinds[record_kind(record)] += 1

    if rejected:
        _move_rejected_away(source)
        source = source / "resending"
    busy = 0
    try:
        if not rejected:
            _sent, still, busy = replay_held(directory, send_held)
            held.update(still)
        courier.held_elsewhere = held_runs(directory)
        _sent, busy_main = replay_directory(source, send)
        busy += busy_main
    except Unauthenticated as exc:
        raise AssayError(
            f"{exc.message}\nNothing was deleted: the spooled writes wait in {directory}; "
            "fix the token (ASSAY_TRACKING_TOKEN), then run assay sync again"
        ) from None
    except AssayError as exc:
        raise AssayError(
            f"{exc.message}\nNothing was deleted: the spooled writes wait in {directory}; run assay sync again"
        ) from None
    except Exception as exc:
        raise AssayError(
            f"could not reach {uri} ({exc}); nothing was deleted: run assay sync again when it answers"
        ) from None
    finally:
        courier.close()
    if not busy and not held:
        clear_orphans(directory)
    artifacts = f" and {_count(kinds['artifact'], 'artifact')}" if kinds["artifact"] else ""
    run_data = f", {_count(kinds['run data'], 'change')} of params or tags" if kinds["run data"] else ""
    typer.echo(
        f"replayed {_count(kinds['batch'], 'spooled batch', 'spooled batches')}{run_data}{artifacts} to {uri}"
    )
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
    for run_id, error in sorted(held.items()):
        typer.echo(held_message(run_id, error, directory).removeprefix("assay: "), err=True)
    if held:
        pending = pending_by_run(directory)
        _table(directory, {r: p for r, p in pending.items() if r in held})
        raise typer.Exit(1)


def _list(directory: Path, uri: str) -> None:
    from assay.sdk.spool import pending_by_run

    pending = pending_by_run(directory)
    if not pending:
        typer.echo(f"nothing waits in the spool for {uri}")
        return
    _table(directory, pending)


def _table(directory: Path, pending: dict[str, RunPending]) -> None:
    t = render.table("run", "batches", "points", "artifacts", "state")
    for run_id, p in sorted(pending.items()):
        if p.held:
            state = "held: the server refused it (role missing)"
        elif p.live:
            state = "waiting (its process is running)"
        else:
            state = "waiting"
        t.add_row(run_id, str(p.batches), str(p.points), str(p.artifacts), state)
    render.console().print(t)
    render.note(
        f"spool: {directory}; `assay sync` sends what waits, `assay sync --discard RUN` drops a run's writes"
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
