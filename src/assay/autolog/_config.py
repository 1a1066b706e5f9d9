"""Autolog's settings: which frameworks are on, with what options, and the held-out data of the
``holdout`` block the code runs in. Plain data and the standard library only: ``import assay.autolog``
stays cheap."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from assay.errors import InvalidInput


@dataclass(frozen=True)
class Config:
    """The options ``assay.autolog(...)`` was called with, kept per framework."""

    log_models: bool = True
    log_input_examples: bool = True
    log_datasets: bool = True
    max_tuning_runs: int = 5
    silent: bool = False
    extra_tags: Mapping[str, str] = field(default_factory=dict)


_lock = threading.Lock()
_enabled: dict[str, Config] = {}


_last_run: list[str] = []  # the id of the run the last logged training went to


def last_run_id() -> str | None:
    """The id of the run the last training autolog logged went to (None before the first)."""
    return _last_run[-1] if _last_run else None


def remember_run(run_id: str) -> None:
    _last_run[:] = [run_id]


def settings(framework: str) -> Config | None:
    """The options of ``framework``'s hook, or None when it is off (read at each call: a wrapper left in
    place by someone else's patch passes calls through once autolog is off)."""
    return _enabled.get(framework)


def enable(framework: str, config: Config) -> None:
    with _lock:
        _enabled[framework] = config


def disable(framework: str) -> None:
    with _lock:
        _enabled.pop(framework, None)


@dataclass(frozen=True)
class Holdout:
    X: Any
    y: Any
    name: str


_holdout: ContextVar[Holdout | None] = ContextVar("assay_autolog_holdout", default=None)


def current_holdout() -> Holdout | None:
    return _holdout.get()


@contextmanager
def holdout(X: Any, y: Any, name: str = "holdout") -> Iterator[Holdout]:
    """Evaluate every model autolog logs in this block on the held-out ``(X, y)``.

    After each logged fit of a model with a scikit-learn ``predict`` (scikit-learn estimators, XGBoost and
    LightGBM wrappers), ``assay.evaluate(model, X, y, name=name)`` runs on the fit's run: metrics
    ``<name>/accuracy``, ``<name>/roc_auc``, ``<name>/rmse``... and the plots in ``evaluation/<name>.json``::

        with assay.autolog.holdout(X_val, y_val):
            model.fit(X_train, y_train)
    """
    if not name or "/" in name:
        raise InvalidInput(f"a holdout name is a plain name (it prefixes the metrics), not {name!r}")
    data = Holdout(X, y, name)
    token = _holdout.set(data)
    try:
        yield data
    finally:
        _holdout.reset(token)
