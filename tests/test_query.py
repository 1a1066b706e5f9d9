"""Tests for the run search language parser (assay.query)."""

from __future__ import annotations

import math

import pytest

import assay.query as query
from assay.errors import FilterSyntaxError, InvalidInput
from assay.query import (
    ATTRIBUTES,
    And,
    Comparison,
    Expr,
    Field,
    InList,
    Not,
    Number,
    Or,
    OrderKey,
    String,
    parse_filter,
    parse_order_by,
)


def metric(key: str, pos: int = 0) -> Field:
    return Field("metric", key, pos)


def param(key: str, pos: int = 0) -> Field:
    return Field("param", key, pos)


def tag(key: str, pos: int = 0) -> Field:
    return Field("tag", key, pos)


def attr(key: str, pos: int = 0) -> Field:
    return Field("attribute", key, pos)


def num(text: str) -> Number:
    return Number(float(text), text)


def parse(text: str) -> Expr:
    expr = parse_filter(text)
    assert expr is not None
    return expr


def filter_error(text: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    return info.value


def order_error(items: list[str]) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse_order_by(items)
    return info.value


FIELD_EXPECTED = "expected a field such as metrics.acc, params.model, tags.team or attributes.status"


ATTRIBUTE_LIST = "duration, end_time, experiment_id, name, parent_run_id, run_id, start_time, status, user"


# -- empty input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", " ", "  \t\n "])
def test_empty_filter_is_none(text: str | None) -> None:
    assert parse_filter(text) is None


# -- comparisons ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "op"),
    [
        ("=", "="),
        ("==", "="),
        ("!=", "!="),
        ("<>", "!="),
        ("<", "<"),
        ("<=", "<="),
        (">", ">"),
        (">=", ">="),
    ],
)
def test_symbol_operators_are_normalized(written: str, op: str) -> None:
    assert parse(f"metrics.acc {written} 1") == Comparison(metric("acc"), op, num("1"))  # type: ignore[arg-type]


@pytest.mark.parametrize("written", [">", ">=", "<", "<=", "=", "!=", "<>", "=="])
def test_operators_need_no_spaces(written: str) -> None:
    expr = parse(f"metrics.acc{written}-1")
    assert isinstance(expr, Comparison)
    assert expr.value == num("-1")


@pytest.mark.parametrize(
    ("written", "op"),
    [
        ("like", "like"),
        ("LIKE", "like"),
        ("ilike", "ilike"),
        ("ILike", "ilike"),
        ("not like", "not like"),
        ("NOT LIKE", "not like"),
        ("not ilike", "not ilike"),
        ("Not ILIKE", "not ilike"),
    ],
)
def test_like_operators(written: str, op: str) -> None:
    expr = parse(f"tags.team {written} 'ml-%'")
    assert expr == Comparison(tag("team"), op, String("ml-%"))  # type: ignore[arg-type]


def test_in_list() -> None:
    assert parse("params.model in ('rf', \"xgb\", 3)") == InList(
        param("model"), (String("rf"), String("xgb"), num("3"))
    )


def test_in_list_single_value_and_case() -> None:
    assert parse("params.model IN('rf')") == InList(param("model"), (String("rf"),))


@pytest.mark.parametrize("written", ["not in", "NOT IN", "Not In"])
def test_not_in_list(written: str) -> None:
    assert parse(f"metrics.epoch {written} (1, 2)") == InList(
        metric("epoch"), (num("1"), num("2")), negated=True
    )


# -- literals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0.0),
        ("42", 42.0),
        ("-3", -3.0),
        ("+3", 3.0),
        ("0.25", 0.25),
        (".5", 0.5),
        ("-.5", -0.5),
        ("1.", 1.0),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("2.5e-3", 0.0025),
        ("-1e+2", -100.0),
        ("inf", math.inf),
        ("INF", math.inf),
        ("-inf", -math.inf),
        ("+inf", math.inf),
        ("infinity", math.inf),
        ("-Infinity", -math.inf),
    ],
)
def test_numbers_keep_their_text(text: str, value: float) -> None:
    assert parse(f"metrics.loss < {text}") == Comparison(metric("loss"), "<", Number(value, text))


