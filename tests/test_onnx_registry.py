"""The ONNX bridge through the registry, end to end: `assay onnx convert` keeps the file, parity report and
latency card with the version; `assay onnx report` prints them; the version page shows them; the parity gate
lets the version onto a protected alias; `assay serve` answers from onnxruntime as the native model does."""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from typer.testing import CliRunner

import assay
from assay import bundle
from assay import onnx as assay_onnx
from assay.cli.main import app
from assay.server.app import create_app
from assay.server.testing import ServerThread
from assay.serving.app import create_serving_app
from assay.serving.source import ModelSource

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.slow

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

runner = CliRunner()


def _data(seed: int, n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"age": rng.uniform(18, 80, n), "plan": rng.choice(["free", "pro", "team"], n)})
    y = ((X["age"] > 45) ^ (X["plan"] == "pro")).to_numpy().astype(int)
    return X, y


@pytest.fixture
def version(sqlite_uri: str) -> tuple[str, Any]:
    X, y = _data(0)
    pre = make_column_transformer((StandardScaler(), ["age"]), (OneHotEncoder(), ["plan"]))
    model = make_pipeline(pre, LogisticRegression()).fit(X, y)
    with assay.start_run():
        info = assay.log_model(model, "model", input_example=X[:3])
    return assay.register_model(info.uri, "churn").uri, model


def test_convert_report_gate_page_and_serve(version: tuple[str, Any], tmp_path: Any) -> None:
    uri, model = version
    X, _ = _data(1)
    X.to_csv(tmp_path / "val.csv", index=False)
    registry = assay.Client().registry
    registry.set_alias_policy("default", "champion", protected=True)
    with pytest.raises(assay.InvalidState, match="never checked"):
        registry.set_alias("churn", "champion", 1)
    converted = runner.invoke(app, ["onnx", "convert", uri, "--data", str(tmp_path / "val.csv")])
    assert converted.exit_code == 0, (converted.stdout, converted.stderr)
    assert "parity PASSED" in converted.stdout and "latency" in converted.stdout
    printed = runner.invoke(app, ["onnx", "report", uri])
    assert printed.exit_code == 0 and "parity PASSED" in printed.stdout
    assert registry.version_reports("churn", 1)["parity"]["passed"] is True
    registry.set_alias("churn", "champion", 1)  # the gate opens once parity passed
    services = bundle.services()
    with TestClient(create_app(services), base_url="http://127.0.0.1") as http:
        page = http.get("/models/churn/versions/1").text
    assert 'id="parity"' in page and "passed" in page and 'id="latency"' in page
    source = ModelSource("models:/churn@champion", assay.Client())
    assert source.current.runtime == "onnxruntime"
    with ServerThread(app=create_serving_app(source)) as url, httpx.Client(base_url=url) as client:
        r = client.post("/predict", json={"records": X[:50].to_dict(orient="records")})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == model.predict(X[:50]).tolist()
        meta = client.get("/metadata").json()
        assert meta["runtime"] == "onnxruntime" and meta["parity"]["verdict"] == "passed"
        assert meta["latency"]["batches"][0]["rows"] == 1
        bad = client.post("/predict", json={"records": [{"age": 30}]})
        assert bad.status_code == 422 and "plan" in bad.json()["error"]["message"]


def test_a_tolerance_below_float32_fails_the_gate_readably(version: tuple[str, Any], tmp_path: Any) -> None:
    uri, _ = version
    no_data = runner.invoke(app, ["onnx", "convert", uri, "--no-latency"])
    assert no_data.exit_code == 1 and "data" in no_data.stderr and "Traceback" not in no_data.stderr
    _data(2)[0].to_csv(tmp_path / "val.csv", index=False)
    failed = runner.invoke(
        app,
        [
            "onnx",
            "convert",
            uri,
            "--data",
            str(tmp_path / "val.csv"),
            "-t",
            "probabilities.atol=0",
            "-t",
            "probabilities.rtol=0",
            "--no-latency",
        ],
    )
    assert failed.exit_code == 1
    assert "parity FAILED" in failed.stdout and "parity failed" in failed.stderr
    assert assay.Client().registry.version_reports("churn", 1)["parity"]["passed"] is False
    # The project's tolerances apply to every conversion; a conversion's own override them field by field.
    strict = runner.invoke(
        app, ["onnx", "tolerances", "-t", "probabilities.atol=0", "-t", "probabilities.rtol=0"]
    )
    assert strict.exit_code == 0 and "probabilities atol=0 rtol=0" in strict.stdout
    data = ["--data", str(tmp_path / "val.csv"), "--no-latency"]
    assert runner.invoke(app, ["onnx", "convert", uri, *data]).exit_code == 1
    eased = runner.invoke(app, ["onnx", "convert", uri, *data, "-t", "probabilities.atol=1e-5"])
    assert eased.exit_code == 0, eased.stdout
    assert "defaults" in runner.invoke(app, ["onnx", "tolerances", "--clear"]).stdout
    bad = runner.invoke(app, ["onnx", "convert", uri, "-t", "nonsense"])
    assert bad.exit_code == 2 and "OUTPUT.FIELD=NUMBER" in bad.stderr


def _flavor_model(flavor: str) -> tuple[Any, Any, Any]:
    """A small trained model of ``flavor``, its input rows, and its native predictions on them."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    if flavor == "xgboost":
        import xgboost

        model = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y)
        return model, X, model.predict(X)
    if flavor == "lightgbm":
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(X, y)
        return model, X, model.predict(X)
    if flavor == "torch":
        import torch

        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
        with torch.no_grad():
            return net, X, net(torch.from_numpy(X)).numpy()
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )
    return model, X, model.predict_on_batch(X)


@pytest.mark.parametrize("flavor", ["xgboost", "lightgbm", "torch", "keras"])
def test_every_flavor_converts_and_is_served_over_http(sqlite_uri: str, flavor: str) -> None:
    pytest.importorskip(flavor)
    model, X, native = _flavor_model(flavor)
    with assay.start_run():
        info = assay.log_model(model, "model", input_example=X[:5])
    version = assay.register_model(info.uri, flavor)
    result = assay_onnx.convert(version.uri, data=X, latency=False)
    assert result.passed, result.parity.render()
    source = ModelSource(f"models:/{flavor}/1", assay.Client())
    with ServerThread(app=create_serving_app(source)) as url, httpx.Client(base_url=url) as client:
        r = client.post("/predict", json={"inputs": X[:20].tolist()})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(np.asarray(r.json()["predictions"]), native[:20], atol=1e-4)
        wrong = client.post("/predict", json={"inputs": X[:2, :4].tolist()})
        assert wrong.status_code == 422, wrong.text
