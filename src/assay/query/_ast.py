"""The syntax tree of the run search language: what a parsed filter and order-by clause look like.

Pure data, no I/O. The SQL store compiles these nodes to SQL; nothing else needs to know the text syntax.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldKind = Literal["metric", "param", "tag", "attribute", "dataset"]

#: Attribute names the language accepts (after alias resolution: ``id`` -> ``run_id``,
#: ``run_name`` -> ``name``).
ATTRIBUTES: frozenset[str] = frozenset(
    {
        "run_id",
        "name",
        "status",
        "start_time",
        "end_time",
        "duration",
        "user",
        "parent_run_id",
        "experiment_id",
    }
)

#: What a field's prefix may be, and the kind it names (``metrics.acc``, ``param.lr``, ``attr.status``).
FIELD_PREFIXES: dict[str, FieldKind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "datasets": "dataset",
    "dataset": "dataset",
}

#: What ``datasets.<key>`` may name: a dataset the run used, by name, content hash or context.
#: (``digest`` is another name for ``hash``.)
DATASET_KEYS: frozenset[str] = frozenset({"name", "hash", "context"})

#: Comparison operators, as the parser normalizes them (``==`` -> ``=``, ``<>`` -> ``!=``).
ComparisonOp = Literal["=", "!=", "<", "<=", ">", ">=", "like", "ilike", "not like", "not ilike"]


@dataclass(frozen=True, slots=True)
class Field:
    """``metrics.acc`` -> Field("metric", "acc"); ``position`` is the offset of the field in the text."""

    kind: FieldKind
    key: str
    position: int = 0


@dataclass(frozen=True, slots=True)
class Number:
    """A numeric literal; ``text`` is how it was written (``1e3``), used where params compare as text."""

    value: float
    text: str


@dataclass(frozen=True, slots=True)
class String:
    """A quoted string literal, unescaped."""

    value: str


Value = Number | String


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``."""

    field: Field
    op: ComparisonOp
    value: Value


@dataclass(frozen=True, slots=True)
class InList:
    """``field in (v1, v2, ...)`` or, with ``negated``, ``field not in (...)``."""

    field: Field
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Expr


Expr = Comparison | InList | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One ``order_by`` entry: ``metrics.auc desc`` -> OrderKey(Field("metric", "auc"), descending=True)."""

    field: Field
    descending: bool = False