@pytest.mark.parametrize("text", ["nan", "NaN", "-nan"])
def test_nan(text: str) -> None:
    expr = parse(f"metrics.loss = {text}")
    assert isinstance(expr, Comparison) and isinstance(expr.value, Number)
    assert math.isnan(expr.value.value)
    assert expr.value.text == text


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'rf'", "rf"),
        ('"rf"', "rf"),
        ("''", ""),
        ('""', ""),
        ("'it''s'", "it's"),
        ("''''", "'"),
        (r"'it\'s'", "it's"),
        (r"'say \"hi\"'", 'say "hi"'),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"it\'s"', "it's"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        (r"'back\\slash'", "back\\slash"),
        (r"'50\%'", r"50\%"),
        ("\"a''b\"", "a''b"),
        ("'a and b or not c'", "a and b or not c"),
        ("'(x, y)'", "(x, y)"),
        ("'multi\nline'", "multi\nline"),
        ("'ünïcode ✓'", "ünïcode ✓"),
    ],
)
def test_strings(literal: str, value: str) -> None:
    assert parse(f"params.p = {literal}") == Comparison(param("p"), "=", String(value))


# -- fields --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "kind"),
    [
        ("metrics", "metric"),
        ("metric", "metric"),
        ("METRICS", "metric"),
        ("params", "param"),
        ("param", "param"),
        ("Params", "param"),
        ("tags", "tag"),
        ("tag", "tag"),
        ("TAGS", "tag"),
        ("attributes", "attribute"),
        ("attribute", "attribute"),
        ("attr", "attribute"),
        ("run", "attribute"),
        ("Attributes", "attribute"),
    ],
)
def test_entities(entity: str, kind: str) -> None:
    expr = parse(f"{entity}.status = 'x'")
    assert expr == Comparison(Field(kind, "status"), "=", String("x"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [
        "val.loss",
        "system/cpu_percent",
        "a:b",
        "lr-decay",
        "_private",
        "5fold_auc",
        "CamelCase",
        "a.b/c:d-e_f9",
    ],
)
def test_bare_keys(key: str) -> None:
    assert parse(f"metrics.{key} > 0") == Comparison(metric(key), ">", num("0"))


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("metrics.`my key`", "my key"),
        ('metrics."my key"', "my key"),
        ("metrics.`a'b`", "a'b"),
        ('metrics."a\\"b"', 'a"b'),
        ("metrics.`a = b and c`", "a = b and c"),
        ("metrics. `spaced`", "spaced"),
    ],
)
def test_quoted_keys(written: str, key: str) -> None:
    assert parse(f"{written} > 0") == Comparison(metric(key), ">", num("0"))


def test_double_quotes_are_key_in_field_position_and_string_in_value_position() -> None:
    assert parse('params."learning rate" = "0.1"') == Comparison(param("learning rate"), "=", String("0.1"))


@pytest.mark.parametrize(
    ("key", "resolved"),
    [
        ("status", "status"),
        ("STATUS", "status"),
        ("id", "run_id"),
        ("ID", "run_id"),
        ("run_id", "run_id"),
        ("run_name", "name"),
        ("name", "name"),
        ("start_time", "start_time"),
        ("end_time", "end_time"),
        ("duration", "duration"),
        ("user", "user"),
        ("parent_run_id", "parent_run_id"),
        ("experiment_id", "experiment_id"),
        ("`Status`", "status"),
        ('"run_name"', "name"),
    ],
)
def test_attribute_keys_resolve(key: str, resolved: str) -> None:
    assert resolved in ATTRIBUTES
    assert parse(f"attributes.{key} = 'x'") == Comparison(attr(resolved), "=", String("x"))


def test_non_attribute_keys_keep_their_case() -> None:
    assert parse("tags.Team = 'x'") == Comparison(tag("Team"), "=", String("x"))


def test_field_positions_are_offsets_in_the_text() -> None:
    text = "  metrics.a = 1 and (params.`b c` = 'x' or tags.d in ('y'))"
    assert parse(text) == And(
        (
            Comparison(metric("a", 2), "=", num("1")),
            Or(
                (
                    Comparison(param("b c", text.index("params")), "=", String("x")),
                    InList(tag("d", text.index("tags")), (String("y"),)),
                )
            ),
        )
    )


# -- boolean structure ---------------------------------------------------------------------------

A = "metrics.a = 1"
B = "metrics.b = 2"
C = "metrics.c = 3"


def a(pos: int) -> Comparison:
    return Comparison(metric("a", pos), "=", num("1"))


def b(pos: int) -> Comparison:
    return Comparison(metric("b", pos), "=", num("2"))


