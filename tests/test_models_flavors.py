"""Model flavors: every framework round-trips through its safe format, inputs are checked against the
signature, and what is unsafe (pickle, untrusted skops types, a tampered torch archive) is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import torch
import xgboost as xgb
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from assay.errors import InvalidInput, MissingDependency, NotFound
from assay.models import (
    DESCRIPTOR_FILE,
    ModelDescriptor,
    Signature,
    check_input,
    detect_flavor,
    infer_signature,
    load_model,
    load_predictor,
    read_descriptor,
    read_model_descriptor,
    register_flavor,
    save_model,
)
from assay.models import flavors as flavor_registry
from assay.models.flavors.sklearn import SklearnFlavor

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


def customers(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50.0, 12.0, n),
            "plan": rng.choice(["basic", "pro", "team"], n),
        }
    )


def churn_pipeline() -> tuple[Pipeline, pd.DataFrame]:
    df = customers()
    y = ((df["age"] > 45) ^ (df["plan"] == "pro")).astype(int)
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    return Pipeline([("columns", columns), ("clf", LogisticRegression())]).fit(df, y), df


class Doubler(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A custom transformer: a type skops does not trust by default."""

    def fit(self, X: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, X: Any) -> Any:
        return np.asarray(X) * 2.0


class MeanModel:
    """Any object with predict: only pickle can save it."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, X: Any) -> Any:
        return np.full(len(X), self.value)


class MLP(torch.nn.Module):
    def __init__(self, n_in: int = 4, hidden: int = 8, n_out: int = 3) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_out)
        )
        self.register_buffer("scale", torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.scale


# ---- scikit-learn ---------------------------------------------------------------------------------------


def test_a_sklearn_estimator_round_trips(tmp_path: Path) -> None:
    model = LogisticRegression(max_iter=500).fit(X_IRIS, Y_IRIS)
    d = save_model(model, tmp_path / "m", input_example=X_IRIS[:5])
    assert (d.flavor, d.serialization, d.files) == ("sklearn", "skops", ["model.skops"])
    assert d.model_class == "sklearn.linear_model._logistic.LogisticRegression"
    assert any(r.startswith("scikit-learn==") for r in d.requirements)
    assert any(r.startswith("skops==") for r in d.requirements)
    assert d.signature == {
        "inputs": {"type": "tensor", "dtype": "float64", "shape": [-1, 4]},
        "outputs": {"type": "tensor", "dtype": "int64", "shape": [-1]},
    }
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is LogisticRegression
    np.testing.assert_array_equal(loaded.predict(X_IRIS), model.predict(X_IRIS))
    p = load_predictor(tmp_path / "m")
    np.testing.assert_array_equal(p.predict(X_IRIS), model.predict(X_IRIS))
    np.testing.assert_array_equal(p.predict_proba(X_IRIS), model.predict_proba(X_IRIS))
    np.testing.assert_array_equal(p.predict(X_IRIS[:1].tolist()), model.predict(X_IRIS[:1]))  # nested lists


def test_a_pipeline_with_a_column_transformer_on_a_dataframe_round_trips(tmp_path: Path) -> None:
    pipe, df = churn_pipeline()
    d = save_model(pipe, tmp_path / "churn", input_example=df.head(3))
    assert d.trusted_types is None  # everything in it is trusted by default
    columns = read_model_descriptor(tmp_path / "churn").signature["inputs"]["columns"]  # type: ignore[index]
    assert columns == [
        {"name": "age", "dtype": "int64"},
        {"name": "income", "dtype": "float64"},
        {"name": "plan", "dtype": "str"},
    ]
    loaded = load_model(tmp_path / "churn")
    assert type(loaded) is Pipeline
    p = load_predictor(tmp_path / "churn")
    np.testing.assert_array_equal(p.predict(df), pipe.predict(df))
    np.testing.assert_array_equal(p.predict_proba(df), pipe.predict_proba(df))
    record = df.iloc[0].to_dict()
    np.testing.assert_array_equal(p.predict(record), pipe.predict(df.head(1)))  # one record
    np.testing.assert_array_equal(p.predict([record, record]), pipe.predict(df.iloc[[0, 0]]))


def test_skops_refuses_an_untrusted_type_until_it_is_trusted_by_name(tmp_path: Path) -> None:
    model = Pipeline([("double", Doubler()), ("clf", LogisticRegression(max_iter=500))]).fit(X_IRIS, Y_IRIS)
    name = f"{Doubler.__module__}.{Doubler.__qualname__}"
    d = save_model(model, tmp_path / "m", input_example=X_IRIS[:2])
    assert d.trusted_types == [name]  # listed for review, never trusted from the descriptor
    with pytest.raises(InvalidInput, match=rf"not trusted by default: {name}\..*trusted_types=\['{name}'\]"):
        load_model(tmp_path / "m")
    with pytest.raises(InvalidInput, match="not trusted"):
        load_predictor(tmp_path / "m", trusted_types=["something.Else"])
    p = load_predictor(tmp_path / "m", trusted_types=[name])
    np.testing.assert_array_equal(p.predict(X_IRIS), model.predict(X_IRIS))


def test_saving_with_trusted_types_checks_they_cover_the_model(tmp_path: Path) -> None:
    model = Pipeline([("double", Doubler()), ("clf", LogisticRegression(max_iter=500))]).fit(X_IRIS, Y_IRIS)
    with pytest.raises(InvalidInput, match=r"trusted_types does not list: .*Doubler"):
        save_model(model, tmp_path / "m", trusted_types=[])
    assert not (tmp_path / "m").exists()  # a failed save leaves nothing behind
    assert [p.name for p in tmp_path.iterdir()] == []
    name = f"{Doubler.__module__}.{Doubler.__qualname__}"
    assert save_model(model, tmp_path / "m", trusted_types=[name]).trusted_types == [name]


# ---- pickle ---------------------------------------------------------------------------------------------


def test_pickle_is_refused_without_trust_pickle(tmp_path: Path) -> None:
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(*load_diabetes(return_X_y=True))
    X = load_diabetes(return_X_y=True)[0]
    d = save_model(model, tmp_path / "m", input_example=X[:3], serialization="pickle")
    assert (d.flavor, d.serialization, d.files) == ("sklearn", "pickle", ["model.pkl"])
    for load in (load_model, load_predictor):
        with pytest.raises(InvalidInput, match=r"saved with pickle.*runs code.*trust_pickle=True"):
            load(tmp_path / "m")
    np.testing.assert_array_equal(
        load_predictor(tmp_path / "m", trust_pickle=True).predict(X), model.predict(X)
    )


def test_pickle_saves_any_object_with_predict_and_nothing_else(tmp_path: Path) -> None:
    d = save_model(MeanModel(3.5), tmp_path / "m", input_example=np.zeros((2, 3)), serialization="pickle")
    assert (d.flavor, d.metadata["pickler"]) == ("python", "cloudpickle")
    assert load_predictor(tmp_path / "m", trust_pickle=True).predict(np.ones((4, 3))).tolist() == [3.5] * 4
    with pytest.raises(InvalidInput, match="needs a predict method"):
        save_model(object(), tmp_path / "other", serialization="pickle")
    with pytest.raises(InvalidInput, match="serialization must be one of safe, pickle"):
        save_model(MeanModel(1.0), tmp_path / "other", serialization="joblib")


# ---- signatures and input checks ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def churn_predictor(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pipe, df = churn_pipeline()
    path = tmp_path_factory.mktemp("churn") / "m"
    save_model(pipe, path, input_example=df.head(3))
    return load_predictor(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda df: df.drop(columns="age"),
            r"^missing column 'age' \(int64\); the model takes columns age \(int64\), income",
        ),
        (lambda df: df.assign(extra=1), r"^unexpected column 'extra'; the model takes columns age \(int64\)"),
        (lambda df: df.assign(income=df["plan"]), r"^column 'income' has dtype str, expected float64$"),
        (lambda df: df.assign(age=df["income"]), r"^column 'age' has dtype float64, expected int64$"),
        (lambda df: df.to_numpy()[:, :2], r"^input has 2 columns, expected 3: age \(int64\)"),
        (lambda df: "age,income", r"^the model takes a DataFrame with columns age \(int64\).*got str"),
    ],
    ids=["missing-column", "extra-column", "wrong-dtype", "float-into-int", "narrow-array", "not-a-frame"],
)
def test_a_dataframe_signature_names_what_is_wrong(churn_predictor: Any, change: Any, message: str) -> None:
    df = customers(5, seed=1)
    with pytest.raises(InvalidInput, match=message) as info:
        churn_predictor.predict(change(df))
    assert "\n" not in str(info.value)


def test_a_dataframe_signature_coerces_safe_cases(churn_predictor: Any) -> None:
    df = customers(6, seed=2)
    expected = churn_predictor.predict(df)
    as_float = df.assign(age=df["age"].astype("int32"), income=df["income"].round().astype(int))
    checked = churn_predictor.check(as_float)
    assert checked["age"].dtype == np.int64 and checked["income"].dtype == np.float64
    np.testing.assert_array_equal(
        churn_predictor.predict(df[["plan", "income", "age"]]), expected
    )  # columns in another order
    np.testing.assert_array_equal(churn_predictor.predict(df.to_dict("records")), expected)
    np.testing.assert_array_equal(churn_predictor.predict(df.astype({"plan": object})), expected)
    np.testing.assert_array_equal(churn_predictor.predict(df), expected)  # the fast path, twice
    np.testing.assert_array_equal(churn_predictor.predict(df), expected)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.zeros((3, 5)), r"^input has shape \(3, 5\), expected \(-1, 4\) \(-1: any size\)$"),
        (np.zeros(4), r"^input has shape \(4,\), expected \(-1, 4\).*for one row pass X.reshape\(1, -1\)$"),
        (np.full((2, 4), "a"), r"^input has dtype str, expected float64 of shape \(-1, 4\)$"),
        ([[1.0, 2.0], [3.0]], r"^input is not array-like"),
    ],
    ids=["wrong-shape", "one-dimensional", "wrong-dtype", "ragged"],
)
def test_a_tensor_signature_names_what_is_wrong(X: Any, message: str) -> None:
    signature = infer_signature(X_IRIS[:3])
    with pytest.raises(InvalidInput, match=message):
        check_input(signature, X)


def test_a_tensor_signature_coerces_safe_cases() -> None:
    signature = infer_signature(X_IRIS[:3].astype(np.float32))
    assert check_input(signature, np.ones((2, 4), dtype=np.int64)).dtype == np.float32
    assert check_input(signature, np.ones((2, 4))).dtype == np.float32  # float64 into a float32 model
    assert check_input(signature, [[1, 2, 3, 4]]).shape == (1, 4)
    frame = pd.DataFrame(np.ones((2, 4)), columns=list("abcd"))
    assert isinstance(check_input(signature, frame), np.ndarray)
    tensor = check_input(signature, torch.ones(3, 4, dtype=torch.float64))
    assert tensor.dtype == torch.float32
    with pytest.raises(InvalidInput, match=r"^input has dtype float32, expected int64"):
        check_input(infer_signature(np.zeros((1, 2), dtype=np.int64)), torch.ones(1, 2))


def test_signatures_of_every_kind_survive_a_dict_round_trip() -> None:
    df = customers(3)
    examples: list[Any] = [
        df,
        X_IRIS[:2],
        np.zeros((2, 3, 4), dtype=np.float32),
        [np.zeros((2, 3)), np.ones((2, 5), dtype=np.int32)],
        {"image": np.zeros((1, 8, 8), dtype=np.uint8), "meta": np.zeros((1, 2))},
        torch.zeros(2, 6),
        [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
    ]
    for example in examples:
        sig = infer_signature(example, np.zeros(2))
        assert Signature.from_dict(json.loads(json.dumps(sig.to_dict()))) == sig
    assert infer_signature(torch.zeros(2, 6)).to_dict()["inputs"] == {
        "type": "tensor",
        "dtype": "float32",
        "shape": [-1, 6],
    }
    named = infer_signature({"image": np.zeros((1, 8, 8), dtype=np.uint8), "meta": np.zeros((1, 2))})
    assert [t.name for t in named.inputs.tensors] == ["image", "meta"]
    with pytest.raises(InvalidInput, match=r"^missing input 'meta'; the model takes inputs image, meta"):
        check_input(named, {"image": np.zeros((1, 8, 8), dtype=np.uint8)})
    with pytest.raises(InvalidInput, match="cannot infer a signature from a str"):
        infer_signature("text")
    with pytest.raises(InvalidInput, match="unknown signature schema type 'matrix'"):
        Signature.from_dict({"inputs": {"type": "matrix"}})


# ---- descriptor -----------------------------------------------------------------------------------------


def test_the_descriptor_round_trips_through_yaml() -> None:
    d = ModelDescriptor(
        flavor="sklearn",
        serialization="skops",
        files=["model.skops"],
        model_class="sklearn.linear_model.LogisticRegression",
        framework="sklearn",
        framework_version="1.5.0",
        python_version="3.11.7",
        requirements=["scikit-learn==1.5.0", "assay==0.1.0"],
        signature=infer_signature(X_IRIS[:2]).to_dict(),
        metadata={"user": {"team": "growth"}},
    )
    text = d.to_yaml()
    assert text.startswith(b"flavor: sklearn\nserialization: skops\n")
    assert read_descriptor(text) == d
    assert DESCRIPTOR_FILE == "assay-model.yaml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"flavor: [unclosed", "is not valid YAML"),
        (b"- a\n- b\n", "must be a mapping"),
        (b"flavor: sklearn\n", "lacks files, framework, framework_version, model_class, python_version"),
        (
            b"flavor: x\nserialization: s\nfiles: [../../etc/passwd]\nmodel_class: c\nframework: f\n"
            b"framework_version: '1'\npython_version: '3'\n",
            "lies outside the model's directory",
        ),
        (
            b"flavor: x\nserialization: s\nfiles: model\nmodel_class: c\nframework: f\n"
            b"framework_version: '1'\npython_version: '3'\n",
            "files has the wrong type",
        ),
        (
            b"flavor: x\nserialization: s\nfiles: [m]\nmodel_class: c\nframework: f\n"
            b"framework_version: '1'\npython_version: '3'\nformat_version: 99\n",
            "format version 99; this assay reads up to 1",
        ),
    ],
    ids=["not-yaml", "not-a-mapping", "missing-keys", "escaping-file", "wrong-type", "newer-format"],
)
def test_a_malformed_descriptor_is_refused(text: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        read_descriptor(text)


def test_a_directory_without_a_descriptor_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"holds no assay-model\.yaml"):
        load_model(tmp_path)
    save_model(LogisticRegression(max_iter=500).fit(X_IRIS, Y_IRIS), tmp_path / "m")
    (tmp_path / "m" / "model.skops").unlink()
    with pytest.raises(NotFound, match=r"lacks its file 'model\.skops'"):
        load_model(tmp_path / "m")
    with pytest.raises(InvalidInput, match="exists and is not an empty directory"):
        save_model(LogisticRegression(max_iter=500).fit(X_IRIS, Y_IRIS), tmp_path / "m")


# ---- the flavor registry --------------------------------------------------------------------------------


def test_an_unknown_model_type_lists_the_supported_flavors(tmp_path: Path) -> None:
    with pytest.raises(
        InvalidInput, match=r"^unknown flavor: \S+\.MeanModel is not a model assay saves safely\. Supported: "
    ) as info:
        save_model(MeanModel(1.0), tmp_path / "m")
    message = str(info.value)
    for kind in ("scikit-learn", "XGBoost", "LightGBM", "PyTorch", "Keras", "serialization='pickle'"):
        assert kind in message
    assert not (tmp_path / "m").exists()


def test_a_registered_flavor_is_asked_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flavor_registry, "_REGISTRY", dict(flavor_registry._REGISTRY))

    class Mine(SklearnFlavor):
        name = "mine"

        def handles(self, model: Any) -> bool:
            return isinstance(model, LogisticRegression)

    assert detect_flavor(LogisticRegression()).name == "sklearn"
    register_flavor(Mine())
    assert detect_flavor(LogisticRegression()).name == "mine"
    assert detect_flavor(StandardScaler()).name == "sklearn"
    assert detect_flavor(xgb.XGBClassifier()).name == "xgboost"  # not sklearn, though it is an estimator


@pytest.mark.parametrize(
    ("flavor", "module", "extra"),
    [
        ("sklearn", "skops.io", "sklearn"),
        ("xgboost", "xgboost", "xgboost"),
        ("lightgbm", "lightgbm", "lightgbm"),
        ("torch", "torch", "torch"),
        ("keras", "keras", "keras"),
    ],
)
def test_a_missing_framework_names_its_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flavor: str, module: str, extra: str
) -> None:
    d = ModelDescriptor(flavor, "safe-format", ["model.bin"], "some.Model", module, "1", "3.11")
    (tmp_path / DESCRIPTOR_FILE).write_bytes(d.to_yaml())
    (tmp_path / "model.bin").write_bytes(b"")
    monkeypatch.setitem(sys.modules, module, None)  # what an absent package looks like to import
    with pytest.raises(MissingDependency, match=rf"pip install 'assay\[{extra}\]'"):
        load_model(tmp_path)


def test_saving_without_skops_names_the_sklearn_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(MissingDependency, match=r"pip install 'assay\[sklearn\]'"):
        save_model(LogisticRegression(max_iter=500).fit(X_IRIS, Y_IRIS), tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_importing_assay_models_loads_no_framework() -> None:
    code = (
        "import sys, assay.models; "
        "print(','.join(m for m in ('torch', 'tensorflow', 'keras', 'sklearn', 'xgboost', 'lightgbm', "
        "'skops', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ---- XGBoost and LightGBM -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["XGBClassifier", "XGBRegressor", "Booster"])
def test_xgboost_round_trips_as_the_same_class(tmp_path: Path, kind: str) -> None:
    df = pd.DataFrame(X_IRIS, columns=["sl", "sw", "pl", "pw"])
    if kind == "Booster":
        model: Any = xgb.train({"max_depth": 2}, xgb.DMatrix(df, label=Y_IRIS), num_boost_round=5)
    else:
        model = getattr(xgb, kind)(n_estimators=5, max_depth=2).fit(df, Y_IRIS)
    d = save_model(model, tmp_path / "m", input_example=df.head(2))
    assert (d.flavor, d.serialization, d.files) == ("xgboost", "xgboost-ubj", ["model.ubj"])
    assert any(r.startswith("xgboost") for r in d.requirements)
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(model)
    p = load_predictor(tmp_path / "m")
    native = model.inplace_predict(df) if kind == "Booster" else model.predict(df)
    np.testing.assert_array_equal(p.predict(df), native)
    if kind == "XGBClassifier":
        assert loaded.get_params()["n_estimators"] == 5
        np.testing.assert_array_equal(p.predict_proba(df), model.predict_proba(df))
    else:
        assert not p.has_proba
        with pytest.raises(InvalidInput, match="has no predict_proba"):
            p.predict_proba(df)


@pytest.mark.parametrize("kind", ["LGBMClassifier", "LGBMRegressor", "Booster"])
def test_lightgbm_round_trips_as_the_same_class(tmp_path: Path, kind: str) -> None:
    df = pd.DataFrame(X_IRIS, columns=["sl", "sw", "pl", "pw"])
    labels = np.array(["setosa", "versicolor", "virginica"], dtype=object)[Y_IRIS]
    if kind == "Booster":
        data = lgb.Dataset(df, label=Y_IRIS.astype(float))
        model: Any = lgb.train({"objective": "regression", "verbose": -1}, data, num_boost_round=5)
    elif kind == "LGBMClassifier":
        model = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(df, labels)  # string labels
    else:
        model = lgb.LGBMRegressor(n_estimators=5, verbose=-1).fit(df, Y_IRIS.astype(float))
    d = save_model(model, tmp_path / "m", input_example=df.head(2))
    assert (d.flavor, d.serialization, d.files) == ("lightgbm", "lightgbm-text", ["model.txt"])
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(model)
    p = load_predictor(tmp_path / "m")
    np.testing.assert_array_equal(p.predict(df), model.predict(df))
    np.testing.assert_array_equal(loaded.predict(df), model.predict(df))
    if kind == "LGBMClassifier":
        assert list(p.predict(df.head(1))) == ["setosa"]
        np.testing.assert_array_equal(p.predict_proba(df), model.predict_proba(df))
        assert list(loaded.feature_names_in_) == ["sl", "sw", "pl", "pw"]
        assert loaded.get_params()["n_estimators"] == 5


# ---- PyTorch --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp() -> MLP:
    torch.manual_seed(0)
    return MLP().eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, mlp: MLP) -> Path:
    path = tmp_path_factory.mktemp("torch") / "m"
    save_model(mlp, path, input_example=X_IRIS[:1])  # float64, one row: cast and widened for export
    return path


@pytest.mark.slow  # exporting the module takes seconds (the fixture)
def test_a_torch_module_is_exported_and_round_trips(exported: Path, mlp: MLP) -> None:
    d = read_model_descriptor(exported)
    assert (d.flavor, d.serialization, d.files) == ("torch", "torch-export", ["model.pt2"])
    assert d.signature == {
        "inputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 4]},
        "outputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 3]},
    }
    X = X_IRIS.astype(np.float32)
    with torch.no_grad():
        native = mlp(torch.from_numpy(X)).numpy()
    loaded = load_model(exported)
    assert isinstance(loaded, torch.nn.Module)
    with torch.no_grad():
        np.testing.assert_allclose(loaded(torch.from_numpy(X)).numpy(), native, rtol=1e-6)
    p = load_predictor(exported)
    np.testing.assert_allclose(p.predict(X), native, rtol=1e-6)
    np.testing.assert_allclose(p.predict(X_IRIS[:7]), native[:7], rtol=1e-6)  # float64 cast, any batch
    np.testing.assert_allclose(p.predict(torch.from_numpy(X[:2])), native[:2], rtol=1e-6)


def test_a_torch_module_falls_back_to_safetensors_and_rebuilds_its_class(tmp_path: Path, mlp: MLP) -> None:
    model = MLP(4, 16, 2).eval()
    opts = {"export": False, "init_kwargs": {"n_in": 4, "hidden": 16, "n_out": 2}}
    d = save_model(model, tmp_path / "m", input_example=np.zeros((2, 4), np.float32), options=opts)
    assert (d.serialization, d.files) == ("safetensors", ["model.safetensors"])
    assert d.metadata["class"] == f"{MLP.__module__}:MLP"
    assert any(r.startswith("safetensors==") for r in d.requirements)
    X = X_IRIS.astype(np.float32)
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is MLP and not loaded.training
    with torch.no_grad():
        np.testing.assert_array_equal(loaded(torch.from_numpy(X)).numpy(), model(torch.from_numpy(X)).numpy())


def test_a_recorded_class_is_imported_only_if_it_is_a_module(tmp_path: Path) -> None:
    save_model(MLP(), tmp_path / "m")  # no input example: the weights, and the class path
    d = read_model_descriptor(tmp_path / "m")
    assert d.metadata["not_exported"] == "no input example"
    for path, message in [
        ("os:system", "'os:system' is not a torch.nn.Module subclass; refusing to call it"),
        ("nowhere_at_all:Net", "the module's class 'nowhere_at_all:Net' cannot be imported"),
    ]:
        d.metadata["class"] = path
        (tmp_path / "m" / DESCRIPTOR_FILE).write_bytes(d.to_yaml())
        with pytest.raises(InvalidInput, match=message):
            load_model(tmp_path / "m")
    d.metadata.update({"class": f"{MLP.__module__}:MLP", "init_kwargs": {"width": 3}})
    (tmp_path / "m" / DESCRIPTOR_FILE).write_bytes(d.to_yaml())
    with pytest.raises(InvalidInput, match=r"cannot build .*MLP with init_kwargs=\{'width': 3\}"):
        load_model(tmp_path / "m")


def _tamper(src: Path, dst: Path, edit: Any) -> None:
    """Copy the model directory ``src`` to ``dst``, rewriting the archive's entries with ``edit``."""
    dst.mkdir()
    (dst / DESCRIPTOR_FILE).write_bytes((src / DESCRIPTOR_FILE).read_bytes())
    with zipfile.ZipFile(src / "model.pt2") as zin, zipfile.ZipFile(dst / "model.pt2", "w") as zout:
        for item in zin.infolist():
            data = edit(item.filename, zin.read(item.filename))
            if data is not None:
                zout.writestr(item, data)
        extra = edit("<extra>", b"")
        if extra:
            zout.writestr(extra[0], extra[1])


