"""Text -> syntax tree for the run search language: a small lexer and a recursive-descent parser.

Hand-written (no parser generator) so every error can say what was expected, what was found and
where, with the caret of :class:`~assay.errors.FilterSyntaxError` under the offending token.
Pure module: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import NamedTuple, NoReturn, get_args

from assay.errors import FilterSyntaxError
from assay.query._ast import (
    ATTRIBUTES,
    DATASET_KEYS,
    FIELD_PREFIXES,
    And,
    Comparison,
    ComparisonOp,
    Expr,
    Field,
    InList,
    Not,
    Number,
    Or,
    OrderKey,
    String,
    Value,
)

# One alternative per token kind; the group name becomes the token kind. ``number`` comes before
# ``word`` so that ``nan``/``inf`` are numbers, but only when a whole word (``information`` is a word).
_TOKEN_RE = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<number>[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf(?:inity)?|nan)(?![\w\-./:])))
    | (?P<word>[A-Za-z_][\w\-./:]*)
    | (?P<sq>'(?:[^'\\]|\\.|'')*+')
    | (?P<dq>"(?:[^"\\]|\\.)*+")
    | (?P<bq>`[^`]*`)
    | (?P<op><=|>=|<>|!=|==|[<>=])
    | (?P<punct>[(),])
    """,
    re.VERBOSE | re.DOTALL,
)
_SQ_ESCAPE_RE = re.compile(r"\\(.)|''", re.DOTALL)
_DQ_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)

_ATTRIBUTE_ALIASES = {"id": "run_id", "run_name": "name"}
_OPERATORS: dict[str, ComparisonOp] = {op: op for op in get_args(ComparisonOp)}
_OPERATORS.update({"==": "=", "<>": "!="})
_CHAR_HINTS = {"&": "use 'and'", "|": "use 'or'", "!": "use 'not' or '!='"}
_FIELD_HINT = "a field such as metrics.acc, params.model, tags.team or attributes.status"
_OPERATOR_HINT = "a comparison operator (=, !=, <, <=, >, >=, like, ilike, in, not like, not ilike, not in)"
_QUOTED = ("sq", "dq", "bq")
_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike"})


class _Token(NamedTuple):
    kind: str  # number, word, sq, dq, bq, op, punct or end
    text: str
    pos: int

    def is_word(self, word: str) -> bool:
        return self.kind == "word" and self.text.lower() == word

    def is_punct(self, char: str) -> bool:
        return self.kind == "punct" and self.text == char


def _tokenize(text: str) -> Iterator[_Token]:
    """Yield the tokens of ``text`` (whitespace dropped), then ``end`` tokens at ``len(text)`` forever.

    Lazy, so that the error reported is always the leftmost one, lexical or grammatical.
    """
    pos, size = 0, len(text)
    while pos < size:
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            _fail_character(text, pos)
        kind = match.lastgroup or ""
        if kind != "ws":
            yield _Token(kind, match.group(), pos)
        pos = match.end()
    end = _Token("end", "", size)
    while True:
        yield end


def _fail_character(text: str, pos: int) -> NoReturn:
    char = text[pos]
    if char in "'\"":
        raise FilterSyntaxError("unterminated string starting here", text, pos)
    if char == "`":
        raise FilterSyntaxError("unterminated quoted key starting here", text, pos)
    hint = _CHAR_HINTS.get(char, "quote keys and values that contain it")
    raise FilterSyntaxError(f"unexpected character '{char}': {hint}", text, pos)


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    if char is None:  # '' inside a single-quoted string
        return "'"
    return char if char in "'\"\\" else match.group()


def _unquote(token: _Token) -> str:
    """The content of a quoted token; backslash escapes apply to strings, not to backtick keys."""
    body = token.text[1:-1]
    if token.kind == "bq" or ("\\" not in body and "'" not in body):
        return body
    pattern = _SQ_ESCAPE_RE if token.kind == "sq" else _DQ_ESCAPE_RE
    return pattern.sub(_unescape, body)


