"""The XGBoost hook: ``xgboost.train`` and the scikit-learn wrappers' ``fit`` (XGBClassifier, XGBRegressor,
XGBRanker, XGBRF*).

``train`` is patched where the wrappers call it too (``xgboost.training.train``, ``xgboost.sklearn.train``),
so a wrapper's fit gets its evaluation metrics live, through a ``TrainingCallback`` added to the call.

Each logged training records:

- params: ``xgboost.train``'s ``params`` with ``num_boost_round`` (and ``early_stopping_rounds``,
  ``maximize`` when given); a wrapper's ``get_params()`` without the unset (None) ones;
- per iteration, every evaluation metric as ``eval/<dataset>/<metric>`` at step = iteration (0-based):
  ``eval/validation_0/logloss`` for a wrapper's first ``eval_set``, ``eval/<name>/...`` for ``evals``;
- ``best_iteration`` and ``best_score`` with early stopping, ``stopped_iteration`` (the last one);
- ``feature_importance.json``: the booster's importance per feature for "weight", "gain" and "cover";
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

from xgboost.callback import TrainingCallback

from assay.autolog import _session
from assay.autolog._boosting import wrap_train
from assay.autolog._hooks import Patches
from assay.autolog._session import Session
from assay.autolog.sklearn import estimator_tags, log_fit_results

IMPORTANCE_TYPES = ("weight", "gain", "cover")
_LIVE = "xgboost.live"  # a wrapper's session notes that its inner train() should log iterations


def install(module: ModuleType, patches: Patches) -> None:
    for name in ("xgboost", "xgboost.training", "xgboost.sklearn"):
        owner = sys.modules.get(name)
        if owner is not None and callable(getattr(owner, "train", None)):
            patches.wrap(owner, "train", _wrap_train)
    wrappers = sys.modules.get("xgboost.sklearn")
    base = getattr(wrappers, "XGBModel", None)
    if wrappers is None or base is None:
        return
    for cls in list(vars(wrappers).values()):
        if isinstance(cls, type) and issubclass(cls, base) and inspect.isfunction(vars(cls).get("fit")):
            patches.wrap(cls, "fit", _wrap_fit)


class IterationLogger(TrainingCallback):
    """Logs each iteration's evaluation results as ``eval/<dataset>/<metric>`` at step = iteration."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, Any]]) -> bool:
        values = {}
        for data, scores in evals_log.items():
            for metric, history in scores.items():
                if history:
                    last = history[-1]
                    values[f"eval/{data}/{metric}"] = last[0] if isinstance(last, tuple) else last
        self.session.metrics(values, step=epoch)
        return False  # go on training


def _wrap_train(original: Callable[..., Any]) -> Callable[..., Any]:
    return wrap_train(
        original, "xgboost", _LIVE, IterationLogger, _log_train_params, _log_booster, "xgboost.core.Booster"
    )


def _log_train_params(session: Session, bound: inspect.BoundArguments) -> None:
    args = bound.arguments
    params = dict(args.get("params") or {})
    params["num_boost_round"] = args.get(
        "num_boost_round", bound.signature.parameters["num_boost_round"].default
    )
    for name in ("early_stopping_rounds", "maximize"):
        if args.get(name) is not None:
            params[name] = args[name]
    session.params(params)


def _log_booster(session: Session, booster: Any, bound: inspect.BoundArguments) -> None:
    log_iterations(session, booster)
    session.model(booster, _dmatrix_head(bound.arguments.get("dtrain")))


def log_iterations(session: Session, booster: Any) -> None:
    """Best and last iteration, and the feature importances, of a trained Booster."""
    values: dict[str, Any] = {}
    if booster.attr("best_iteration") is not None:
        values["best_iteration"] = int(booster.attr("best_iteration"))
        if booster.attr("best_score") is not None:
            values["best_score"] = float(booster.attr("best_score"))
    values["stopped_iteration"] = booster.num_boosted_rounds() - 1
    session.metrics(values)
    importance: dict[str, Any] = {}
    for kind in IMPORTANCE_TYPES:
        scores = session.safely(f"{kind} importance", booster.get_score, importance_type=kind)
        if scores:
            importance[kind] = {str(k): float(v) for k, v in scores.items()}
    if importance:
        session.log_dict(importance, "feature_importance.json")


def _dmatrix_head(dtrain: Any) -> Any:
    """The first rows of a DMatrix as a dense float32 array (for the signature), or None."""
    try:
        return dtrain.get_data()[:5].toarray().astype("float32")
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
            log_iterations(session, self.get_booster())
            args_ = _bind(signature, self, args, kwargs)
            log_fit_results(session, self, args_.get("X"), args_.get("y"), args_.get("sample_weight"))

        return _session.train(
            "xgboost", lambda _s: original(self, *args, **kwargs), before, after, tags=estimator_tags(self)
        )

    return fit


def _bind(signature: inspect.Signature, est: Any, args: Any, kwargs: Any) -> dict[str, Any]:
    try:
        return dict(signature.bind(est, *args, **kwargs).arguments)
    except TypeError:
        return {}
