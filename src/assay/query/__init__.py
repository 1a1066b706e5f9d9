"""The run search language: parse filter and order-by text into a syntax tree the stores compile; the
page cursors of a search and their tokens.

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
from assay.query._paging import (
    Cursor,
    SortValue,
    decode_cursor,
    decode_page_token,
    encode_cursor,
    encode_page_token,
    order_fingerprint,
    page_cursors,
)
from assay.query._parser import parse_filter, parse_order_by

__all__ = [
    "ATTRIBUTES",
    "FIELD_PREFIXES",
    "And",
    "Comparison",
    "ComparisonOp",
    "Cursor",
    "Expr",
    "Field",
    "FieldKind",
    "InList",
    "Not",
    "Number",
    "Or",
    "OrderKey",
    "SortValue",
    "String",
    "Value",
    "decode_cursor",
    "decode_page_token",
    "encode_cursor",
    "encode_page_token",
    "order_fingerprint",
    "page_cursors",
    "parse_filter",
    "parse_order_by",
]