def c(pos: int) -> Comparison:
    return Comparison(metric("c", pos), "=", num("3"))


def test_and_is_flat() -> None:
    text = f"{A} and {B} and {C}"
    assert parse(text) == And((a(0), b(text.index("metrics.b")), c(text.index("metrics.c"))))


def test_or_is_flat() -> None:
    text = f"{A} or {B} OR {C}"
    assert parse(text) == Or((a(0), b(text.index("metrics.b")), c(text.index("metrics.c"))))


def test_single_comparison_is_not_wrapped() -> None:
    assert parse(A) == a(0)
    assert parse(f"(({A}))") == a(2)


def test_and_binds_tighter_than_or() -> None:
    text = f"{A} or {B} and {C}"
    assert parse(text) == Or((a(0), And((b(text.index("metrics.b")), c(text.index("metrics.c"))))))
    text = f"{A} and {B} or {C}"
    assert parse(text) == Or((And((a(0), b(text.index("metrics.b")))), c(text.index("metrics.c"))))


def test_not_binds_tighter_than_and() -> None:
    text = f"not {A} and {B}"
    assert parse(text) == And((Not(a(4)), b(text.index("metrics.b"))))


def test_not_applies_to_a_parenthesized_group() -> None:
    text = f"NOT ({A} or {B})"
    assert parse(text) == Not(Or((a(5), b(text.index("metrics.b")))))


def test_double_not() -> None:
    assert parse(f"not not {A}") == Not(Not(a(8)))


def test_parentheses_override_precedence() -> None:
    text = f"({A} or {B}) and {C}"
    assert parse(text) == And((Or((a(1), b(text.index("metrics.b")))), c(text.index("metrics.c"))))


def test_same_kind_groups_are_merged() -> None:
    text = f"({A} and {B}) and {C}"
    assert parse(text) == And((a(1), b(text.index("metrics.b")), c(text.index("metrics.c"))))
    text = f"{A} or ({B} or {C})"
    assert parse(text) == Or((a(0), b(text.index("metrics.b")), c(text.index("metrics.c"))))


@pytest.mark.parametrize("keyword", ["and", "AND", "And", "aNd"])
def test_keywords_are_case_insensitive(keyword: str) -> None:
    assert isinstance(parse(f"{A} {keyword} {B}"), And)


def test_no_spaces_needed_around_punctuation() -> None:
    text = "(metrics.a>1)and(params.b in('x','y'))"
    assert parse(text) == And(
        (
            Comparison(metric("a", 1), ">", num("1")),
            InList(param("b", text.index("params")), (String("x"), String("y"))),
        )
    )


def test_keyword_right_after_number() -> None:
    text = "metrics.a>0.9and params.b='x'"
    assert parse(text) == And(
        (Comparison(metric("a"), ">", num("0.9")), Comparison(param("b", 17), "=", String("x")))
    )


def test_realistic_filter() -> None:
    text = (
        "attributes.status = 'FINISHED' and metrics.val.loss < 0.3 and "
        "(params.model ilike 'xgb%' or tags.`mlflow.runName` not in ('baseline', 'smoke'))"
    )
    assert parse(text) == And(
        (
            Comparison(attr("status"), "=", String("FINISHED")),
            Comparison(metric("val.loss", text.index("metrics")), "<", num("0.3")),
            Or(
                (
                    Comparison(param("model", text.index("params")), "ilike", String("xgb%")),
                    InList(
                        tag("mlflow.runName", text.index("tags")),
                        (String("baseline"), String("smoke")),
                        negated=True,
                    ),
                )
            ),
        )
    )


# -- errors --------------------------------------------------------------------------------------


def check(text: str, reason: str, position: int) -> FilterSyntaxError:
    error = filter_error(text)
    assert error.reason == reason
    assert error.position == position
    assert error.text == text
    return error


