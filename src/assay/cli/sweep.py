"""``assay sweep``: a notebook or a function over a search space, each trial a child run of one parent run.

Every check (the space, the engine, the notebook's parameters at each bound and choice, the entry point's
import) runs before the parent run is created, so bad input is one ``error:`` line and nothing runs.
Progress goes to stderr, one line per finished trial; the summary table (best first) to stdout.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from assay.cli.notebook import RunCommand, _pairs
from assay.errors import InvalidInput

if TYPE_CHECKING:
    from assay.runner.sweeps.driver import SweepState
    from assay.runner.sweeps.outcome import TrialOutcome

#: The most rows the summary table shows (the UI and ``assay runs ls`` show every trial).
TABLE_ROWS = 20


def _fmt(value: Any) -> str:
    from assay.cli.render import fmt_number

    if isinstance(value, float):
        return fmt_number(value)
    return str(value)


def _progress(state: SweepState, t: TrialOutcome) -> None:
    from rich.text import Text

    from assay.cli.render import console

    cfg = state.config
    done = len(state.trials)
    style = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}[t.state]
    line = Text(f"trial {t.index:>3} ({done}/{cfg.trials}) ")
    line.append(f"{t.state:<8}", style=style)
    if cfg.metric and t.value is not None:
        line.append(f" {cfg.metric}={_fmt(t.value)}")
    line.append("  " + " ".join(f"{k}={_fmt(v)}" for k, v in t.params.items()))
    if t.seconds is not None:
        line.append(f"  ({t.seconds:.1f} s)", style="dim")
    top = state.best
    if cfg.metric and top is not None and top.value is not None:
        line.append(f"  best {_fmt(top.value)} (trial {top.index})", style="bold")
    if t.error:
        line.append(f"\n    {t.error.splitlines()[-1] if t.error.strip() else t.error}", style="red")
    console(stderr=True).print(line)


def sweep(
    ctx: typer.Context,
    target: Annotated[
        str | None,
        typer.Argument(
            help="A notebook (.ipynb) or a Python entry point pkg.module:function", show_default=False
        ),
    ] = None,
    grid: Annotated[
        list[str] | None, typer.Option("--grid", metavar="NAME=a,b,c", help="Grid values of a parameter")
    ] = None,
    random: Annotated[
        list[str] | None,
        typer.Option(
            "--random",
            metavar="NAME=DIST",
            help="Random search over uniform(a,b), loguniform(a,b), int(a,b), logint(a,b), choice(...) or a,b,c",
        ),
    ] = None,
    space: Annotated[
        list[str] | None,
        typer.Option(
            "--space", metavar="NAME=DIST", help="A dimension for --optuna (same syntax as --random)"
        ),
    ] = None,
    optuna: Annotated[bool, typer.Option("--optuna", help="Ask Optuna for each trial's params")] = False,
    trials: Annotated[int | None, typer.Option("--trials", "-n", help="Trials for --random/--optuna")] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", "-m", help="The objective: a metric of each trial")
    ] = None,
    direction: Annotated[str, typer.Option("--direction", help="minimize or maximize")] = "minimize",
    sampler: Annotated[
        str, typer.Option("--sampler", help="Optuna sampler: tpe, random, cmaes, qmc, gp")
    ] = "tpe",
    pruner: Annotated[
        str, typer.Option("--pruner", help="Optuna pruner: median, hyperband, halving or none")
    ] = "median",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random search or the sampler")] = 0,
    parallel: Annotated[int, typer.Option("--parallel", "-j", help="Trials at once")] = 1,
    engine: Annotated[str, typer.Option("--engine", help="local (processes) or dask")] = "local",
    dask_scheduler: Annotated[
        str | None,
        typer.Option(
            "--dask-scheduler", metavar="ADDRESS", help="A running Dask cluster (implies --engine dask)"
        ),
    ] = None,
    experiment: Annotated[str | None, typer.Option("--experiment", "-e", help="Experiment name")] = None,
    project: Annotated[str | None, typer.Option("--project", help="Project of the experiment")] = None,
    name: Annotated[str | None, typer.Option("--name", help="The parent run's name")] = None,
    parameter: Annotated[
        list[str] | None,
        typer.Option("-p", "--parameter", metavar="NAME VALUE", help="A fixed parameter of every trial"),
    ] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds one trial may take")] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume", metavar="RUN", help="Resume the sweep of this parent run (id, prefix or name)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Sweep a notebook or function: assay sweep nb.ipynb --grid lr=0.01,0.1 --grid depth=3,5

    --random "lr=loguniform(1e-4,1e-1)" --trials 50 samples; --optuna --space ... --metric val_auc
    --direction maximize --trials 30 asks Optuna (TPE). Each trial is a child run of one parent run;
    --resume PARENT runs what an interrupted sweep left.
    """
    from assay.runner.engines import check_engine
    from assay.runner.space import parse_space, typed

    if dask_scheduler is not None:
        engine = "dask"
    check_engine(engine, parallel)
    tracking_uri = ctx.obj.tracking_uri if ctx.obj is not None else None
    if resume is not None:
        if grid or random or space or optuna or parameter:
            raise InvalidInput(
                "--resume reads the sweep's space and method from its parent run: give no others"
            )
        from assay.runner.sweeps.api import resume_sweep

        parent = _find_parent(ctx, resume)
        result = resume_sweep(
            parent,
            parallel=parallel,
            engine=engine,
            scheduler=dask_scheduler,
            tracking_uri=tracking_uri,
            listener=None if as_json else _progress,
        )
        _report(result, as_json)
        return
    if target is None:
        raise InvalidInput("give a notebook or pkg.module:function to sweep (or --resume PARENT_RUN)")
    specs = [("--grid", s) for s in grid or []] + [("--random", s) for s in random or []]
    specs += [("--space", s) for s in space or []]
    if optuna and grid:
        raise InvalidInput("--grid and --optuna do not mix: give Optuna's space with --space (or --random)")
    if grid and random:
        raise InvalidInput("--grid and --random do not mix: a sweep is a grid or a random search")
    method = "optuna" if optuna else "grid" if grid else "random" if random or space else None
    if method is None:
        raise InvalidInput(
            "give a space: --grid NAME=a,b, --random 'NAME=loguniform(1e-4,1e-1)' or --optuna --space ..."
        )
    raw = dict(_pairs(parameter or []))
    from assay.runner.sweeps.api import resolve_target

    notebook = resolve_target(target).kind == "notebook"
    fixed: dict[str, Any] = dict(raw) if notebook else {k: typed(v) for k, v in raw.items()}
    from assay.runner.sweeps.api import sweep as run_sweep

    result = run_sweep(
        target,
        parse_space(specs, fixed),
        method=method,
        trials=trials,
        metric=metric,
        direction=direction,
        parallel=parallel,
        engine=engine,
        scheduler=dask_scheduler,
        experiment=experiment,
        project=project,
        name=name,
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        timeout=timeout,
        tracking_uri=tracking_uri,
        listener=None if as_json else _progress,
        texts=list(raw) if notebook else (),
    )
    _report(result, as_json)


