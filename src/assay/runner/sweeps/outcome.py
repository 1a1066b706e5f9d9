"""How the trials of a sweep ended, and which is best. Pure: no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.runner.sweeps.config import MAXIMIZE

COMPLETE = "COMPLETE"
PRUNED = "PRUNED"
FAIL = "FAIL"
#: the states of a trial that counts toward the sweep's total (Optuna's names)
FINISHED_STATES = (COMPLETE, PRUNED, FAIL)


@dataclass(frozen=True)
class TrialOutcome:
    """One finished trial: its number in the sweep, its run, the searched params, and how it ended."""

    index: int
    run_id: str
    params: Mapping[str, Any]
    state: str
    #: the objective (the metric's last value), when the sweep has a metric and the trial logged it
    value: float | None = None
    error: str | None = None
    seconds: float | None = None
    #: the metric's values by step, as the pruner saw them
    intermediate: Mapping[int, float] = field(default_factory=dict)


def better(a: float, b: float, direction: str) -> bool:
    """Whether ``a`` beats ``b`` for ``direction``."""
    return a > b if direction == MAXIMIZE else a < b


def ranked(trials: Iterable[TrialOutcome], direction: str) -> list[TrialOutcome]:
    """Best first: complete trials with a value by it, then the others by trial number."""
    scored = [t for t in trials if t.state == COMPLETE and t.value is not None and not math.isnan(t.value)]
    rest = [t for t in trials if t not in scored]
    sign = -1.0 if direction == MAXIMIZE else 1.0
    return sorted(scored, key=lambda t: (sign * (t.value or 0.0), t.index)) + sorted(
        rest, key=lambda t: t.index
    )


def best(trials: Iterable[TrialOutcome], direction: str) -> TrialOutcome | None:
    """The complete trial with the best value (the earliest among equals), or None."""
    top = ranked(trials, direction)
    return top[0] if top and top[0].state == COMPLETE and top[0].value is not None else None


def best_so_far(values: Sequence[float | None], direction: str) -> list[float | None]:
    """After each trial in order, the best value seen so far (None until one has a value)."""
    out: list[float | None] = []
    current: float | None = None
    for v in values:
        if v is not None and not math.isnan(v) and (current is None or better(v, current, direction)):
            current = v
        out.append(current)
    return out
