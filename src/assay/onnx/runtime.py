"""``OnnxPredictor``: an onnxruntime session that predicts as the native model does, its input checked first.

Built once per model version and called per request, so everything that can be decided ahead is decided in
``__init__``: the input check compiled from the signature (``assay.models.checks``, a few comparisons for
input already in the signature's shape), which ONNX input each column or tensor feeds and its numpy dtype,
and which outputs ``predict`` and ``predict_proba`` read. A call then converts the input to the ONNX types
(a DataFrame of one numeric dtype in a single ``to_numpy``, sliced per column without copying) and runs the
session for the outputs it needs.

The session uses ``threads`` intra-op threads: 1 by default, best for single rows (DESIGN.md: thread
hand-offs cost more than a one-row tree walk) and for a server that runs requests side by side; 0 lets
onnxruntime use a thread per core, which pays off on large batches.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from assay.errors import InvalidInput
from assay.models.checks import compile_check
from assay.models.schema import Schema, is_frame, is_torch_tensor
from assay.models.signature import Signature
from assay.onnx.graph import OUTPUTS_KEY, PRECISION_KEY, SIGNATURE_KEY, TASK_KEY, OutputMap
from assay.optional import require

Feed = Callable[[Any], dict[str, Any]]

#: numpy dtypes of ONNX tensor types.
_NUMPY: dict[str, np.dtype[Any]] = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(double)": np.dtype(np.float64),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(bool)": np.dtype(np.bool_),
    "tensor(string)": np.dtype(object),
    "tensor(float16)": np.dtype(np.float16),
}


class OnnxPredictor:
    """``predict`` (labels for classifiers) and ``predict_proba`` (where the model has probabilities) on an
    ONNX model, input checked against ``signature`` (default: the one assay stamped in the file).

    Thread-safe: onnxruntime sessions run concurrently, and the compiled checks keep no per-call state.
    """

    def __init__(
        self, onnx_bytes: bytes, signature: Signature | Mapping[str, Any] | None = None, *, threads: int = 1
    ) -> None:
        ort = require("onnxruntime", "onnx", "running ONNX models")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.threads = threads
        self.session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.signature = _signature(signature, meta)
        self.precision = meta.get(PRECISION_KEY, "")
        self.task = meta.get(TASK_KEY, "")
        names = [o.name for o in self.session.get_outputs()]
        raw = meta.get(OUTPUTS_KEY)
        self.outputs = OutputMap.from_dict(json.loads(raw)) if raw else OutputMap((names[0],))
        missing = [n for n in (*self.outputs.predict, self.outputs.proba) if n is not None and n not in names]
        if missing:
            raise InvalidInput(f"the ONNX model has no output {missing[0]!r}; it has {', '.join(names)}")
        inputs = [(i.name, _numpy_type(i.type)) for i in self.session.get_inputs()]
        self._check = _compile_check(self.signature.inputs) if self.signature is not None else _unchecked
        self._feed = _compile_feed(self.signature.inputs if self.signature is not None else None, inputs)
        self._run = self.session.run
        self._predict_names = list(self.outputs.predict)
        self._label_dtype = _label_dtype(self.signature, self.outputs)

    @property
    def has_proba(self) -> bool:
        return self.outputs.proba is not None

    def feeds(self, X: Any) -> dict[str, Any]:
        """The ONNX inputs for ``X`` (checked against the signature and cast to the ONNX types)."""
        return self._feed(self._check(X))

    def run(self, X: Any) -> dict[str, Any]:
        """Every output of the model on ``X``, by name, as onnxruntime gives them."""
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self._run(names, self.feeds(X)), strict=True))

    def predict(self, X: Any) -> Any:
        """What the native model's ``predict`` gives on ``X``: labels for a classifier, values for a regressor,
        the output (or list of outputs) of a network."""
        out = self._run(self._predict_names, self._feed(self._check(X)))
        if len(out) > 1:
            return out
        result = out[0]
        o = self.outputs
        if o.column is not None:
            result = result[:, o.column]
        elif o.squeeze and result.ndim == 2 and result.shape[1] == 1:
            result = result[:, 0]
        if self._label_dtype is not None and result.dtype != self._label_dtype:
            result = result.astype(self._label_dtype)
        return result

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities on ``X``, shape ``(n, classes)``; ``InvalidInput`` if the model gives none."""
        if self.outputs.proba is None:
            raise InvalidInput("this ONNX model has no probability output: it is not a classifier")
        return self._run([self.outputs.proba], self._feed(self._check(X)))[0]

    def __repr__(self) -> str:
        return f"<OnnxPredictor {self.task or 'model'} {self.precision} threads={self.threads}>"


def _unchecked(X: Any) -> Any:
    return X


def _compile_check(schema: Schema) -> Callable[[Any], Any]:
    """The signature's input check, with two shortcuts when every DataFrame column is a float (every number
    casts safely into one): a 2-D numeric array of as many columns is taken as is, and records (a dict or
    a list of dicts, what a JSON request brings) of exactly the columns, holding plain numbers, become an
    array directly; a 30-column record costs ~900 us as a DataFrame, ~10 us so. Anything else goes through
    the full check, which also explains every refusal."""
    check = compile_check(schema)
    floats = schema.kind == "dataframe" and all(_is_float(c.dtype) for c in schema.columns)
    if not floats:
        return check
    names = list(schema.names)
    width = len(names)
    numbers = (float, int)

    def row(record: dict[Any, Any]) -> list[Any] | None:
        if len(record) != width:
            return None
        try:
            values = [record[n] for n in names]
        except KeyError:
            return None
        return values if all(type(v) in numbers for v in values) else None

    def fast(X: Any) -> Any:
        kind = type(X)
        if kind is np.ndarray:
            if X.ndim == 2 and X.shape[1] == width and X.dtype.kind in "fiu":
                return X
        elif kind is dict:
            values = row(X)
            if values is not None:
                return np.array([values], dtype=np.float64)
        elif kind is list and X and type(X[0]) is dict:
            rows = [row(r) if type(r) is dict else None for r in X]
            if None not in rows:
                return np.array(rows, dtype=np.float64)
        return check(X)

    return fast


