"""ONNX converters: one per model flavor, in a public registry keyed by the flavor's name.

This is the one visible place that says how a flavor's models become ONNX (as skl2onnx's
``update_registered_converter`` is for estimator types): ``register_converter("myflavor", MyConverter())``
adds or replaces one. The built-in converters import their libraries only when they convert, so importing
``assay.onnx`` loads none of them, and a missing one fails with ``pip install 'assay[onnx]'``.

``convert_model`` is what every caller goes through: it finds the converter, runs it, loads the result in
onnxruntime (a model that converts but does not load, such as a float64 tree ensemble at ``ai.onnx.ml``
opset 3, is a conversion failure, not a surprise at serving time), and stamps the ONNX file with what the
runtime needs to predict as the native model does (``assay.outputs``, ``assay.signature``).
"""

from __future__ import annotations

from typing import Any

from assay.errors import InvalidInput
from assay.models.signature import Signature
from assay.onnx.base import (
    PRECISIONS,
    ConversionError,
    Converted,
    Converter,
    Precision,
    class_path,
    one_line,
    quiet,
    root_cause,
)
from assay.onnx.graph import describe, stamp
from assay.onnx.info import OnnxInfo
from assay.onnx.keras_converter import KerasConverter
from assay.onnx.sklearn_converter import SklearnConverter
from assay.onnx.torch_converter import TorchConverter
from assay.optional import require

__all__ = [
    "ConversionError",
    "Converted",
    "Converter",
    "Precision",
    "convert_model",
    "get_converter",
    "register_converter",
    "registered_converters",
]

_REGISTRY: dict[str, Converter] = {}


def register_converter(flavor: str, converter: Converter) -> None:
    """Convert models of ``flavor`` (a model descriptor's ``flavor``) with ``converter``, replacing any other."""
    _REGISTRY[flavor] = converter


def registered_converters() -> dict[str, Converter]:
    """The converters by flavor."""
    return dict(_REGISTRY)


def get_converter(flavor: str) -> Converter:
    """The converter of ``flavor``; ``ConversionError`` naming the flavors that have one if none does."""
    try:
        return _REGISTRY[flavor]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConversionError(
            f"no ONNX converter for the {flavor!r} flavor (converters exist for {known}); "
            "register one with assay.onnx.register_converter"
        ) from None


def convert_model(
    model: Any,
    flavor: str,
    signature: Signature | None,
    precision: Precision = "float32",
    example: Any = None,
) -> tuple[Converted, OnnxInfo]:
    """``model`` of ``flavor`` in ONNX, loaded once in onnxruntime to prove it runs, and its description.

    ``precision``: the ONNX type of floating inputs ("float32", the default, or "float64": preprocessing in
    double as scikit-learn computes it, cast to float32 where the native model casts, before trees).
    ``ConversionError`` names what cannot be converted; nothing else escapes a converter.
    """
    if precision not in PRECISIONS:
        raise InvalidInput(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if signature is None:
        raise ConversionError(
            "the model has no signature (it was logged without an input example), so the ONNX inputs "
            "cannot be typed: log it again with input_example="
        )
    converter = get_converter(flavor)
    with quiet():
        try:
            made = converter.convert(model, signature, precision, example)
        except (ConversionError, MemoryError):
            raise
        except Exception as exc:
            raise ConversionError(
                f"{converter.library} failed to convert {class_path(model)} ({root_cause(exc)}); "
                "it may not support this model or this version of its library: register another converter "
                "with assay.onnx.register_converter, or serve the native model"
            ) from exc
    made.onnx = stamp(made.onnx, made.outputs, signature, precision=made.precision, task=made.task)
    check_loads(made.onnx, model)
    info = OnnxInfo.build(
        describe(made.onnx),
        flavor=flavor,
        converter=f"{made.converter} ({converter.library} {converter.version()})",
        precision=made.precision,
        task=made.task,
        notes=made.notes,
    )
    return made, info


def check_loads(onnx_bytes: bytes, model: Any) -> None:
    """``ConversionError`` if onnxruntime refuses the converted model (its first line, and what to try)."""
    ort = require("onnxruntime", "onnx", "checking a converted model")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ConversionError(
            f"onnxruntime cannot load the ONNX of {class_path(model)}: {one_line(exc)[:300]}; "
            "convert it with precision='float32'"
        ) from None


_sklearn = SklearnConverter()
for _flavor, _converter in (
    ("sklearn", _sklearn),
    ("xgboost", _sklearn),
    ("lightgbm", _sklearn),
    ("torch", TorchConverter()),
    ("keras", KerasConverter()),
):
    register_converter(_flavor, _converter)