def test_error_message_shows_caret_under_the_position() -> None:
    text = "metrics.acc > 0.9 adn params.model = 'rf'"
    error = check(text, "unexpected 'adn': expected 'and', 'or' or the end of the filter", 18)
    reason, shown, caret = str(error).split("\n")
    assert reason == error.reason
    assert shown == "  " + text
    assert caret.index("^") - 2 == text.index("adn")
    assert isinstance(error, InvalidInput)
    assert error.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("text", "found", "token"),
    [
        ("metrics.a = 1 metrics.b = 2", "'metrics.b'", "metrics.b"),
        ("metrics.a = 1 )", "')'", ")"),
        ("metrics.a = 1 'x'", "'x'", "'x'"),
        ("metrics.a = 1 , 2", "','", ","),
        ("metrics.a = 1 not metrics.b = 2", "'not'", "not"),
    ],
)
def test_unexpected_token_after_a_complete_filter(text: str, found: str, token: str) -> None:
    check(text, f"unexpected {found}: expected 'and', 'or' or the end of the filter", text.rindex(token))


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("params.model = 'rf", 15),
        ('params.model = "rf', 15),
        ("params.model = 'it''s", 15),
        ("params.model = 'rf\\'", 15),
        ("metrics.a = 1 and params.b = 'x' or tags.c = 'y", 45),
    ],
)
def test_unterminated_string(text: str, position: int) -> None:
    check(text, "unterminated string starting here", position)


def test_unterminated_string_in_the_middle() -> None:
    check("params.a = 'x' and params.b = 'oops and tags.c = 1", "unterminated string starting here", 30)


@pytest.mark.parametrize(
    ("text", "reason", "position"),
    [
        ("metrics.a = 1 adn 'oops", "unexpected 'adn': expected 'and', 'or' or the end of the filter", 14),
        ("attributes.`foo` 'oops", f"unknown attribute 'foo': use one of {ATTRIBUTE_LIST}", 11),
        ("attributes.foo 'oops", f"unknown attribute 'foo': use one of {ATTRIBUTE_LIST}", 11),
        ("params.a like 5 'oops", "expected a quoted string pattern after 'like', found the number 5", 14),
        (
            "metrics.a = 1 metrics.b & 'oops",
            "unexpected 'metrics.b': expected 'and', 'or' or the end of the filter",
            14,
        ),
        ("metrics.a = 1 and & 'oops", "unexpected character '&': use 'and'", 18),
    ],
)
def test_the_leftmost_error_is_reported(text: str, reason: str, position: int) -> None:
    check(text, reason, position)


def test_unterminated_quoted_key() -> None:
    check("metrics.`my key > 1", "unterminated quoted key starting here", 8)


@pytest.mark.parametrize(
    ("text", "char", "hint"),
    [
        ("metrics.a = 1 && metrics.b = 2", "&", "use 'and'"),
        ("metrics.a = 1 || metrics.b = 2", "|", "use 'or'"),
        ("!metrics.a = 1", "!", "use 'not' or '!='"),
        ("metrics.a = 1;", ";", "quote keys and values that contain it"),
        ("metrics.a% = 1", "%", "quote keys and values that contain it"),
    ],
)
def test_unexpected_character(text: str, char: str, hint: str) -> None:
    check(text, f"unexpected character '{char}': {hint}", text.index(char))


@pytest.mark.parametrize(
    ("text", "op", "found", "position"),
    [
        ("metrics.a >", ">", "the end of the filter", 11),
        ("metrics.a > ", ">", "the end of the filter", 12),
        ("metrics.a = and", "=", "'and'", 12),
        ("metrics.a == )", "==", "')'", 13),
        ("metrics.a <= `x`", "<=", "`x`", 13),
        ("metrics.a = < 1", "=", "'<'", 12),
    ],
)
def test_missing_value(text: str, op: str, found: str, position: int) -> None:
    check(text, f"expected a value (a number or a quoted string) after '{op}', found {found}", position)


def test_unquoted_word_value_gets_a_hint() -> None:
    check(
        "attributes.status = FINISHED",
        "expected a value (a number or a quoted string) after '=', found 'FINISHED' "
        "(quote text values: 'FINISHED')",
        20,
    )


@pytest.mark.parametrize(
    ("text", "found", "position"),
    [
        ("metrics.a", "the end of the filter", 9),
        ("metrics.a 1", "'1'", 10),
        ("metrics.a 'x'", "'x'", 10),
        ("metrics.a is 1", "'is'", 10),
        ("metrics.a and metrics.b = 1", "'and'", 10),
        ("metrics.`my key` ~ 1", None, 17),
    ],
)
def test_missing_operator(text: str, found: str | None, position: int) -> None:
    if found is None:
        check(text, "unexpected character '~': quote keys and values that contain it", position)
        return
    written = text.split(" ")[0]
    check(
        text,
        "expected a comparison operator (=, !=, <, <=, >, >=, like, ilike, in, not like, not ilike, not in) "
        f"after '{written}', found {found}",
        position,
    )


