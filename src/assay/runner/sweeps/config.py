"""What a sweep is, as stored on its parent run (``sweep/config.json``), and the tags that tie the runs of a
sweep together. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from assay.errors import InvalidInput
from assay.runner.space import Space

GRID = "grid"
RANDOM = "random"
OPTUNA = "optuna"
METHODS = (GRID, RANDOM, OPTUNA)
MINIMIZE = "minimize"
MAXIMIZE = "maximize"

#: Optuna samplers by the name ``--sampler`` takes, and its pruners by ``--pruner``'s.
SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "cmaes": "CmaEsSampler",
    "qmc": "QMCSampler",
    "gp": "GPSampler",
    "nsgaii": "NSGAIISampler",
}
PRUNERS = {
    "median": "MedianPruner",
    "hyperband": "HyperbandPruner",
    "halving": "SuccessiveHalvingPruner",
    "none": "NopPruner",
}

#: The artifact of the parent run that holds the config (what ``--resume`` reads).
CONFIG_ARTIFACT = "sweep/config.json"

# Tags of the parent run.
SWEEP_TAG = "assay.sweep"  # the method: marks the run as a sweep's parent
STATE_TAG = "assay.sweep.state"  # running | finished | interrupted (parent); COMPLETE | PRUNED | FAIL (trial)
BEST_RUN_TAG = "assay.sweep.best_run_id"
BEST_TRIAL_TAG = "assay.sweep.best_trial"
BEST_VALUE_TAG = "assay.sweep.best_value"
# Tags of a trial's run.
PARENT_TAG = "assay.sweep.parent"
TRIAL_TAG = "assay.sweep.trial"
PARAMS_TAG = "assay.sweep.params"  # the searched params as JSON: typed, unlike the run's params
PRUNE_TAG = "assay.sweep.prune"  # "requested" by the driver, "stopped" by the trial that saw it
PRUNE_REQUESTED = "requested"
PRUNE_STOPPED = "stopped"


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: what runs (``kind``/``target``), over which space, how the params are chosen, and what
    is optimized. Everything here is stored on the parent run, so a resume needs only its id."""

    kind: str
    target: str
    method: str
    space: Space
    #: trials in all (a grid: its size)
    trials: int
    metric: str | None = None
    direction: str = MINIMIZE
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0
    project: str = "default"
    experiment: str | None = None
    name: str | None = None
    cwd: str | None = None
    timeout_s: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self)

    def to_json(self) -> str:
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        body["space"] = self.space.to_dict()
        body["extra"] = dict(self.extra)
        return json.dumps({"version": 1, **body}, indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> SweepConfig:
        try:
            body = json.loads(text)
            body.pop("version", None)
            body["space"] = Space.from_dict(body["space"])
            return cls(**body)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"the sweep's stored config does not read: {exc}") from None

    def params(self) -> dict[str, str]:
        """The parent run's params: how the sweep was asked for, one line each."""
        out = {"sweep.method": self.method, "sweep.target": self.target, "sweep.trials": str(self.trials)}
        if self.metric:
            out["sweep.metric"] = self.metric
            out["sweep.direction"] = self.direction
        if self.method == OPTUNA:
            out["sweep.sampler"] = self.sampler
            out["sweep.pruner"] = self.pruner
        if self.method != GRID:
            out["sweep.seed"] = str(self.seed)
        for name, dim in self.space.dimensions.items():
            out[f"space.{name}"] = dim.describe()
        for name, value in self.space.fixed.items():
            out[name] = json.dumps(value) if not isinstance(value, str) else value
        return out


def check(c: SweepConfig) -> None:
    """InvalidInput (one line) for a config that cannot run."""
    if c.method not in METHODS:
        raise InvalidInput(f"unknown sweep method {c.method!r}: use grid, random or optuna")
    if c.direction not in (MINIMIZE, MAXIMIZE):
        raise InvalidInput(f"direction must be {MINIMIZE!r} or {MAXIMIZE!r}, not {c.direction!r}")
    if not c.space.dimensions:
        raise InvalidInput(
            "the sweep has nothing to search: give --grid NAME=a,b or --random/--space "
            "'NAME=loguniform(1e-4,1e-1)' (or a space dict from Python)"
        )
    if c.method == OPTUNA:
        if not c.metric:
            raise InvalidInput("an Optuna sweep optimizes a metric: give --metric NAME (and --direction)")
        if c.sampler not in SAMPLERS:
            raise InvalidInput(f"unknown sampler {c.sampler!r}: use one of {', '.join(SAMPLERS)}")
        if c.pruner not in PRUNERS:
            raise InvalidInput(f"unknown pruner {c.pruner!r}: use one of {', '.join(PRUNERS)}")
    if isinstance(c.trials, bool) or not isinstance(c.trials, int) or c.trials < 1:
        raise InvalidInput(f"trials must be a whole number >= 1, not {c.trials!r}")
