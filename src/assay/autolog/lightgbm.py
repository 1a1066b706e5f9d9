"""The LightGBM hook: ``lightgbm.train`` and the scikit-learn wrappers' ``fit`` (LGBMClassifier,
LGBMRegressor, LGBMRanker).

``train`` is patched where the wrappers call it too (``lightgbm.engine.train``, ``lightgbm.sklearn.train``),
so a wrapper's fit gets its evaluation results live, through a callback added to the call.

Each logged training records:

- params: ``lightgbm.train``'s ``params`` with ``num_boost_round``; a wrapper's ``get_params()`` without the
  unset (None) ones;
- per iteration, every evaluation result as ``eval/<dataset>/<metric>`` at step = iteration (0-based):
  ``eval/valid_0/binary_logloss`` for a wrapper's first ``eval_set``, ``eval/<name>/...`` for
  ``valid_sets`` named by ``valid_names``;
- ``best_iteration`` with early stopping (LightGBM's count, from 1: its point is at step
  ``best_iteration - 1``) with ``best/<dataset>/<metric>``, and ``stopped_iteration`` (the last one run, from 0);
- ``feature_importance.json``: "split" and "gain" importance per feature;
- the model (a Booster, or the wrapper) under "model"; a wrapper also gets the scikit-learn results
  (training metrics, holdout evaluation, dataset: see ``assay.autolog.sklearn``).
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from assay.autolog import _session
from assay.autolog._boosting import wrap_train
from assay.autolog._hooks import Patches
from assay.autolog._session import Session
from assay.autolog.sklearn import estimator_tags, head, log_fit_results

IMPORTANCE_TYPES = ("split", "gain")
_LIVE = "lightgbm.live"  # a wrapper's session notes that its inner train() should log iterations
_LAST = "lightgbm.last_iteration"


def install(module: ModuleType, patches: Patches) -> None:
    for name in ("lightgbm", "lightgbm.engine", "lightgbm.sklearn"):
        owner = sys.modules.get(name)
        if owner is not None and callable(getattr(owner, "train", None)):
            patches.wrap(owner, "train", _wrap_train)
    wrappers = sys.modules.get("lightgbm.sklearn")
    base = getattr(wrappers, "LGBMModel", None)
    if wrappers is None or base is None:
        return
    for cls in list(vars(wrappers).values()):
        if isinstance(cls, type) and issubclass(cls, base) and inspect.isfunction(vars(cls).get("fit")):
            patches.wrap(cls, "fit", _wrap_fit)


class IterationLogger:
    """A LightGBM callback logging each iteration's evaluation results as ``eval/<dataset>/<metric>``."""

    order = 15  # after LightGBM's own recording (10), before early stopping (30)
    before_iteration = False

    def __init__(self, session: Session) -> None:
        self.session = session

    def __call__(self, env: Any) -> None:
        values = {f"eval/{r[0]}/{r[1]}": r[2] for r in env.evaluation_result_list or ()}
        self.session.metrics(values, step=env.iteration)
        self.session.data[_LAST] = env.iteration


def _wrap_train(original: Callable[..., Any]) -> Callable[..., Any]:
    return wrap_train(
        original,
        "lightgbm",
        _LIVE,
        IterationLogger,
        _log_train_params,
        _log_booster,
        "lightgbm.basic.Booster",
    )


def _log_train_params(session: Session, bound: inspect.BoundArguments) -> None:
    params = dict(bound.arguments.get("params") or {})
    rounds = bound.arguments.get("num_boost_round", bound.signature.parameters["num_boost_round"].default)
    session.params({**params, "num_boost_round": rounds})


def _log_booster(session: Session, booster: Any, bound: inspect.BoundArguments) -> None:
    log_iterations(session, booster)
    session.model(booster, _dataset_head(bound.arguments.get("train_set")))


def log_iterations(session: Session, booster: Any) -> None:
    """Best and last iteration, best scores and feature importances of a trained Booster."""
    # The booster keeps the iterations up to the best one: the last one run is the callback's to tell.
    last = session.data.get(_LAST, booster.current_iteration() - 1)
    values: dict[str, Any] = {"stopped_iteration": last}
    if getattr(booster, "best_iteration", 0) > 0:
        values["best_iteration"] = booster.best_iteration
        for data, scores in (getattr(booster, "best_score", None) or {}).items():
            for metric, value in scores.items():
                values[f"best/{data}/{metric}"] = value
    session.metrics(values)
    names = booster.feature_name()
    importance: dict[str, Any] = {}
    for kind in IMPORTANCE_TYPES:
        scores = session.safely(f"{kind} importance", booster.feature_importance, importance_type=kind)
        if scores is not None:
            importance[kind] = {str(n): float(v) for n, v in zip(names, scores, strict=False)}
    if importance:
        session.log_dict(importance, "feature_importance.json")


def _dataset_head(train_set: Any) -> Any:
    """The first rows of a Dataset's raw data (for the signature), or None once LightGBM freed it."""
    try:
        return head(train_set.get_data())
    except Exception:
        return None


def _wrap_fit(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        def before(session: Session) -> None:
            session.params(self.get_params(), skip_none=True)
            session.data[_LIVE] = True

        def after(session: Session, _result: Any) -> None:
            session.data.pop(_LIVE, None)
            log_iterations(session, self.booster_)
            try:
                bound = dict(signature.bind(self, *args, **kwargs).arguments)
            except TypeError:
                bound = {}
            log_fit_results(session, self, bound.get("X"), bound.get("y"), bound.get("sample_weight"))

        return _session.train(
            "lightgbm", lambda _s: original(self, *args, **kwargs), before, after, tags=estimator_tags(self)
        )

    return fit