def _find_parent(ctx: typer.Context, ref: str) -> str:
    """A parent run by id or id prefix, else the latest sweep run of that name."""
    from assay.cli.context import resolve_run_id, tracking
    from assay.errors import NotFound
    from assay.runner.sweeps.config import SWEEP_TAG

    t = tracking(ctx)
    try:
        return resolve_run_id(t, ref)
    except NotFound:
        quoted = ref.replace("'", "\\'")
        found = t.search_runs(
            filter=f"attributes.name = '{quoted}' and tags.`{SWEEP_TAG}` != ''",
            order_by=["attributes.start_time desc"],
            max_results=1,
        )
        if not found:
            raise NotFound(f"no sweep run with id or name {ref!r}: list them with 'assay runs ls'") from None
        return found[0].info.run_id


def _report(result: Any, as_json: bool) -> None:
    from rich.text import Text

    from assay.cli.render import STATUS_STYLES, console, emit_json, json_number, table

    cfg = result.config
    if as_json:
        emit_json(
            {
                "parent_run_id": result.parent_run_id,
                "method": cfg.method,
                "metric": cfg.metric,
                "direction": cfg.direction,
                "best": None if result.best is None else result.best.run_id,
                "trials": [
                    {
                        "trial": t.index,
                        "run_id": t.run_id,
                        "state": t.state,
                        "value": None if t.value is None else json_number(t.value),
                        "params": dict(t.params),
                        "error": t.error,
                    }
                    for t in result.trials
                ],
            }
        )
        return
    names = list(cfg.space.dimensions)
    headers = ["trial", "run", "state", *([cfg.metric] if cfg.metric else []), *names]
    out = table(*headers, title=f"sweep {result.parent_run_id} ({cfg.method}, {len(result.trials)} trials)")
    state_style = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
    for t in result.trials[:TABLE_ROWS]:
        row: list[str | Text] = [
            str(t.index),
            t.run_id[:8],
            Text(t.state, STATUS_STYLES[state_style[t.state]]),
        ]
        if cfg.metric:
            row.append("" if t.value is None else _fmt(t.value))
        row += [_fmt(t.params.get(n, "")) for n in names]
        out.add_row(*row, style="bold" if result.best is not None and t is result.best else None)
    con = console()
    con.print(out)
    if len(result.trials) > TABLE_ROWS:
        con.print(
            f"... {len(result.trials) - TABLE_ROWS} more: assay runs ls "
            f"--filter \"attributes.parent_run_id = '{result.parent_run_id}'\""
        )
    if result.best is not None:
        shown = json.dumps(dict(result.best.params))
        con.print(
            f"best: trial {result.best.index} ({result.best.run_id}) {cfg.metric}={_fmt(result.best.value)} {shown}"
        )
    elif cfg.metric:
        con.print(f"no trial logged {cfg.metric}")
    if result.resumed:
        con.print(f"resumed: {result.resumed} trials were already finished")
    if result.trials and not any(t.state == "COMPLETE" for t in result.trials):
        raise typer.Exit(1)  # every trial failed (or was pruned): a script should notice


def register(root: typer.Typer) -> None:
    """Add ``assay sweep`` to the root application (it takes papermill's ``-p NAME VALUE`` too)."""
    root.command("sweep", cls=RunCommand)(sweep)
