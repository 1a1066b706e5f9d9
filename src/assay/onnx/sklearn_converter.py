"""scikit-learn estimators and pipelines with skl2onnx; XGBoost and LightGBM through onnxmltools.

XGBoost's and LightGBM's scikit-learn wrappers are registered with skl2onnx (onnxmltools' converters), so
they convert alone and inside pipelines, at the opsets onnxmltools' converters emit inside a skl2onnx
graph (``TARGET_OPSET``: ai.onnx 21, ai.onnx.ml 3). Their raw Boosters go through onnxmltools directly
(``BOOSTER_OPSET``, the highest it accepts).

Inputs follow the signature. A model that starts with a ColumnTransformer takes one ONNX input per
DataFrame column, named after it and typed from it (float, int64, string), as the ColumnTransformer picks
columns by name. Any other model takes numbers only, as one matrix input ``input`` whose columns are the
signature's, in its order: ``OnnxPredictor`` fills it from the DataFrame in one ``to_numpy``. (Thirty
per-column inputs concatenated in the graph cost 135 us per one-row run of a 100-tree forest against 28 us
for the matrix: onnxruntime pays a few microseconds per input.)
Classifiers output ``label`` and ``probabilities`` (ZipMap off: a plain tensor, not a list of dicts);
regressors ``prediction``.

Precision. Floats are float32 by default. skl2onnx then runs the preprocessing in float32 where
scikit-learn runs it in float64, and a value rounded differently can fall on the other side of a tree's
threshold: a StandardScaler before an XGBClassifier gave probabilities off by 0.34 on breast-cancer rows.
``precision="float64"`` keeps the inputs and the preprocessing in double and casts to float32 just
before a tree ensemble, as scikit-learn, XGBoost and LightGBM do themselves (a float64 tree ensemble does
not load in onnxruntime at ai.onnx.ml opset 3).
"""

from __future__ import annotations

import copy
import re
import sys
from typing import Any

import numpy as np

from assay.models.schema import Schema, TensorSpec, is_text
from assay.models.signature import Signature
from assay.onnx.base import ConversionError, Converted, Converter, Precision
from assay.onnx.graph import OutputMap, load_proto, rename
from assay.optional import require

#: Opsets of a skl2onnx conversion (DESIGN.md: what onnxmltools' converters support inside skl2onnx).
TARGET_OPSET = {"": 21, "ai.onnx.ml": 3}
#: onnxmltools refuses a higher main opset for a Booster on its own.
BOOSTER_OPSET = 15
#: The name of the one matrix input of a model that takes a DataFrame without a ColumnTransformer.
MATRIX = "input"
#: Estimators that compute in float32 whatever they are given: in float64 mode they get a cast before them.
_FLOAT32_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm")
# ONNX element types (onnx.TensorProto): FLOAT, INT64, STRING, DOUBLE.
_FLOAT, _INT64, _STRING, _DOUBLE = 1, 7, 8, 11


class SklearnConverter(Converter):
    """scikit-learn models (flavor ``sklearn``), and XGBoost / LightGBM models (flavors ``xgboost`` and
    ``lightgbm``: wrappers through skl2onnx, Boosters through onnxmltools)."""

    library = "skl2onnx"

    def convert(
        self, model: Any, signature: Signature, precision: Precision, example: Any = None
    ) -> Converted:
        model = _without_xgboost_names(model)
        if _is_booster(model):
            return _convert_booster(model, signature, precision)
        skl2onnx = require("skl2onnx", "onnx", "converting scikit-learn models to ONNX")
        from sklearn.base import is_classifier

        register_boosters()
        classifier = bool(is_classifier(model))
        target = _with_cast(model) if precision == "float64" else model
        per_column = signature.inputs.kind == "dataframe" and _starts_with_column_transformer(model)
        initial, columns = _initial_types(signature.inputs, precision, per_column, model)
        options = {id(target): {"zipmap": False}} if classifier else None
        try:
            proto = skl2onnx.convert_sklearn(
                target, initial_types=initial, options=options, target_opset=TARGET_OPSET
            )
        except RuntimeError as exc:
            raise _unsupported(exc, model) from exc
        if per_column:  # skl2onnx keeps the inputs in order, names made safe ("age years" -> "age_years")
            if len(proto.graph.input) != len(columns):
                raise ConversionError(
                    f"skl2onnx gave {len(proto.graph.input)} inputs for {len(columns)} columns: cannot name them"
                )
            rename(proto, {v.name: str(c) for v, c in zip(proto.graph.input, columns, strict=True)})
        outputs = _name_outputs(proto, classifier, signature)
        return Converted(
            bytes(proto.SerializeToString()),
            outputs,
            converter="skl2onnx.convert_sklearn",
            precision=precision,
            task="classification" if classifier else "regression",
        )


