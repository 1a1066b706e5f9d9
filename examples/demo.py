"""The demo experiment of `make demo`: scikit-learn models over a small grid, each a tracked run.

Two experiments on scikit-learn's bundled datasets (no download): breast-cancer classification and
diabetes regression. Every run logs its params, metrics (with a learning curve for boosted models), a
figure and the fitted model's settings; automatic capture records git state and the environment.
Afterwards it prints the comparison tables that `assay runs ls` shows.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import assay

CLASSIFIERS = {
    "logreg": (
        lambda C: make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)),
        {"C": [0.1, 1.0, 10.0]},
    ),
    "rf": (
        lambda n_estimators, max_depth: RandomForestClassifier(
            n_estimators=n_estimators, max_depth=max_depth, random_state=0
        ),
        {"n_estimators": [50, 200], "max_depth": [4, None]},
    ),
    "gb": (
        lambda learning_rate, n_estimators: GradientBoostingClassifier(
            learning_rate=learning_rate, n_estimators=n_estimators, random_state=0
        ),
        {"learning_rate": [0.05, 0.2], "n_estimators": [100]},
    ),
}
REGRESSORS = {
    "ridge": (lambda alpha: make_pipeline(StandardScaler(), Ridge(alpha=alpha)), {"alpha": [0.1, 1.0, 10.0]}),
    "gb": (
        lambda learning_rate, max_depth: GradientBoostingRegressor(
            learning_rate=learning_rate, max_depth=max_depth, n_estimators=150, random_state=0
        ),
        {"learning_rate": [0.05, 0.1], "max_depth": [2, 3]},
    ),
}


def grid(space: dict[str, list[object]]) -> list[dict[str, object]]:
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*space.values())]


def run_name(model_name: str, params: dict[str, object]) -> str:
    """A name that says what differs between the runs of one model: ``rf n_estimators=50 max_depth=4``."""
    return " ".join([model_name, *(f"{k}={v}" for k, v in params.items())])


def classification() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    assay.set_experiment("breast-cancer")
    for model_name, (make, space) in CLASSIFIERS.items():
        for params in grid(space):
            with assay.start_run(
                name=run_name(model_name, params),
                params={"model": model_name, **params},
                tags={"task": "classification"},
            ):
                t0 = time.perf_counter()
                model = make(**params).fit(X_tr, y_tr)
                assay.log_metric("fit_seconds", time.perf_counter() - t0)
                if hasattr(model, "staged_predict_proba"):  # a learning curve, one point per boosting stage
                    for step, proba in enumerate(model.staged_predict_proba(X_te)):
                        assay.log_metric(
                            "test_logloss",
                            float(-np.mean(np.log(np.clip(proba[np.arange(len(y_te)), y_te], 1e-12, 1)))),
                            step=step,
                        )
                proba = model.predict_proba(X_te)[:, 1]
                pred = (proba >= 0.5).astype(int)
                assay.log_metrics(
                    {
                        "accuracy": accuracy_score(y_te, pred),
                        "f1": f1_score(y_te, pred),
                        "roc_auc": roc_auc_score(y_te, proba),
                    }
                )
                fig, ax = plt.subplots(figsize=(4, 4))
                ConfusionMatrixDisplay.from_predictions(y_te, pred, ax=ax, colorbar=False)
                assay.log_figure(fig, "confusion_matrix.png")
                plt.close(fig)
                assay.log_dict({k: repr(v) for k, v in model.get_params().items()}, "model/params.json")
                # Confusion matrix, ROC, PR, calibration, importances: drawn on the run page and compared.
                assay.evaluate(model, X_te, y_te, name="test")


def regression() -> None:
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    assay.set_experiment("diabetes")
    for model_name, (make, space) in REGRESSORS.items():
        for params in grid(space):
            with assay.start_run(
                name=run_name(model_name, params),
                params={"model": model_name, **params},
                tags={"task": "regression"},
            ):
                model = make(**params).fit(X_tr, y_tr)
                if hasattr(model, "staged_predict"):
                    for step, pred_s in enumerate(model.staged_predict(X_te)):
                        assay.log_metric(
                            "test_rmse", float(np.sqrt(mean_squared_error(y_te, pred_s))), step=step
                        )
                pred = model.predict(X_te)
                assay.log_metrics(
                    {
                        "rmse": float(np.sqrt(mean_squared_error(y_te, pred))),
                        "mae": mean_absolute_error(y_te, pred),
                        "r2": r2_score(y_te, pred),
                    }
                )
                assay.evaluate(model, X_te, y_te, name="test")  # residuals, predicted vs actual, errors


def main() -> None:
    print(f"assay demo: tracking into {assay.get_tracking_uri()}")
    classification()
    regression()
    assay.flush()
    cli = [sys.executable, "-m", "assay.cli.main"]
    print("\nBest classifiers by ROC AUC:")
    subprocess.run(
        [
            *cli,
            "runs",
            "ls",
            "-e",
            "breast-cancer",
            "-o",
            "metrics.roc_auc desc",
            "-c",
            "params.model,params.C,params.n_estimators,params.max_depth,params.learning_rate,metrics.roc_auc,metrics.accuracy,metrics.f1",
            "-n",
            "10",
        ],
        check=True,
    )
    print("\nRegressors with r2 > 0.3, best first:")
    subprocess.run(
        [
            *cli,
            "runs",
            "ls",
            "-e",
            "diabetes",
            "-f",
            "metrics.r2 > 0.3",
            "-o",
            "metrics.rmse asc",
            "-c",
            "params.model,params.alpha,params.learning_rate,params.max_depth,metrics.rmse,metrics.r2",
        ],
        check=True,
    )
    best = assay.search_runs(experiment="breast-cancer", order_by=["metrics.roc_auc desc"], max_results=2)
    print(f"\nCompare the two best: assay runs compare {best[0].id[:8]} {best[1].id[:8]}")
    ids = "&".join(f"run={r.id}" for r in best)
    print(f"or in the browser once the UI is up: http://127.0.0.1:5000/compare?{ids}")


if __name__ == "__main__":
    main()
