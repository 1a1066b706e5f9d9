"""assay.evaluate: the numbers agree with scikit-learn's, the results are logged, bad input is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

import assay
from assay.evaluation import evaluate_model, pr_curve, roc_curve


def _plot(ev: assay.Evaluation, kind: str) -> dict:  # type: ignore[type-arg]
    return next(p for p in ev.plots if p["kind"] == kind)


def test_binary_classification_matches_scikit_learn() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X[:400], y[:400])
    Xt, yt = X[400:], y[400:].to_numpy()
    ev = evaluate_model(model, Xt, yt)
    proba = model.predict_proba(Xt)[:, 1]
    assert ev.task == "classification"
    assert ev.metrics["accuracy"] == pytest.approx(skm.accuracy_score(yt, model.predict(Xt)))
    assert ev.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(yt, proba))
    assert ev.metrics["average_precision"] == pytest.approx(skm.average_precision_score(yt, proba))
    assert _plot(ev, "confusion_matrix")["matrix"] == skm.confusion_matrix(yt, model.predict(Xt)).tolist()
    roc = _plot(ev, "roc")["curves"][0]
    assert roc["fpr"][0] == 0.0 and roc["fpr"][-1] == 1.0 and roc["tpr"][-1] == 1.0
    calibration = _plot(ev, "calibration")
    assert sum(calibration["count"]) == len(yt)
    importance = _plot(ev, "feature_importance")
    assert importance["features"][0] in set(X.columns)  # named after the DataFrame's columns
    json.dumps(ev.to_json(), allow_nan=False)  # plain JSON


def test_multiclass_is_one_vs_rest() -> None:
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    ev = evaluate_model(model, X, y)
    assert [c["label"] for c in _plot(ev, "roc")["curves"]] == ["0", "1", "2"]
    expected = skm.roc_auc_score(y, model.predict_proba(X), multi_class="ovr", average="macro")
    assert ev.metrics["roc_auc"] == pytest.approx(expected)
    assert _plot(ev, "coefficients")["features"][0].startswith("x")


def test_regression_matches_scikit_learn() -> None:
    X, y = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(X[:300], y[:300])
    ev = evaluate_model(model, X[300:], y[300:])
    pred = model.predict(X[300:])
    assert ev.task == "regression"
    assert ev.metrics["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y[300:], pred)))
    assert ev.metrics["mae"] == pytest.approx(skm.mean_absolute_error(y[300:], pred))
    assert ev.metrics["r2"] == pytest.approx(skm.r2_score(y[300:], pred))
    assert sum(_plot(ev, "error_histogram")["counts"]) == len(pred)
    assert len(_plot(ev, "residuals")["residual"]) == len(pred)


def test_curves_with_ties_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    truth = rng.random(1000) < 0.3
    score = np.round(rng.random(1000), 1)  # many ties
    _, _, auc = roc_curve(truth, score)
    assert auc == pytest.approx(skm.roc_auc_score(truth, score))
    _, _, ap = pr_curve(truth, score)
    assert ap == pytest.approx(skm.average_precision_score(truth, score))


def test_evaluate_logs_metrics_and_the_plot_file(sqlite_uri: str) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=3000).fit(X, y)
    with assay.start_run() as run:
        ev = assay.evaluate(model, X, y, name="train")
    got = assay.get_run(run.id)
    assert got.metrics["train/accuracy"] == pytest.approx(ev.metrics["accuracy"])
    saved = json.loads(assay.Client().read_artifact(run.id, "evaluation/train.json"))
    assert saved["task"] == "classification" and {p["kind"] for p in saved["plots"]} >= {"roc", "pr"}


def test_bad_input_is_refused_clearly(sqlite_uri: str) -> None:
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    with pytest.raises(assay.InvalidInput, match="1-d array"):
        evaluate_model(model, [[0.0]], [[1.0]])
    with pytest.raises(assay.InvalidInput, match="no predict"):
        evaluate_model(object(), [[0.0]], [1.0])
    with pytest.raises(assay.InvalidInput, match="task must be"):
        evaluate_model(model, [[0.0]], [1.0], task="ranking")
    with assay.start_run(), pytest.raises(assay.InvalidInput, match="cannot contain '/'"):
        assay.evaluate(model, [[0.0]], [1.0], name="a/b")
