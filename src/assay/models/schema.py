"""The parts of a signature: named, typed DataFrame columns, or tensors with a dtype and a shape.

Dtypes are named portably, so a signature written under one pandas, numpy or torch reads the same under
another: numpy's names for numbers, booleans and datetimes ("float64", "int32", "datetime64[ns]"), "str"
for text (numpy unicode, a pandas string column, or an object column of strings), "object" for anything
else in an object column, and pandas' own names for its extension types ("category", "Int64").
A tensor's shape uses -1 for a dimension of any size (the batch dimension, always the first).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from assay.errors import InvalidInput
from assay.optional import require

SchemaKind = Literal["dataframe", "tensor", "tensors"]
#: Names the signature accepts for the text dtype; every one of them reads as "str".
_TEXT_NAMES = frozenset({"str", "string", "string[python]", "string[pyarrow]"})


@dataclass(frozen=True)
class ColSpec:
    """One DataFrame column: its name and dtype name."""

    name: str | int
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}


@dataclass(frozen=True)
class TensorSpec:
    """One array or tensor: dtype name and shape (-1: any size); ``name`` when inputs are passed by name."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype, "shape": list(self.shape)}
        if self.name is not None:
            out["name"] = self.name
        return out

    def shape_text(self) -> str:
        inner = ", ".join(str(n) for n in self.shape)
        return f"({inner},)" if len(self.shape) == 1 else f"({inner})"


@dataclass(frozen=True)
class Schema:
    """What goes in (or comes out): DataFrame columns, one tensor, or several tensors (a list or a dict)."""

    kind: SchemaKind
    columns: tuple[ColSpec, ...] = ()
    tensors: tuple[TensorSpec, ...] = ()

    @property
    def names(self) -> list[str | int]:
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "dataframe":
            return {"type": "dataframe", "columns": [c.to_dict() for c in self.columns]}
        if self.kind == "tensor":
            return {"type": "tensor", **self.tensors[0].to_dict()}
        return {"type": "tensors", "tensors": [t.to_dict() for t in self.tensors]}

    @classmethod
    def from_dict(cls, data: Any) -> Schema:
        """The inverse of ``to_dict``; ``InvalidInput`` for anything else."""
        if not isinstance(data, dict):
            raise InvalidInput(f"a signature schema must be a mapping, got {type(data).__name__}")
        kind = data.get("type")
        try:
            if kind == "dataframe":
                cols = tuple(ColSpec(c["name"], str(c["dtype"])) for c in data["columns"])
                return cls("dataframe", columns=cols)
            if kind == "tensor":
                return cls("tensor", tensors=(_tensor_from_dict(data),))
            if kind == "tensors":
                return cls("tensors", tensors=tuple(_tensor_from_dict(t) for t in data["tensors"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed {kind} schema in the signature: {exc!r}") from None
        raise InvalidInput(f"unknown signature schema type {kind!r}: expected dataframe, tensor or tensors")


def _tensor_from_dict(data: dict[str, Any]) -> TensorSpec:
    name = data.get("name")
    return TensorSpec(
        str(data["dtype"]), tuple(int(n) for n in data["shape"]), None if name is None else str(name)
    )


def dtype_name(dtype: Any) -> str:
    """The portable name of a numpy, pandas or torch dtype (see the module docstring)."""
    if isinstance(dtype, np.dtype):
        if dtype.kind in "US":
            return "str"
        if dtype.kind == "O":
            return "object"
        return dtype.name
    text = str(dtype)
    if text.startswith("torch."):
        return text[len("torch.") :]
    if text in _TEXT_NAMES or type(dtype).__name__ == "StringDtype":
        return "str"
    return text


def is_text(name: str) -> bool:
    return name in _TEXT_NAMES


def is_frame(value: Any) -> bool:
    """A pandas DataFrame, checked without importing pandas (no pandas loaded: it cannot be one)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, pd.DataFrame)


def is_torch_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def array_spec(value: Any, name: str | None = None) -> TensorSpec:
    """The spec of an array-like with a batch dimension first (numpy, torch, or anything np.asarray takes)."""
    if is_torch_tensor(value):
        return TensorSpec(dtype_name(value.dtype), _batch_shape(tuple(value.shape)), name)
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    return TensorSpec(dtype_name(arr.dtype), _batch_shape(arr.shape), name)


def _batch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (-1, *shape[1:]) if shape else ()


def frame_schema(frame: Any) -> Schema:
    """The columns of a DataFrame; an object column whose values are all strings is "str"."""
    import pandas as pd

    cols = []
    for name, dtype in zip(frame.columns, frame.dtypes, strict=True):
        text = dtype_name(dtype)
        if text == "object" and pd.api.types.infer_dtype(frame[name], skipna=True) in ("string", "empty"):
            text = "str"
        cols.append(ColSpec(name if isinstance(name, int) else str(name), text))
    return Schema("dataframe", columns=tuple(cols))


def infer_schema(value: Any) -> Schema:
    """The schema of an input example or a model's output (see ``infer_signature``)."""
    if is_frame(value):
        return frame_schema(value)
    if isinstance(value, dict):
        if value and all(_is_array(v) for v in value.values()):
            return Schema("tensors", tensors=tuple(array_spec(v, str(k)) for k, v in value.items()))
        return frame_schema(_frame_of(value))
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, dict) for v in value):
            return frame_schema(_frame_of(value))
        if value and all(_is_array(v) for v in value):
            return Schema("tensors", tensors=tuple(array_spec(v) for v in value))
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        raise InvalidInput(
            f"cannot infer a signature from a {type(value).__name__}: give a DataFrame, an array, "
            "a list or dict of arrays, or a list of records"
        )
    return Schema("tensor", tensors=(array_spec(value),))


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or is_torch_tensor(value)


def _frame_of(records: Any) -> Any:
    pd = require("pandas", "pandas", "a signature from records")
    if isinstance(records, dict) and not any(
        isinstance(v, (list, tuple, np.ndarray)) for v in records.values()
    ):
        records = [records]  # one record
    return pd.DataFrame(records)
