"""What the compare view draws, computed on the server: downsampled curves, the diff table, the dimensions.

``build`` reads each run once and each (run, metric) series once, thins every series to ``max_points``
buckets (``assay.series``) and returns plain data the page embeds as JSON: the browser only draws.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.entities import Run
from assay.errors import InvalidInput
from assay.fmt import MISSING, fmt_number
from assay.services.tracking import Tracking

MAX_RUNS = 50
#: Colors of the runs, in order (a color-blind-safe qualitative palette, repeated past its end).
PALETTE = (
    "#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#000000",
    "#ee7733", "#0077bb", "#33bbee", "#009988", "#cc3311", "#ee3377",
)  # fmt: skip


def run_labels(runs: Sequence[Run]) -> list[str]:
    """Each run's name, followed by its short id when another run shown beside it has the same name
    (three runs called ``logreg`` would otherwise read ``logreg``, ``logreg``, ``logreg`` in a legend)."""
    counts = Counter(r.info.name for r in runs)
    return [f"{r.info.name} · {r.id[:8]}" if counts[r.info.name] > 1 else r.info.name for r in runs]


@dataclass(frozen=True, slots=True)
class DiffRow:
    key: str
    cells: list[str]
    differs: bool


@dataclass
class Comparison:
    runs: list[Run]
    colors: list[str]
    #: What legends and column heads call each run: its name, with its short id when names collide.
    labels: list[str] = field(default_factory=list)
    params: list[DiffRow] = field(default_factory=list)
    metrics: list[DiffRow] = field(default_factory=list)
    series: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dimensions: list[dict[str, Any]] = field(default_factory=list)


def _rows(keys: Sequence[str], values: list[dict[str, str]]) -> list[DiffRow]:
    rows = []
    for k in keys:
        cells = [v.get(k, MISSING) for v in values]
        rows.append(DiffRow(k, cells, len(set(cells)) > 1))
    return rows


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def build(service: Tracking, run_ids: Sequence[str], max_points: int = 1000) -> Comparison:
    """The comparison of 2 to 50 runs (InvalidInput otherwise); NotFound for an unknown run."""
    ids = list(dict.fromkeys(run_ids))
    if not 2 <= len(ids) <= MAX_RUNS:
        raise InvalidInput(f"compare 2 to {MAX_RUNS} runs: select them in the runs table ({len(ids)} given)")
    runs = [service.get_run(r) for r in ids]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(runs))]
    out = Comparison(runs, colors, run_labels(runs))
    param_keys = sorted({k for r in runs for k in r.params})
    metric_keys = sorted(
        {k for r in runs for k in r.metric_summaries}, key=lambda k: (k.startswith("system/"), k)
    )
    out.params = _rows(param_keys, [dict(r.params) for r in runs])
    summaries = [{k: fmt_number(s.last) for k, s in r.metric_summaries.items()} for r in runs]
    out.metrics = _rows(metric_keys, summaries)
    # Curves only for series: a metric logged once per run is a number, shown in the table and the
    # parallel coordinates instead of an empty chart.
    curve_keys = [
        k
        for k in metric_keys
        if any(r.metric_summaries[k].num_points > 1 for r in runs if k in r.metric_summaries)
    ]
    for key in curve_keys:
        curves = []
        for r in runs:
            if key not in r.metric_summaries:
                continue
            d = service.get_metric_series(r.id, key, max_points)
            curves.append(
                {
                    "run": r.id,
                    "start": r.info.start_time,
                    "steps": d.steps,
                    "timestamps": d.timestamps,
                    "last": d.last,
                    "min": d.min,
                    "max": d.max,
                    "downsampled": d.downsampled,
                    "total": d.total,
                }
            )
        out.series[key] = curves
    # Parallel coordinates: every param whose values are all numbers, then every metric's last value.
    for row in out.params:
        nums = [_number(c) for c in row.cells]
        if all(n is not None for n in nums):
            out.dimensions.append({"label": f"params.{row.key}", "values": nums})
    for key in metric_keys:
        if key.startswith("system/"):
            continue
        vals = [r.metric_summaries[key].last if key in r.metric_summaries else None for r in runs]
        out.dimensions.append({"label": f"metrics.{key}", "values": vals})
    return out
