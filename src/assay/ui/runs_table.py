"""The runs table of an experiment page: which columns to show, and each cell's text, from the URL's state.

Columns are field references of the search language (``metrics.acc``, ``params.lr``, ``tags.team``,
``attributes.start_time``) so a column header sorts by exactly what it shows. Without ``c=`` in the URL the
table shows the metrics and params found on the page (up to 6 each); the chooser offers every key on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assay.entities import Run, RunCount
from assay.fmt import MISSING, fmt_duration, fmt_number, fmt_time_ago

#: The attribute columns every table starts with (after the selection box and the run's name).
FIXED = ("attributes.status", "attributes.start_time", "attributes.duration", "attributes.user")
_LABELS = {
    "attributes.status": "status",
    "attributes.start_time": "started",
    "attributes.duration": "duration",
    "attributes.user": "user",
}
#: Sortable attribute names in the search language; duration is computed, so it does not sort.
_SORTABLE_ATTRIBUTES = {"attributes.status", "attributes.start_time", "attributes.user"}
DEFAULT_PER_KIND = 6


@dataclass(frozen=True, slots=True)
class Column:
    ref: str  # a field reference: metrics.acc, params.lr, tags.team, attributes.status
    label: str
    sortable: bool
    numeric: bool


def column(ref: str) -> Column:
    kind, _, key = ref.partition(".")
    if kind == "attributes":
        return Column(ref, _LABELS.get(ref, key), ref in _SORTABLE_ATTRIBUTES, False)
    return Column(ref, key, True, kind == "metrics")


def keys_on_page(runs: Sequence[Run]) -> dict[str, list[str]]:
    """Every metric, param and tag key of the page's runs (system metrics and assay.* tags last/hidden)."""
    metrics = sorted(
        {k for r in runs for k in r.metric_summaries}, key=lambda k: (k.startswith("system/"), k)
    )
    params = sorted({k for r in runs for k in r.params})
    tags = sorted({k for r in runs for k in r.tags if not k.startswith("assay.")})
    return {"metrics": metrics, "params": params, "tags": tags}


def choose_columns(chosen: Sequence[str], keys: dict[str, list[str]]) -> list[Column]:
    """The columns after the fixed ones: those in the URL, else a default from the page's keys."""
    if chosen:
        return [column(ref) for ref in chosen if "." in ref]
    metrics = [k for k in keys["metrics"] if not k.startswith("system/")][:DEFAULT_PER_KIND]
    return [column(f"metrics.{k}") for k in metrics] + [
        column(f"params.{k}") for k in keys["params"][:DEFAULT_PER_KIND]
    ]


def cell(run: Run, ref: str) -> str:
    """The text of one cell."""
    kind, _, key = ref.partition(".")
    if kind == "metrics":
        s = run.metric_summaries.get(key)
        return MISSING if s is None else fmt_number(s.last)
    if kind == "params":
        return run.params.get(key, MISSING)
    if kind == "tags":
        return run.tags.get(key, MISSING)
    info = run.info
    return {
        "status": info.status.value,
        "start_time": fmt_time_ago(info.start_time),
        "duration": fmt_duration(info.duration),
        "user": info.user,
    }.get(key, MISSING)


def count_text(count: RunCount) -> str:
    """``1,234 runs``; an estimate to two significant digits: ``about 1,200,000 runs``."""
    if count.exact:
        return f"{count.n:,} run" + ("" if count.n == 1 else "s")
    return f"about {round(count.n, 2 - len(str(count.n))):,} runs"


def next_order(current: Sequence[str], ref: str) -> str:
    """The order a click on ``ref``'s header asks for: descending first, then ascending, then back."""
    now = current[0] if current else ""
    if now == f"{ref} desc":
        return f"{ref} asc"
    return f"{ref} desc"


def sorted_by(current: Sequence[str], ref: str) -> str:
    """``"desc"``, ``"asc"`` or ``""``: how the table is sorted by ``ref``."""
    now = current[0] if current else ""
    if now in (f"{ref} desc", f"{ref} DESC"):
        return "desc"
    if now in (ref, f"{ref} asc", f"{ref} ASC"):
        return "asc"
    return ""