def test_missing_operator_names_the_quoted_field_as_written() -> None:
    error = filter_error("metrics.`my key` 1")
    assert "after 'metrics.`my key`', found '1'" in error.reason
    assert error.position == 17


@pytest.mark.parametrize(
    ("text", "found", "position"),
    [
        ("metrics.a not = 1", "'='", 14),
        ("metrics.a not", "the end of the filter", 13),
        ("metrics.a not not like 'x'", "'not'", 14),
        ("metrics.a NOT between 1", "'between'", 14),
    ],
)
def test_bad_word_after_not(text: str, found: str, position: int) -> None:
    check(text, f"expected 'like', 'ilike' or 'in' after 'not', found {found}", position)


@pytest.mark.parametrize(
    ("text", "op", "position"),
    [
        ("params.a like 5", "like", 14),
        ("params.a ilike -1.5", "ilike", 15),
        ("params.a not like 1e3", "not like", 18),
        ("params.a NOT ILIKE inf", "not ilike", 19),
    ],
)
def test_like_needs_a_string(text: str, op: str, position: int) -> None:
    found = text.split(" ")[-1]
    check(text, f"expected a quoted string pattern after '{op}', found the number {found}", position)


def test_like_without_value() -> None:
    check(
        "params.a like",
        "expected a value (a number or a quoted string) after 'like', found the end of the filter",
        13,
    )


@pytest.mark.parametrize(
    ("text", "reason", "position"),
    [
        ("params.a in 'x'", "expected '(' after 'in', found 'x'", 12),
        ("params.a IN", "expected '(' after 'IN', found the end of the filter", 11),
        ("params.a not in 1", "expected '(' after 'in', found '1'", 16),
        ("params.a in ()", "expected at least one value inside 'in (...)', found ')'", 13),
        ("params.a in ('x',)", "trailing ',' in the 'in' list: expected another value before ')'", 16),
        ("params.a in ('x', 'y', )", "trailing ',' in the 'in' list: expected another value before ')'", 21),
        (
            "params.a in ('x',,'y')",
            "expected a value (a number or a quoted string) after ',', found ','",
            17,
        ),
        ("params.a in (,'x')", "expected a value (a number or a quoted string) after '(', found ','", 13),
        (
            "params.a in ('x' 'y')",
            "expected ',' or ')' to close the '(' opened at position 12, found 'y'",
            17,
        ),
        (
            "params.a in ('x', 'y'",
            "expected ',' or ')' to close the '(' opened at position 12, found the end of the filter",
            21,
        ),
        (
            "params.a in ('x', ",
            "expected a value (a number or a quoted string) after ',', found the end of the filter",
            18,
        ),
        (
            "params.a in (x)",
            "expected a value (a number or a quoted string) after '(', found 'x' (quote text values: 'x')",
            13,
        ),
    ],
)
def test_in_list_errors(text: str, reason: str, position: int) -> None:
    check(text, reason, position)


@pytest.mark.parametrize(
    ("text", "position", "opened"),
    [
        ("(metrics.a = 1", 14, 0),
        ("(metrics.a = 1 and (params.b = 'x')", 35, 0),
        ("metrics.a = 1 and (params.b = 'x' or (tags.c = 'y')", 51, 18),
        ("((metrics.a = 1)", 16, 0),
    ],
)
def test_unclosed_parenthesis(text: str, position: int, opened: int) -> None:
    assert position == len(text)
    check(text, f"expected ')' to close the '(' opened at position {opened}", position)


def test_unexpected_token_inside_parentheses() -> None:
    text = "metrics.z = 0 and (metrics.a = 1 adn metrics.b = 2)"
    check(
        text,
        "unexpected 'adn': expected 'and', 'or' or ')' to close the '(' opened at position 18",
        text.index("adn"),
    )


@pytest.mark.parametrize(("text", "position"), [("()", 1), ("metrics.a = 1 and ( )", 20), ("not ()", 5)])
def test_empty_parentheses(text: str, position: int) -> None:
    check(text, "empty filter inside parentheses", position)


def test_open_parenthesis_at_end() -> None:
    check(
        "metrics.a = 1 and (",
        "expected a field such as metrics.acc, params.model, tags.team or attributes.status, "
        "found the end of the filter",
        19,
    )


