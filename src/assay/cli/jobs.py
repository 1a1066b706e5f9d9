"""``assay submit``, ``assay worker`` and ``assay jobs ls|show|cancel|logs``: the runner's queue.

``assay submit`` checks everything before queueing (``assay.runner.submit``): a notebook's parameters
against its schema, an entry point's import and signature, the policy's ranges; each mistake is one
line. ``-p`` takes papermill's ``NAME VALUE`` as ``assay run`` does, or ``NAME=VALUE``.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from assay.cli import render
from assay.cli.context import CliState
from assay.cli.notebook import RunCommand
from assay.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from assay.runner.entities import Job, JobSpec
    from assay.runner.worker import Engine
    from assay.services.jobs import Jobs

app = typer.Typer(help="The job queue: list, show, cancel jobs and read their output.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
STATE_STYLES = {
    "QUEUED": "cyan",
    "RUNNING": "blue",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "CANCELLED": "yellow",
}


def _uri(ctx: typer.Context, override: str | None = None) -> str:
    from assay import bundle

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    return override or state.tracking_uri or bundle.default_tracking_uri()


def _jobs(ctx: typer.Context) -> Jobs:
    from assay import bundle

    return bundle.services(_uri(ctx)).jobs


def _job(jobs: Jobs, ref: str) -> Job:
    """The job ``ref`` names: its id, or a unique prefix of one among the latest jobs."""
    try:
        return jobs.get_job(ref)
    except NotFound:
        found = [j for j in jobs.list_jobs(limit=1000) if j.job_id.startswith(ref)] if ref else []
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InvalidInput(f"job id prefix {ref!r} is ambiguous: give more characters") from None
        raise


def state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


# ---- the job policy options, shared with assay schedule add ---------------------------------------------

Priority = Annotated[int, typer.Option("--priority", help="Higher runs first.")]
Timeout = Annotated[
    str | None, typer.Option("--timeout", metavar="DURATION", help="Per attempt, e.g. 90s, 1h.")
]
Retries = Annotated[int, typer.Option("--retries", help="Attempts after a failed one.")]
Backoff = Annotated[
    str, typer.Option("--backoff", metavar="DURATION", help="Wait before retry n: backoff * 2^(n-1).")
]
Tags = Annotated[list[str] | None, typer.Option("--tag", metavar="KEY=VALUE", help="A run tag.")]


# ---- assay submit --------------------------------------------------------------------------------------


def submit(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(metavar="TARGET", help="A notebook (path or URL) or pkg.module:function")
    ],
    parameter: Annotated[
        list[str] | None,
        typer.Option("-p", "--parameter", metavar="NAME VALUE", help="A parameter (repeat for more)"),
    ] = None,
    experiment: Annotated[str | None, typer.Option("--experiment", "-e", help="Experiment name")] = None,
    project: Annotated[
        str | None, typer.Option("--project", help="Project (default: $ASSAY_PROJECT, else default)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run name")] = None,
    priority: Priority = 0,
    timeout: Timeout = None,
    retries: Retries = 0,
    backoff: Backoff = "10s",
    tag: Tags = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the queued job as JSON.")] = False,
) -> None:
    """Queue a notebook or a function as a job: assay submit TARGET [-p NAME VALUE]...

    Everything is checked before the job is queued; a worker (assay worker) runs it as a tracked run.
    """
    from assay.runner.submit import from_command_line

    spec = from_command_line(
        target,
        parameter or [],
        tags=tag or [],
        timeout=timeout,
        backoff=backoff,
        project=project,
        experiment=experiment,
        name=name,
        priority=priority,
        retries=retries,
    )
    job = _jobs(ctx).submit(spec)
    if as_json:
        render.emit_json(job_json(job))
        return
    typer.echo(f"queued job {job.job_id} ({spec.kind} {spec.target}, priority {spec.priority})")
    render.note(f"follow it: assay jobs logs {job.job_id} --follow; work the queue: assay worker")


# ---- assay worker --------------------------------------------------------------------------------------


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            help="Jobs at once [default: 1; with --dask-scheduler, the cluster's workers]",
            show_default=False,
        ),
    ] = None,
    tracking_uri: Annotated[
        str | None, typer.Option("--tracking-uri", metavar="URI", help="Store or server to work for")
    ] = None,
    project: Annotated[
        list[str] | None, typer.Option("--project", help="Only jobs of this project (repeatable)")
    ] = None,
    lease: Annotated[float, typer.Option("--lease", help="Seconds a claim lasts unless renewed")] = 30.0,
    grace: Annotated[
        float, typer.Option("--grace", help="Seconds running jobs get to end on SIGTERM/Ctrl-C")
    ] = 30.0,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local (processes here) or dask (a LocalCluster of --concurrency workers, or "
            "--dask-scheduler's cluster; a job's task that has started cannot be killed there)",
        ),
    ] = "local",
    dask_scheduler: Annotated[
        str | None,
        typer.Option("--dask-scheduler", metavar="ADDRESS", help="tcp://host:8786: a running Dask cluster"),
    ] = None,
) -> None:
    """Claim jobs and run them, each as a tracked run, until SIGTERM or Ctrl-C.

    With --engine dask, a cancel or a time limit stops a job's task only if it has not started on a Dask
    worker: one that has runs on to its end, its result discarded, its run ended at once and tagged
    assay.job.unstopped (see assay.runner.worker.FuturesEngine).
    """
    from assay.runner.engines import check_engine

    check_engine(engine)
    if concurrency is not None and concurrency < 1:
        raise InvalidInput(f"--concurrency must be at least 1, not {concurrency}")
    if not lease >= 2:
        raise InvalidInput(f"--lease must be at least 2 s, not {lease:g}")
    if not grace >= 0:
        raise InvalidInput(f"--grace must be 0 s or more, not {grace:g}")
    if dask_scheduler is not None and engine != "dask":
        raise InvalidInput("--dask-scheduler goes with --engine dask")
    from assay import bundle
    from assay.runner.worker import Worker
    from assay.sdk.handover import absolute_uri

    uri = absolute_uri(_uri(ctx, tracking_uri))
    jobs = bundle.services(uri).jobs
    w = Worker(jobs, _engine(engine, concurrency, dask_scheduler, uri), uri, projects=project, lease_s=lease)
    w.grace_s = grace
    _log_to_stderr()

    def stop(signum: int, _frame: Any) -> None:
        what = "killing running jobs" if w.stopping else f"running jobs get {grace:g} s to end"
        render.note(f"{signal.Signals(signum).name}: stopping ({what}; again to kill them now)")
        w.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scope = f"projects {', '.join(project)}" if project else "all projects"
    where = f"the {engine} engine" + (f" at {dask_scheduler}" if dask_scheduler else "")
    render.note(
        f"worker {w.name}: {w.engine.capacity} slot(s) on {where}, for {uri}, {scope}, lease {lease:g} s"
    )
    w.run()
    render.note(f"worker {w.name} stopped after {w.finished} attempt(s)")


def _engine(name: str, concurrency: int | None, scheduler: str | None, uri: str) -> Engine:
    """The worker's engine: slots here for ``local``, else that engine of ``assay.runner.engines``."""
    from assay.sdk.handover import TRACKING_URI

    if name == "local":
        from assay.runner.slots import LocalEngine

        return LocalEngine(concurrency or 1, env={TRACKING_URI: uri})
    from assay.runner.engines import open_engine
    from assay.runner.worker import FuturesEngine

    return FuturesEngine(open_engine(name, concurrency or 1, scheduler), concurrency)


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log = logging.getLogger("assay.worker")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