def _combine(kind: type[And] | type[Or], items: list[Expr]) -> Expr:
    """``a`` stays ``a``; otherwise one flat And/Or (nested ones of the same kind are merged in)."""
    if len(items) == 1:
        return items[0]
    flat: list[Expr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


#: How deep parentheses and ``not`` may nest: far beyond any filter a person writes, and far below
#: Python's recursion limit (a filter nested 500 deep used to end in RecursionError).
MAX_DEPTH = 64
#: How many comparisons one filter may hold: SQLite parses ``a or b or ...`` as a chain one level deeper
#: per term and refuses a chain deeper than 1,000.
MAX_TERMS = 500


class _Parser:
    """Recursive descent over the tokens of one filter or one order-by item."""

    def __init__(self, text: str, subject: str) -> None:
        self.depth = 0
        self.terms = 0
        self.text = text
        self.subject = subject
        self.tokens = _tokenize(text)
        self.current = next(self.tokens)
        self.previous_end = 0

    # -- token helpers -------------------------------------------------------------------------
    def peek(self) -> _Token:
        return self.current

    def advance(self) -> _Token:
        token = self.current
        self.previous_end = token.pos + len(token.text)
        self.current = next(self.tokens)
        return token

    def fail(self, reason: str, pos: int) -> NoReturn:
        raise FilterSyntaxError(reason, self.text, pos)

    def show(self, token: _Token) -> str:
        if token.kind == "end":
            return f"the end of {self.subject}"
        text = token.text if len(token.text) <= 40 else token.text[:37] + "..."
        return text if token.kind in _QUOTED else f"'{text}'"

    # -- boolean structure ---------------------------------------------------------------------
    def parse_filter(self) -> Expr:
        expr = self.parse_or()
        token = self.peek()
        if token.kind != "end":
            found = self.show(token)
            self.fail(f"unexpected {found}: expected 'and', 'or' or the end of the filter", token.pos)
        return expr

    def parse_or(self) -> Expr:
        items = [self.parse_and()]
        while self.peek().is_word("or"):
            self.advance()
            items.append(self.parse_and())
        return _combine(Or, items)

    def parse_and(self) -> Expr:
        items = [self.parse_unary()]
        while self.peek().is_word("and"):
            self.advance()
            items.append(self.parse_unary())
        return _combine(And, items)

    def parse_unary(self) -> Expr:
        token = self.peek()
        if not (token.is_word("not") or token.is_punct("(")):
            self.terms += 1
            if self.terms > MAX_TERMS:
                self.fail(
                    f"the filter has more than {MAX_TERMS} comparisons: list values with 'in (...)' instead "
                    "of or-ing comparisons of one field",
                    token.pos,
                )
            return self.parse_comparison()
        if self.depth >= MAX_DEPTH:
            self.fail(
                f"the filter nests parentheses and 'not' more than {MAX_DEPTH} deep: write it flatter "
                "(a or b or c needs no parentheses, and 'in (...)' lists values)",
                token.pos,
            )
        self.depth += 1
        try:
            if token.is_word("not"):
                self.advance()
                return Not(self.parse_unary())
            return self.parse_group()
        finally:
            self.depth -= 1

    def parse_group(self) -> Expr:
        opener = self.advance()
        if self.peek().is_punct(")"):
            self.fail("empty filter inside parentheses", self.peek().pos)
        expr = self.parse_or()
        closer = self.peek()
        if closer.is_punct(")"):
            self.advance()
            return expr
        closing = f"')' to close the '(' opened at position {opener.pos}"
        if closer.kind == "end":
            self.fail(f"expected {closing}", closer.pos)
        self.fail(f"unexpected {self.show(closer)}: expected 'and', 'or' or {closing}", closer.pos)

    # -- comparisons ---------------------------------------------------------------------------
    def parse_comparison(self) -> Expr:
        field = self.parse_field(bare_attribute=False)
        token = self.peek()
        if token.kind == "op":
            self.advance()
            return Comparison(field, _OPERATORS[token.text], self.parse_value(token.text))
        word = token.text.lower() if token.kind == "word" else ""
        if word not in ("not", "in", "like", "ilike"):
            written = self.text[field.position : self.previous_end]
            self.fail(f"expected {_OPERATOR_HINT} after '{written}', found {self.show(token)}", token.pos)
        self.advance()
        prefix = ""
        if word == "not":
            prefix, token = "not ", self.peek()
            word = token.text.lower() if token.kind == "word" else ""
            if word not in ("like", "ilike", "in"):
                found = self.show(token)
                self.fail(f"expected 'like', 'ilike' or 'in' after 'not', found {found}", token.pos)
            self.advance()
        if word == "in":
            return InList(field, self.parse_in_list(token), negated=bool(prefix))
        op = _OPERATORS[prefix + word]
        return Comparison(field, op, self.parse_pattern(op))

    def parse_value(self, after: str) -> Value:
        token = self.peek()
        if token.kind == "number":
            self.advance()
            return Number(float(token.text), token.text)
        if token.kind in ("sq", "dq"):
            self.advance()
            return String(_unquote(token))
        bare_word = token.kind == "word" and token.text.lower() not in _KEYWORDS
        hint = f" (quote text values: '{token.text}')" if bare_word else ""
        reason = f"expected a value (a number or a quoted string) after '{after}'"
        self.fail(f"{reason}, found {self.show(token)}{hint}", token.pos)

    def parse_pattern(self, op: str) -> String:
        token = self.peek()
        if token.kind == "number":
            found = f"the number {token.text}"
            self.fail(f"expected a quoted string pattern after '{op}', found {found}", token.pos)
        value = self.parse_value(op)
        assert isinstance(value, String)
        return value

    def parse_in_list(self, in_token: _Token) -> tuple[Value, ...]:
        opener = self.peek()
        if not opener.is_punct("("):
            self.fail(f"expected '(' after '{in_token.text}', found {self.show(opener)}", opener.pos)
        self.advance()
        if self.peek().is_punct(")"):
            self.fail("expected at least one value inside 'in (...)', found ')'", self.peek().pos)
        values = [self.parse_value("(")]
        while True:
            token = self.peek()
            if not token.is_punct(",") and not token.is_punct(")"):
                closing = f"')' to close the '(' opened at position {opener.pos}"
                self.fail(f"expected ',' or {closing}, found {self.show(token)}", token.pos)
            self.advance()
            if token.text == ")":
                return tuple(values)
            if self.peek().is_punct(")"):
                self.fail("trailing ',' in the 'in' list: expected another value before ')'", token.pos)
            values.append(self.parse_value(","))

    # -- fields --------------------------------------------------------------------------------
    def parse_field(self, bare_attribute: bool) -> Field:
        token = self.peek()
        if token.kind != "word":
            self.fail(f"expected {_FIELD_HINT}, found {self.show(token)}", token.pos)
        entity, dot, key = token.text.partition(".")
        if not dot:
            return self.parse_bare_attribute(token, accepted=bare_attribute)
        kind = FIELD_PREFIXES.get(entity.lower())
        if kind is None:
            expected = "fields start with metrics., params., tags., attributes. or datasets."
            self.fail(f"unknown field '{token.text}': {expected}", token.pos)
        key_pos = token.pos + len(entity) + 1
        if not key:
            self.advance()
            key, key_pos = self.quoted_key(token.text), self.peek().pos
        if kind == "attribute":
            key = self.attribute(key, key_pos)
        elif kind == "dataset":
            key = "hash" if key.lower() == "digest" else key.lower()
            if key not in DATASET_KEYS:
                self.fail(
                    f"unknown dataset field '{token.text}': use datasets.name, datasets.hash or "
                    "datasets.context",
                    key_pos,
                )
        self.advance()
        return Field(kind, key, token.pos)

    def parse_bare_attribute(self, token: _Token, accepted: bool) -> Field:
        if not accepted:
            name = _ATTRIBUTE_ALIASES.get(token.text.lower(), token.text.lower())
            hint = f" (did you mean attributes.{name}?)" if name in ATTRIBUTES else ""
            self.fail(f"expected {_FIELD_HINT}, found {self.show(token)}{hint}", token.pos)
        name = self.attribute(token.text, token.pos, f" (or a field such as metrics.{token.text})")
        self.advance()
        return Field("attribute", name, token.pos)

    def quoted_key(self, prefix: str) -> str:
        token = self.peek()
        if token.kind not in ("dq", "bq"):
            expected = f"expected a key after '{prefix}' (e.g. {prefix}`my key`)"
            self.fail(f"{expected}, found {self.show(token)}", token.pos)
        key = _unquote(token)
        if not key:
            self.fail(f"empty key after '{prefix}'", token.pos)
        return key

    def attribute(self, key: str, pos: int, hint: str = "") -> str:
        name = key.lower()
        name = _ATTRIBUTE_ALIASES.get(name, name)
        if name not in ATTRIBUTES:
            self.fail(f"unknown attribute '{key}': use one of {', '.join(sorted(ATTRIBUTES))}{hint}", pos)
        return name

    # -- order by ------------------------------------------------------------------------------
    def parse_order_key(self) -> OrderKey:
        field = self.parse_field(bare_attribute=True)
        token = self.peek()
        if token.kind == "end":
            return OrderKey(field)
        direction = token.text.lower() if token.kind == "word" else ""
        if direction not in ("asc", "desc"):
            self.fail(f"order direction must be asc or desc, got {self.show(token)}", token.pos)
        self.advance()
        extra = self.peek()
        if extra.kind != "end":
            expected = f"expected the end of the order_by item after '{token.text}'"
            self.fail(f"unexpected {self.show(extra)}: {expected}", extra.pos)
        return OrderKey(field, descending=direction == "desc")


def parse_filter(text: str | None) -> Expr | None:
    """Parse a run search filter such as ``metrics.acc > 0.9 and params.model = 'rf'`` into a tree.

    Returns None when there is nothing to filter on (None, empty or blank text), so callers can pass
    the user's input through unchanged. Raises FilterSyntaxError, pointing at the offending token,
    when the text is not a valid filter.
    """
    if text is None or not text.strip():
        return None
    return _Parser(text, "the filter").parse_filter()


def parse_order_by(items: Sequence[str] | None) -> tuple[OrderKey, ...]:
    """Parse order-by entries such as ``["metrics.auc desc", "start_time"]`` into OrderKeys.

    Each entry is ``<field> [asc|desc]``; a bare attribute name (``name``, ``start_time``) is accepted
    because sorting by run attributes is the common case. A single string counts as one entry. Raises
    FilterSyntaxError whose text and position refer to the faulty entry.
    """
    if items is None:
        return ()
    if isinstance(items, str):
        items = [items]
    return tuple(_Parser(item, "the order_by item").parse_order_key() for item in items)