@pytest.mark.parametrize(
    ("text", "found", "position"),
    [
        ("status = 'FINISHED'", "'status' (did you mean attributes.status?)", 0),
        ("metrics.a = 1 and ID = 'x'", "'ID' (did you mean attributes.run_id?)", 18),
        ("run_name = 'x'", "'run_name' (did you mean attributes.name?)", 0),
        ("acc > 1", "'acc'", 0),
        ("metrics.a = 1 and", "the end of the filter", 17),
        ("metrics.a = 1 or ", "the end of the filter", 17),
        ("and metrics.a = 1", "'and'", 0),
        ("not", "the end of the filter", 3),
        ("1 = metrics.a", "'1'", 0),
        ("'x' = metrics.a", "'x'", 0),
        ('"metrics.a" = 1', '"metrics.a"', 0),
        ("`metrics`.a = 1", "`metrics`", 0),
        ("= 1", "'='", 0),
        (")", "')'", 0),
    ],
)
def test_expected_a_field(text: str, found: str, position: int) -> None:
    check(text, f"{FIELD_EXPECTED}, found {found}", position)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("metrcs.acc > 1", "metrcs.acc"),
        ("metrics.a = 1 and parms.model = 'x'", "parms.model"),
        ("m.acc > 1", "m.acc"),
        ("metricsx.`a b` > 1", "metricsx."),
    ],
)
def test_unknown_field(text: str, field: str) -> None:
    check(
        text,
        f"unknown field '{field}': fields start with metrics., params., tags., attributes. or datasets.",
        text.index(field),
    )


@pytest.mark.parametrize(
    ("text", "key", "position"),
    [
        ("attributes.stat = 'x'", "stat", 11),
        ("metrics.a = 1 and run.Stat = 'x'", "Stat", 22),
        ("attr.`start time` > 1", "start time", 5),
        ('attribute."foo" = 1', "foo", 10),
        ("attributes.status.x = 'a'", "status.x", 11),
    ],
)
def test_unknown_attribute_points_at_the_key(text: str, key: str, position: int) -> None:
    check(text, f"unknown attribute '{key}': use one of {ATTRIBUTE_LIST}", position)


@pytest.mark.parametrize(
    ("text", "found", "position"),
    [
        ("metrics. = 1", "'='", 9),
        ("metrics.", "the end of the filter", 8),
        ("metrics.'x' = 1", "'x'", 8),
        ("metrics.(x) = 1", "'('", 8),
    ],
)
def test_missing_key(text: str, found: str, position: int) -> None:
    check(text, f"expected a key after 'metrics.' (e.g. metrics.`my key`), found {found}", position)


@pytest.mark.parametrize(("text", "position"), [("metrics.`` = 1", 8), ('params."" = 1', 7)])
def test_empty_quoted_key(text: str, position: int) -> None:
    entity = text.split(".")[0]
    check(text, f"empty key after '{entity}.'", position)


# -- order by ------------------------------------------------------------------------------------


@pytest.mark.parametrize("items", [None, [], ()])
def test_order_by_empty(items: list[str] | None) -> None:
    assert parse_order_by(items) == ()


def test_order_by_items() -> None:
    assert parse_order_by(
        [
            "metrics.auc desc",
            "params.lr",
            "attributes.start_time ASC",
            "name",
            "metrics.`val auc` DeSc",
            'tags."my tag" asc',
            "  start_time   desc  ",
            "ID",
            "run.run_name",
        ]
    ) == (
        OrderKey(metric("auc"), descending=True),
        OrderKey(param("lr")),
        OrderKey(attr("start_time")),
        OrderKey(attr("name")),
        OrderKey(metric("val auc"), descending=True),
        OrderKey(tag("my tag")),
        OrderKey(attr("start_time", 2), descending=True),
        OrderKey(attr("run_id")),
        OrderKey(attr("name")),
    )


def test_order_by_accepts_a_single_string() -> None:
    assert parse_order_by("metrics.auc desc") == (OrderKey(metric("auc"), descending=True),)


def order_check(items: list[str], reason: str, position: int) -> None:
    error = order_error(items)
    assert error.reason == reason
    assert error.position == position
    assert error.text == items[-1]


