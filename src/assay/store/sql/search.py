r"""Compile a parsed filter and order-by (assay.query) into one SQL query over the run tables.

Metric conditions read the ``latest_metrics`` summary, never a series. Each condition is an indexed
``run_pk IN (SELECT run_pk ... WHERE key = ...)``; each order key is a LEFT JOIN on (run_pk, key). The
page is found and sorted on run keys alone (the sort carries no wide rows); then the page's run rows,
with their msgpack documents of params, tags and metric summaries (see schema.runs), are read by key.

Pages are found by keyset (seek) paging: each row comes with its sort key values, tie-breakers included
(start time, run id: the order is total), and the next page's query keeps only the rows past the last
one's values (``_beyond``), which an index walk starts from, instead of skipping rows with OFFSET; the
page before reads the order backwards from the first row. ``OFFSET`` remains for offset page tokens.

The semantics, the same on SQLite and PostgreSQL:

- A condition on a field a run lacks is false for that run, and ``not (...)`` of it true. This holds for
  metrics, params and tags (EXISTS) and for the attributes a run may lack (``parent_run_id``; ``end_time``
  and ``duration`` while it runs): ``params.x != 'a'`` selects only runs that have ``x``.
- NaN is stored as NULL in ``latest_metrics``. A NaN metric matches ``= nan`` and ``in (..., nan)``;
  ``!= nan``, and ``not in (...)`` without nan, match every value that is not NaN. A NaN metric matches
  no other comparison: ``metrics.m != 1`` (like ``< 1`` or ``> 1``) is false for it, as for a run without
  ``m``, while ``not (metrics.m = 1)`` is true. On an attribute (never NaN) a nan literal matches nothing
  but ``!=``.
- ``like`` and ``ilike``: ``%`` matches any run of characters and ``_`` exactly one. In the pattern a
  backslash escapes a following ``%``, ``_`` or backslash (``\%`` matches ``%``, ``\\`` one backslash);
  before any other character, or at the end, it is a literal backslash. A filter's quoted string reads
  ``\\`` as one backslash before that: ``params.p like '50\%'`` matches ``50%``, ``like 'C:\\data'``
  (pattern ``C:\data``) matches ``C:\data``, and ``like 'C:\\\\%'`` (pattern ``C:\\%``) matches values
  starting with ``C:\``. ``ilike`` folds the case of non-ASCII letters too.
- ``attributes.experiment_id`` compares as a number: ``= 1.5`` matches no run, ``< 1.5`` experiment 1.
- Runs that are deleted, or whose experiment is deleted, are found only with ``include_deleted``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, exists, false, not_, null, or_, select, true
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from assay.errors import InvalidInput
from assay.query import (
    And,
    Comparison,
    Expr,
    Field,
    InList,
    Not,
    Number,
    Or,
    OrderKey,
    SortValue,
    String,
    Value,
)
from assay.store.sql import dialect
from assay.store.sql.schema import datasets, experiments, latest_metrics, params, run_datasets, runs, tags

_ATTR_COLUMNS: dict[str, ColumnElement[Any]] = {
    "run_id": runs.c.run_id,
    "name": runs.c.name,
    "status": runs.c.status,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "duration": runs.c.end_time - runs.c.start_time,
    "user": runs.c.user_name,
    "parent_run_id": runs.c.parent_run_id,
    "experiment_id": runs.c.experiment_id,
}
_NUMERIC_ATTRS = {"start_time", "end_time", "duration", "experiment_id"}
# Attributes a run may lack (NULL): a condition on them must be false, not NULL, when the run lacks them.
_NULLABLE_ATTRS = {"end_time", "duration", "parent_run_id"}
_ORDERING = {"<", "<=", ">", ">="}
_LIKE = {"like", "ilike", "not like", "not ilike"}


class _Compiling(threading.local):
    #: Set while this thread compiles the filter of a query driven by an order index (``build_top_by_metric``).
    correlated = False


_compiling = _Compiling()


def _has(table: Any, key: str, cond: Any = None) -> Any:
    """Runs with a row of ``key`` in ``table`` (matching ``cond``): ``run_pk IN (SELECT run_pk ...)``.

    An uncorrelated IN lets the database read the (key, value) index once and probe a set, where a
    correlated EXISTS looked the key up run by run (about twice as slow on 10,000 runs). In a query that
    walks an order index and stops after a page, the EXISTS form is the fast one: it looks up only the
    runs walked (one primary-key probe each), not every run with the key.
    """
    where = [table.c.key == key] if cond is None else [table.c.key == key, cond]
    if _compiling.correlated:
        return exists().where(table.c.run_pk == runs.c.run_pk, *where)
    return runs.c.run_pk.in_(select(table.c.run_pk).where(*where))


def _compare(engine: Engine, col: Any, op: str, value: Any) -> Any:
    if op == "=":
        return col == value
    if op == "!=":
        return col != value
    if op == "<":
        return col < value
    if op == "<=":
        return col <= value
    if op == ">":
        return col > value
    if op == ">=":
        return col >= value
    if op in _LIKE:
        cond = dialect.like(engine, col, value, ignore_case="ilike" in op)
        return not_(cond) if op.startswith("not") else cond
    raise AssertionError(op)


def _metric_value(field: Field, v: Value) -> float:
    if not isinstance(v, Number):
        raise InvalidInput(
            f"metrics.{field.key} is compared with the string {v.value!r}: metrics compare with numbers"
        )
    return v.value


def _metric_condition(engine: Engine, node: Comparison | InList) -> Any:
    lm = latest_metrics.alias()
    col = lm.c.last_value
    field = node.field
    if isinstance(node, InList):
        vals = [_metric_value(field, v) for v in node.values]
        numbers = [x for x in vals if x == x]
        cond: ColumnElement[Any] = or_(
            col.in_(numbers) if numbers else false(),
            col.is_(None) if len(numbers) < len(vals) else false(),  # NaN is stored as NULL
        )
    else:
        if node.op in _LIKE:
            raise InvalidInput(f"metrics.{field.key}: '{node.op}' works on text; metrics are numbers")
        x = _metric_value(field, node.value)
        if x != x:  # NaN is stored as NULL
            cond = col.is_(None) if node.op == "=" else col.is_not(None) if node.op == "!=" else false()
        else:
            cond = _compare(engine, col, node.op, x)
    inner = _has(lm, field.key, cond)
    if isinstance(node, InList) and node.negated:
        return and_(_has(lm, field.key), not_(inner))
    return inner


def _text_of(v: Value) -> str:
    return v.text if isinstance(v, Number) else v.value


def _kv_condition(engine: Engine, table: Any, node: Comparison | InList) -> Any:
    """params and tags: `=`, `in`, `like` compare text; `< <= > >=` compare numbers when given a number."""
    t = table.alias()
    key = node.field.key
    if isinstance(node, InList):
        cond: ColumnElement[Any] = t.c.value.in_([_text_of(v) for v in node.values])
        if node.negated:
            return and_(
                _has(t, key),
                not_(_has(t, key, cond)),
            )
    elif node.op in _ORDERING and isinstance(node.value, Number):
        cond = _compare(engine, t.c.num_value, node.op, node.value.value)
    else:
        cond = _compare(engine, t.c.value, node.op, _text_of(node.value))
    return _has(t, key, cond)


def _attr_literal(name: str, v: Value) -> Any:
    if name in _NUMERIC_ATTRS:
        if isinstance(v, String):
            if name == "experiment_id" and v.value.isascii() and v.value.isdigit():
                return int(v.value)
            raise InvalidInput(f"attributes.{name} is compared with the string {v.value!r}: use a number")
        x = v.value
        if name == "experiment_id" and x.is_integer() and abs(x) < 2**63:
            return int(x)  # an integer compares with the integer column (and its index) as it is
        return x  # a fraction compares as a number: `experiment_id = 1.5` is false, `< 1.5` true for 1
    text = _text_of(v)
    return text.upper() if name == "status" else text


def _attr_condition(engine: Engine, node: Comparison | InList) -> Any:
    name = node.field.key
    col = _ATTR_COLUMNS[name]
    cond: Any
    if isinstance(node, InList):
        vals = [x for x in (_attr_literal(name, v) for v in node.values) if x == x]  # NaN matches nothing
        cond = col.not_in(vals) if node.negated else col.in_(vals)
    else:
        if name in _NUMERIC_ATTRS and node.op in _LIKE:
            raise InvalidInput(f"attributes.{name}: '{node.op}' works on text; {name} is a number")
        x = _attr_literal(name, node.value)
        # an attribute is never NaN: it differs from a nan literal and orders nowhere against it
        nan_cond = true() if node.op == "!=" else false()
        cond = nan_cond if x != x else _compare(engine, col, node.op, x)
    if name in _NULLABLE_ATTRS:
        # A run lacking the attribute fails the condition (false, not NULL), so `not (...)` selects it.
        return and_(col.is_not(None), cond)
    return cond


def compile_filter(engine: Engine, expr: Expr | None) -> Any:
    """A WHERE clause over ``runs`` for a parsed filter (``true()`` for no filter)."""
    if expr is None:
        return true()
    if isinstance(expr, And):
        return and_(*(compile_filter(engine, e) for e in expr.items))
    if isinstance(expr, Or):
        return or_(*(compile_filter(engine, e) for e in expr.items))
    if isinstance(expr, Not):
        return not_(compile_filter(engine, expr.item))
    kind = expr.field.kind
    if kind == "metric":
        return _metric_condition(engine, expr)
    if kind == "param":
        return _kv_condition(engine, params, expr)
    if kind == "tag":
        return _kv_condition(engine, tags, expr)
    if kind == "dataset":
        return _dataset_condition(engine, expr)
    return _attr_condition(engine, expr)


_DATASET_COLUMNS = {"name": datasets.c.name, "hash": datasets.c.digest, "context": run_datasets.c.context}


def _dataset_condition(engine: Engine, node: Comparison | InList) -> Any:
    """Runs that used a dataset matching the condition (``datasets.name = 'train'``); with ``not in``,
    runs that used datasets and none of those listed."""
    col = _DATASET_COLUMNS[node.field.key]
    used = select(run_datasets.c.run_pk).join(datasets, datasets.c.dataset_pk == run_datasets.c.dataset_pk)
    if isinstance(node, InList):
        cond = col.in_([_text_of(v) for v in node.values])
        if node.negated:
            return and_(runs.c.run_pk.in_(used), not_(runs.c.run_pk.in_(used.where(cond))))
        return runs.c.run_pk.in_(used.where(cond))
    if node.op in _ORDERING:
        raise InvalidInput(f"datasets.{node.field.key} compares with =, !=, like or in, not {node.op}")
    return runs.c.run_pk.in_(used.where(_compare(engine, col, node.op, _text_of(node.value))))


@dataclass(frozen=True, slots=True)
class SortKey:
    """One column of a search's order: its expression, direction, whether a run may lack it (NULL, sorted
    last in either direction), and the type of its values (what a cursor's value of it must be)."""

    expr: Any
    descending: bool
    nullable: bool
    kind: type


def _sort_keys(query: Select[Any], order_by: Sequence[OrderKey]) -> tuple[Select[Any], list[SortKey]]:
    """The query joined to what the order needs, and its sort keys, tie-breakers last: newest first, then
    run id. A param or tag sorts by two keys: its number (for the values that read as one), then its text."""
    keys: list[SortKey] = []
    for ok in order_by:
        f = ok.field
        if f.kind == "dataset":
            raise InvalidInput(
                "runs cannot be ordered by a dataset field: order by metrics, params, tags or attributes"
            )
        if f.kind == "attribute":
            kind = int if f.key in _NUMERIC_ATTRS else str
            keys.append(SortKey(_ATTR_COLUMNS[f.key], ok.descending, f.key in _NULLABLE_ATTRS, kind))
        elif f.kind == "metric":
            lm = latest_metrics.alias()
            query = query.outerjoin(lm, and_(lm.c.run_pk == runs.c.run_pk, lm.c.key == f.key))
            keys.append(SortKey(lm.c.last_value, ok.descending, True, float))
        else:
            t = (params if f.kind == "param" else tags).alias()
            query = query.outerjoin(t, and_(t.c.run_pk == runs.c.run_pk, t.c.key == f.key))
            keys += [
                SortKey(t.c.num_value, ok.descending, True, float),
                SortKey(t.c.value, ok.descending, True, str),
            ]
    keys += [SortKey(runs.c.start_time, True, False, int), SortKey(runs.c.run_id, False, False, str)]
    return query, keys


def _ordered(key: SortKey, reverse: bool) -> Any:
    """The ORDER BY term of ``key``, read backwards with ``reverse``. ``NULLS LAST`` (backwards, ``FIRST``)
    only where a NULL may occur: on a column that is never NULL it would keep PostgreSQL from reading the
    order off an index (its DESC is NULLS FIRST), sorting every run of a million-run experiment for a page."""
    ordered = key.expr.desc() if key.descending != reverse else key.expr.asc()
    if not key.nullable:
        return ordered
    return ordered.nulls_first() if reverse else ordered.nulls_last()


def _past(key: SortKey, value: SortValue, reverse: bool) -> Any:
    """The rows strictly past ``value`` on ``key`` alone, in the order (backwards with ``reverse``)."""
    if value is None:  # a NULL sorts last: nothing is past it, and backwards every value is
        return key.expr.is_not(None) if reverse else false()
    past = key.expr < value if key.descending != reverse else key.expr > value
    return or_(past, key.expr.is_(None)) if key.nullable and not reverse else past


def _beyond(keys: Sequence[SortKey], values: Sequence[SortValue], reverse: bool) -> Any:
    """The rows after the position ``values`` in the order of ``keys`` (before it with ``reverse``): the
    seek condition of keyset paging, a comparison key by key (past the first, or equal to it and past the
    second, ...). The first key's bound is repeated on its own (``start_time <= :v``): the condition the
    database can start its index walk from, where the disjunction alone would be checked row by row."""
    cond: Any = false()
    for key, value in reversed(list(zip(keys, values, strict=True))):
        equal = key.expr.is_(None) if value is None else key.expr == value
        cond = or_(_past(key, value, reverse), and_(equal, cond))
    lead, first = keys[0], values[0]
    if not lead.nullable and first is not None:
        cond = and_(lead.expr <= first if lead.descending != reverse else lead.expr >= first, cond)
    return cond


def check_cursor(order_by: Sequence[OrderKey], values: Sequence[SortValue] | None) -> None:
    """``InvalidInput`` unless ``values`` fit the sort keys of ``order_by``: a cursor of this search."""
    if values is None:
        return
    _, keys = _sort_keys(select(runs.c.run_pk), order_by)
    fits = len(values) == len(keys) and all(
        (v is None and k.nullable) or (isinstance(v, k.kind) or (k.kind is float and isinstance(v, int)))
        for k, v in zip(keys, values, strict=False)
    )
    if not fits:
        raise InvalidInput("the page token does not fit this search's order: pass no token to start again")


def _scope(experiment_ids: Sequence[int], lifecycle: str | None) -> list[Any]:
    """The conditions that keep a search to its experiments and lifecycle."""
    where: list[Any] = []
    if experiment_ids:
        where.append(runs.c.experiment_id.in_(list(experiment_ids)))
    if lifecycle is not None:
        where.append(runs.c.lifecycle == lifecycle)
        where.append(
            runs.c.experiment_id.in_(
                select(experiments.c.experiment_id).where(experiments.c.lifecycle == lifecycle)
            )
        )
    return where


def first_metric(order_by: Sequence[OrderKey]) -> str | None:
    """The metric a search is ordered by first, if it is: such a page can be read from its index."""
    if order_by and order_by[0].field.kind == "metric":
        return order_by[0].field.key
    return None


def build_top_by_metric(
    engine: Engine,
    experiment_ids: Sequence[int],
    expr: Expr | None,
    order_by: Sequence[OrderKey],
    limit: int,
    lifecycle: str | None,
    after: Sequence[SortValue] | None = None,
    reverse: bool = False,
) -> Select[Any]:
    """The first ``limit`` matching runs that have a (non-NaN) value of the first order key, a metric, in
    the search's order: read by walking that metric's (key, last value) index from the right end and
    stopping after ``limit`` matches, each run's filter checked by primary-key probes. These runs come
    first in the full order (NaN and missing values sort last), so when there are ``limit`` of them they
    are the page; else ``build_search(..., without_metric=...)`` gives the runs after them.

    ``after``: only the runs past that position (a cursor's sort key values), the walk starting there;
    ``reverse``: read backwards (the runs before ``after``, the last first). Rows: ``run_pk`` and the sort
    key values, as ``build_search``'s.
    """
    first = order_by[0]
    lm = latest_metrics.alias()
    base: Select[Any] = select(runs.c.run_pk).select_from(lm.join(runs, runs.c.run_pk == lm.c.run_pk))
    base, rest = _sort_keys(base, order_by[1:])
    keys = [SortKey(lm.c.last_value, first.descending, False, float), *rest]  # no NULLs: the index order
    _compiling.correlated = True
    try:
        cond = compile_filter(engine, expr)
    finally:
        _compiling.correlated = False
    where = [
        lm.c.key == first.field.key,
        lm.c.last_value.is_not(None),
        cond,
        *_scope(experiment_ids, lifecycle),
    ]
    if after is not None:
        where.append(_beyond(keys, after, reverse))
    query = base.add_columns(*(k.expr for k in keys)).where(*where)
    return query.order_by(*(_ordered(k, reverse) for k in keys)).limit(limit)


def build_search(
    engine: Engine,
    experiment_ids: Sequence[int],
    expr: Expr | None,
    order_by: Sequence[OrderKey],
    limit: int | None,
    offset: int,
    lifecycle: str | None,
    without_metric: str | None = None,
    after: Sequence[SortValue] | None = None,
    reverse: bool = False,
) -> Select[Any]:
    """The search query: the keys (``run_pk``) of the page of matching runs, in order, each with its sort
    key values (what a cursor holds); their rows come after.

    ``lifecycle`` (``None``: any) is that of the runs and of their experiments alike: with ``"active"``, the
    runs of a deleted experiment are left out with it. ``without_metric``: only the runs with no
    (non-NaN) value of that metric, the first order key (the rest of a search whose first part
    ``build_top_by_metric`` read): the key is NULL for all of them, so it is neither joined nor sorted on,
    and the order's next key can be read off an index. ``after``: only the runs past that position (a
    cursor's sort key values); ``reverse``: read backwards (the runs before ``after``, the last first).
    """
    base: Select[Any] = select(runs.c.run_pk).select_from(runs)
    where = [compile_filter(engine, expr), *_scope(experiment_ids, lifecycle)]
    if without_metric is not None:
        base, keys = _sort_keys(base, order_by[1:])
        lm = latest_metrics.alias()
        # NOT EXISTS, never NOT IN: PostgreSQL cannot turn a NOT IN into an anti-join (its NULL rules), and
        # once the metric's runs outgrow work_mem it checks each run against the whole list (quadratic:
        # hours at a million runs); this is one primary-key probe per run.
        has = exists().where(
            lm.c.run_pk == runs.c.run_pk, lm.c.key == without_metric, lm.c.last_value.is_not(None)
        )
        where.append(not_(has))
        base = base.add_columns(null(), *(k.expr for k in keys))
        after = None if after is None else after[1:]
    else:
        base, keys = _sort_keys(base, order_by)
        base = base.add_columns(*(k.expr for k in keys))
    if after is not None:
        where.append(_beyond(keys, after, reverse))
    page_q = base.where(*where).order_by(*(_ordered(k, reverse) for k in keys))
    if limit is not None:
        page_q = page_q.limit(limit)
    if offset:
        page_q = page_q.offset(offset)
    return page_q


__all__ = [
    "SortKey",
    "build_search",
    "build_top_by_metric",
    "check_cursor",
    "compile_filter",
    "first_metric",
]