# ---- assay jobs ----------------------------------------------------------------------------------------


def job_json(job: Job) -> dict[str, Any]:
    s = job.spec
    return {
        "job_id": job.job_id,
        "state": job.state.value,
        "kind": s.kind,
        "target": s.target,
        "params": dict(s.params),
        "project": s.project,
        "experiment": s.experiment,
        "priority": s.priority,
        "attempt": job.attempt,
        "max_attempts": s.max_attempts,
        "run_id": job.run_id,
        "worker": job.worker,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "not_before": job.not_before,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "schedule": job.schedule,
    }


@app.command("ls")
def ls(
    ctx: typer.Context,
    state: Annotated[
        list[str] | None,
        typer.Option("--state", "-s", help="queued, running, succeeded, failed, cancelled (repeatable)"),
    ] = None,
    project: Annotated[str | None, typer.Option("--project", help="Only this project's jobs")] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", metavar="NAME", help="Only the jobs this schedule fired")
    ] = None,
    limit: Annotated[int, typer.Option("--max-results", "-n", min=1, help="At most this many")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List jobs, newest first."""
    from assay.runner.entities import JobState

    states = []
    for raw in state or []:
        try:
            states.append(JobState(raw.strip().upper()))
        except ValueError:
            names = ", ".join(s.value.lower() for s in JobState)
            raise InvalidInput(f"unknown job state {raw!r}: use {names}") from None
    found = _jobs(ctx).list_jobs(project=project, states=states or None, schedule=schedule, limit=limit)
    if as_json:
        render.emit_json([job_json(j) for j in found])
        return
    if not found:
        filtered = project or states or schedule
        render.note(
            "no jobs match" if filtered else "no jobs yet: queue one with assay submit NOTEBOOK|pkg.mod:fn"
        )
        return
    table = render.table("job", "state", "target", "attempt", "priority", "created", "run", "error")
    table.columns[0].no_wrap = True  # an id is copied whole: the target and the error give way
    for j in found:
        table.add_row(
            j.job_id,
            state_text(j.state.value + (" (cancelling)" if j.cancel_requested and not j.state.done else "")),
            Text(short_target(j.spec)),
            f"{j.attempt}/{j.spec.max_attempts}",
            str(j.spec.priority),
            render.fmt_time_ago(j.created_at),
            (j.run_id or render.MISSING)[:8],
            Text(_first_line(j.error)),
        )
    render.console().print(table)


def short_target(spec: JobSpec) -> str:
    """What a job runs, in a table: a notebook's file name, or the entry point."""
    return spec.target.rsplit("/", 1)[-1] if spec.kind == "notebook" else spec.target


def _first_line(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    line = text.strip().splitlines()[0]
    return line if len(line) <= width else line[: width - 1] + "…"


@app.command("show")
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="Job id (or a unique prefix)")],
    as_json: JsonOpt = False,
) -> None:
    """Show one job: what it runs, its policy, where it stands and its run."""
    job = _job(_jobs(ctx), job_id)
    if as_json:
        render.emit_json(job_json(job))
        return
    s = job.spec
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    info.add_row("job id", job.job_id)
    info.add_row("state", state_text(job.state.value))
    if job.cancel_requested and not job.state.done:
        info.add_row("", Text("a cancel was asked: its worker stops it", style="yellow"))
    info.add_row("target", Text(f"{s.kind} {s.target}"))
    info.add_row("params", Text(", ".join(f"{k}={v!r}" for k, v in s.params.items()) or render.MISSING))
    info.add_row("project", Text(s.project))
    info.add_row("experiment", Text(s.experiment or "Default"))
    info.add_row("priority", str(s.priority))
    info.add_row("attempt", f"{job.attempt} of {s.max_attempts}")
    info.add_row("timeout", render.MISSING if s.timeout_s is None else f"{s.timeout_s:g} s")
    info.add_row("created", f"{render.fmt_datetime(job.created_at)} ({render.fmt_time_ago(job.created_at)})")
    if job.state.value == "QUEUED" and job.not_before > job.created_at:
        info.add_row("not before", render.fmt_datetime(job.not_before))
    info.add_row("started", render.fmt_datetime(job.started_at))
    info.add_row("finished", render.fmt_datetime(job.finished_at))
    if job.worker:  # a job no longer RUNNING keeps its last attempt's worker
        info.add_row("worker" if job.state.value == "RUNNING" else "ran on", Text(job.worker))
    info.add_row("run", job.run_id or render.MISSING)
    if job.schedule:
        due = "" if job.due_at is None else f" for {_local(job.due_at)}"
        info.add_row("schedule", Text(f"{job.schedule}{due}"))
    if job.error:
        info.add_row("error", Text(job.error, style="red"))
    render.console().print(info)


