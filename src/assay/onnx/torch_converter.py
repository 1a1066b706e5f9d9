"""PyTorch modules with ``torch.onnx.export``: the dynamo exporter first, the legacy TorchScript one after.

The dynamo exporter (``dynamo=True``; it builds the graph with onnxscript) is the maintained path and
handles what ``torch.export`` handles, including the modules assay saves as exported programs; the whole
model is kept in the one file (``external_data=False``). When it fails (a module ``torch.export`` cannot
trace), the legacy exporter tries, and the conversion notes say so and why. Either way the batch
dimension is dynamic and the inputs and outputs carry the signature's names (``input``, ``output``, or
``input_0``... for several).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from assay.models.schema import Schema, TensorSpec
from assay.models.signature import Signature
from assay.onnx.base import ConversionError, Converted, Converter, Precision, root_cause
from assay.onnx.graph import OutputMap
from assay.optional import require

#: The dynamo exporter's opset (the same main opset as skl2onnx conversions).
OPSET = 21
#: The legacy exporter's.
LEGACY_OPSET = 18


class TorchConverter(Converter):
    library = "torch"

    def convert(
        self, model: Any, signature: Signature, precision: Precision, example: Any = None
    ) -> Converted:
        torch = require("torch", "torch", "converting PyTorch modules to ONNX")
        specs = _tensor_specs(signature.inputs)
        names = input_names(signature.inputs)
        args = _example_args(torch, specs, example)
        was_training = model.training
        _set_mode(model, False)
        try:
            outputs = output_names(signature, _count_outputs(torch, model, args))
            data, how, notes = _export(torch, model, args, names, outputs)
        finally:
            _set_mode(model, was_training)
        floating = next((s.dtype for s in specs if s.dtype.startswith("float")), "float32")
        return Converted(
            data,
            OutputMap(tuple(outputs), "values"),
            converter=how,
            precision="float64" if floating == "float64" else "float32",
            task="network",
            notes=notes,
        )


def _set_mode(model: Any, training: bool) -> None:
    """``model.train(training)``, except on a module rebuilt from a ``torch.export`` archive (what
    ``assay.load_model`` returns for a ``.pt2`` model): it was exported in eval mode and refuses the call."""
    with contextlib.suppress(NotImplementedError):
        model.train(training)


def _export(
    torch: Any, model: Any, args: tuple[Any, ...], names: list[str], outputs: list[str]
) -> tuple[bytes, str, tuple[str, ...]]:
    """The ONNX bytes, the exporter that made them, and a note when the dynamo exporter failed."""
    try:
        # torch.export prints the partial graph of a module it cannot export to stderr (a bare print):
        # the legacy exporter is tried next, and the note says why, so the dump is kept out of the way.
        with contextlib.redirect_stderr(io.StringIO()):
            return _dynamo(torch, model, args, names, outputs), "torch.onnx.export(dynamo=True)", ()
    except Exception as exc:
        try:
            data = _legacy(torch, model, args, names, outputs)
        except Exception as legacy:
            raise ConversionError(
                f"torch.onnx.export cannot export {type(model).__qualname__}: dynamo: {root_cause(exc, 200)}; "
                f"legacy: {root_cause(legacy, 200)}"
            ) from legacy
        note = f"the dynamo exporter failed ({root_cause(exc, 200)}); the legacy exporter was used"
        return data, "torch.onnx.export(dynamo=False)", (note,)


def _tensor_specs(schema: Schema) -> tuple[TensorSpec, ...]:
    if schema.kind == "dataframe":
        raise ConversionError("a network takes tensors; this model's signature is a DataFrame")
    return schema.tensors


def input_names(schema: Schema) -> list[str]:
    """The ONNX input names of a tensor signature: the tensors' names, else ``input`` / ``input_<i>``."""
    specs = schema.tensors
    if len(specs) == 1:
        return [specs[0].name or "input"]
    return [s.name or f"input_{i}" for i, s in enumerate(specs)]


def output_names(signature: Signature, count: int) -> list[str]:
    """The ONNX output names: the signature's tensor names, else ``output`` / ``output_<i>``."""
    specs = signature.outputs.tensors if signature.outputs is not None else ()
    if count == 1:
        return [specs[0].name or "output"] if len(specs) == 1 else ["output"]
    return [(specs[i].name if i < len(specs) else None) or f"output_{i}" for i in range(count)]


def _example_args(torch: Any, specs: tuple[TensorSpec, ...], example: Any) -> tuple[Any, ...]:
    """Tensors to trace with: a few rows of the example when there is one, else zeros; two rows at least
    (export specialises a dimension of size 1)."""
    if isinstance(example, dict):
        example = list(example.values())
    given = example if isinstance(example, (list, tuple)) else [example]
    args = []
    for i, spec in enumerate(specs):
        value = given[i] if example is not None and i < len(given) else None
        if value is not None:
            arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            arr = np.ascontiguousarray(arr[:4])
            if arr.shape[0] == 1:
                arr = np.concatenate([arr, arr])
        else:
            arr = np.zeros((2, *(1 if n == -1 else n for n in spec.shape[1:])), dtype=np.dtype(spec.dtype))
        args.append(torch.from_numpy(arr.astype(np.dtype(spec.dtype), copy=True)))
    return tuple(args)


def _count_outputs(torch: Any, model: Any, args: tuple[Any, ...]) -> int:
    with torch.no_grad():
        out = model(*args)
    return len(out) if isinstance(out, (list, tuple)) else 1


def _dynamo(torch: Any, model: Any, args: tuple[Any, ...], names: list[str], outputs: list[str]) -> bytes:
    batch = torch.export.Dim.DYNAMIC
    program = torch.onnx.export(
        model,
        args,
        None,
        dynamo=True,
        input_names=names,
        output_names=outputs,
        dynamic_shapes=tuple({0: batch} if a.dim() else None for a in args),
        external_data=False,
        opset_version=OPSET,
        verbose=False,
    )
    return bytes(program.model_proto.SerializeToString())


def _legacy(torch: Any, model: Any, args: tuple[Any, ...], names: list[str], outputs: list[str]) -> bytes:
    buffer = io.BytesIO()
    axes = {n: {0: "batch"} for n in [*names, *outputs]}
    torch.onnx.export(
        model,
        args,
        buffer,
        dynamo=False,
        input_names=names,
        output_names=outputs,
        dynamic_axes=axes,
        opset_version=LEGACY_OPSET,
    )
    return buffer.getvalue()
