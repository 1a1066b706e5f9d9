"""MLflow's search syntax onto assay's: run filters and orders become ``assay.query`` text, experiment
filters a predicate. Pure module: no I/O.

assay's search language is a superset of MLflow's (``or``, ``not``, parentheses, ``in`` on any field), so
a run filter is translated in two steps: the words MLflow spells differently are rewritten (a bare
attribute gets its ``attributes.`` prefix, ``user_id`` is ``user``, ``created`` is ``start_time``,
``parameter.`` is ``params.``), then the text is parsed by ``assay.query`` and the tree is checked against
MLflow's own rules, so what MLflow's server refuses (``or``, a metric compared with a string, ``in`` on a
param...) is refused here too, with INVALID_PARAMETER_VALUE.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from assay.entities import Experiment
from assay.errors import FilterSyntaxError
from assay.mlflow.rest.errors import MlflowError, invalid, not_implemented
from assay.query import And, Comparison, Expr, InList, Not, Number, Or, String, parse_filter, parse_order_by

# Quoted strings and keys pass through untouched; words are what may be rewritten.
_TOKEN = re.compile(
    r"""(?P<quoted>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*"|`[^`]*`)
      | (?P<word>[A-Za-z_][\w\-./:]*)""",
    re.VERBOSE | re.DOTALL,
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "asc", "desc"})
_ENTITY = {
    "metric": "metrics",
    "metrics": "metrics",
    "parameter": "params",
    "parameters": "params",
    "param": "params",
    "params": "params",
    "tag": "tags",
    "tags": "tags",
    "attribute": "attributes",
    "attributes": "attributes",
    "attr": "attributes",
    "run": "attributes",
    "dataset": "datasets",
    "datasets": "datasets",
}
#: MLflow's run attributes by the name assay's language gives them (None: not searchable in assay).
ATTRIBUTES: dict[str, str | None] = {
    "run_id": "run_id",
    "run_name": "name",
    "status": "status",
    "start_time": "start_time",
    "end_time": "end_time",
    "user_id": "user",
    "created": "start_time",
    "Created": "start_time",
    "artifact_uri": None,
}
_NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
_NULL = re.compile(r"\s+(not\s+)?null\b", re.IGNORECASE)
_RUN_NAME_ALIASES = frozenset({"run name", "Run name", "Run Name"})


def _rewrite(text: str, what: str) -> str:
    """``text`` with MLflow's spellings of fields replaced by assay's (see the module doc); ``IS NULL`` and
    ``IS NOT NULL`` on a param or tag become ``not (<field> like '%')`` and ``<field> like '%'``."""
    out: list[str] = []
    pos = 0
    pending_prefix: str | None = None  # "tags." seen, its quoted key follows
    field_at, field_kind = 0, ""  # where in ``out`` the last field starts, and its prefix
    while (m := _TOKEN.search(text, pos)) is not None:
        out.append(text[pos : m.start()])
        pos = m.end()
        token = m.group()
        if m.group("quoted") is not None:
            if pending_prefix == "attributes" and token.startswith("`"):
                out.append(_attribute(token[1:-1], what))
            else:
                out.append(token)
            pending_prefix = None
            continue
        pending_prefix = None
        lower = token.lower()
        if lower in _KEYWORDS:
            out.append(token)
            continue
        if lower == "is":
            null = _NULL.match(text, pos)
            if null is None:
                raise invalid(f"Invalid clause in {what}: IS must be followed by NULL or NOT NULL")
            if field_kind not in ("params", "tags"):
                raise invalid("IS NULL / IS NOT NULL is only supported for tags and params")
            field = "".join(out[field_at:]).strip()
            del out[field_at:]
            out.append(f"{field} like '%'" if null.group(1) else f"not ({field} like '%')")
            pos = null.end()
            continue
        entity, dot, key = token.partition(".")
        field_at = len(out)
        if not dot:
            field_kind = "attributes"
            out.append(_attribute(token, what))
            continue
        prefix = _ENTITY.get(entity.lower())
        if prefix is None:
            raise invalid(
                f"Invalid entity type '{entity}'. Valid values are ['metric', 'parameter', 'tag', 'attribute', "
                "'dataset']"
            )
        field_kind = prefix
        if not key:
            out.append(prefix + ".")
            pending_prefix = prefix
        elif prefix == "attributes":
            out.append(_attribute(key, what))
        else:
            out.append(f"{prefix}.{key}")
    out.append(text[pos:])
    return "".join(out)


def _attribute(key: str, what: str) -> str:
    name = "run_name" if key in _RUN_NAME_ALIASES else key
    if name not in ATTRIBUTES:
        valid = sorted(k for k in ATTRIBUTES if k != "Created")
        raise invalid(f"Invalid attribute key '{key}' specified. Valid keys are {valid}")
    mapped = ATTRIBUTES[name]
    if mapped is None:
        raise not_implemented(f"searching or ordering runs by attribute '{key}' in {what}")
    return f"attributes.{mapped}"


def _check(expr: Expr, text: str) -> None:
    """Refuse what MLflow's server refuses in a run filter."""
    if isinstance(expr, And):
        for item in expr.items:
            _check(item, text)
        return
    if isinstance(expr, Not) and _is_null_test(expr.item):
        return
    if isinstance(expr, Or | Not):
        word = "OR" if isinstance(expr, Or) else "NOT"
        raise invalid(
            f"Invalid clause(s) in filter string: MLflow filters join comparisons with AND only, not {word}"
        )
    field = expr.field
    if isinstance(expr, InList):
        allowed = field.kind == "dataset" or (field.kind == "attribute" and field.key == "run_id")
        if not allowed:
            raise invalid(
                "Only ['run_id'] attributes support comparison with a list of quoted string values."
            )
        return
    assert isinstance(expr, Comparison)
    numeric = isinstance(expr.value, Number)
    shown = expr.value.text if isinstance(expr.value, Number) else repr(expr.value.value)
    if field.kind == "metric":
        if "like" in expr.op:
            raise invalid(
                f"Invalid comparator '{expr.op.upper()}' not one of {{'>', '>=', '!=', '=', '<', '<='}}"
            )
        if not numeric:
            raise invalid(f"Expected numeric value type for metric. Found {shown}")
    elif field.kind in ("param", "tag", "dataset"):
        if numeric:
            raise invalid(
                f"Expected a quoted string value for {field.kind} (e.g. 'my-value'). Got value {shown}"
            )
        if expr.op in ("<", "<=", ">", ">="):
            raise invalid(f"Invalid comparator '{expr.op}' not one of {{'!=', '=', 'LIKE', 'ILIKE'}}")
    elif field.key in _NUMERIC_ATTRIBUTES:
        if not numeric:
            raise invalid(f"Expected numeric value type for numeric attribute: {field.key}. Found {shown}")
    elif numeric:
        raise invalid(f"Expected a quoted string value for attribute {field.key}, got {shown}")
    elif expr.op in ("<", "<=", ">", ">="):
        raise invalid(
            f"Invalid comparator '{expr.op}' not one of {{'!=', '=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'}}"
        )


def _is_null_test(expr: Expr) -> bool:
    """``<param or tag> like '%'``: what ``IS NULL`` becomes under a ``not``."""
    return (
        isinstance(expr, Comparison)
        and expr.field.kind in ("param", "tag")
        and expr.op == "like"
        and isinstance(expr.value, String)
        and expr.value.value == "%"
    )


def run_filter(text: str | None) -> str | None:
    """The assay filter for MLflow's run filter ``text`` (None for no filter); MlflowError when MLflow would
    refuse it, or when it asks for what assay cannot search."""
    if text is None or not text.strip():
        return None
    rewritten = _rewrite(text, "a run filter")
    try:
        expr = parse_filter(rewritten)
    except FilterSyntaxError as exc:
        raise invalid(f"Invalid filter '{text}': {exc.reason}") from None
    if expr is not None:
        _check(expr, text)
    return rewritten


#: MLflow orders runs by these after the caller's keys (and by these alone when none are given).
TIE_BREAKERS = ("attributes.start_time desc", "attributes.run_id asc")


def run_order(items: Sequence[Any]) -> list[str]:
    """The assay order-by entries for MLflow's ``order_by`` list, followed by MLflow's tie-breakers."""
    out: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise invalid(f"Invalid order_by clause {item!r}")
        words = item.strip().rsplit(maxsplit=1)
        direction = words[1] if len(words) == 2 and words[1].lower() in ("asc", "desc") else ""
        written = item.strip()[: -len(direction)].strip() if direction else item.strip()
        try:
            rewritten = f"{_rewrite(written, 'order_by')} {direction}".strip()
        except MlflowError as exc:
            raise invalid(f"Invalid order_by clause '{item}': {exc.message}") from None
        try:
            keys = parse_order_by([rewritten])
        except FilterSyntaxError as exc:
            raise invalid(f"Invalid order_by clause '{item}': {exc.reason}") from None
        if keys[0].field.kind == "dataset":
            raise invalid(f"Invalid order_by entity type in '{item}'")
        out.append(rewritten)
    seen = {parse_order_by([o])[0].field for o in out}
    for extra in TIE_BREAKERS:
        field = parse_order_by([extra])[0].field
        if all((f.kind, f.key) != (field.kind, field.key) for f in seen):
            out.append(extra)
    return out


# ---- experiments --------------------------------------------------------------------------------------

ExperimentFilter = Callable[[Experiment], bool]
_EXPERIMENT_FIELDS: dict[str, Callable[[Experiment], Any]] = {
    "name": lambda e: e.name,
    "experiment_id": lambda e: int(e.experiment_id),
    "creation_time": lambda e: e.created_at,
    "last_update_time": lambda e: e.last_activity if e.last_activity is not None else e.created_at,
}
_CLAUSE = re.compile(
    r"""\s*(?P<field>(?:(?:attributes?|attr)\.)?[A-Za-z_]\w*|tags?\.(?:\w[\w.\-]*|`[^`]*`|"[^"]*"))
        \s*(?P<op>!=|<=|>=|=|<|>|(?i:not\s+like|not\s+ilike|like|ilike))
        \s*(?P<value>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*"|[+-]?\d+(?:\.\d*)?)\s*$""",
    re.VERBOSE | re.DOTALL,
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


def _split_and(text: str) -> list[str]:
    """``text`` split at the top-level ANDs (not those inside quotes)."""
    parts, start, pos = [], 0, 0
    while pos < len(text):
        char = text[pos]
        if char in "'\"`":
            end = text.find(char, pos + 1)
            pos = len(text) if end < 0 else end + 1
            continue
        m = _AND.match(text, pos)
        if m:
            parts.append(text[start:pos])
            start = pos = m.end()
            continue
        pos += 1
    parts.append(text[start:])
    return parts


def _like(pattern: str, insensitive: bool) -> Callable[[str], bool]:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    compiled = re.compile(regex, re.DOTALL | (re.IGNORECASE if insensitive else 0))
    return lambda s: compiled.fullmatch(s) is not None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


def _clause(text: str) -> ExperimentFilter:
    m = _CLAUSE.match(text)
    if m is None:
        raise invalid(
            f"Invalid clause '{text.strip()}' in the experiment filter: use e.g. name LIKE 'vision%'"
        )
    field = m.group("field")
    if field.lower().startswith("tag"):
        raise not_implemented("filtering experiments by tags (assay's experiments have none)")
    name = field.split(".", 1)[-1]
    get = _EXPERIMENT_FIELDS.get(name)
    if get is None:
        raise invalid(
            f"Invalid attribute key '{name}' specified. Valid keys are {sorted(_EXPERIMENT_FIELDS)}"
        )
    op = " ".join(m.group("op").lower().split())
    raw = m.group("value")
    quoted = raw[0] in "'\""
    if (name == "name") != quoted:
        kind = "a quoted string" if name == "name" else "a number"
        raise invalid(f"Invalid value {raw} for '{name}': expected {kind}")
    value: Any = raw[1:-1].replace("''", "'") if quoted else float(raw)
    if "like" in op:
        if name != "name":
            raise invalid(f"Invalid comparator '{op.upper()}' for '{name}'")
        match = _like(value, "ilike" in op)
        negate = op.startswith("not")
        return lambda e: match(e.name) != negate
    if name == "name" and op not in ("=", "!="):
        raise invalid(f"Invalid comparator '{op}' for 'name': use =, !=, LIKE or ILIKE")
    compare = _COMPARE[op]
    return lambda e: compare(get(e), value)


def parse_experiment_filter(text: str | None) -> ExperimentFilter:
    """A predicate for MLflow's experiment filter: clauses on name (=, !=, LIKE, ILIKE), experiment_id,
    creation_time and last_update_time, joined with AND."""
    if text is None or not text.strip():
        return lambda e: True
    clauses = [_clause(part) for part in _split_and(text)]
    return lambda e: all(c(e) for c in clauses)


ExperimentOrder = list[tuple[Callable[[Experiment], Any], bool]]


def parse_experiment_order(items: Sequence[Any]) -> ExperimentOrder:
    """(key, descending) pairs for MLflow's experiment ``order_by``, then MLflow's default tie-breakers
    (creation time, newest first; then id)."""
    out: ExperimentOrder = []
    for item in items:
        words = str(item).split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise invalid(f"Invalid order_by clause '{item}'")
        name = words[0].split(".", 1)[-1] if words[0].lower().startswith("attr") else words[0]
        if name not in _EXPERIMENT_FIELDS:
            raise invalid(
                f"Invalid order by key '{words[0]}' specified. Valid keys are {sorted(_EXPERIMENT_FIELDS)}"
            )
        out.append((_EXPERIMENT_FIELDS[name], len(words) == 2 and words[1].lower() == "desc"))
    out += [(_EXPERIMENT_FIELDS["creation_time"], True), (_EXPERIMENT_FIELDS["experiment_id"], False)]
    return out


def sort_experiments(found: list[Experiment], order: ExperimentOrder) -> None:
    """Sort ``found`` in place by ``order`` (stable sorts, last key first)."""
    for key, descending in reversed(order):
        found.sort(key=key, reverse=descending)


_EQUALITY = re.compile(
    r"""\s*(?:(?:attributes?|attr)\.)?(?P<field>[A-Za-z_]\w*)\s*=\s*(?P<value>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")\s*$""",
    re.DOTALL,
)


def parse_equalities(text: str | None, fields: frozenset[str], what: str) -> dict[str, str]:
    """``a = 'x' AND b = 'y'`` as {a: x, b: y}, for the few filters that only need equalities; anything
    else answers NOT_IMPLEMENTED naming ``what``."""
    out: dict[str, str] = {}
    if text is None or not text.strip():
        return out
    for part in _split_and(text):
        m = _EQUALITY.match(part)
        if m is None or m.group("field") not in fields:
            raise not_implemented(
                f"{what} other than equalities on {', '.join(sorted(fields))}: {part.strip()!r}"
            )
        out[m.group("field")] = m.group("value")[1:-1].replace("''", "'")
    return out


def like_matcher(pattern: str, insensitive: bool) -> Callable[[str], bool]:
    """A predicate for SQL's LIKE ``pattern`` (``%`` any run, ``_`` one character)."""
    return _like(pattern, insensitive)
