"""The ONNX bridge: convert a model of any flavor to ONNX, prove it predicts as the native model does, measure
both, and serve it with onnxruntime.

    import assay.onnx
    result = assay.onnx.convert("models:/churn/3", data=X_val)   # stored with the version
    print(result.parity.render())                                # native vs onnxruntime, per output
    info, parity, latency = assay.onnx.report("models:/churn/3")
    predictor = assay.onnx.predictor("models:/churn/3")          # OnnxPredictor: predict, predict_proba

A model in hand (never logged) goes through ``convert_checked(native_predictor(model, X[:5]), X)``.
Converters are kept by flavor in a public registry (``register_converter``). The conversion libraries
(``pip install 'assay[onnx]'``: skl2onnx, onnxmltools, onnxruntime, onnxscript, tf2onnx) are imported only
when a model is converted or run; ``import assay.onnx`` loads none of them, and no part of ``assay`` but
this package imports it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.onnx.base import ConversionError, Converted, Converter
    from assay.onnx.bridge import convert, load_onnx, predictor, report
    from assay.onnx.check import OnnxResult, convert_checked, native_predictor
    from assay.onnx.converters import convert_model, get_converter, register_converter, registered_converters
    from assay.onnx.info import OnnxInfo
    from assay.onnx.latency import LatencyCard, measure_latency
    from assay.onnx.parity import OutputParity, ParityReport, Tolerance
    from assay.onnx.runtime import OnnxPredictor

_LAZY = {
    "ConversionError": "assay.onnx.base",
    "Converted": "assay.onnx.base",
    "Converter": "assay.onnx.base",
    "convert": "assay.onnx.bridge",
    "load_onnx": "assay.onnx.bridge",
    "predictor": "assay.onnx.bridge",
    "report": "assay.onnx.bridge",
    "OnnxResult": "assay.onnx.check",
    "convert_checked": "assay.onnx.check",
    "native_predictor": "assay.onnx.check",
    "convert_model": "assay.onnx.converters",
    "get_converter": "assay.onnx.converters",
    "register_converter": "assay.onnx.converters",
    "registered_converters": "assay.onnx.converters",
    "OnnxInfo": "assay.onnx.info",
    "LatencyCard": "assay.onnx.latency",
    "measure_latency": "assay.onnx.latency",
    "OutputParity": "assay.onnx.parity",
    "ParityReport": "assay.onnx.parity",
    "Tolerance": "assay.onnx.parity",
    "OnnxPredictor": "assay.onnx.runtime",
}

__all__ = [
    "ConversionError",
    "Converted",
    "Converter",
    "LatencyCard",
    "OnnxInfo",
    "OnnxPredictor",
    "OnnxResult",
    "OutputParity",
    "ParityReport",
    "Tolerance",
    "convert",
    "convert_checked",
    "convert_model",
    "get_converter",
    "load_onnx",
    "measure_latency",
    "native_predictor",
    "predictor",
    "register_converter",
    "registered_converters",
    "report",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.onnx' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
