"""Which params the next trial takes: a grid in order, a seeded random search, or Optuna's ask/tell.

A plan is built from the sweep's config and the trials already finished (on a resume, read back from the
store), and proposes only what is left: the grid's points and the random search's trial numbers not yet
finished (the same points as an uninterrupted sweep: trial ``i`` of a random search is seeded by
``(seed, i)``), and for Optuna ``trials`` minus those finished, asked from a study rebuilt with
``create_trial``/``add_trial``. No I/O: the driver feeds the plan with what the store says.
"""

from __future__ import annotations

import logging
import warnings
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.optional import require
from assay.runner.sweeps.config import GRID, OPTUNA, PRUNERS, SAMPLERS, SweepConfig
from assay.runner.sweeps.outcome import COMPLETE, FAIL, PRUNED, TrialOutcome


@dataclass(frozen=True)
class Proposal:
    """A trial to start: its number in the sweep, its searched params, and the plan's handle on it."""

    index: int
    params: Mapping[str, Any]
    handle: Any = None


class Plan(ABC):
    """Proposes trials and hears how they ended. Used from one thread."""

    #: whether the driver should feed intermediate values to ``report``
    prunes: bool = False

    @abstractmethod
    def propose(self) -> Proposal | None:
        """The next trial to start, or None when every trial is started."""

    def tell(self, proposal: Proposal, outcome: TrialOutcome) -> None:  # noqa: B027 - optional hook
        """The trial ``proposal`` ended as ``outcome``."""

    def report(self, proposal: Proposal, step: int, value: float) -> bool:
        """A value the running trial logged at ``step``; True when the trial should be pruned."""
        return False


class Listed(Plan):
    """Grid and random search: trial ``i`` takes ``point(i)``; the numbers already finished are skipped."""

    def __init__(self, config: SweepConfig, done: Collection[int]) -> None:
        self.config = config
        self.points = config.space.grid() if config.method == GRID else None
        total = len(self.points) if self.points is not None else config.trials
        self.todo = [i for i in range(total) if i not in done]

    def propose(self) -> Proposal | None:
        if not self.todo:
            return None
        i = self.todo.pop(0)
        params = self.points[i] if self.points is not None else self.config.space.sample(self.config.seed, i)
        return Proposal(i, params)


class OptunaPlan(Plan):
    """Optuna's ask/tell over an in-memory study rebuilt from the finished trials. Trials get sweep numbers
    after every number already used (by finished or interrupted trials), so a number names one run."""

    def __init__(self, config: SweepConfig, finished: Sequence[TrialOutcome], taken: Collection[int]) -> None:
        self.optuna = require("optuna", "sweeps", "--optuna sweeps")
        self.optuna.logging.set_verbosity(logging.WARNING)
        self.config = config
        self.distributions = config.space.to_optuna()
        self.study = self.optuna.create_study(
            direction=config.direction, sampler=self._sampler(), pruner=self._pruner()
        )
        self.prunes = config.pruner != "none"
        for t in sorted(finished, key=lambda t: t.index):
            self._restore(t)
        self.left = max(config.trials - len(finished), 0)
        self.next_index = max([*taken, -1]) + 1
        self.reported: dict[int, set[int]] = {}

    def _sampler(self) -> Any:
        cls = getattr(self.optuna.samplers, SAMPLERS[self.config.sampler])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self.optuna.exceptions.ExperimentalWarning)
            return cls(seed=self.config.seed)

    def _pruner(self) -> Any:
        return getattr(self.optuna.pruners, PRUNERS[self.config.pruner])()

    def _restore(self, t: TrialOutcome) -> None:
        state = self.optuna.trial.TrialState
        params = {k: v for k, v in t.params.items() if k in self.distributions}
        if set(params) != set(self.distributions):
            return  # a trial of another space (the config changed): the sampler cannot use it
        try:
            frozen = self.optuna.trial.create_trial(
                params=params,
                distributions=self.distributions,
                value=t.value if t.state == COMPLETE else None,
                state={COMPLETE: state.COMPLETE, PRUNED: state.PRUNED, FAIL: state.FAIL}[t.state],
                intermediate_values=dict(t.intermediate),
                user_attrs={"index": t.index, "run_id": t.run_id},
            )
            self.study.add_trial(frozen)
        except ValueError:
            return  # a value outside the space (edited by hand): skipped, as above

    def propose(self) -> Proposal | None:
        if self.left <= 0:
            return None
        self.left -= 1
        trial = self.study.ask(self.distributions)
        index = self.next_index
        self.next_index += 1
        trial.set_user_attr("index", index)
        return Proposal(index, dict(trial.params), trial)

    def report(self, proposal: Proposal, step: int, value: float) -> bool:
        seen = self.reported.setdefault(proposal.index, set())
        if step in seen:
            return False
        seen.add(step)
        proposal.handle.report(value, step)
        return bool(proposal.handle.should_prune())

    def tell(self, proposal: Proposal, outcome: TrialOutcome) -> None:
        state = self.optuna.trial.TrialState
        proposal.handle.set_user_attr("run_id", outcome.run_id)
        if outcome.state == COMPLETE and outcome.value is not None:
            self.study.tell(proposal.handle, outcome.value)
        elif outcome.state == PRUNED:
            self.study.tell(proposal.handle, state=state.PRUNED)
        else:
            self.study.tell(proposal.handle, state=state.FAIL)


def make_plan(config: SweepConfig, finished: Sequence[TrialOutcome], taken: Collection[int]) -> Plan:
    """The plan of ``config``, knowing the trials already ``finished`` and every trial number ``taken``."""
    if config.method == OPTUNA:
        return OptunaPlan(config, finished, taken)
    return Listed(config, {t.index for t in finished})
