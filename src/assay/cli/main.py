"""The ``assay`` application: global options, the error policy and the console-script entry point.

Error policy: an ``AssayError`` (or an OS error such as an unwritable download directory) is the user's to
fix, so it is printed as ``error: <message>`` on stderr with exit code 1 and no traceback. Usage errors keep
Typer's behaviour (exit code 2); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from assay.cli import (
    artifacts,
    datasets,
    experiments,
    importer,
    jobs,
    models,
    notebook,
    onnx,
    runs,
    schedule,
    serve,
    server,
    sweep,
    sync,
    team,
)
from assay.cli.context import CliState
from assay.errors import AssayError


def report_error(message: str) -> None:
    """Print ``error: <message>`` on stderr, as is (filter errors span lines to show a caret)."""
    typer.echo(f"error: {message}", err=True)


class AssayGroup(TyperGroup):
    """The root command group: every subcommand runs inside its ``invoke``, so errors are handled here."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except AssayError as exc:
            report_error(exc.message)
            raise typer.Exit(1) from None
        except BrokenPipeError:
            raise  # a closed pipe (``assay runs ls | head``): the framework exits quietly
        except OSError as exc:
            report_error(str(exc))
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=AssayGroup,
    name="assay",
    help="Track experiments and runs, register models and datasets, convert and serve models, run notebooks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(models.app, name="models")
app.add_typer(datasets.app, name="datasets")
app.add_typer(onnx.app, name="onnx")
app.add_typer(importer.app, name="import")
app.command("server")(server.server)
app.command("ui")(server.ui)
app.command("serve")(serve.serve)
app.command("sync")(sync.sync)
app.add_typer(team.admin_app, name="admin")
app.add_typer(team.token_app, name="token")
app.add_typer(team.projects_app, name="projects")
app.command("whoami")(team.whoami)
app.command("passwd")(team.passwd)
notebook.register(app)
jobs.register(app)
sweep.register(app)
schedule.register(app)


@app.callback()
def root(
    ctx: typer.Context,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            metavar="URI",
            help="Store to use: a path to a SQLite file, sqlite:///..., postgresql://... "
            "[default: $ASSAY_TRACKING_URI, else $ASSAY_HOME/assay.db]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Browse assay experiments, runs and artifacts."""
    ctx.obj = CliState(tracking_uri=tracking_uri)


def main() -> None:
    """Console-script entry point (``assay``): run the app, then release the backend's connections."""
    code: int | str | None = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    finally:
        if "assay.bundle" in sys.modules:  # only if a command opened one: keep --help fast
            from assay import bundle

            bundle.reset()
    _exit(code)


def _is_the_program() -> bool:
    """Whether this process is the ``assay`` command (its console script or ``python -m``), not a program
    that called ``main`` itself and goes on afterwards."""
    entry = sys.modules.get("__main__")
    return getattr(entry, "main", None) is main


def _exit(code: int | str | None) -> NoReturn:
    """End the process once the command's work is stored and closed, without tearing the interpreter down.

    Python's own shutdown frees every module and object one by one: with the store, papermill, numpy and
    pyarrow loaded that is ~0.3 s of pure CPU after the command is done (a quarter of a short ``assay
    run``). So the exit handlers run first (the SDK's writers flush and close there), then the output is
    flushed and the process ends. If another non-daemon thread is still running, the normal exit waits
    for it as usual.
    """
    import atexit
    import threading

    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if not _is_the_program() or any(t.is_alive() and not t.daemon for t in others):
        sys.exit(code)  # called from other code (a test), or a thread to wait for: the usual way out
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can be written anyway
            stream.flush()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed to stderr, status 1, as the interpreter does
        print(code, file=sys.stderr, flush=True)
        status = 1
    os._exit(status)


if __name__ == "__main__":
    main()