def _is_float(dtype: str) -> bool:
    try:
        return np.dtype(dtype.lower()).kind == "f"
    except TypeError:
        return False


def _numpy_type(onnx_type: str) -> np.dtype[Any]:
    try:
        return _NUMPY[onnx_type]
    except KeyError:
        raise InvalidInput(
            f"the ONNX model takes an input of type {onnx_type}, which assay does not feed"
        ) from None


def _signature(given: Signature | Mapping[str, Any] | None, meta: Mapping[str, str]) -> Signature | None:
    if isinstance(given, Signature):
        return given
    if given is not None:
        return Signature.from_dict(dict(given))
    raw = meta.get(SIGNATURE_KEY)
    return Signature.from_dict(json.loads(raw)) if raw else None


def _label_dtype(signature: Signature | None, outputs: OutputMap) -> np.dtype[Any] | None:
    """The numeric dtype of the native labels (int32, bool...), where ONNX gives int64 instead."""
    if outputs.predict_role != "label" or signature is None or signature.outputs is None:
        return None
    if signature.outputs.kind != "tensor":
        return None
    try:
        dtype = np.dtype(signature.outputs.tensors[0].dtype)
    except TypeError:
        return None
    return dtype if dtype.kind in "biu" else None


def _compile_feed(schema: Schema | None, inputs: Sequence[tuple[str, np.dtype[Any]]]) -> Feed:
    if schema is not None and schema.kind == "dataframe":
        return _FrameFeed([str(c.name) for c in schema.columns], list(schema.names), inputs).__call__
    if len(inputs) == 1:
        (name, dtype), *_ = inputs
        return _single(name, dtype)
    return _several(inputs, schema)


class _FrameFeed:
    """DataFrame columns (or the columns of a 2-D array in signature order) to one ONNX input each, or to
    the one matrix input of a model that takes all of them together."""

    def __init__(
        self, columns: list[str], labels: list[str | int], inputs: Sequence[tuple[str, np.dtype[Any]]]
    ) -> None:
        if len(inputs) == 1 and inputs[0][0] not in columns:  # one matrix of every column, in order
            columns = [inputs[0][0]]
            self.matrix: np.dtype[Any] | None = inputs[0][1]
        else:
            self.matrix = None
        unknown = [name for name, _ in inputs if name not in columns]
        if unknown:
            raise InvalidInput(
                f"the ONNX model takes input {unknown[0]!r}, which is not a column of the signature"
            )
        self.inputs = [(name, columns.index(name), dtype) for name, dtype in inputs]
        self.labels = labels
        kinds = {dtype for _, dtype in inputs}
        only = next(iter(kinds)) if len(kinds) == 1 else None
        #: The one numeric dtype of every input: the whole frame converts in one call.
        self.uniform = only if only is not None and only.kind in "fiub" else None

    def __call__(self, X: Any) -> dict[str, Any]:
        if self.matrix is not None:
            name = self.inputs[0][0]
            return {name: X.to_numpy(dtype=self.matrix) if is_frame(X) else np.asarray(X, dtype=self.matrix)}
        if self.uniform is not None:
            matrix = X.to_numpy(dtype=self.uniform) if is_frame(X) else np.asarray(X, dtype=self.uniform)
            return {name: matrix[:, pos : pos + 1] for name, pos, _ in self.inputs}
        if not is_frame(X):
            raise InvalidInput("the model takes a DataFrame (or records) with text columns, not an array")
        feeds = {}
        for name, pos, dtype in self.inputs:
            column = X[self.labels[pos]].to_numpy(dtype=dtype if dtype.kind != "O" else object)
            feeds[name] = column.reshape(-1, 1)
        return feeds


def _as_numpy(value: Any, dtype: np.dtype[Any]) -> Any:
    if is_torch_tensor(value):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def _single(name: str, dtype: np.dtype[Any]) -> Feed:
    def feed(X: Any) -> dict[str, Any]:
        if type(X) is np.ndarray and X.dtype == dtype:
            return {name: X}
        return {name: _as_numpy(X, dtype)}

    return feed


def _several(inputs: Sequence[tuple[str, np.dtype[Any]]], schema: Schema | None) -> Feed:
    named = schema is not None and all(t.name is not None for t in schema.tensors)

    def feed(X: Any) -> dict[str, Any]:
        if isinstance(X, Mapping):
            if named:
                return {name: _as_numpy(X[name], dtype) for name, dtype in inputs}
            X = list(X.values())
        if not isinstance(X, (list, tuple)) or len(X) != len(inputs):
            raise InvalidInput(f"the model takes {len(inputs)} inputs: {', '.join(n for n, _ in inputs)}")
        return {name: _as_numpy(x, dtype) for (name, dtype), x in zip(inputs, X, strict=True)}

    return feed
