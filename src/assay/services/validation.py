"""The rules for keys, names and values, checked once above every backend. Pure: no I/O."""

from __future__ import annotations

import numbers
import re
from typing import Any

from assay.errors import InvalidInput

MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_NAME = 256
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-. /:]+$")


_valid_keys: set[str] = set()


def check_key(key: Any, what: str) -> str:
    """A metric/param/tag key: 1-250 characters of letters, digits, ``_ - . / :`` and spaces.

    Keys already found valid are remembered (the same few keys are checked on every run).
    """
    if type(key) is str and key in _valid_keys:
        return str(key)
    _check_key(key, what)
    if len(_valid_keys) > 100_000:
        _valid_keys.clear()
    _valid_keys.add(key)
    return str(key)


def _check_key(key: Any, what: str) -> None:
    if not isinstance(key, str):
        raise InvalidInput(f"{what} key must be a string, got {type(key).__name__} {key!r}")
    if not key or not key.strip():
        raise InvalidInput(f"{what} key is empty: give a name such as 'loss'")
    if len(key) > MAX_KEY:
        raise InvalidInput(
            f"{what} key {key[:40]!r}... is {len(key)} characters long; the limit is {MAX_KEY}"
        )
    if not _KEY_RE.match(key):
        bad = sorted({c for c in key if not _KEY_RE.match(c)})
        raise InvalidInput(
            f"{what} key {key!r} has characters that are not allowed ({''.join(bad)!r}): use letters, "
            "digits, '_', '-', '.', '/', ':' and spaces"
        )
    if key.startswith("/") or ".." in key.split("/"):
        raise InvalidInput(f"{what} key {key!r} may not start with '/' or contain a '..' segment")


def check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{what} name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"{what} name is {len(name)} characters long; the limit is {MAX_NAME}")
    return name


def param_value(key: str, value: Any) -> str:
    """Params keep the value given, as text (``str(value)``), up to 6000 characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_VALUE:
        raise InvalidInput(
            f"param {key!r} value is {len(text)} characters long; the limit is {MAX_PARAM_VALUE}: "
            "log long values as an artifact (assay.log_text or assay.log_dict)"
        )
    return text


def tag_value(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_VALUE:
        raise InvalidInput(f"tag {key!r} value is {len(text)} characters long; the limit is {MAX_TAG_VALUE}")
    return text


def metric_value(key: str, value: Any) -> float:
    """A metric value as a float: any real number (int, float, numpy scalar, 0-d array); NaN and inf allowed."""
    if isinstance(value, float):
        return value
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)  # numpy/torch 0-d arrays and scalars
    if callable(item) and getattr(value, "ndim", 1) == 0:
        try:
            return metric_value(key, item())
        except InvalidInput:
            pass
    raise InvalidInput(
        f"metric {key!r} got {type(value).__name__} {value!r:.60}; metric values must be numbers "
        "(log text with set_tag or log_text)"
    )


#: Steps and times are stored as signed 64-bit integers.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def metric_step(key: str, step: Any) -> int:
    whole = isinstance(step, numbers.Integral) or (isinstance(step, float) and step.is_integer())
    if isinstance(step, bool) or not whole:
        raise InvalidInput(f"metric {key!r} step must be a whole number, got {step!r}")
    n = int(step)
    if not INT64_MIN <= n <= INT64_MAX:
        raise InvalidInput(f"metric {key!r} step {n} does not fit in 64 bits")
    return n


def time_ms(value: Any, what: str) -> int:
    """A time in milliseconds since the Unix epoch: a whole number from 0 to 2**63 - 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) <= INT64_MAX:
        raise InvalidInput(
            f"{what} must be whole milliseconds since the Unix epoch (0 to 2**63 - 1), got {value!r}"
        )
    return int(value)