@pytest.mark.slow  # exporting the module takes seconds (the fixture)
def test_a_torch_archive_with_pickled_payloads_is_refused(tmp_path: Path, exported: Path) -> None:
    def pickled_weight(name: str, data: bytes) -> Any:
        if name.endswith("_weights_config.json"):
            return data.replace(b'"use_pickle": false', b'"use_pickle": true', 1)
        return None if name == "<extra>" else data

    _tamper(exported, tmp_path / "a", pickled_weight)
    with pytest.raises(InvalidInput, match="is stored with pickle, which a safe load does not open"):
        load_model(tmp_path / "a")

    def opaque_constant(name: str, data: bytes) -> Any:
        if name == "<extra>":
            root = "model"
            return (f"{root}/data/constants/opaque_obj_0", b"cos\nsystem\n(S'echo hi'\ntR.")
        return data

    _tamper(exported, tmp_path / "b", opaque_constant)
    with pytest.raises(
        InvalidInput, match="holds 'data/constants/opaque_obj_0', which a safe load does not open"
    ):
        load_model(tmp_path / "b")


@pytest.mark.slow  # exporting the module takes seconds (the fixture)
def test_a_torch_archive_with_code_in_a_shape_expression_is_refused(tmp_path: Path, exported: Path) -> None:
    def inject(name: str, data: bytes) -> Any:
        if name.endswith("models/model.json"):
            program = json.loads(data)
            text = json.dumps(program).replace(
                "Symbol(", "__import__('os').system('echo pwned') or Symbol(", 1
            )
            return text.encode()
        return None if name == "<extra>" else data

    _tamper(exported, tmp_path / "c", inject)
    with pytest.raises(InvalidInput, match=r"the shape expression .* names '__import__'|names '_"):
        load_model(tmp_path / "c")


# ---- Keras ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_keras_model_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    X = X_IRIS.astype(np.float32)
    d = save_model(model, tmp_path / "m", input_example=X[:2])
    assert (d.flavor, d.serialization, d.files) == ("keras", "keras", ["model.keras"])
    assert d.metadata["backend"] == "tensorflow"
    assert any(r.startswith("tensorflow") for r in d.requirements)
    loaded = load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_on_batch(X), model.predict_on_batch(X), rtol=1e-6)
    p = load_predictor(tmp_path / "m")
    np.testing.assert_allclose(p.predict(X), model.predict_on_batch(X), rtol=1e-6)
    np.testing.assert_allclose(p.predict(X_IRIS[:3]), model.predict_on_batch(X[:3]), rtol=1e-6)
    with pytest.raises(InvalidInput, match=r"input has shape \(2, 3\), expected \(-1, 4\)"):
        p.predict(np.zeros((2, 3), np.float32))