def _local(ms: int) -> str:
    """``ms`` in local time to the second, with its zone's name (a due time of a per-second schedule)."""
    return dt.datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="Job id (or a unique prefix)")],
) -> None:
    """Cancel a job: a queued one at once, a running one within seconds (its worker stops it)."""
    jobs = _jobs(ctx)
    job = _job(jobs, job_id)
    if job.state.done:
        typer.echo(f"job {job.job_id} had ended already ({job.state.value})")
        return
    job = jobs.cancel(job.job_id)
    if job.state.done:
        typer.echo(f"cancelled job {job.job_id}")
    else:
        typer.echo(f"cancelling job {job.job_id}: its worker stops it within seconds")


@app.command("logs")
def logs(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="Job id (or a unique prefix)")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends")] = False,
    attempt: Annotated[
        int | None, typer.Option("--attempt", min=1, help="Which attempt (default: the latest)")
    ] = None,
) -> None:
    """Print a job's output (stdout and stderr of an attempt), as it comes with --follow."""
    jobs = _jobs(ctx)
    job = _job(jobs, job_id)
    if attempt is not None and attempt > max(job.attempt, 1):
        raise InvalidInput(f"job {job.job_id} has had {job.attempt} attempt(s), not {attempt}")
    current = attempt or max(job.attempt, 1)
    offset = _print_log(jobs, job.job_id, current, 0)
    while follow:
        job = jobs.get_job(job.job_id)
        if attempt is None and job.attempt > current:
            render.note(f"--- attempt {job.attempt} of job {job.job_id} ---")
            current, offset = job.attempt, 0
        ended = job.state.done or (job.attempt != current) or job.state.value == "QUEUED"
        offset = _print_log(jobs, job.job_id, current, offset)
        if ended and (job.state.done or attempt is not None):
            return
        time.sleep(0.5)


def _print_log(jobs: Jobs, job_id: str, attempt: int, offset: int) -> int:
    """Print what the log of ``attempt`` holds from ``offset`` on; the offset after it."""
    out = sys.stdout.buffer
    while True:
        chunk = jobs.read_log(job_id, attempt, offset)
        if not chunk.data:
            return offset
        out.write(chunk.data)
        out.flush()
        offset = chunk.next_offset


def register(root: typer.Typer) -> None:
    """Add ``assay submit``, ``assay worker`` and ``assay jobs`` to the root application."""
    root.command("submit", cls=RunCommand)(submit)
    root.command("worker")(worker)
    root.add_typer(app, name="jobs")
