"""Input checks compiled from a schema: one callable per model that returns the input, made safe, or raises.

``Predictor.predict`` runs the check before every call, so the usual case costs a few microseconds: a numpy
array of the right dtype and shape is returned after three comparisons; a DataFrame whose columns are the
expected Index (compared as a whole, or the very Index object accepted last time) and whose dtypes are the
list accepted last time is returned as is. Everything else takes the slow path, which explains a refusal
in one line (the wrong, missing or extra column, or dtype, or shape, and what was expected) and coerces
what is safe: integers into a float column, a smaller integer into a larger one, columns in another order,
records (a dict or a list of dicts) or a 2-D array into a DataFrame, nested lists into an array.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np

from assay.errors import InvalidInput
from assay.models.schema import Schema, TensorSpec, dtype_name, is_frame, is_text, is_torch_tensor
from assay.optional import require

Check = Callable[[Any], Any]
Verdict = Literal["ok", "cast"] | None


def compile_check(schema: Schema) -> Check:
    """The check for inputs of ``schema`` (see the module docstring for what it accepts)."""
    if schema.kind == "dataframe":
        return FrameCheck(schema).__call__
    if schema.kind == "tensor":
        return TensorCheck(schema.tensors[0]).__call__
    return TensorsCheck(schema).__call__


def accepts(want: str, got: Any) -> Verdict:
    """Whether a value of dtype ``got`` fits dtype name ``want``: as is, after a safe cast, or not at all."""
    name = dtype_name(got)
    if name == want or want == "object":
        return "ok"
    if is_text(want):
        return "ok" if name in ("str", "object") else None
    target = _numpy_dtype(want)
    source = got if isinstance(got, np.dtype) else _numpy_dtype(name)
    if target is None or source is None:
        return None
    if target.kind == "f" and source.kind in "biuf":
        return "cast"  # int -> float, float32 <-> float64: what a model of floats computes in anyway
    if target.kind in "iu" and source.kind in "biu" and np.can_cast(source, target, "safe"):
        return "cast"
    if target.kind == "M" and source.kind == "M":
        return "cast"
    return None


def _numpy_dtype(name: str) -> np.dtype[Any] | None:
    """The numpy dtype of a name; pandas' nullable names ("Int64", "Float32", "boolean") give their numpy
    counterpart, so an int64 column fits an Int64 signature and the other way round."""
    for candidate in (name, "bool" if name == "boolean" else name.lower()):
        try:
            return np.dtype(candidate)
        except TypeError:
            continue
    return None


class TensorCheck:
    """An array (or torch tensor) of one dtype and shape; ``label`` names it in messages."""

    def __init__(self, spec: TensorSpec, label: str = "input") -> None:
        self.spec = spec
        self.label = label
        self.dtype = _numpy_dtype(spec.dtype)
        self.ndim = len(spec.shape)
        self.fixed = tuple((axis, size) for axis, size in enumerate(spec.shape) if size != -1)

    def __call__(self, X: Any) -> Any:
        if type(X) is np.ndarray and X.dtype == self.dtype and X.ndim == self.ndim:
            shape = X.shape
            for axis, size in self.fixed:
                if shape[axis] != size:
                    break
            else:
                return X
        return self.slow(X)

    def slow(self, X: Any) -> Any:
        if is_torch_tensor(X):
            return self._torch(X)
        if is_frame(X):
            X = X.to_numpy()
        elif not isinstance(X, np.ndarray):
            try:
                X = np.asarray(X)
            except (TypeError, ValueError) as exc:
                raise InvalidInput(
                    f"{self.label} is not array-like ({exc}); expected {self._expected()}"
                ) from None
        self._check_shape(X.shape)
        verdict = accepts(self.spec.dtype, X.dtype)
        if verdict is None:
            raise InvalidInput(f"{self.label} has dtype {dtype_name(X.dtype)}, expected {self._expected()}")
        return X.astype(self.dtype) if verdict == "cast" and self.dtype is not None else X

    def _torch(self, X: Any) -> Any:
        self._check_shape(tuple(X.shape))
        got = dtype_name(X.dtype)
        verdict = accepts(self.spec.dtype, _numpy_dtype(got) or got)
        if verdict is None:
            raise InvalidInput(f"{self.label} has dtype {got}, expected {self._expected()}")
        if verdict == "cast":
            torch = require("torch", "torch", "casting a torch tensor")
            return X.to(getattr(torch, self.spec.dtype))
        return X

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        wrong = len(shape) != self.ndim or any(shape[axis] != size for axis, size in self.fixed)
        if not wrong:
            return
        hint = ""
        if len(shape) == 1 and self.ndim == 2 and shape[0] == self.spec.shape[1]:
            hint = "; for one row pass X.reshape(1, -1)"
        raise InvalidInput(
            f"{self.label} has shape {tuple(shape)}, expected {self.spec.shape_text()} (-1: any size){hint}"
        )

    def _expected(self) -> str:
        return f"{self.spec.dtype} of shape {self.spec.shape_text()}"


class TensorsCheck:
    """Several arrays: a list in order, or a dict by name when the signature names them."""

    def __init__(self, schema: Schema) -> None:
        self.named = all(t.name is not None for t in schema.tensors)
        self.checks = [
            (t.name, TensorCheck(t, f"input {t.name!r}" if self.named else f"input #{i}"))
            for i, t in enumerate(schema.tensors)
        ]

    def __call__(self, X: Any) -> Any:
        if self.named:
            names = [name for name, _ in self.checks]
            if not isinstance(X, Mapping):
                raise InvalidInput(f"the model takes named inputs {', '.join(map(str, names))}: pass a dict")
            missing = [n for n in names if n not in X]
            extra = [n for n in X if n not in names]
            if missing or extra:
                what = f"missing input {missing[0]!r}" if missing else f"unexpected input {extra[0]!r}"
                raise InvalidInput(f"{what}; the model takes inputs {', '.join(map(str, names))}")
            return {name: check(X[name]) for name, check in self.checks}
        if not isinstance(X, (list, tuple)) or len(X) != len(self.checks):
            raise InvalidInput(f"the model takes a list of {len(self.checks)} arrays")
        return [check(x) for x, (_, check) in zip(X, self.checks, strict=True)]


def frame_dtypes(frame: Any) -> list[Any]:
    """A DataFrame's column dtypes as a list. ``DataFrame.dtypes`` builds a Series (~30 us): the block
    manager's ``get_dtypes`` gives the same list in ~1 us, and is used when this pandas has it."""
    get = getattr(getattr(frame, "_mgr", None), "get_dtypes", None)
    return get().tolist() if get is not None else list(frame.dtypes)


