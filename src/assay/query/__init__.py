"""The run search language: parse filter and order-by text into a syntax tree the stores compile.

Pure package: no I/O.
"""

from __future__ import annotations

from assay.query._ast import (
    ATTRIBUTES,
    FIELD_PREFIXES,
    And,
    Comparison,
    ComparisonOp,
    Expr,
    Field,
    FieldKind,
    InList,
    Not,
    Number,
    Or,
    OrderKey,
    String,
    Value,
)
from assay.query._parser import parse_filter, parse_order_by

__all__ = [
    "ATTRIBUTES",
    "FIELD_PREFIXES",
    "And",
    "Comparison",
    "ComparisonOp",
    "Expr",
    "Field",
    "FieldKind",
    "InList",
    "Not",
    "Number",
    "Or",
    "OrderKey",
    "String",
    "Value",
    "parse_filter",
    "parse_order_by",
]
