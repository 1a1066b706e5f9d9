"""Promotion rules: ``metrics.auc >= champion.metrics.auc + 0.005``, parsed and evaluated. Pure module.

A rule compares numbers built from metrics of the candidate version (``metrics.<key>``) and of the version
an alias points at now (``<alias>.metrics.<key>``, e.g. ``champion.metrics.auc``), with ``+ - *``,
parentheses, ``and``, ``or`` and ``not``. The comparison syntax is the search language's (``<``, ``<=``,
``>``, ``>=``, ``=``, ``!=``); keys with characters such as ``-`` or spaces go in backticks:
``metrics.`holdout/roc-auc```. Errors point at the offending character, like search errors.

When the alias a rule refers to points at no version yet, comparisons with it hold (there is nothing to
beat) and the verdict says so. A metric the candidate or the alias's version lacks fails the rule with a
message naming it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, NoReturn

from assay.errors import FilterSyntaxError, InvalidInput

_TOKEN_RE = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<ref>[A-Za-z_][\w\-]*\.)?metrics\.(?:(?P<key>[A-Za-z_][\w./:]*)|`(?P<bkey>[^`]+)`)
    | (?P<word>[A-Za-z_][\w]*)
    | (?P<op><=|>=|<>|!=|==|[<>=])
    | (?P<arith>[+\-*])
    | (?P<punct>[()])
    """,
    re.VERBOSE,
)
_OPS = {"==": "=", "<>": "!="}


class _Tok(NamedTuple):
    kind: str
    text: str
    pos: int
    ref: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Metric:
    """``metrics.<key>`` of the candidate (``ref`` None) or of the version behind alias ``ref``."""

    ref: str | None
    key: str

    def __str__(self) -> str:
        return f"{self.ref + '.' if self.ref else ''}metrics.{self.key}"


@dataclass(frozen=True)
class Arith:
    op: str
    left: Term
    right: Term


Term = float | Metric | Arith


@dataclass(frozen=True)
class Compare:
    op: str
    left: Term
    right: Term
    text: str


@dataclass(frozen=True)
class Logic:
    op: str  # "and", "or", "not"
    parts: tuple[Rule, ...]