def _initial_types(
    schema: Schema, precision: Precision, per_column: bool, model: Any
) -> tuple[list[tuple[str, Any]], list[Any]]:
    """skl2onnx's ``initial_types`` for the signature, and the column names of per-column inputs."""
    types = require("skl2onnx.common.data_types", "onnx", "converting scikit-learn models to ONNX")
    floating = types.DoubleTensorType if precision == "float64" else types.FloatTensorType
    if schema.kind == "dataframe":
        kinds = [(c.name, _column_kind(str(c.name), c.dtype, precision)) for c in schema.columns]
        if per_column:
            by_kind = {_FLOAT: floating, _DOUBLE: floating, _INT64: types.Int64TensorType}
            by_kind[_STRING] = types.StringTensorType
            return [(str(n), by_kind[k]([None, 1])) for n, k in kinds], [n for n, _ in kinds]
        text = [n for n, k in kinds if k == _STRING]
        if text:
            raise ConversionError(
                f"column {text[0]!r} holds text, and {type(model).__qualname__} takes numbers only: encode it "
                "in the model (a Pipeline starting with a ColumnTransformer with a OneHotEncoder) to convert it"
            )
        return [(MATRIX, floating([None, len(kinds)]))], []
    spec = _single_tensor(schema)
    name = spec.name or "input"
    dtype = np.dtype(spec.dtype) if spec.dtype not in ("str", "object") else None
    if dtype is not None and dtype.kind in "iub":
        return [(name, types.Int64TensorType([None, *_free(spec.shape[1:])]))], []
    if dtype is None or dtype.kind != "f":
        raise ConversionError(
            f"the input tensor has dtype {spec.dtype}: an ONNX model of a scikit-learn estimator takes "
            "numbers (float or int)"
        )
    return [(name, floating([None, *_free(spec.shape[1:])]))], []


def _column_kind(name: str, dtype: str, precision: Precision) -> int:
    if is_text(dtype):
        return _STRING
    try:
        kind: str = np.dtype(dtype.lower() if dtype != "boolean" else "bool").kind
    except TypeError:
        kind = "?"
    if kind == "f":
        return _DOUBLE if precision == "float64" else _FLOAT
    if kind in "iub":
        return _INT64
    raise ConversionError(
        f"column {name!r} has dtype {dtype}, which ONNX inputs do not take (floats, integers, booleans and "
        "text do): cast it before the model, in the data the model is trained and logged with"
    )


def _free(shape: tuple[int, ...]) -> list[int | None]:
    return [None if n == -1 else n for n in shape]


def _single_tensor(schema: Schema) -> TensorSpec:
    if schema.kind != "tensor":
        raise ConversionError(
            "a scikit-learn model takes one DataFrame or one array; this signature has several tensors"
        )
    return schema.tensors[0]


def _name_outputs(proto: Any, classifier: bool, signature: Signature) -> OutputMap:
    names = [o.name for o in proto.graph.output]
    if classifier:
        if names[:2] != ["label", "probabilities"]:
            raise ConversionError(
                f"skl2onnx gave a classifier the outputs {names}, not label and probabilities"
            )
        return OutputMap(("label",), "label", proba="probabilities")
    rename(proto, {names[0]: "prediction"})
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    single = len(dims) == 2 and dims[1].dim_value == 1
    out_shape = _output_shape(signature)
    return OutputMap(("prediction",), "values", squeeze=single and (out_shape is None or len(out_shape) == 1))


def _output_shape(signature: Signature) -> tuple[int, ...] | None:
    """The shape of the native ``predict``'s output on the input example, when it was one array."""
    if signature.outputs is None or signature.outputs.kind != "tensor":
        return None
    return signature.outputs.tensors[0].shape


