"""``assay schedule add|ls|next|pause|resume|delete`` (cron schedules that fire jobs) and ``assay scheduler``
(the loop that fires them, in the foreground).

``add`` checks everything before anything is stored: the cron expression, the time zone and the missed-fire
policy (``assay.runner.cron.check``), then the job itself exactly as ``assay submit`` checks it
(``assay.runner.submit.from_command_line``: a notebook's parameters against its schema, an entry point's
import and signature, the policy's ranges), with the same options and the same messages. A schedule fires
the notebook as it was when it was added (its bytes travel with the job, so a worker on another machine
runs the same one): add it again to change it.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from assay.cli import render
from assay.cli.context import CliState
from assay.cli.jobs import Backoff, Priority, Retries, Tags, Timeout
from assay.cli.notebook import RunCommand

if TYPE_CHECKING:
    from assay.runner.entities import Job, Schedule
    from assay.services.jobs import Jobs

app = typer.Typer(
    help="Cron schedules that fire notebooks or Python functions as jobs.", no_args_is_help=True
)

ProjectOpt = Annotated[
    str | None,
    typer.Option("--project", help="The schedule's project (default: $ASSAY_PROJECT, else default)."),
]
NameArg = Annotated[str, typer.Argument(help="The schedule's name.")]


def _uri(ctx: typer.Context) -> str:
    from assay import bundle

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    return state.tracking_uri or bundle.default_tracking_uri()


def _jobs(ctx: typer.Context) -> Jobs:
    from assay import bundle

    return bundle.services(_uri(ctx)).jobs


def _project(project: str | None) -> str:
    """The project a schedule named on the command line is looked up in, as ``assay schedule add`` and
    ``assay submit`` choose it: ``--project``, else ``$ASSAY_PROJECT``, else "default"."""
    return project or os.environ.get("ASSAY_PROJECT") or "default"


def when(ms: int | None, tz: str) -> str:
    """``ms`` as a wall-clock time in ``tz`` with its offset's name ("2025-06-02 02:00:00 CEST")."""
    if ms is None:
        return "-"
    from assay.runner.cron import zone

    return dt.datetime.fromtimestamp(ms / 1000, zone(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


@app.command("add", cls=RunCommand)
def add(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(metavar="TARGET", help="A notebook (path or URL) or a Python entry point pkg.mod:fn."),
    ],
    cron: Annotated[
        str, typer.Option("--cron", help="Five fields, '0 2 * * *' (02:00 daily); a sixth is seconds.")
    ],
    name: Annotated[
        str,
        typer.Option(
            "--name", help="The schedule's name, unique in its project: letters, digits, '.', '_', '@', '-'."
        ),
    ],
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone the cron times are in.")] = "UTC",
    parameter: Annotated[
        list[str] | None,
        typer.Option("-p", "--parameter", metavar="NAME VALUE", help="A parameter (repeatable)."),
    ] = None,
    missed: Annotated[
        str, typer.Option("--missed", help="Due times missed while no scheduler ran: skip or catchup.")
    ] = "skip",
    max_catchup: Annotated[
        int, typer.Option("--max-catchup", help="With --missed catchup: fire at most this many.")
    ] = 10,
    experiment: Annotated[str | None, typer.Option("--experiment", "-e", help="Experiment name.")] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project", help="Project of the jobs and their runs (default: $ASSAY_PROJECT, else default)."
        ),
    ] = None,
    priority: Priority = 0,
    timeout: Timeout = None,
    retries: Retries = 0,
    backoff: Backoff = "10s",
    tag: Tags = None,
) -> None:
    """Fire a notebook or function on a cron schedule: assay schedule add nb.ipynb --cron "0 2 * * *"
    --tz Europe/Paris --name nightly -p NAME VALUE."""
    from assay.runner import cron as cron_mod
    from assay.runner.entities import ScheduleSpec
    from assay.runner.submit import from_command_line

    cron_mod.check(cron, tz, missed, max_catchup)
    spec = from_command_line(  # checked as `assay submit` checks it, before anything is stored
        target,
        parameter or [],
        tags=tag or [],
        timeout=timeout,
        backoff=backoff,
        project=project,
        experiment=experiment,
        priority=priority,
        retries=retries,
    )
    jobs = _jobs(ctx)
    sched = jobs.add_schedule(ScheduleSpec(name, cron, spec, tz, missed, max_catchup))
    typer.echo(f"schedule {_label(sched)} added: {cron} in {tz}, next at {when(sched.next_due_at, tz)}")
    render.note("`assay server` or `assay scheduler` fires it; `assay worker` runs the jobs it fires")


def _label(s: Schedule) -> str:
    return f"{s.name} (project {s.spec.project})"


def _next_times(s: Schedule, count: int) -> list[int]:
    from assay.runner.cron import upcoming

    if s.paused or s.next_due_at is None or count < 1:
        return []
    return [s.next_due_at, *upcoming(s.spec.cron, s.spec.tz, s.next_due_at, count - 1)]


