"""What frameworks hand over, made into what a run takes: keys with only the allowed characters, params as
text within the size limit, metrics as floats. Nothing here raises: a value that cannot be made a metric
is left out (the hooks log what they can, and never stop a training over a name)."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from assay.services.validation import MAX_KEY, MAX_PARAM_VALUE

_BAD = re.compile(r"[^A-Za-z0-9_\-. /:]")


def key(name: Any) -> str:
    """``name`` as a metric/param key: other characters become ``_``, at most 250 of them, no leading '/'."""
    text = _BAD.sub("_", str(name)).lstrip("/") or "_"
    text = "/".join("_" if part == ".." else part for part in text.split("/"))
    return text[:MAX_KEY]


def text(value: Any) -> str:
    """A param value as text (numpy scalars as their Python value), cut to the 6000-character limit."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", None) == 0:
        with contextlib.suppress(TypeError, ValueError):
            value = item()
    if type(value) is float and math.isfinite(value) and float(np.float32(value)) == value:
        value = np.float32(
            value
        )  # a float32 setting (Keras' learning rate): "0.01", not "0.009999999776482582"
    out = value if isinstance(value, str) else str(value)
    if len(out) > MAX_PARAM_VALUE:
        out = out[: MAX_PARAM_VALUE - 3] + "..."
    return out


def flatten(params: Mapping[Any, Any], prefix: str = "", sep: str = "/") -> Iterator[tuple[str, Any]]:
    """(key, value) pairs of ``params``, nested mappings flattened as ``outer/inner``."""
    for k, value in params.items():
        name = f"{prefix}{sep}{k}" if prefix else str(k)
        if isinstance(value, Mapping) and value:
            yield from flatten(value, name, sep)
        else:
            yield name, value


def params(values: Mapping[Any, Any], prefix: str = "", skip_none: bool = False) -> dict[str, str]:
    """``values`` flattened, with clean keys and text values (``None`` values left out if ``skip_none``)."""
    return {key(k): text(v) for k, v in flatten(values, prefix) if not (skip_none and v is None)}


def number(value: Any) -> float | None:
    """``value`` as a float (a tensor's or numpy scalar's too), or None when it is not one number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    item = getattr(value, "item", None)
    if item is None:
        return None
    try:
        out = item()
    except (TypeError, ValueError, RuntimeError):  # more than one element
        return None
    return float(out) if isinstance(out, (int, float)) else None


def metrics(values: Mapping[Any, Any], prefix: str = "") -> dict[str, float]:
    """The numeric entries of ``values`` under clean keys (``prefix`` prepended); the rest left out."""
    out: dict[str, float] = {}
    for k, value in values.items():
        x = number(value)
        if x is not None:
            out[key(f"{prefix}{k}")] = x
    return out