Rule = Compare | Logic


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise FilterSyntaxError(f"unexpected {text[pos]!r}", text, pos)
        kind = m.lastgroup or ""
        if kind in ("key", "bkey"):
            ref = (m.group("ref") or "")[:-1] or None
            out.append(_Tok("metric", m.group(), pos, ref, m.group("key") or m.group("bkey")))
        elif kind != "ws":
            out.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def fail(self, expected: str) -> NoReturn:
        if self.i < len(self.toks):
            tok = self.toks[self.i]
            raise FilterSyntaxError(f"unexpected {tok.text!r}: expected {expected}", self.text, tok.pos)
        raise FilterSyntaxError(f"the rule ends early: expected {expected}", self.text, len(self.text))

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def word(self, *words: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text.lower() in words:
            self.i += 1
            return True
        return False

    def rule(self) -> Rule:
        parts = [self.conjunction()]
        while self.word("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Logic("or", tuple(parts))

    def conjunction(self) -> Rule:
        parts = [self.negation()]
        while self.word("and"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else Logic("and", tuple(parts))

    def negation(self) -> Rule:
        if self.word("not"):
            return Logic("not", (self.negation(),))
        tok = self.peek()
        if tok is not None and tok.text == "(":
            # A parenthesis opens either a sub-rule or an arithmetic term; try the rule first.
            start = self.i
            self.i += 1
            try:
                inner = self.rule()
                closing = self.peek()
                if closing is not None and closing.text == ")":
                    self.i += 1
                    after = self.peek()
                    if after is None or after.kind == "word" or after.text == ")":
                        return inner
            except FilterSyntaxError:
                pass
            self.i = start
        return self.comparison()

    def comparison(self) -> Compare:
        start = self.peek()
        left = self.term()
        tok = self.peek()
        if tok is None or tok.kind != "op":
            self.fail("a comparison operator (<, <=, >, >=, =, !=)")
        self.i += 1
        right = self.term()
        end = self.toks[self.i - 1]
        assert start is not None
        text = self.text[start.pos : end.pos + len(end.text)]
        return Compare(_OPS.get(tok.text, tok.text), left, right, text)

    def term(self) -> Term:
        left = self.factor()
        while (tok := self.peek()) is not None and tok.kind == "arith" and tok.text in "+-":
            self.i += 1
            left = Arith(tok.text, left, self.factor())
        return left

    def factor(self) -> Term:
        left = self.atom()
        while (tok := self.peek()) is not None and tok.kind == "arith" and tok.text == "*":
            self.i += 1
            left = Arith("*", left, self.atom())
        return left

    def atom(self) -> Term:
        tok = self.peek()
        if tok is None:
            self.fail("a number or a metric such as metrics.auc or champion.metrics.auc")
        if tok.kind == "number":
            self.i += 1
            return float(tok.text)
        if tok.kind == "arith" and tok.text == "-":
            self.i += 1
            return Arith("*", -1.0, self.atom())
        if tok.kind == "metric":
            self.i += 1
            assert tok.key is not None
            return Metric(tok.ref, tok.key)
        if tok.text == "(":
            self.i += 1
            inner = self.term()
            if (closing := self.peek()) is None or closing.text != ")":
                self.fail("')'")
            self.i += 1
            return inner
        self.fail("a number or a metric such as metrics.auc or champion.metrics.auc")


def parse_rule(text: str) -> Rule:
    """The rule in ``text``; ``FilterSyntaxError`` (with a caret) when it does not parse."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(
            "a promotion rule is empty: give one such as 'metrics.auc >= champion.metrics.auc'"
        )
    parser = _Parser(text)
    rule = parser.rule()
    if parser.i < len(parser.toks):
        parser.fail("'and', 'or' or the end of the rule")
    return rule


def aliases_in(rule: Rule) -> set[str]:
    """The aliases a rule refers to (``champion`` in ``champion.metrics.auc``)."""
    found: set[str] = set()

    def term(t: Term) -> None:
        if isinstance(t, Metric) and t.ref:
            found.add(t.ref)
        elif isinstance(t, Arith):
            term(t.left)
            term(t.right)

    def walk(r: Rule) -> None:
        if isinstance(r, Compare):
            term(r.left)
            term(r.right)
        else:
            for p in r.parts:
                walk(p)

    walk(rule)
    return found


class _Vacuous(Exception):
    """A term refers to an alias that points at nothing yet."""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    detail: str


def evaluate_rule(
    rule: Rule,
    candidate: Mapping[str, float],
    others: Mapping[str, Mapping[str, float] | None],
) -> Verdict:
    """Check ``rule`` with the candidate's metrics and, per alias, the metrics of the version it points at
    (None: the alias points at nothing). The detail shows each comparison with its values."""
    notes: list[str] = []

    def value(t: Term) -> float:
        if isinstance(t, float):
            return t
        if isinstance(t, Metric):
            if t.ref is None:
                metrics = candidate
            else:
                if t.ref not in others:
                    raise InvalidInput(f"the rule refers to alias {t.ref!r}, which was not looked up")
                found = others[t.ref]
                if found is None:
                    raise _Vacuous(t.ref)
                metrics = found
            if t.key not in metrics:
                who = "the candidate" if t.ref is None else f"the {t.ref} version"
                raise InvalidInput(
                    f"{t} is not a metric of {who} (it has: {', '.join(sorted(metrics)) or 'no metrics'})"
                )
            return float(metrics[t.key])
        a, b = value(t.left), value(t.right)
        return a + b if t.op == "+" else a - b if t.op == "-" else a * b

    def check(r: Rule) -> bool:
        if isinstance(r, Logic):
            if r.op == "not":
                return not check(r.parts[0])
            results = [check(p) for p in r.parts]
            return all(results) if r.op == "and" else any(results)
        try:
            a, b = value(r.left), value(r.right)
        except _Vacuous as vac:
            notes.append(f"{r.text}: holds, no version has alias {vac.args[0]!r} yet")
            return True
        ok = _compare(r.op, a, b)
        notes.append(f"{r.text}: {_fmt(a)} {r.op} {_fmt(b)} {'holds' if ok else 'fails'}")
        return ok

    passed = check(rule)
    return Verdict(passed, "; ".join(notes))


def _compare(op: str, a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return op == "!="
    return {
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
        "=": a == b,
        "!=": a != b,
    }[op]


def _fmt(x: float) -> str:
    return f"{x:.6g}"