@app.command("ls")
def ls(
    ctx: typer.Context,
    project: ProjectOpt = None,
    count: Annotated[int, typer.Option("-n", min=1, max=100, help="Next fire times shown.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """List schedules: cron, time zone, next fire times, the last one fired, paused or not."""
    from assay.cli.jobs import short_target
    from assay.runner.entities import SKIP

    found = _jobs(ctx).list_schedules(project)
    if as_json:
        render.emit_json([schedule_json(s, count) for s in found])
        return
    if not found:
        render.note('no schedules yet: assay schedule add NOTEBOOK --cron "0 2 * * *" --name NAME')
        return
    t = render.table("name", "project", "cron", "tz", "next", "last fired", "missed", "target")
    for column in t.columns[2:6]:  # a cron, a zone and a time read on one line; the target gives way
        column.no_wrap = True
    for s in found:
        nxt = "paused" if s.paused else "\n".join(when(m, s.spec.tz) for m in _next_times(s, count))
        t.add_row(
            Text(s.name),
            Text(s.spec.project),
            Text(s.spec.cron),
            s.spec.tz,
            Text(nxt, style="yellow" if s.paused else ""),
            when(s.last_due_at, s.spec.tz),
            s.spec.missed if s.spec.missed == SKIP else f"{s.spec.missed} ({s.spec.max_catchup})",
            Text(short_target(s.spec.job)),
        )
    render.console().print(t)


def schedule_json(s: Schedule, count: int = 1) -> dict[str, Any]:
    """A schedule as a JSON object; times are milliseconds since the Unix epoch."""
    return {
        "name": s.name,
        "project": s.spec.project,
        "cron": s.spec.cron,
        "tz": s.spec.tz,
        "missed": s.spec.missed,
        "max_catchup": s.spec.max_catchup,
        "paused": s.paused,
        "next": _next_times(s, count),
        "last_due_at": s.last_due_at,
        "kind": s.spec.job.kind,
        "target": s.spec.job.target,
        "params": dict(s.spec.job.params),
        "created_at": s.created_at,
        "created_by": s.created_by,
    }


@app.command("next")
def next_(
    ctx: typer.Context,
    name: NameArg,
    count: Annotated[int, typer.Option("-n", min=1, max=1000, help="How many.")] = 5,
    project: ProjectOpt = None,
) -> None:
    """Print a schedule's next fire times, in its time zone."""
    s = _jobs(ctx).get_schedule(name, _project(project))
    if s.paused:
        render.note(f"{s.name} is paused: resume it with assay schedule resume {s.name}")
        return
    for ms in _next_times(s, count):
        typer.echo(when(ms, s.spec.tz))


def _pause(ctx: typer.Context, name: str, project: str | None, paused: bool) -> None:
    jobs = _jobs(ctx)
    project = _project(project)
    was = jobs.get_schedule(name, project).paused
    s = jobs.pause_schedule(name, paused, project)
    if paused:
        typer.echo(f"schedule {_label(s)} {'was paused already' if was else 'paused'}")
    else:
        done = "resumed" if was else "was not paused"
        typer.echo(f"schedule {_label(s)} {done}: next at {when(s.next_due_at, s.spec.tz)}")


@app.command("pause")
def pause(ctx: typer.Context, name: NameArg, project: ProjectOpt = None) -> None:
    """Stop firing a schedule until it is resumed."""
    _pause(ctx, name, project, True)


@app.command("resume")
def resume(ctx: typer.Context, name: NameArg, project: ProjectOpt = None) -> None:
    """Fire a paused schedule again, from its next due time (the ones missed meanwhile are skipped)."""
    _pause(ctx, name, project, False)


@app.command("delete")
def delete(ctx: typer.Context, name: NameArg, project: ProjectOpt = None) -> None:
    """Delete a schedule; the jobs it fired, and their runs, stay."""
    project = _project(project)
    _jobs(ctx).delete_schedule(name, project)
    typer.echo(f"schedule {name} (project {project}) deleted")


def scheduler(
    ctx: typer.Context,
    project: Annotated[
        list[str] | None, typer.Option("--project", help="Fire only this project's schedules (repeatable).")
    ] = None,
) -> None:
    """Fire due schedules into the queue until Ctrl-C or SIGTERM (`assay server` does this itself unless
    --no-scheduler). Any number may run at once: each due time fires one job."""
    from assay.runner.scheduler import Scheduler

    def fired(jobs: list[Job]) -> None:
        for j in jobs:
            due = when(j.due_at, "UTC") if j.due_at is not None else "?"
            typer.echo(f"fired {j.schedule} for {due}: job {j.job_id}", err=True)

    loop = Scheduler(_jobs(ctx), project, on_fire=fired)
    # The loop runs in a thread and this one only waits for it, so a signal's handler (which runs here)
    # never meets a lock the loop's wait holds: it sets the stop event and returns.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: loop.stop(timeout=0))
    loop.start()
    scope = f"projects {', '.join(project)}" if project else "all projects"
    typer.echo(f"scheduler running on {_uri(ctx)}, {scope} (Ctrl-C to stop)", err=True)
    while loop.join(0.5):
        pass
    typer.echo(f"scheduler stopped ({loop.fired} jobs fired)", err=True)


def register(root: typer.Typer) -> None:
    """Add ``assay schedule`` and ``assay scheduler`` to the root application."""
    root.add_typer(app, name="schedule")
    root.command("scheduler")(scheduler)