@pytest.mark.parametrize(
    ("item", "found", "position"),
    [
        ("metrics.auc up", "'up'", 12),
        ("metrics.auc DOWN", "'DOWN'", 12),
        ("metrics.auc = 1", "'='", 12),
        ("metrics.auc, params.lr", "','", 11),
        ("metrics.auc 'desc'", "'desc'", 12),
    ],
)
def test_order_by_bad_direction(item: str, found: str, position: int) -> None:
    order_check([item], f"order direction must be asc or desc, got {found}", position)


def test_order_by_error_refers_to_the_faulty_item() -> None:
    order_check(
        ["metrics.auc desc", "params.lr sideways"], "order direction must be asc or desc, got 'sideways'", 10
    )


@pytest.mark.parametrize(
    ("item", "found", "position"),
    [("name desc extra", "'extra'", 10), ("name asc asc", "'asc'", 9), ("metrics.a DESC ,", "','", 15)],
)
def test_order_by_trailing_tokens(item: str, found: str, position: int) -> None:
    direction = item.split()[1]
    order_check(
        [item], f"unexpected {found}: expected the end of the order_by item after '{direction}'", position
    )


def test_order_by_unknown_bare_attribute() -> None:
    order_check(
        ["auc desc"],
        f"unknown attribute 'auc': use one of {ATTRIBUTE_LIST} (or a field such as metrics.auc)",
        0,
    )


def test_order_by_unknown_attribute_key() -> None:
    order_check(["attributes.stat"], f"unknown attribute 'stat': use one of {ATTRIBUTE_LIST}", 11)


def test_order_by_unknown_entity() -> None:
    order_check(
        ["metric.a", "metrcs.auc desc"],
        "unknown field 'metrcs.auc': fields start with metrics., params., tags., attributes. or datasets.",
        0,
    )


@pytest.mark.parametrize(("item", "position"), [("", 0), ("   ", 3)])
def test_order_by_empty_item(item: str, position: int) -> None:
    order_check([item], f"{FIELD_EXPECTED}, found the end of the order_by item", position)


@pytest.mark.parametrize(
    ("item", "reason", "position"),
    [
        ("metrics.`auc desc", "unterminated quoted key starting here", 8),
        (
            "desc",
            f"unknown attribute 'desc': use one of {ATTRIBUTE_LIST} (or a field such as metrics.desc)",
            0,
        ),
        ("1 desc", f"{FIELD_EXPECTED}, found '1'", 0),
        ("metrics. desc", "expected a key after 'metrics.' (e.g. metrics.`my key`), found 'desc'", 9),
    ],
)
def test_order_by_other_errors(item: str, reason: str, position: int) -> None:
    order_check([item], reason, position)


# -- package surface and speed -------------------------------------------------------------------


def test_package_exports() -> None:
    for name in query.__all__:
        assert hasattr(query, name), name
    assert {"parse_filter", "parse_order_by", "And", "Or", "Not", "Comparison", "InList", "Field"} <= set(
        query.__all__
    )
    assert {"Number", "String", "OrderKey", "ATTRIBUTES"} <= set(query.__all__)


# -- page tokens ------------------------------------------------------------------------------------------


def test_a_cursor_token_round_trips_its_keys_and_names_its_order() -> None:
    import base64

    import msgpack

    by_auc = query.parse_order_by(["metrics.auc desc"])
    cursor = query.Cursor((math.inf, None, -0.0, 1_700_000_000_000, "ab\u00e9"), before=True)
    token = query.encode_cursor(cursor, by_auc)
    assert query.decode_cursor(token, by_auc) == cursor
    assert query.decode_cursor(query.encode_cursor(query.Cursor(), by_auc), by_auc) == query.Cursor()
    assert (
        query.decode_cursor(query.encode_page_token(40), by_auc) == 40
        and query.decode_cursor(None, by_auc) == 0
    )
    with pytest.raises(InvalidInput, match="another order"):
        query.decode_cursor(token, query.parse_order_by(["metrics.auc"]))
    fingerprint = query.order_fingerprint(by_auc)
    for forged in (
        [fingerprint, 1, None],
        [fingerprint, False, [True]],
        [fingerprint, False, [{}]],
        [1, 2],
        7,
    ):
        bad = base64.urlsafe_b64encode(b"k" + msgpack.packb(forged)).decode()
        with pytest.raises(InvalidInput, match="not one this server issued"):
            query.decode_cursor(bad, by_auc)
    with pytest.raises(InvalidInput, match="not one this server issued"):
        query.decode_page_token(token)  # the listings held in memory take offsets only
