"""``assay server`` (team mode: the tracking API for other machines) and ``assay ui`` (this machine's store).

Both serve the REST API of ``assay.server`` over a SQL store until Ctrl-C. ``assay ui`` binds 127.0.0.1
without auth; ``assay server`` requires a token on every route when it binds anything but loopback, or
with ``--auth``.
"""

from __future__ import annotations

import threading
import time
import webbrowser
from typing import Annotated

import typer

from assay.cli.context import CliState

#: Where ``assay ui`` points the browser: the home page (experiments and their latest runs).
UI_PATH = "/"

PortOpt = Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="TCP port to listen on.")]


def _store(ctx: typer.Context, store: str | None) -> str:
    from assay.bundle import default_tracking_uri

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    return store or state.tracking_uri or default_tracking_uri()


def server(
    ctx: typer.Context,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            metavar="URI",
            help="SQLite path or postgresql:// URL (default: --tracking-uri, $ASSAY_TRACKING_URI, "
            "else $ASSAY_HOME/assay.db).",
            show_default=False,
        ),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            metavar="URL",
            help="Artifact root, a directory or s3:// URL (default: $ASSAY_ARTIFACT_ROOT, else next to a "
            "SQLite store, else $ASSAY_HOME/artifacts).",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str,
        typer.Option("--host", help="Interface to bind; anything but loopback (e.g. 0.0.0.0) turns auth on."),
    ] = "127.0.0.1",
    port: PortOpt = 5000,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    auth: Annotated[
        bool,
        typer.Option("--auth", help="Require an API token on every route, even on loopback."),
    ] = False,
    max_token_days: Annotated[
        float | None,
        typer.Option(
            "--max-token-days",
            envvar="ASSAY_MAX_TOKEN_DAYS",
            min=0.0001,
            help="No API token lives longer than this (and new ones live this long unless asked for less); "
            "default: tokens may never expire.",
            show_default=False,
        ),
    ] = None,
    session_lifetime: Annotated[
        str | None,
        typer.Option(
            "--session-lifetime",
            envvar="ASSAY_SESSION_LIFETIME",
            metavar="LIFETIME",
            help="How long a browser sign-in lasts, e.g. 12h (the default), 30m, 7d.",
            show_default=False,
        ),
    ] = None,
    no_scheduler: Annotated[
        bool,
        typer.Option(
            "--no-scheduler", help="Do not fire due schedules here (run `assay scheduler` instead)."
        ),
    ] = False,
) -> None:
    """Serve the tracking API; clients log to it with ASSAY_TRACKING_URI=http://HOST:PORT (and, in team
    mode, ASSAY_TRACKING_TOKEN from `assay admin create-user` or `assay token create`). Due schedules are
    fired from here too, unless --no-scheduler."""
    from assay.server.main import access_policy, serve

    policy = access_policy(max_token_days, session_lifetime)
    serve(
        _store(ctx, store),
        artifacts,
        host,
        port,
        workers,
        auth=auth,
        policy=policy,
        scheduler=not no_scheduler,
    )


def ui(
    ctx: typer.Context,
    port: PortOpt = 5000,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")] = False,
) -> None:
    """Browse this machine's store (--tracking-uri, or the default) at http://127.0.0.1:PORT."""
    from assay.server.main import serve

    url = f"http://127.0.0.1:{port}"
    if not no_browser:
        threading.Thread(target=_open_when_up, args=(url,), daemon=True).start()
    typer.echo(f"assay ui at {url}{UI_PATH} (Ctrl-C to stop)", err=True)
    serve(_store(ctx, None), None, "127.0.0.1", port)


def _open_when_up(url: str, timeout: float = 15.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/health", timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        webbrowser.open(url + UI_PATH)
        return
