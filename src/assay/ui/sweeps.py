"""The sweep page of a sweep's parent run: its trials (best first, the best highlighted), a parallel-
coordinates plot of the searched params against the objective, and the optimization history (the
objective of each trial in the order they ended, with the best-so-far line).

``build`` reads the parent and its children once (a page of up to ``MAX_TRIALS`` runs) and returns plain
data the page embeds as JSON; the browser only draws.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from assay.entities import Run
from assay.errors import NotFound
from assay.runner.sweeps import config as c
from assay.runner.sweeps.outcome import best_so_far
from assay.services.tracking import Tracking
from assay.web.auth import Svc

MAX_TRIALS = 5000
router = APIRouter(include_in_schema=False)


@dataclass
class Trial:
    index: int
    run: Run
    state: str
    value: float | None
    params: dict[str, Any]


@dataclass
class SweepView:
    parent: Run
    method: str
    metric: str | None
    direction: str
    names: list[str]
    #: best first (complete trials with a value by it), then the others by number
    trials: list[Trial] = field(default_factory=list)
    best_run_id: str | None = None


def _state(run: Run) -> str:
    found = run.tags.get(c.STATE_TAG)
    if found:
        return found
    return "RUNNING" if run.info.status.value == "RUNNING" else run.info.status.value


def build(service: Tracking, parent_run_id: str) -> SweepView:
    """The sweep of ``parent_run_id``; NotFound if the run is not a sweep's parent."""
    parent = service.get_run(parent_run_id)
    method = parent.tags.get(c.SWEEP_TAG)
    if method is None:
        raise NotFound(f"run {parent_run_id} is not a sweep's parent run")
    metric = parent.params.get("sweep.metric")
    direction = parent.params.get("sweep.direction", c.MINIMIZE)
    names = [k[len("space.") :] for k in parent.params if k.startswith("space.")]
    runs = service.search_runs(
        [parent.info.experiment_id],
        filter=f"attributes.parent_run_id = '{parent.id}'",
        max_results=MAX_TRIALS,
    )
    trials = []
    for run in runs:
        try:
            index = int(run.tags[c.TRIAL_TAG])
            params = json.loads(run.tags.get(c.PARAMS_TAG, "{}"))
        except (KeyError, ValueError):
            continue
        summary = run.metric_summaries.get(metric) if metric else None
        trials.append(Trial(index, run, _state(run), None if summary is None else summary.last, params))
    sign = -1.0 if direction == c.MAXIMIZE else 1.0

    def rank(t: Trial) -> tuple[int, float, int]:
        scored = t.state == "COMPLETE" and t.value is not None and not math.isnan(t.value)
        return (0, sign * (t.value or 0.0), t.index) if scored else (1, 0.0, t.index)

    trials.sort(key=rank)
    view = SweepView(parent, method, metric, direction, names, trials)
    view.best_run_id = parent.tags.get(c.BEST_RUN_TAG) or (
        trials[0].run.id if trials and rank(trials[0])[0] == 0 else None
    )
    return view


def _axis(values: list[Any]) -> dict[str, Any]:
    """A parallel-coordinates axis: numbers as they are, anything else as ticks at 0, 1, 2..."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values if v is not None):
        return {"values": values}
    labels = sorted({json.dumps(v) for v in values})
    return {"values": [labels.index(json.dumps(v)) for v in values], "tickvals": list(range(len(labels))),
            "ticktext": [json.loads(x) if isinstance(json.loads(x), str) else x for x in labels]}  # fmt: skip


def chart_data(view: SweepView) -> dict[str, Any]:
    """What the page's charts draw: the parallel coordinates and the optimization history."""
    scored = [t for t in view.trials if t.value is not None and t.state == "COMPLETE"]
    dims = [{"label": n, **_axis([t.params.get(n) for t in scored])} for n in view.names]
    if view.metric:
        dims.append({"label": view.metric, "values": [t.value for t in scored]})
    ended = sorted(
        (t for t in view.trials if t.run.info.end_time is not None),
        key=lambda t: (t.run.info.end_time, t.index),
    )
    values = [t.value if t.state == "COMPLETE" else None for t in ended]
    return {
        "metric": view.metric,
        "direction": view.direction,
        "dimensions": dims,
        "objective": [t.value for t in scored],
        "history": {
            "order": list(range(1, len(ended) + 1)),
            "trial": [t.index for t in ended],
            "value": values,
            "best": best_so_far(values, view.direction),
            "run": [t.run.id for t in ended],
        },
    }


@router.get("/runs/{run_id}/sweep", response_class=HTMLResponse)
def sweep_page(request: Request, run_id: str, svc: Svc) -> HTMLResponse:
    """A sweep: its trials table, parallel coordinates of params and objective, optimization history."""
    from assay.ui.views import _json_for_script, _page

    view = build(svc.tracking, run_id)
    exp = svc.tracking.get_experiment(view.parent.info.experiment_id)
    return _page(
        request, "sweep.html", svc, view=view, experiment=exp, data=_json_for_script(chart_data(view))
    )