class FrameCheck:
    """A DataFrame with the signature's columns: names, order (reordered if need be) and dtypes."""

    def __init__(self, schema: Schema) -> None:
        self.pd = require("pandas", "pandas", "a model whose signature takes a DataFrame")
        self.columns = schema.columns
        self.names = schema.names
        self.index = self.pd.Index(self.names)
        self.ok_columns: Any = None  # the columns Index accepted last (Index objects are immutable)
        self.ok_dtypes: list[Any] | None = None  # the dtype list accepted as is last

    def __call__(self, X: Any) -> Any:
        if type(X) is self.pd.DataFrame:
            cols = X.columns
            if (cols is self.ok_columns or cols.equals(self.index)) and frame_dtypes(X) == self.ok_dtypes:
                self.ok_columns = cols
                return X
        return self.slow(X)

    def slow(self, X: Any) -> Any:
        frame = self._to_frame(X)
        got = list(frame.columns)
        wanted, present = set(self.names), set(got)
        missing = [c for c in self.columns if c.name not in present]
        if missing:
            first = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise InvalidInput(
                f"missing column {first.name!r} ({first.dtype}){more}; the model takes columns {self._names()}"
            )
        extra = [c for c in got if c not in wanted]
        if extra:
            raise InvalidInput(f"unexpected column {extra[0]!r}; the model takes columns {self._names()}")
        if got != self.names:
            frame = frame[self.names]
        dtypes = frame_dtypes(frame)
        casts: dict[Any, Any] = {}
        for spec, dtype in zip(self.columns, dtypes, strict=True):
            verdict = accepts(spec.dtype, dtype)
            if verdict is None:
                raise InvalidInput(
                    f"column {spec.name!r} has dtype {dtype_name(dtype)}, expected {spec.dtype}"
                )
            if verdict == "cast":
                casts[spec.name] = spec.dtype
        if casts:
            try:
                return frame.astype(casts)
            except (TypeError, ValueError) as exc:  # an integer column with missing values, say
                raise InvalidInput(f"cannot cast columns {casts}: {' '.join(str(exc).split())}") from None
        if frame is X:
            self.ok_dtypes = dtypes
        return frame

    def _to_frame(self, X: Any) -> Any:
        pd = self.pd
        if isinstance(X, pd.DataFrame):
            return X
        if isinstance(X, dict):
            one_record = not any(isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in X.values())
            return pd.DataFrame([X] if one_record else X)
        if isinstance(X, (list, tuple)) and X and all(isinstance(r, dict) for r in X):
            return pd.DataFrame(list(X))
        if isinstance(X, np.ndarray) and X.ndim == 2:
            if X.shape[1] != len(self.names):
                raise InvalidInput(
                    f"input has {X.shape[1]} columns, expected {len(self.names)}: {self._names()}"
                )
            return pd.DataFrame(X, columns=self.names)
        raise InvalidInput(
            f"the model takes a DataFrame with columns {self._names()}; got {type(X).__name__} "
            "(a dict, a list of dicts or a 2-D array also work)"
        )

    def _names(self) -> str:
        return ", ".join(f"{c.name} ({c.dtype})" for c in self.columns)
