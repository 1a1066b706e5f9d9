"""Small edits of ONNX graphs, and the metadata assay keeps in the ONNX file.

Converters name things their own way (skl2onnx turns the column ``mean radius`` into the input
``mean_radius``; tf2onnx calls an output ``Identity:0``); ``rename`` puts the signature's names back.

``stamp`` writes into the file's ``metadata_props`` what a runtime needs to predict as the native model
does, so the file is self-describing: ``OnnxPredictor(onnx_bytes)`` needs nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from assay.errors import InvalidInput
from assay.models.signature import Signature
from assay.optional import require

#: Keys of ``metadata_props``.
OUTPUTS_KEY = "assay.outputs"
SIGNATURE_KEY = "assay.signature"
PRECISION_KEY = "assay.precision"
TASK_KEY = "assay.task"

#: What an output holds, which decides how parity compares it.
ROLES = ("label", "probabilities", "values")


@dataclass(frozen=True)
class OutputMap:
    """How the native model's methods map onto the ONNX outputs.

    ``predict``: the outputs that make ``predict``'s result (one: an array; several: a list, in order).
    ``predict_role``: what it holds ("label" for a classifier, "probabilities" for an XGBoost or LightGBM
    Booster, which predicts probabilities, "values" otherwise). ``column``: ``predict`` takes this column
    of its output (a binary Booster's probability of class 1). ``squeeze``: ``predict`` returns shape
    ``(n,)`` where the ONNX output is ``(n, 1)`` (a scikit-learn regressor). ``proba``: the output
    ``predict_proba`` returns, if the native model has that method.
    """

    predict: tuple[str, ...]
    predict_role: str = "values"
    column: int | None = None
    squeeze: bool = False
    proba: str | None = None

    def roles(self) -> dict[str, str]:
        """Each compared output's role, by name."""
        out = dict.fromkeys(self.predict, self.predict_role)
        if self.proba is not None:
            out[self.proba] = "probabilities"
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "predict": list(self.predict)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputMap:
        try:
            return cls(
                predict=tuple(str(n) for n in data["predict"]),
                predict_role=str(data.get("predict_role", "values")),
                column=None if data.get("column") is None else int(data["column"]),
                squeeze=bool(data.get("squeeze", False)),
                proba=None if data.get("proba") is None else str(data["proba"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed {OUTPUTS_KEY} in the ONNX metadata: {exc!r}") from None


def onnx_module() -> Any:
    return require("onnx", "onnx", "reading and editing ONNX models")


def load_proto(data: bytes) -> Any:
    return onnx_module().load_from_string(data)


def rename(model: Any, mapping: Mapping[str, str]) -> None:
    """Rename values of ``model``'s graph (inputs, outputs, node inputs and outputs, initializers) in place.

    Only the top graph: the converters assay uses put none of the renamed values in subgraphs."""
    mapping = {old: new for old, new in mapping.items() if old != new}
    if not mapping:
        return
    graph = model.graph
    clash = set(mapping.values()) & (
        {v.name for v in graph.input} | {n for node in graph.node for n in node.output}
    )
    clash -= set(mapping)
    if clash:
        raise InvalidInput(f"cannot name an ONNX value {sorted(clash)[0]!r}: the graph already has one")
    for value in [*graph.input, *graph.output, *graph.value_info, *graph.initializer]:
        value.name = mapping.get(value.name, value.name)
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in mapping:
                node.input[i] = mapping[name]
        for i, name in enumerate(node.output):
            if name in mapping:
                node.output[i] = mapping[name]


def stamp(data: bytes, outputs: OutputMap, signature: Signature, *, precision: str, task: str) -> bytes:
    """``data`` with assay's metadata (output map, signature, precision, task) in its ``metadata_props``."""
    model = load_proto(data)
    values = {
        OUTPUTS_KEY: json.dumps(outputs.to_dict(), sort_keys=True),
        SIGNATURE_KEY: json.dumps(signature.to_dict(), sort_keys=True),
        PRECISION_KEY: precision,
        TASK_KEY: task,
    }
    kept = [p for p in model.metadata_props if p.key not in values]
    del model.metadata_props[:]
    for prop in kept:
        model.metadata_props.add(key=prop.key, value=prop.value)
    for key, value in values.items():
        model.metadata_props.add(key=key, value=value)
    return bytes(model.SerializeToString())


def describe(data: bytes) -> dict[str, Any]:
    """Opsets, inputs and outputs (name, element type, shape with -1 for a free dimension), size, digest."""
    onnx = onnx_module()
    model = load_proto(data)
    return {
        "opsets": {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import},
        "ir_version": int(model.ir_version),
        "inputs": [_value(onnx, v) for v in model.graph.input],
        "outputs": [_value(onnx, v) for v in model.graph.output],
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
    }


def _value(onnx: Any, value: Any) -> dict[str, Any]:
    tensor = value.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
    kind = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type) if tensor.elem_type else None
    name = "str" if kind is not None and kind.kind == "O" else (str(kind) if kind is not None else "unknown")
    return {"name": value.name, "type": name, "shape": shape}
