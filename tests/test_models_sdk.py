"""log_model / load_model / load_predictor through a run's artifacts on the embedded SQLite store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import assay
from assay.errors import Conflict, InvalidInput, InvalidState, NotFound
from assay.models import read_model_descriptor, save_model
from assay.sdk import model_artifacts

X, Y = load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(X, Y)


def test_a_model_logged_in_the_active_run_loads_through_its_runs_uri(sqlite_uri: str, model: Any) -> None:
    with assay.start_run() as run:
        info = assay.log_model(model, input_example=X[:3])
    assert (info.run_id, info.artifact_path, info.uri) == (run.id, "model", f"runs:/{run.id}/model")
    assert info.flavor == "sklearn"
    assert info.signature is not None and info.signature["inputs"]["shape"] == [-1, 4]
    listed = {f.path for f in assay.list_artifacts(run.id, "model")}
    assert listed == {"model/assay-model.yaml", "model/model.skops"}
    loaded = assay.load_model(info.uri)
    assert type(loaded) is LogisticRegression
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    predictor = assay.load_predictor(f"runs:/{run.id}/model")
    np.testing.assert_array_equal(predictor.predict(X), model.predict(X))
    np.testing.assert_array_equal(predictor.predict_proba(X[:2]), model.predict_proba(X[:2]))
    with pytest.raises(InvalidInput, match=r"input has shape \(2, 3\)"):
        predictor.predict(X[:2, :3])


def test_log_model_through_a_client_and_a_run_id(sqlite_uri: str, model: Any) -> None:
    client = assay.Client()
    exp = client.get_or_create_experiment("models")
    run = client.create_run(exp.experiment_id)
    info = assay.log_model(model, name="clf/v1", run_id=run.run_id, client=client)
    assert info.uri == f"runs:/{run.run_id}/clf/v1"
    got = assay.load_predictor(info.uri, client=client)
    np.testing.assert_array_equal(got.predict(X), model.predict(X))
    with pytest.raises(Conflict, match=r"already has a model at 'clf/v1': log this one under another name"):
        assay.log_model(model, name="clf/v1", run_id=run.run_id, client=client)


def test_log_model_needs_a_run(sqlite_uri: str, model: Any) -> None:
    with pytest.raises(InvalidState, match="no active run"):
        assay.log_model(model)
    with assay.start_run(), pytest.raises(InvalidInput, match="a model needs a name"):
        assay.log_model(model, name="")


def test_a_download_is_cached_and_fetched_again_when_the_model_changes(
    sqlite_uri: str, model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with assay.start_run() as run:
        info = assay.log_model(model)
    first = model_artifacts.local_model_dir(info.uri, assay.Client())
    assert first == model_artifacts.cache_dir() / run.id / "model"
    assert (first / "assay-model.yaml").is_file()

    def no_download(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("downloaded again")

    with monkeypatch.context() as m:
        m.setattr(assay.Client, "download_artifacts", no_download)
        np.testing.assert_array_equal(assay.load_model(info.uri).predict(X), model.predict(X))

    # The same path logged again with another model (here: by hand, as another process might).
    tree = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, Y)
    other = Path(assay.get_tracking_uri()).parent / "other"
    save_model(tree, other)
    client = assay.Client()
    for child in other.iterdir():
        client.log_artifact(run.id, child, "model")
    with pytest.raises(
        InvalidInput, match=r"not trusted by default: sklearn\.tree\._tree\.Tree \(scikit-learn's"
    ):
        assay.load_model(info.uri)
    reloaded = assay.load_model(info.uri, trusted_types=["sklearn.tree._tree.Tree"])
    assert type(reloaded) is DecisionTreeClassifier
    assert read_model_descriptor(first).model_class.endswith("DecisionTreeClassifier")


def test_local_paths_and_what_is_not_a_model(sqlite_uri: str, tmp_path: Path, model: Any) -> None:
    save_model(model, tmp_path / "local")
    np.testing.assert_array_equal(assay.load_model(str(tmp_path / "local")).predict(X), model.predict(X))
    np.testing.assert_array_equal(assay.load_predictor(tmp_path / "local").predict(X), model.predict(X))
    with assay.start_run() as run:
        assay.log_text("not a model", "notes/readme.md")
    with pytest.raises(NotFound, match=rf"runs:/{run.id}/notes is not a model logged by assay"):
        assay.load_model(f"runs:/{run.id}/notes")
    with pytest.raises(InvalidInput, match="is not a run id"):
        assay.load_model("runs:/../model")


def test_pickled_models_in_runs_still_need_trust(sqlite_uri: str, model: Any) -> None:
    with assay.start_run():
        info = assay.log_model(model, name="pickled", serialization="pickle")
    assert info.descriptor.serialization == "pickle"
    with pytest.raises(InvalidInput, match="trust_pickle=True"):
        assay.load_model(info.uri)
    np.testing.assert_array_equal(assay.load_model(info.uri, trust_pickle=True).predict(X), model.predict(X))
