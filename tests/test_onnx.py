"""The ONNX bridge: every flavor converts and predicts as its native model (parity), the parity gate fails
readably when it should, the latency card is bounded, and a registered version keeps its ONNX and reports."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import assay
import assay.onnx
from assay.errors import InvalidInput, NotFound
from assay.onnx import (
    ConversionError,
    LatencyCard,
    OnnxInfo,
    OnnxPredictor,
    OnnxResult,
    ParityReport,
    Tolerance,
    convert_checked,
    convert_model,
    get_converter,
    native_predictor,
    register_converter,
    registered_converters,
)
from assay.onnx.parity import compare, resolve_tolerances

# ---- data ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def churn() -> tuple[pd.DataFrame, np.ndarray]:
    """A frame with a float, an int and a text column (names with a space and a dash, as real ones have)."""
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "age years": rng.normal(40, 10, n),
            "visits": rng.integers(0, 20, n),
            "plan-name": rng.choice(["free", "pro", "team"], n),
        }
    )
    y = ((frame["plan-name"] == "pro").to_numpy() ^ (frame["age years"] > 40).to_numpy()).astype(int)
    return frame, y


def _encoder() -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("num", StandardScaler(), ["age years", "visits"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan-name"]),
        ]
    )


def _checked(model: Any, X: Any, **kwargs: Any) -> OnnxResult:
    return convert_checked(native_predictor(model, X[:5]), X, latency=False, **kwargs)


def _same_predictions(result: OnnxResult, model: Any, X: Any) -> OnnxPredictor:
    predictor = result.predictor()
    np.testing.assert_array_equal(predictor.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_allclose(predictor.predict_proba(X), model.predict_proba(X), atol=1e-5)
    return predictor


# ---- scikit-learn ---------------------------------------------------------------------------------------


def test_a_classifier_converts_passes_parity_and_predicts_as_native(cancer: tuple[pd.DataFrame, Any]) -> None:
    X, y = cancer
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    result = _checked(model, X)
    assert result.passed, result.parity.render()
    info = result.info
    assert (info.flavor, info.task, info.precision) == ("sklearn", "classification", "float32")
    assert info.converter.startswith("skl2onnx.convert_sklearn (skl2onnx ")
    assert [o["name"] for o in info.outputs] == ["label", "probabilities"]  # ZipMap off: plain tensors
    assert [(i["name"], i["type"], i["shape"]) for i in info.inputs] == [("input", "float32", [-1, 30])]
    assert info.opsets["ai.onnx"] <= 21 and info.opsets["ai.onnx.ml"] <= 3
    labels = result.parity.output("label")
    assert (labels.label_agreement, labels.method) == (1.0, "predict")
    probabilities = result.parity.output("probabilities")
    assert probabilities.max_abs_error is not None and probabilities.max_abs_error < 1e-5
    predictor = _same_predictions(result, model, X)
    # Records, one record and a 2-D array take the same path as the DataFrame, checked by the signature.
    np.testing.assert_array_equal(predictor.predict(X.iloc[:3].to_dict("records")), model.predict(X.iloc[:3]))
    assert predictor.predict(X.iloc[0].to_dict()).tolist() == model.predict(X.iloc[:1]).tolist()
    np.testing.assert_array_equal(predictor.predict(X.to_numpy()[:7]), model.predict(X.iloc[:7]))
    with pytest.raises(InvalidInput, match="missing column 'worst symmetry'"):
        predictor.predict(X.drop(columns=["worst symmetry"]))
    record = {k: float(v) for k, v in X.iloc[3].items()}  # plain numbers: the shortcut past a DataFrame
    assert predictor.predict(record).tolist() == predictor.predict([record]).tolist() == [y[3]]
    with pytest.raises(InvalidInput, match="column 'mean radius' has dtype str, expected float64"):
        predictor.predict({**record, "mean radius": "large"})
    with pytest.raises(InvalidInput, match="unexpected column 'id'"):
        predictor.predict({**record, "id": 7})


def test_a_regressor_and_the_float64_gradient_boosting_case(diabetes: tuple[pd.DataFrame, Any]) -> None:
    """DESIGN.md: a GradientBoostingRegressor converted with float64 inputs does not load in onnxruntime
    (a double TreeEnsembleRegressor at ai.onnx.ml 3). float32 inputs, the default, work; asked for float64,
    the inputs stay double and are cast to float32 before the trees, as scikit-learn does."""
    X, y = diabetes
    model = GradientBoostingRegressor(n_estimators=50, random_state=0).fit(X, y)
    result = _checked(model, X)
    assert result.passed, result.parity.render()
    assert result.info.task == "regression" and [o["name"] for o in result.info.outputs] == ["prediction"]
    prediction = result.parity.output("prediction")
    assert prediction.max_rel_error is not None and prediction.max_rel_error < 1e-5
    predictor = result.predictor()
    assert predictor.predict(X[:4]).shape == (4,)  # as the native predict, not ONNX's (n, 1)
    np.testing.assert_allclose(predictor.predict(X), model.predict(X), rtol=1e-5)
    double = _checked(model, X, precision="float64")
    assert double.passed and double.info.precision == "float64"
    assert {i["type"] for i in double.info.inputs} == {"float64"}


def test_a_pipeline_with_a_column_transformer_takes_one_input_per_column(
    churn: tuple[pd.DataFrame, Any],
) -> None:
    X, y = churn
    model = Pipeline([("encode", _encoder()), ("model", LogisticRegression())]).fit(X, y)
    result = _checked(model, X)
    assert result.passed, result.parity.render()
    inputs = [(i["name"], i["type"], i["shape"]) for i in result.info.inputs]
    assert inputs == [
        ("age years", "float32", [-1, 1]),
        ("visits", "int64", [-1, 1]),
        ("plan-name", "str", [-1, 1]),
    ]
    predictor = _same_predictions(result, model, X)
    record = {"age years": 51.0, "visits": 3, "plan-name": "pro"}
    assert predictor.predict(record).tolist() == model.predict(pd.DataFrame([record])).tolist()
    with pytest.raises(InvalidInput, match="column 'visits' has dtype str"):
        predictor.predict(X.assign(visits="many"))


def test_float32_rounding_before_trees_fails_parity_and_auto_converts_again_in_float64(
    churn: tuple[pd.DataFrame, Any],
) -> None:
    """A float64 column rounded to float32 before the scaler can land on the other side of a split: the
    float32 ONNX then disagrees with the native model on some rows, and "auto" keeps the float64 one."""
    X, y = churn
    model = Pipeline([("encode", _encoder()), ("model", xgb.XGBClassifier(n_estimators=20))]).fit(X, y)
    single = _checked(model, X, precision="float32")
    assert not single.passed
    worst = single.parity.output("probabilities")
    assert worst.max_abs_error is not None and worst.max_abs_error > 1e-3 and worst.worst
    result = _checked(model, X)
    assert result.passed, result.parity.render()
    assert result.info.precision == "float64"
    assert (
        "float32 inputs failed parity (label: 1 rows with another label, probabilities: max abs error"
        in (result.info.notes[0])
    )
    _same_predictions(result, model, X)


def test_a_tolerance_below_float32_precision_fails_with_a_readable_report(
    diabetes: tuple[pd.DataFrame, Any],
) -> None:
    X, y = diabetes
    model = GradientBoostingRegressor(n_estimators=30, random_state=0).fit(X, y)
    result = _checked(model, X, tolerances={"prediction": {"atol": 1e-9, "rtol": 0.0}})
    assert not result.passed
    out = result.parity.output("prediction")
    assert out.tolerance == Tolerance(atol=1e-9, rtol=0.0, min_share=1.0)
    assert out.within_share < 0.5 and len(out.worst) == 5
    assert out.worst[0].error == out.max_abs_error
    text = result.parity.render()
    assert text.startswith("parity FAILED: native vs onnxruntime on 442 rows, float32 inputs")
    assert "FAIL prediction (predict): max abs error" in text and "values outside the tolerance" in text
    assert f"row {out.worst[0].index}: native " in text
    assert "float64 inputs failed too" in result.info.notes[0]  # auto tried double: trees still round


def test_an_estimator_without_a_converter_is_named_in_one_line(cancer: tuple[pd.DataFrame, Any]) -> None:
    X, y = cancer
    model = Pipeline([("double", Doubler()), ("model", LogisticRegression())]).fit(X.iloc[:, :3], y)
    with pytest.raises(ConversionError) as info:
        _checked(model, X.iloc[:, :3])
    message = info.value.message
    assert "\n" not in message and isinstance(info.value, InvalidInput)
    assert f"{__name__}.Doubler (step 'double') has no ONNX converter in skl2onnx" in message
    assert "update_registered_converter" in message


class Doubler(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    def fit(self, X: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, X: Any) -> Any:
        return np.asarray(X) * 2


# ---- XGBoost and LightGBM -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: xgb.XGBClassifier(n_estimators=30),
        lambda: lgb.LGBMClassifier(n_estimators=30, verbose=-1),
        lambda: make_pipeline(StandardScaler(), lgb.LGBMClassifier(n_estimators=30, verbose=-1)),
    ],
    ids=["xgboost", "lightgbm", "lightgbm-in-pipeline"],
)
def test_boosted_classifiers_convert_alone_and_in_pipelines(make: Any) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = make().fit(X, y)
    result = _checked(model, X)
    assert result.passed, result.parity.render()
    assert result.info.opsets.get("ai.onnx.ml", 0) <= 3
    _same_predictions(result, model, X)


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_boosted_regressors_and_raw_boosters(library: str, diabetes: tuple[pd.DataFrame, Any]) -> None:
    X, y = diabetes
    if library == "xgboost":
        wrapper: Any = xgb.XGBRegressor(n_estimators=30).fit(X, y)
        booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=y > 150), 20)
    else:
        wrapper = lgb.LGBMRegressor(n_estimators=30, verbose=-1).fit(X, y)
        booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, label=y > 150), 20)
    result = _checked(wrapper, X)
    assert result.passed, result.parity.render()
    np.testing.assert_allclose(result.predictor().predict(X), wrapper.predict(X), rtol=1e-5)
    # A classification Booster predicts probabilities of class 1; its ONNX predicts the same.
    boosted = _checked(booster, X)
    assert boosted.passed, boosted.parity.render()
    assert boosted.info.converter.startswith(f"onnxmltools.convert_{library}")
    native = booster.inplace_predict(X) if library == "xgboost" else booster.predict(X)
    np.testing.assert_allclose(boosted.predictor().predict(X), native, atol=1e-5)


# ---- networks -------------------------------------------------------------------------------------------


@pytest.mark.slow  # torch's dynamo exporter takes seconds
def test_a_torch_mlp_exports_with_a_dynamic_batch() -> None:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()
    X = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    result = _checked(model, X)
    assert result.passed, result.parity.render()
    info = result.info
    assert (info.task, info.converter.split(" ")[0]) == ("network", "torch.onnx.export(dynamo=True)")
    assert info.inputs[0]["name"] == "input" and info.inputs[0]["shape"][0] == -1
    assert [o["name"] for o in info.outputs] == ["output"]
    with torch.no_grad():
        native = model(torch.from_numpy(X)).numpy()
    predictor = result.predictor()
    np.testing.assert_allclose(predictor.predict(X), native, atol=1e-5)
    assert predictor.predict(X[:1]).shape == (1, 3)
    assert predictor.predict(torch.from_numpy(X[:5])).shape == (5, 3)  # a tensor in, numpy out


@pytest.mark.slow  # torch.export gives up after seconds
def test_a_module_dynamo_cannot_export_falls_back_to_the_legacy_exporter(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import torch

    class Branchy(torch.nn.Module):  # data-dependent control flow: torch.export refuses it
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x) * 2 if x.sum() > 0 else self.linear(x)

    torch.manual_seed(0)
    model = Branchy().train()
    X = np.abs(np.random.default_rng(0).normal(size=(50, 4))).astype(np.float32)
    result = _checked(model, X)
    assert result.passed and model.training  # the conversion leaves the module as it was
    assert result.info.converter.startswith("torch.onnx.export(dynamo=False)")
    assert "the dynamo exporter failed (GuardOnDataDependentSymNode" in result.info.notes[0]
    assert "def forward" not in capfd.readouterr().err  # torch.export's graph dump is kept out of the way


@pytest.mark.slow  # TensorFlow loads in seconds
def test_a_keras_model_converts_with_tf2onnx() -> None:
    keras = pytest.importorskip("keras")
    pytest.importorskip("tf2onnx")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(12, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    X = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
    result = _checked(model, X)
    assert result.passed, result.parity.render()
    assert result.info.converter.startswith("tf2onnx.convert.from_function")
    assert [o["name"] for o in result.info.outputs] == ["output"]
    np.testing.assert_allclose(result.predictor().predict(X), model.predict_on_batch(X), atol=1e-5)


# ---- parity, reports and the registry of converters ---------------------------------------------------


def test_tied_rows_are_left_out_of_the_label_comparison() -> None:
    """A 100-tree forest gives 0.5/0.5 often; rounding may break the tie either way."""
    roles = {"label": "label", "probabilities": "probabilities"}
    proba = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    native = {"label": np.array([0, 0, 1]), "probabilities": proba}
    onnx = {"label": np.array([0, 1, 1]), "probabilities": proba + np.array([[0, 0], [-1e-7, 1e-7], [0, 0]])}
    methods = {"label": "predict", "probabilities": "predict_proba"}
    tolerances = resolve_tolerances(roles, None)
    report = compare(
        native, onnx, roles, methods, tolerances, source="data", precision="float32", probabilities=proba
    )
    assert report.passed
    assert (report.output("label").ambiguous_rows, report.output("label").label_agreement) == (1, 1.0)
    onnx["label"] = np.array([1, 1, 1])
    failed = compare(
        native, onnx, roles, methods, tolerances, source="data", precision="float32", probabilities=proba
    )
    assert not failed.passed and failed.output("label").worst[0].index == 0
    assert "1 rows with another label" in failed.render()


def test_tolerances_are_set_by_role_or_output_and_checked() -> None:
    roles = {"label": "label", "probabilities": "probabilities"}
    tol = resolve_tolerances(roles, {"probabilities": {"atol": 1e-3}, "label": Tolerance(min_share=0.99)})
    assert tol == {"label": Tolerance(min_share=0.99), "probabilities": Tolerance(atol=1e-3)}
    with pytest.raises(InvalidInput, match="no output or role 'prediction'"):
        resolve_tolerances(roles, {"prediction": {"atol": 1.0}})
    with pytest.raises(InvalidInput, match="unknown tolerance field 'abs'"):
        resolve_tolerances(roles, {"values": {"abs": 1.0}})
    with pytest.raises(InvalidInput, match="atol must be a number >= 0"):
        Tolerance(atol=-1)


def test_reports_round_trip_through_json(cancer: tuple[pd.DataFrame, Any]) -> None:
    X, y = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    result = convert_checked(native_predictor(model, X[:5]), X, latency_budget_s=0.3)
    assert result.latency is not None
    for report, cls in (
        (result.parity, ParityReport),
        (result.info, OnnxInfo),
        (result.latency, LatencyCard),
    ):
        again = cls.from_dict(json.loads(json.dumps(report.to_dict())))  # type: ignore[attr-defined]
        assert again == report
        assert again.render() == report.render()


def test_the_latency_card_is_bounded_and_says_how_it_measured(cancer: tuple[pd.DataFrame, Any]) -> None:
    X, y = cancer
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    result = convert_checked(native_predictor(model, X[:5]), X, latency_budget_s=0.6)
    card = result.latency
    assert card is not None and [b.rows for b in card.batches] == [1, 32, 1000]
    assert card.batch(1).onnx_threads == 1 and card.batch(1000).onnx_threads == 0
    for b in card.batches:
        assert b.native.calls >= 3 and b.onnx.calls >= 3
        assert b.onnx.p50_us <= b.onnx.p95_us <= b.onnx.p99_us
    assert card.memory is not None and card.memory.rows == 1000 and card.memory.native_peak_bytes > 0
    assert "tracemalloc" in card.memory.method and "RSS" in card.memory.method
    text = card.render()
    assert "speed-up" in text and "onnx session RSS" in text


def test_without_data_parity_runs_on_rows_drawn_from_the_signature(
    cancer: tuple[pd.DataFrame, Any], churn: tuple[pd.DataFrame, Any]
) -> None:
    X, y = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    result = convert_checked(native_predictor(model, X[:5]), latency=False)
    assert result.parity.source == "synthetic" and result.parity.rows == 256
    assert "synthetic rows from the signature" in result.parity.render()
    frame, target = churn
    pipeline = Pipeline([("encode", _encoder()), ("model", LogisticRegression())]).fit(frame, target)
    with pytest.raises(InvalidInput, match=r"column 'plan-name' holds text.*pass data="):
        convert_checked(native_predictor(pipeline, frame[:5]), latency=False)


def test_converters_are_registered_by_flavor() -> None:
    assert {"sklearn", "xgboost", "lightgbm", "torch", "keras"} <= set(registered_converters())
    with pytest.raises(ConversionError, match="no ONNX converter for the 'python' flavor"):
        get_converter("python")
    original = get_converter("sklearn")

    class Refuses(type(original)):  # type: ignore[misc]
        def convert(self, model: Any, signature: Any, precision: Any, example: Any = None) -> Any:
            raise ConversionError("refused by the test's converter")

    register_converter("sklearn", Refuses())
    try:
        model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
        with pytest.raises(ConversionError, match="refused by the test's converter"):
            convert_model(model, "sklearn", native_predictor(model, np.array([[0.5]])).signature)
    finally:
        register_converter("sklearn", original)


def test_importing_assay_loads_no_onnx_and_assay_onnx_no_converter() -> None:
    """``import assay`` never imports the bridge; the bridge imports no conversion library or runtime until
    a model is converted or run."""
    heavy = "('onnxruntime', 'skl2onnx', 'onnx', 'tf2onnx', 'onnxmltools', 'torch', 'tensorflow')"
    code = (
        "import sys, assay; assay.Client; print(sorted(m for m in sys.modules if m.startswith('assay.onnx'))); "
        "import assay.onnx.runtime, assay.onnx.converters, assay.onnx.bridge; "
        f"print(sorted(m for m in {heavy} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]


# ---- the bridge over the registry ---------------------------------------------------------------------


def test_a_registered_version_keeps_its_onnx_and_reports(
    tracking_uri: str, churn: tuple[pd.DataFrame, Any]
) -> None:
    X, y = churn
    model = Pipeline([("encode", _encoder()), ("model", LogisticRegression())]).fit(X, y)
    with assay.start_run():
        info = assay.log_model(model, "model", input_example=X[:5])
    version = assay.register_model(info.uri, "churn")
    result = assay.onnx.convert("models:/churn/1", data=X, latency=False)
    assert result.passed and result.uri == "models:/default/churn/1" and version.version == 1
    stored, parity, latency = assay.onnx.report("models:/churn/latest")
    assert stored == result.info and parity == result.parity and latency is None
    assert assay.onnx.load_onnx("models:/churn/1") == result.onnx
    predictor = assay.onnx.predictor("models:/churn/1")
    np.testing.assert_array_equal(predictor.predict(X), model.predict(X))
    # A model that does not convert stores nothing.
    failing = Pipeline([("double", Doubler()), ("model", LogisticRegression())]).fit(X[["visits"]], y)
    with assay.start_run():
        bad = assay.log_model(failing, "model", input_example=X[["visits"]][:5], serialization="pickle")
    assay.register_model(bad.uri, "doubled")
    with pytest.raises(ConversionError, match="Doubler"):
        assay.onnx.convert("models:/doubled/1", data=X[["visits"]], trust_pickle=True)
    with pytest.raises(NotFound, match="models:/default/doubled/1 has no ONNX conversion"):
        assay.onnx.report("models:/doubled/1")
    with pytest.raises(NotFound, match="has no ONNX conversion"):
        assay.onnx.load_onnx("models:/doubled/1")
    with pytest.raises(InvalidInput, match="not a registered model"):
        assay.onnx.convert(info.uri)
