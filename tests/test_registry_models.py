"""The registry with real models, end to end on every store: log a scikit-learn pipeline, register it,
promote it by rule, load it back by alias, evaluate it on new data into its performance history, and
find its training data by digest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import assay
from assay import InvalidState, NotFound
from assay.registry.entities import signature_columns


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


def _train(X: pd.DataFrame, y: np.ndarray, c: float) -> str:
    with assay.start_run(params={"C": c}) as run:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500)).fit(X[:300], y[:300])
        assay.log_dataset(X[:300], name="cancer-train")
        assay.evaluate(model, X[300:450], y[300:450], name="val")
        info = assay.log_model(model, "model", input_example=X[:5])
    assert info.uri == f"runs:/{run.id}/model"
    return info.uri


def test_log_register_promote_load_and_evaluate(
    tracking_uri: str, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    weak, strong = _train(X, y, 0.0005), _train(X, y, 1.0)
    v1 = assay.register_model(weak, "cancer")
    v2 = assay.register_model(strong, "cancer", description="C=1")
    assert (v1.version, v2.version, v2.flavor) == (1, 2, "sklearn")
    columns = signature_columns((v2.signature or {})["inputs"])
    assert [c["name"] for c in columns][:2] == ["mean radius", "mean texture"]
    reg = assay.Client().registry
    rule = "metrics.`val/roc_auc` >= champion.metrics.`val/roc_auc`"
    reg.promote("cancer", 1, "champion", rule=rule)
    if reg.version_metrics("cancer", 2)["val/roc_auc"] >= reg.version_metrics("cancer", 1)["val/roc_auc"]:
        reg.promote("cancer", 2, "champion", rule=rule, reason="stronger")
    else:  # pragma: no cover - the data makes C=1 the better model
        with pytest.raises(InvalidState):
            reg.promote("cancer", 2, "champion", rule=rule)
    champion = assay.load_model("models:/cancer@champion")
    expected = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500)).fit(X[:300], y[:300])
    np.testing.assert_array_equal(champion.predict(X[450:]), expected.predict(X[450:]))
    predictor = assay.load_predictor("models:/cancer/2")
    np.testing.assert_array_equal(predictor.predict(X[450:]), expected.predict(X[450:]))
    # Later evaluations on new data, with no run open, go into the version's performance history.
    ev = assay.evaluate(
        "models:/cancer@champion", X[450:], y[450:], name="holdout", dataset_name="cancer-new"
    )
    history = reg.performance_history("cancer", 2)
    assert [r.source for r in history] == ["training", "evaluation"]
    assert history[-1].metrics["holdout/accuracy"] == pytest.approx(ev.metrics["accuracy"])
    assert history[-1].dataset_name == "cancer-new" and history[-1].dataset_digest
    # The training data: the same digest from the same rows, found by search and on the lineage.
    lineage = reg.lineage("cancer", 2)
    (used,) = lineage.datasets
    again = assay.Client().registry.run_datasets(lineage.run_id or "")[0]
    assert used.dataset.digest == again.dataset.digest and used.dataset.rows == 300
    runs = assay.search_runs(filter=f"datasets.hash = '{used.dataset.digest}'")
    assert len(runs) == 2  # both trainings used the same 300 rows
    with pytest.raises(NotFound, match="no alias 'gold'"):
        assay.load_model("models:/cancer@gold")