def _starts_with_column_transformer(model: Any) -> bool:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[0][1]
    return isinstance(model, ColumnTransformer)


def _final(model: Any) -> Any:
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


def _with_cast(model: Any) -> Any:
    """``model`` with a cast to float32 before its final estimator when that one computes in float32 (a tree
    ensemble): a new Pipeline over the same fitted steps, for conversion only."""
    from sklearn.pipeline import Pipeline

    final = _final(model)
    if not any(c.__module__.startswith(_FLOAT32_MODULES) for c in type(final).__mro__):
        return model
    cast = require("skl2onnx.sklapi", "onnx", "converting scikit-learn models to ONNX").CastTransformer
    if isinstance(model, Pipeline):
        *head, (name, last) = model.steps
        inner = _with_cast(last) if isinstance(last, Pipeline) else None
        if inner is not None:
            return Pipeline([*head, (name, inner)])
        return Pipeline([*head, ("assay_cast", cast(dtype=np.float32)), (name, last)])
    return Pipeline([("assay_cast", cast(dtype=np.float32)), ("model", model)])


def _unsupported(exc: RuntimeError, model: Any) -> ConversionError:
    """The one-line error for what skl2onnx cannot convert, naming the estimator class and where it is."""
    text = str(exc)
    found = re.search(r"<class '([^']+)'>", text)
    if found is None or not ("shape calculator" in text or "converter" in text):
        return ConversionError(
            f"skl2onnx failed to convert {type(model).__qualname__}: {' '.join(text.split())[:300]}"
        )
    path = found.group(1)
    where = _locate(model, path.rsplit(".", 1)[-1])
    return ConversionError(
        f"{path}{where} has no ONNX converter in skl2onnx: register one with "
        "skl2onnx.update_registered_converter, or replace it with an estimator skl2onnx supports"
    )


def _locate(model: Any, class_name: str, prefix: str = "") -> str:
    """`` (step 'a' > 'b')``: where in the model the first estimator of class ``class_name`` sits."""
    for name, part in _children(model):
        label = f"{prefix} > {name!r}" if prefix else repr(name)
        if type(part).__name__ == class_name:
            return f" (step {label})"
        deeper = _locate(part, class_name, label)
        if deeper:
            return deeper
    return ""


def _children(model: Any) -> list[tuple[str, Any]]:
    for attr in ("steps", "transformers", "transformer_list", "estimators"):
        items = getattr(model, attr, None)
        if isinstance(items, list):
            return [(str(item[0]), item[1]) for item in items if isinstance(item, tuple) and len(item) >= 2]
    return []


# ---- XGBoost and LightGBM ---------------------------------------------------------------------------------

_registered: set[str] = set()


def register_boosters() -> None:
    """Register onnxmltools' converters for the XGBoost and LightGBM wrappers with skl2onnx, once each, for
    the libraries this process has imported (a model holding one has imported it)."""
    if "xgboost" in sys.modules and "xgboost" not in _registered:
        _register_xgboost()
        _registered.add("xgboost")
    if "lightgbm" in sys.modules and "lightgbm" not in _registered:
        _register_lightgbm()
        _registered.add("lightgbm")


def _register_xgboost() -> None:
    skl2onnx = require("skl2onnx", "onnx", "converting XGBoost models to ONNX")
    shapes = require("skl2onnx.common.shape_calculator", "onnx", "converting XGBoost models to ONNX")
    conv = require(
        "onnxmltools.convert.xgboost.operator_converters.XGBoost", "onnx", "converting XGBoost models to ONNX"
    ).convert_xgboost
    xgb = sys.modules["xgboost"]
    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    for cls in ("XGBClassifier", "XGBRFClassifier"):
        skl2onnx.update_registered_converter(
            getattr(xgb, cls),
            f"XGBoost{cls}",
            shapes.calculate_linear_classifier_output_shapes,
            conv,
            options=classifier_options,
        )
    for cls in ("XGBRegressor", "XGBRFRegressor"):
        skl2onnx.update_registered_converter(
            getattr(xgb, cls), f"XGBoost{cls}", shapes.calculate_linear_regressor_output_shapes, conv
        )


