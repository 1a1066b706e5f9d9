"""Request JSON -> model input, and predictions -> response JSON. Pure: no I/O.

Accepted bodies (the first two as MLflow's scoring server takes them, so clients carry over):

- ``{"dataframe_records": [{"age": 41, "plan": "pro"}, ...]}`` or ``{"records": [...]}``: rows;
- ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``: columns and rows;
- ``{"columns": {"age": [41, 52], "plan": ["pro", "free"]}}``: one list per column;
- ``{"record": {...}}`` or a bare object: one row; a bare list of objects: rows;
- ``{"inputs": [[...], ...]}`` or ``{"instances": ...}``: an array, for models that take a tensor.

A malformed body is ``InvalidInput`` naming what is wrong; the signature check after it names a missing,
extra or mistyped column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from assay.errors import InvalidInput

_FORMS = "dataframe_records, dataframe_split, records, columns, record, inputs or instances"


def _frame(data: Any) -> Any:
    import pandas as pd

    return pd.DataFrame(data)


def parse(body: Any, takes_frame: bool) -> Any:
    """The model input in ``body``: a DataFrame when the model takes one, else a numpy array."""
    if isinstance(body, list):
        if body and all(isinstance(r, Mapping) for r in body):
            return _records(body, takes_frame)
        return _array(body)
    if not isinstance(body, Mapping):
        raise InvalidInput(
            f"the body must be a JSON object or list, got {type(body).__name__}: send {{{_FORMS}}}"
        )
    known = [
        k
        for k in (
            "dataframe_records",
            "records",
            "dataframe_split",
            "columns",
            "record",
            "inputs",
            "instances",
        )
        if k in body
    ]
    if len(known) > 1:
        raise InvalidInput(f"the body names several forms ({', '.join(known)}): send one")
    if not known:
        if takes_frame and body:
            return _records([body], takes_frame)  # a bare object: one row
        raise InvalidInput(f"the body has none of the keys {_FORMS}")
    key = known[0]
    value = body[key]
    if key in ("dataframe_records", "records"):
        if not isinstance(value, list) or not all(isinstance(r, Mapping) for r in value):
            raise InvalidInput(f"{key!r} must be a list of objects (one per row)")
        return _records(value, takes_frame)
    if key == "record":
        if not isinstance(value, Mapping):
            raise InvalidInput("'record' must be an object (one row)")
        return _records([value], takes_frame)
    if key == "dataframe_split":
        if not isinstance(value, Mapping) or not isinstance(value.get("columns"), list):
            raise InvalidInput('\'dataframe_split\' must be {"columns": [...], "data": [[...], ...]}')
        rows = value.get("data", [])
        columns = value["columns"]
        if not isinstance(rows, list) or any(not isinstance(r, list) or len(r) != len(columns) for r in rows):
            raise InvalidInput(
                f"'dataframe_split' rows must be lists of {len(columns)} values, one per column"
            )
        return _records([dict(zip(columns, r, strict=True)) for r in rows], takes_frame)
    if key == "columns":
        if not isinstance(value, Mapping) or not all(isinstance(v, list) for v in value.values()):
            raise InvalidInput("'columns' must be an object of lists, one list per column")
        lengths = {len(v) for v in value.values()}
        if len(lengths) > 1:
            raise InvalidInput(
                f"the column lists differ in length ({sorted(lengths)}): give each column every row"
            )
        return _frame(dict(value)) if takes_frame else _array(list(zip(*value.values(), strict=True)))
    return _array(value)


def _records(rows: Sequence[Mapping[str, Any]], takes_frame: bool) -> Any:
    """Rows as the predictors take them: the list of objects itself (the model's input check turns it
    into what the model takes, with a fast path for all-number rows that skips pandas), or an array."""
    if not rows:
        raise InvalidInput("no rows to predict: send at least one")
    if takes_frame:
        return rows if isinstance(rows, list) else list(rows)
    return _array([list(r.values()) for r in rows])


def _array(value: Any) -> Any:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"the input is not a rectangular array of numbers: {exc}") from None
    if array.dtype == object:
        raise InvalidInput("the input is not a rectangular array of numbers")
    return array


def jsonable(predictions: Any) -> Any:
    """Predictions (array, DataFrame, list) as JSON-ready lists."""
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, np.ndarray):
        return predictions.tolist()
    if isinstance(predictions, Mapping):
        return {k: jsonable(v) for k, v in predictions.items()}
    if isinstance(predictions, list | tuple):
        return [jsonable(p) for p in predictions]
    if isinstance(predictions, np.generic):
        return predictions.item()
    return predictions
