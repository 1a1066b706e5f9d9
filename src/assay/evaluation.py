"""Model evaluation as structured results: what ``assay.evaluate`` computes, logs, and the UI draws.

``evaluate_model(model, X, y)`` detects the task (a model with ``predict_proba`` and few distinct targets is
a classifier, anything else a regressor) and returns an ``Evaluation``: scalar metrics plus plot-ready
curves, all computed here with numpy, so no plotting or ML library is needed at logging time:

- classification: accuracy, the confusion matrix, ROC and precision-recall curves with their AUC and
  average precision (one-vs-rest per class when there are more than two), and the calibration curve;
- regression: RMSE, MAE, R², residuals and predicted-vs-actual (sampled to 2,000 points), an error histogram;
- any model with ``feature_importances_`` (tree ensembles) or ``coef_`` (linear models): per-feature values.

Curves are thinned to at most ``MAX_CURVE_POINTS`` points so a logged evaluation stays small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput

MAX_CURVE_POINTS = 500
MAX_SCATTER_POINTS = 2000
MAX_CLASSES = 20
FArray = npt.NDArray[np.float64]


@dataclass
class Evaluation:
    """Scalar ``metrics`` and plot-ready ``plots`` (JSON-ready dicts, each with a ``kind``)."""

    task: str
    metrics: dict[str, float] = field(default_factory=dict)
    plots: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "metrics": self.metrics, "plots": self.plots}


def _thin(*arrays: FArray, limit: int = MAX_CURVE_POINTS) -> list[list[float]]:
    """Evenly spaced points of equally long arrays, first and last kept."""
    n = arrays[0].shape[0]
    idx = (
        np.unique(np.linspace(0, n - 1, min(n, limit)).astype(np.int64))
        if n
        else np.array([], dtype=np.int64)
    )
    return [np.round(a[idx].astype(float), 6).tolist() for a in arrays]


def roc_curve(y_true: npt.NDArray[np.bool_], score: FArray) -> tuple[FArray, FArray, float]:
    """(false positive rates, true positive rates, area under the curve) for a binary target."""
    order = np.argsort(-score, kind="mergesort")
    y, s = y_true[order], score[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]  # last index of each distinct score
    tps = np.cumsum(y)[distinct].astype(float)
    fps = (distinct + 1 - tps).astype(float)
    pos, neg = tps[-1] if tps.size else 0.0, fps[-1] if fps.size else 0.0
    if pos == 0 or neg == 0:
        raise InvalidInput("ROC needs both classes in y: evaluate on data that holds positives and negatives")
    tpr, fpr = np.r_[0.0, tps / pos], np.r_[0.0, fps / neg]
    return fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def pr_curve(y_true: npt.NDArray[np.bool_], score: FArray) -> tuple[FArray, FArray, float]:
    """(recall, precision, average precision) for a binary target."""
    order = np.argsort(-score, kind="mergesort")
    y, s = y_true[order], score[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tps = np.cumsum(y)[distinct].astype(float)
    predicted = (distinct + 1).astype(float)
    precision, recall = tps / predicted, tps / max(tps[-1], 1.0)
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return np.r_[0.0, recall], np.r_[1.0, precision], ap


def calibration(y_true: npt.NDArray[np.bool_], prob: FArray, bins: int = 10) -> tuple[FArray, FArray, FArray]:
    """(mean predicted probability, fraction of positives, count) per non-empty probability bin."""
    which = np.clip((prob * bins).astype(np.int64), 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(float)
    mean_p = np.bincount(which, weights=prob, minlength=bins)
    frac = np.bincount(which, weights=y_true.astype(float), minlength=bins)
    keep = count > 0
    return mean_p[keep] / count[keep], frac[keep] / count[keep], count[keep]


def _feature_names(model: Any, X: Any, n: int) -> list[str]:
    names = getattr(X, "columns", None)
    if names is None:
        names = getattr(model, "feature_names_in_", None)
    return [str(x) for x in names] if names is not None and len(names) == n else [f"x{i}" for i in range(n)]


def _importances(model: Any, X: Any) -> dict[str, Any] | None:
    values = getattr(model, "feature_importances_", None)
    kind = "feature_importance"
    if values is None:
        coef = getattr(model, "coef_", None)
        if coef is None:
            return None
        values = np.asarray(coef, dtype=float)
        values = np.abs(values).mean(axis=0) if values.ndim > 1 else values
        kind = "coefficients"
    arr = np.asarray(values, dtype=float).ravel()
    names = _feature_names(model, X, arr.size)
    order = np.argsort(-np.abs(arr))[:50]
    return {"kind": kind, "features": [names[i] for i in order], "values": np.round(arr[order], 6).tolist()}


def _is_classification(model: Any, y: npt.NDArray[Any]) -> bool:
    if not hasattr(model, "predict_proba"):
        return False
    if y.dtype.kind in "OUSb":
        return True
    return y.dtype.kind in "iu" or bool(np.all(np.mod(y, 1) == 0) and np.unique(y).size <= MAX_CLASSES)


def evaluate_model(model: Any, X: Any, y: Any, task: str | None = None) -> Evaluation:
    """Evaluate a fitted model (scikit-learn API: ``predict``, and ``predict_proba`` for classifiers)."""
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or y_arr.size == 0:
        raise InvalidInput(f"y must be a non-empty 1-d array of targets, got shape {y_arr.shape}")
    if not hasattr(model, "predict"):
        raise InvalidInput(f"{type(model).__name__} has no predict(): evaluate a fitted model")
    task = task or ("classification" if _is_classification(model, y_arr) else "regression")
    if task not in ("classification", "regression"):
        raise InvalidInput(f"task must be 'classification' or 'regression', got {task!r}")
    ev = _classification(model, X, y_arr) if task == "classification" else _regression(model, X, y_arr)
    imp = _importances(model, X)
    if imp is not None:
        ev.plots.append(imp)
    return ev


def _classification(model: Any, X: Any, y: npt.NDArray[Any]) -> Evaluation:
    pred = np.asarray(model.predict(X))
    classes = np.asarray(getattr(model, "classes_", np.unique(np.r_[y, pred])))
    if classes.size > MAX_CLASSES:
        raise InvalidInput(
            f"{classes.size} classes: evaluate() draws at most {MAX_CLASSES} (pass task='regression'?)"
        )
    ev = Evaluation("classification", {"accuracy": float(np.mean(pred == y))})
    index = {c: i for i, c in enumerate(classes.tolist())}
    matrix = np.zeros((classes.size, classes.size), dtype=np.int64)
    for t, p in zip(y.tolist(), pred.tolist(), strict=True):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    labels = [str(c) for c in classes.tolist()]
    ev.plots.append({"kind": "confusion_matrix", "labels": labels, "matrix": matrix.tolist()})
    if not hasattr(model, "predict_proba"):
        return ev
    proba = np.asarray(model.predict_proba(X), dtype=float)
    positives = [1] if classes.size == 2 else list(range(classes.size))
    roc, pr, aucs, aps = [], [], [], []
    for k in positives:
        truth = y == classes[k]
        if truth.all() or not truth.any():
            continue
        fpr, tpr, auc = roc_curve(truth, proba[:, k])
        recall, precision, ap = pr_curve(truth, proba[:, k])
        x, yy = _thin(fpr, tpr)
        roc.append({"label": labels[k], "fpr": x, "tpr": yy, "auc": round(auc, 6)})
        x, yy = _thin(recall, precision)
        pr.append({"label": labels[k], "recall": x, "precision": yy, "ap": round(ap, 6)})
        aucs.append(auc)
        aps.append(ap)
    if roc:
        ev.metrics["roc_auc"] = float(np.mean(aucs))
        ev.metrics["average_precision"] = float(np.mean(aps))
        ev.plots.append({"kind": "roc", "curves": roc})
        ev.plots.append({"kind": "pr", "curves": pr})
    if classes.size == 2:
        mean_p, frac, count = calibration(y == classes[1], proba[:, 1])
        ev.plots.append(
            {
                "kind": "calibration",
                "predicted": _thin(mean_p)[0],
                "observed": _thin(frac)[0],
                "count": count.tolist(),
            }
        )
    return ev


def _regression(model: Any, X: Any, y: npt.NDArray[Any]) -> Evaluation:
    actual = y.astype(float)
    pred = np.asarray(model.predict(X), dtype=float).ravel()
    if pred.shape != actual.shape:
        raise InvalidInput(f"predict() gave {pred.shape[0]} values for {actual.shape[0]} targets")
    err = actual - pred
    ss_tot = float(np.sum((actual - actual.mean()) ** 2))
    ev = Evaluation(
        "regression",
        {
            "rmse": float(np.sqrt(np.mean(err**2))),
            "mae": float(np.mean(np.abs(err))),
            "r2": 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else float("nan"),
        },
    )
    idx = np.random.default_rng(0).permutation(actual.size)[:MAX_SCATTER_POINTS]
    a, p, e = (np.round(v[idx], 6).tolist() for v in (actual, pred, err))
    ev.plots.append({"kind": "predicted_vs_actual", "actual": a, "predicted": p})
    ev.plots.append({"kind": "residuals", "predicted": p, "residual": e})
    counts, edges = np.histogram(err, bins=min(50, max(5, actual.size // 20)))
    ev.plots.append(
        {"kind": "error_histogram", "edges": np.round(edges, 6).tolist(), "counts": counts.tolist()}
    )
    return ev