def _register_lightgbm() -> None:
    skl2onnx = require("skl2onnx", "onnx", "converting LightGBM models to ONNX")
    shapes = require("skl2onnx.common.shape_calculator", "onnx", "converting LightGBM models to ONNX")
    conv = require(
        "onnxmltools.convert.lightgbm.operator_converters.LightGbm",
        "onnx",
        "converting LightGBM models to ONNX",
    ).convert_lightgbm
    lgb = sys.modules["lightgbm"]
    skl2onnx.update_registered_converter(
        lgb.LGBMClassifier,
        "LightGbmLGBMClassifier",
        shapes.calculate_linear_classifier_output_shapes,
        conv,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    skl2onnx.update_registered_converter(
        lgb.LGBMRegressor,
        "LightGbmLGBMRegressor",
        shapes.calculate_linear_regressor_output_shapes,
        conv,
        options={"split": None},
    )


def _without_xgboost_names(model: Any) -> Any:
    """``model`` with a copy of each XGBoost booster stripped of its feature names (onnxmltools reads splits
    as ``f<index>`` and refuses a model fitted on a DataFrame); the model itself is left as it was."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        steps = [(name, _without_xgboost_names(step)) for name, step in model.steps]
        if all(new is old for (_, new), (_, old) in zip(steps, model.steps, strict=True)):
            return model
        return Pipeline(steps)
    if type(model).__module__.split(".")[0] != "xgboost":
        return model
    booster = model if _is_booster(model) else model.get_booster()
    if booster.feature_names is None:
        return model
    bare = booster.copy()
    bare.feature_names = None
    bare.feature_types = None
    if _is_booster(model):
        return bare
    wrapper = copy.copy(model)
    wrapper._Booster = bare
    return wrapper


def _is_booster(model: Any) -> bool:
    return type(model).__name__ == "Booster" and type(model).__module__.split(".")[0] in (
        "xgboost",
        "lightgbm",
    )


def _convert_booster(model: Any, signature: Signature, precision: Precision) -> Converted:
    """A raw Booster through onnxmltools: one float32 matrix input (a Booster computes in float32 whatever
    it is given, so ``precision`` changes nothing), outputs named like the wrappers'. ``predict`` of a
    classification Booster returns probabilities, and so does its ONNX."""
    omt = require("onnxmltools", "onnx", "converting XGBoost and LightGBM Boosters to ONNX")
    types = require("onnxmltools.convert.common.data_types", "onnx", "converting Boosters to ONNX")
    schema = signature.inputs
    if schema.kind == "dataframe":
        kinds = [_column_kind(str(c.name), c.dtype, "float32") for c in schema.columns]
        if _STRING in kinds:
            raise ConversionError("a Booster takes numbers only; this signature has a text column")
        name, width = MATRIX, len(kinds)
    else:
        spec = _single_tensor(schema)
        name, width = spec.name or "input", spec.shape[1] if len(spec.shape) == 2 else -1
    initial = [(name, types.FloatTensorType([None, None if width == -1 else width]))]
    library = type(model).__module__.split(".")[0]
    if library == "xgboost":
        proto = omt.convert_xgboost(model, initial_types=initial, target_opset=BOOSTER_OPSET)
    else:
        proto = omt.convert_lightgbm(model, initial_types=initial, target_opset=BOOSTER_OPSET, zipmap=False)
    proto = load_proto(proto.SerializeToString())  # onnxmltools' proto class may differ from onnx's
    names = [o.name for o in proto.graph.output]
    if "probabilities" in names:
        out_shape = _output_shape(signature)
        binary = out_shape is not None and len(out_shape) == 1
        return Converted(
            bytes(proto.SerializeToString()),
            OutputMap(("probabilities",), "probabilities", column=1 if binary else None),
            converter=f"onnxmltools.convert_{library}",
            precision="float32",
            task="classification",
        )
    rename(proto, {names[0]: "prediction"})
    return Converted(
        bytes(proto.SerializeToString()),
        OutputMap(("prediction",), "values", squeeze=True),
        converter=f"onnxmltools.convert_{library}",
        precision="float32",
        task="regression",
    )
