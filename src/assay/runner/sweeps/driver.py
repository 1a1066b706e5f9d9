"""The sweep driver: a parent run, its trials as child runs on an engine, and the store kept up to date.

The store is the source of truth. A sweep's parent run holds its config (``sweep/config.json``, and its
settings as params); each trial is a child run (``parent_run_id``) tagged with its number, its searched
params (as JSON) and, once the driver has heard how it ended, its state (COMPLETE, PRUNED, FAIL). The
parent carries the best trial (tags ``assay.sweep.best_*``) and the best value so far as its metric of
the objective's name, one point per finished trial.

Resuming (``--resume PARENT``): the driver reads the config back from the parent and the children from
the store. A child that ended FINISHED or FAILED counts (whether or not the driver that ran it lived to
tag it); one still RUNNING (or read as KILLED: its process died with the driver) is ended KILLED and its
trial is run again under a new run. The plan is rebuilt from the finished trials (for Optuna, a study
with ``add_trial``) and proposes only what is left, so the total of finished trials is what was asked.

Pruning: see ``assay.runner.sweeps.trial``. While trials run, the driver polls their objective every
``POLL_S`` seconds and feeds new steps to the plan; a trial to prune is tagged, and it stops when it asks.

Interruption (Ctrl-C, SIGTERM): the parent is tagged ``interrupted`` and left unended (it reads KILLED
once its heartbeat stops), so that ``--resume`` may log into it again.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

from assay.entities import Run, RunStatus
from assay.errors import InvalidInput, InvalidState, NotFound
from assay.runner.engines import Engine
from assay.runner.entities import Result
from assay.runner.sweeps import config as c
from assay.runner.sweeps.outcome import COMPLETE, FAIL, PRUNED, TrialOutcome, best, better
from assay.runner.sweeps.plans import Plan, Proposal, make_plan
from assay.runner.task import Task, TaskResult
from assay.sdk.client import Client
from assay.sdk.handover import absolute_uri

#: How often the driver looks at running trials' objective for pruning, and heartbeats the parent.
POLL_S = 0.25
HEARTBEAT_S = 5.0

Listener = Callable[["SweepState", TrialOutcome], None]


@dataclass
class SweepState:
    """A sweep under way: its parent run, config, and the trials finished so far (resumed ones first)."""

    parent_run_id: str
    config: c.SweepConfig
    experiment_id: str
    experiment: str
    trials: list[TrialOutcome] = field(default_factory=list)
    resumed: int = 0
    #: every trial number used so far, finished or not (a new trial never reuses one)
    taken: set[int] = field(default_factory=set)

    @property
    def best(self) -> TrialOutcome | None:
        return best(self.trials, self.config.direction)


@dataclass
class _Running:
    proposal: Proposal
    task: Task
    started: float
    #: the last step of the objective reported to the plan
    last_step: int = -1
    prune_requested: bool = False


def _children(client: Client, parent: Run) -> Iterator[Run]:
    token: str | None = None
    while True:
        page = client.backend.search_runs(
            [parent.info.experiment_id],
            filter=f"attributes.parent_run_id = '{parent.info.run_id}'",
            max_results=1000,
            page_token=token,
        )
        yield from page
        token = page.next_page_token
        if not token:
            return


def _value(run: Run, metric: str | None) -> float | None:
    if metric is None:
        return None
    summary = run.metric_summaries.get(metric)
    return None if summary is None else summary.last


def read_trials(client: Client, parent: Run, cfg: c.SweepConfig) -> tuple[list[TrialOutcome], set[int]]:
    """The finished trials of a sweep's parent (as the store says), and every trial number used. Children
    left running by a driver that died are ended KILLED."""
    finished: dict[int, TrialOutcome] = {}
    taken: set[int] = set()
    for run in _children(client, parent):
        try:
            index = int(run.tags[c.TRIAL_TAG])
            params = json.loads(run.tags[c.PARAMS_TAG])
        except (KeyError, ValueError):
            continue  # not a trial (a run the user nested by hand)
        taken.add(index)
        status = run.info.status
        if status not in (RunStatus.FINISHED, RunStatus.FAILED):
            if status is RunStatus.RUNNING or run.info.end_time is None:
                with contextlib.suppress(InvalidState, NotFound):
                    client.backend.end_run(run.info.run_id, RunStatus.KILLED)
            continue
        value = _value(run, cfg.metric)
        seconds = (run.info.end_time - run.info.start_time) / 1000 if run.info.end_time else None
        if status is RunStatus.FAILED:
            state, error = FAIL, run.tags.get("assay.error", "the run failed")
        elif run.tags.get(c.PRUNE_TAG) == c.PRUNE_STOPPED:
            state, error = PRUNED, None
        elif cfg.metric is not None and (value is None or math.isnan(value)):
            state, error = FAIL, f"the trial logged no {cfg.metric}"
        else:
            state, error = COMPLETE, None
        steps: dict[int, float] = {}
        if cfg.method == c.OPTUNA and cfg.metric and state != FAIL:
            h = client.get_metric_history(run.info.run_id, cfg.metric)
            steps = {int(s): float(v) for s, v in zip(h.steps, h.values, strict=True) if not math.isnan(v)}
        outcome = TrialOutcome(index, run.info.run_id, params, state, value, error, seconds, steps)
        if index not in finished:
            finished[index] = outcome
        if run.tags.get(c.STATE_TAG) != state:
            client.set_tags(run.info.run_id, {c.STATE_TAG: state})
    return sorted(finished.values(), key=lambda t: t.index), taken


class Driver:
    """Runs one sweep: ``start`` (a new parent) or ``resume`` (an existing one), then ``run``."""

    def __init__(
        self,
        client: Client,
        engine: Engine,
        function: Callable[..., Any] | None = None,
        source: bytes | None = None,
        listener: Listener | None = None,
    ) -> None:
        self.client = client
        self.engine = engine
        self.function = function
        self.source = source
        self.listener = listener
        self.uri = absolute_uri(client.tracking_uri)

    def start(self, cfg: c.SweepConfig) -> SweepState:
        """A new parent run for ``cfg``, holding its config."""
        exp = self.client.get_or_create_experiment(cfg.experiment or "Default", cfg.project)
        info = self.client.create_run(
            exp.experiment_id,
            name=cfg.name,
            params=cfg.params(),
            tags={c.SWEEP_TAG: cfg.method, c.STATE_TAG: "running", "assay.sweep.engine": self.engine.name},
            log_system_metrics=False,
        )
        self.client.log_text(info.run_id, cfg.to_json(), c.CONFIG_ARTIFACT)
        return SweepState(info.run_id, cfg, exp.experiment_id, exp.name)

    @staticmethod
    def stored_config(client: Client, parent_run_id: str) -> c.SweepConfig:
        """The config stored on a sweep's parent run (InvalidInput if the run is not one)."""
        parent = client.get_run(parent_run_id)
        if c.SWEEP_TAG not in parent.tags:
            raise InvalidInput(f"run {parent_run_id} is not a sweep's parent run: nothing to resume")
        try:
            return c.SweepConfig.from_json(client.read_artifact(parent_run_id, c.CONFIG_ARTIFACT))
        except NotFound:
            raise InvalidInput(
                f"run {parent_run_id} has no {c.CONFIG_ARTIFACT}: it cannot be resumed"
            ) from None

    def resume(self, parent_run_id: str) -> SweepState:
        """The sweep of ``parent_run_id`` as the store has it (InvalidInput if it is not a sweep)."""
        cfg = self.stored_config(self.client, parent_run_id)
        parent = self.client.get_run(parent_run_id)
        exp = self.client.get_experiment(parent.info.experiment_id)
        trials, taken = read_trials(self.client, parent, cfg)
        self.client.backend.heartbeat([parent_run_id])  # revives a parent read as KILLED
        self.client.set_tags(parent_run_id, {c.STATE_TAG: "running"})
        state = SweepState(parent_run_id, cfg, exp.experiment_id, exp.name, trials, len(trials), taken)
        found = state.best
        if found is not None and parent.tags.get(c.BEST_RUN_TAG) != found.run_id:
            # the driver that died had not recorded it yet (killed between a trial's end and its tags)
            self._best_tags(state, found)
        return state

    def run(self, state: SweepState) -> SweepState:
        """Run what is left of the sweep; the parent ends FINISHED. On an interruption it is tagged
        ``interrupted`` and left to resume."""
        plan = make_plan(state.config, state.trials, state.taken)
        running: dict[Future[TaskResult], _Running] = {}
        last_beat = time.monotonic()
        try:
            while True:
                while len(running) < self.engine.parallel:
                    proposal = plan.propose()
                    if proposal is None:
                        break
                    task = self._task(state, proposal)
                    running[self.engine.submit(task)] = _Running(proposal, task, time.monotonic())
                if not running:
                    break
                done, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
                for future in done:
                    self._finished(state, plan, running.pop(future), future)
                if plan.prunes and state.config.metric:
                    self._poll(state, plan, running.values())
                if time.monotonic() - last_beat >= HEARTBEAT_S:
                    last_beat = time.monotonic()
                    self.client.backend.heartbeat([state.parent_run_id])
        except BaseException:
            for future in running:
                future.cancel()
            self.client.set_tags(state.parent_run_id, {c.STATE_TAG: "interrupted"})
            self.client.flush()
            raise
        self.client.set_tags(state.parent_run_id, {c.STATE_TAG: "finished"})
        self.client.set_terminated(state.parent_run_id, RunStatus.FINISHED)
        self.client.flush()
        return state

    def _task(self, state: SweepState, p: Proposal) -> Task:
        cfg = state.config
        base = cfg.name or _stem(cfg.target)
        return Task(
            kind=cfg.kind,
            target=cfg.target,
            params={**cfg.space.fixed, **p.params},
            tracking_uri=self.uri,
            run_id=uuid.uuid4().hex,
            project=cfg.project,
            experiment=state.experiment,
            name=f"{base}-{p.index}",
            source=self.source,
            cwd=cfg.cwd,
            tags={
                c.PARENT_TAG: state.parent_run_id,
                c.TRIAL_TAG: str(p.index),
                c.PARAMS_TAG: json.dumps(dict(p.params), sort_keys=True),
            },
            parent_run_id=state.parent_run_id,
            timeout_s=cfg.timeout_s,
            function=self.function,
        )

    def _finished(self, state: SweepState, plan: Plan, r: _Running, future: Future[TaskResult]) -> None:
        cfg = state.config
        seconds = time.monotonic() - r.started
        value: float | None = None
        error: str | None = None
        try:
            result = future.result()
        except Exception as exc:  # the engine failed (a worker died), not the trial's work
            result = TaskResult(r.task.run_id, Result.FAILED, f"{type(exc).__name__}: {exc}")
        # The trial's run is the one its result names: not the task's when an engine ran it again after
        # losing it, but the last run of the task's chain of re-runs (``assay.runner.rerun``: the lost
        # executions' runs are ended KILLED, and a resume skips them).
        run_id = result.run_id
        if cfg.metric is not None:
            value = result.metrics.get(cfg.metric)
        if r.prune_requested and self._stopped(run_id):
            status = PRUNED
        elif result.result is not Result.SUCCEEDED:
            status, error = FAIL, result.error or result.result.value
        elif cfg.metric is not None and (value is None or math.isnan(value)):
            status, error = (
                FAIL,
                f"the trial logged no {cfg.metric} (its metrics: {', '.join(result.metrics)})",
            )
        else:
            status = COMPLETE
        outcome = TrialOutcome(r.proposal.index, run_id, r.proposal.params, status, value, error, seconds)
        plan.tell(r.proposal, outcome)
        before = state.best
        state.trials.append(outcome)
        with contextlib.suppress(NotFound):  # a trial whose worker died before it created its run
            self.client.set_tags(run_id, {c.STATE_TAG: status})
        self._record_best(state, outcome, before)
        if self.listener is not None:
            self.listener(state, outcome)

    def _stopped(self, run_id: str) -> bool:
        try:
            return self.client.get_run(run_id).tags.get(c.PRUNE_TAG) == c.PRUNE_STOPPED
        except NotFound:
            return False

    def _record_best(self, state: SweepState, outcome: TrialOutcome, before: TrialOutcome | None) -> None:
        metric = state.config.metric
        now = state.best
        if metric is None or now is None:
            return
        if before is None or (
            now.value is not None and better(now.value, before.value or 0.0, state.config.direction)
        ):
            self._best_tags(state, now)
        assert now.value is not None
        self.client.log_metric(state.parent_run_id, metric, now.value, step=len(state.trials))

    def _best_tags(self, state: SweepState, best: TrialOutcome) -> None:
        self.client.set_tags(
            state.parent_run_id,
            {
                c.BEST_RUN_TAG: best.run_id,
                c.BEST_TRIAL_TAG: str(best.index),
                c.BEST_VALUE_TAG: repr(best.value),
            },
        )

    def _poll(self, state: SweepState, plan: Plan, running: Any) -> None:
        metric = state.config.metric
        assert metric is not None
        for r in list(running):
            if r.prune_requested:
                continue
            try:
                h = self.client.backend.get_metric_history(r.task.run_id, metric)
            except NotFound:
                continue  # not started yet
            for step, value in zip(h.steps.tolist(), h.values.tolist(), strict=True):
                if step <= r.last_step or math.isnan(value):
                    continue
                r.last_step = step
                if plan.report(r.proposal, step, value):
                    r.prune_requested = True
                    self.client.set_tags(r.task.run_id, {c.PRUNE_TAG: c.PRUNE_REQUESTED})
                    break


def _stem(target: str) -> str:
    name = target.rsplit(":", 1)[-1] if ":" in target and not target.endswith(".ipynb") else target
    name = name.rsplit("/", 1)[-1]
    return name.removesuffix(".ipynb")


def summary_rows(state: SweepState) -> list[Mapping[str, Any]]:
    """The trials best first, as plain rows (the CLI's table, the API's result)."""
    from assay.runner.sweeps.outcome import ranked

    return [
        {
            "trial": t.index,
            "run_id": t.run_id,
            "state": t.state,
            "value": t.value,
            **t.params,
            "error": t.error,
        }
        for t in ranked(state.trials, state.config.direction)
    ]
