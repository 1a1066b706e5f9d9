"""The scikit-learn hook: ``fit``, ``fit_transform`` and ``fit_predict`` of every estimator class.

Classes are patched where they are defined: each ``sklearn.*`` module, once imported, has the methods its
``BaseEstimator`` subclasses define themselves wrapped (inherited ones then inherit the wrapper), so no
module of scikit-learn is imported for autolog's sake. A Pipeline or a search calling its steps' fits is
logged once, as the outermost fit (``assay.autolog._session``).

Each logged fit records:

- params: ``get_params(deep=True)``, values as text (a Pipeline's steps as ``<step>__<param>``);
- tags: ``estimator_name`` and ``estimator_class``;
- metrics on the training data: classifiers ``training_accuracy``, ``training_precision``,
  ``training_recall``, ``training_f1`` (weighted over classes), ``training_log_loss`` and
  ``training_roc_auc`` (with ``predict_proba``); regressors ``training_r2``, ``training_mse``,
  ``training_rmse``, ``training_mae``; both ``training_score`` (the estimator's own ``score``);
- GridSearchCV/RandomizedSearchCV: ``best_<param>`` params, the ``best_cv_score`` metric, all candidates
  in ``cv_results.json``, and the ``max_tuning_runs`` best candidates as child runs with their CV scores;
- the fitted model (a search's ``best_estimator_``) under "model", the first rows of X as input example;
- the training data as a dataset (``log_datasets``), and an evaluation on the data of an enclosing
  ``assay.autolog.holdout(X_val, y_val)`` block.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from assay.autolog import _session
from assay.autolog._hooks import Patches
from assay.autolog._session import Session

METHODS = ("fit", "fit_transform", "fit_predict")
EXAMPLE_ROWS = 5


def install(module: ModuleType, patches: Patches) -> None:
    """Wrap the fit methods of the estimator classes ``module`` defines."""
    # No estimator class can exist before sklearn.base has defined BaseEstimator (modules it imports
    # while it runs come here first).
    estimator = getattr(sys.modules.get("sklearn.base"), "BaseEstimator", None)
    if estimator is None:
        return
    for obj in list(vars(module).values()):
        if not (isinstance(obj, type) and obj.__module__ == module.__name__):
            continue
        if not issubclass(obj, estimator):
            continue
        for name in METHODS:
            value = vars(obj).get(name)
            if inspect.isfunction(value):
                patches.wrap(obj, name, _wrap)
            elif _is_available_if(value):
                patches.wrap(obj, name, _wrap_available_if)


def _is_available_if(value: Any) -> bool:
    """scikit-learn's ``available_if`` descriptor (a Pipeline's ``fit_transform``): a method that exists
    only when a check passes, rebuilt around the wrapped function so the check still applies."""
    return all(hasattr(value, a) for a in ("fn", "check", "attribute_name")) and inspect.isfunction(value.fn)


def _wrap_available_if(descriptor: Any) -> Any:
    return type(descriptor)(_wrap(descriptor.fn), descriptor.check, descriptor.attribute_name)


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _session.train(
            "sklearn",
            lambda _s: original(self, *args, **kwargs),
            before=lambda s: log_estimator_params(s, self),
            after=lambda s, _result: log_fit_results(s, self, *_fit_data(original, self, args, kwargs)),
            tags=estimator_tags(self),
        )

    return fit


def _fit_data(original: Callable[..., Any], est: Any, args: Any, kwargs: Any) -> tuple[Any, Any, Any]:
    """(X, y, sample_weight) of a fit call, whatever the method names them."""
    try:
        bound = inspect.signature(original).bind(est, *args, **kwargs).arguments
    except TypeError:
        return (args[0] if args else None), (args[1] if len(args) > 1 else None), None
    extra = bound.get("params") or bound.get("fit_params") or bound.get("kwargs") or {}
    X = bound.get("X", bound.get("x"))
    y = bound.get("y", bound.get("Y"))
    weight = bound.get("sample_weight", extra.get("sample_weight") if isinstance(extra, dict) else None)
    return X, y, weight


def estimator_tags(est: Any) -> dict[str, str]:
    cls = type(est)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__qualname__}"}


def log_estimator_params(session: Session, est: Any, skip_none: bool = False) -> None:
    session.params(est.get_params(deep=True), skip_none=skip_none)


def log_fit_results(session: Session, est: Any, X: Any, y: Any, sample_weight: Any = None) -> None:
    """What every scikit-learn-style fit logs after training: metrics, search results, holdout, model."""
    if y is not None and X is not None:
        session.metrics(training_metrics(est, X, y, sample_weight))
    if hasattr(est, "cv_results_"):
        session.safely("the search results", _log_search, session, est)
    session.holdout(est)
    session.dataset(X, "training", "training")
    model = getattr(est, "best_estimator_", None) if hasattr(est, "cv_results_") else est
    if model is not None:
        session.model(model, head(X))


def head(X: Any, n: int = EXAMPLE_ROWS) -> Any:
    """The first ``n`` rows of X (a DataFrame, an array, a list), or None for what has no rows to cut."""
    try:
        if hasattr(X, "iloc"):
            return X.iloc[:n]
        if isinstance(X, (list, tuple)):
            return list(X[:n])
        if hasattr(X, "shape") and len(X.shape) >= 1:
            return X[:n]
    except Exception:
        return None
    return None


def training_metrics(est: Any, X: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
    """Scores of a fitted classifier or regressor on its training data (each left out if it fails)."""
    from sklearn import metrics
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}

    def put(name: str, compute: Callable[[], Any]) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = float(compute())
        except Exception:
            return
        if math.isfinite(value):
            out[f"training_{name}"] = value

    sw = sample_weight
    if is_classifier(est) and hasattr(est, "predict"):
        pred = est.predict(X)
        put("accuracy", lambda: metrics.accuracy_score(y, pred, sample_weight=sw))
        for name, fn in (
            ("precision", metrics.precision_score),
            ("recall", metrics.recall_score),
            ("f1", metrics.f1_score),
        ):
            put(name, functools.partial(fn, y, pred, average="weighted", sample_weight=sw, zero_division=0))
        if hasattr(est, "predict_proba"):
            proba = est.predict_proba(X)
            classes = getattr(est, "classes_", None)
            put("log_loss", lambda: metrics.log_loss(y, proba, sample_weight=sw, labels=classes))
            if proba.ndim == 2 and proba.shape[1] == 2:
                put("roc_auc", lambda: metrics.roc_auc_score(y, proba[:, 1], sample_weight=sw))
            else:
                put(
                    "roc_auc",
                    lambda: metrics.roc_auc_score(
                        y, proba, multi_class="ovr", average="weighted", sample_weight=sw, labels=classes
                    ),
                )
    elif is_regressor(est) and hasattr(est, "predict"):
        pred = est.predict(X)
        put("mse", lambda: metrics.mean_squared_error(y, pred, sample_weight=sw))
        put("rmse", lambda: math.sqrt(metrics.mean_squared_error(y, pred, sample_weight=sw)))
        put("mae", lambda: metrics.mean_absolute_error(y, pred, sample_weight=sw))
        put("r2", lambda: metrics.r2_score(y, pred, sample_weight=sw))
    else:
        return out
    put("score", lambda: est.score(X, y) if sw is None else est.score(X, y, sample_weight=sw))
    return out


# ---- searches ---------------------------------------------------------------------------------------------


def _log_search(session: Session, search: Any) -> None:
    results = search.cv_results_
    best = getattr(search, "best_params_", None)
    if best:
        session.params({f"best_{k}": v for k, v in best.items()})
    score = getattr(search, "best_score_", None)
    if score is not None:
        session.metrics({"best_cv_score": score})
    session.log_dict(_plain_results(results), "cv_results.json")
    refit = getattr(search, "refit", True)
    rank_key = f"rank_test_{refit}" if isinstance(refit, str) else "rank_test_score"
    ranks = results.get(rank_key)
    if ranks is None or session.config.max_tuning_runs == 0:
        return
    order = np.argsort(np.asarray(ranks), kind="stable")[: session.config.max_tuning_runs]
    name = type(getattr(search, "estimator", search)).__name__
    scores = [k for k in results if k.startswith(("mean_", "std_", "rank_"))]
    for i in order.tolist():
        session.child_run(
            f"{name}-{i}",
            results["params"][i],
            {k: results[k][i] for k in scores},
        )
    session.tags({"assay.autolog.child_runs": len(order)})


def _plain_results(results: dict[str, Any]) -> dict[str, Any]:
    """``cv_results_`` as JSON-ready lists (masked entries as null, objects as text)."""
    out: dict[str, Any] = {}
    for k, values in results.items():
        items = values.tolist() if hasattr(values, "tolist") else list(values)
        out[k] = [_plain(v) for v in items]
    return out


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
