from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.domain.search import (
    ATTRIBUTES,
    TIME_ATTRIBUTES,
    And,
    Comparison,
    Expr,
    Field,
    Not,
    Or,
    OrderKey,
    as_utc_datetime,
    format_filter,
    parse_filter,
    parse_order_by,
)
from modelward.errors import InvalidInput


def cmp(kind: str, key: str, op: str, value: object = None) -> Comparison:
    return Comparison(Field(kind, key), op, value)  # type: ignore[arg-type]


ACC_GT = cmp("metrics", "acc", ">", 0.9)
TEAM_NLP = cmp("tags", "team", "=", "nlp")


@pytest.mark.parametrize("text", [None, "", "   \n\t"])
def test_blank_filter_is_none(text: str | None) -> None:
    assert parse_filter(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc > 0.9", ACC_GT),
        ("metric.acc>0.9", ACC_GT),
        ("metrics.loss <= -1.5e-3", cmp("metrics", "loss", "<=", -1.5e-3)),
        ("metrics.epochs = 10", cmp("metrics", "epochs", "=", 10)),
        ("metrics.x != .5", cmp("metrics", "x", "!=", 0.5)),
        ("metrics.x IN (1, 2.5, -3)", cmp("metrics", "x", "IN", (1, 2.5, -3))),
        ("metrics.x is null", cmp("metrics", "x", "IS NULL")),
        ("metrics.`val/loss` < 1", cmp("metrics", "val/loss", "<", 1)),
        ("metrics.val/loss < 1", cmp("metrics", "val/loss", "<", 1)),
        ('params."my.param" = "x"', cmp("params", "my.param", "=", "x")),
        ("params.`with space` = 'x'", cmp("params", "with space", "=", "x")),
        ("param.model LIKE 'res%'", cmp("params", "model", "LIKE", "res%")),
        ("params.model ilike '%NET%'", cmp("params", "model", "ILIKE", "%NET%")),
        ("params.m not in ('a', \"b\")", cmp("params", "m", "NOT IN", ("a", "b"))),
        ("tags.mlflow.runName = 'x'", cmp("tags", "mlflow.runName", "=", "x")),
        ("tag.a-b:c/d = 'x'", cmp("tags", "a-b:c/d", "=", "x")),
        ("tags.team IS NOT NULL", cmp("tags", "team", "IS NOT NULL")),
        ("tags.q = 'it''s'", cmp("tags", "q", "=", "it's")),
        ("tags.q = 'it\\'s \\\\ ok'", cmp("tags", "q", "=", "it's \\ ok")),
        ('tags.q = "say ""hi"""', cmp("tags", "q", "=", 'say "hi"')),
        ("status = 'FINISHED'", cmp("attributes", "status", "=", "FINISHED")),
        ("attributes.run_name = 'a'", cmp("attributes", "name", "=", "a")),
        ("attribute.Run_Id = 'a'", cmp("attributes", "id", "=", "a")),
        ("user_id IN ('ann')", cmp("attributes", "user", "IN", ("ann",))),
        ("lifecycle_stage = 'active'", cmp("attributes", "lifecycle", "=", "active")),
        ("start_time > 1700000000000", cmp("attributes", "start_time", ">", 1700000000000)),
        ("end_time < '2024-01-01T00:00Z'", cmp("attributes", "end_time", "<", "2024-01-01T00:00Z")),
        ("end_time IS NULL", cmp("attributes", "end_time", "IS NULL")),
        ("metrics.acc > 0.9 AND tags.team = 'nlp'", And((ACC_GT, TEAM_NLP))),
        ("metrics.acc > 0.9 or tags.team = 'nlp'", Or((ACC_GT, TEAM_NLP))),
        ("NOT metrics.acc > 0.9", Not(ACC_GT)),
        ("not not metrics.acc > 0.9", Not(Not(ACC_GT))),
        ("(((metrics.acc > 0.9)))", ACC_GT),
    ],
)
def test_parses(text: str, expected: Expr) -> None:
    assert parse_filter(text) == expected


def test_precedence_not_and_or() -> None:
    a, b, c = (cmp("metrics", k, "=", 1) for k in "abc")
    assert parse_filter("metrics.a = 1 or metrics.b = 1 and metrics.c = 1") == Or((a, And((b, c))))
    assert parse_filter("not metrics.a = 1 and metrics.b = 1") == And((Not(a), b))
    assert parse_filter("(metrics.a = 1 or metrics.b = 1) and metrics.c = 1") == And(
        (Or((a, b)), c)
    )
    assert parse_filter("metrics.a = 1 and metrics.b = 1 and metrics.c = 1") == And((a, b, c))
    assert parse_filter("not (metrics.a = 1 or metrics.b = 1)") == Not(Or((a, b)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics.x > 1 and metrics.y > and",
         "position 30: expected a value after '>', found 'and'"),
        ("params.x = 'abc", "position 11: unterminated string"),
        ("colour = 'red'", "position 0: unknown attribute 'colour'"),
        ("attributes.colour = 'red'", "position 0: unknown attribute 'colour'"),
        ("foo.bar = 1", "position 0: unknown field type 'foo'"),
        ("metrics. = 1", "position 8: expected a key after 'metrics.'"),
        ("metrics.acc = 'high'", "position 14: 'metrics.acc' needs a number, found \"'high'\""),
        ("params.lr = 0.1", "position 12: 'params.lr' needs a quoted string, found '0.1'"),
        ("params.lr > '1'", "position 10: operator > does not apply to 'params.lr'"),
        ("metrics.acc LIKE 1", "position 12: operator LIKE does not apply to 'metrics.acc'"),
        ("start_time IN (1)", "position 11: operator IN does not apply to 'start_time'"),
        ("start_time > 'yesterday'", "position 13: expected epoch milliseconds or an ISO 8601"),
        ("metrics.acc 0.9", "position 12: expected an operator after 'metrics.acc', found '0.9'"),
        ("metrics.acc", "position 11: expected an operator after 'metrics.acc', found end of"),
        ("metrics.acc IS 1", "position 15: expected NULL after 'IS', found '1'"),
        ("params.m NOT LIKE 'a'", "position 13: expected IN after 'NOT', found 'LIKE'"),
        ("params.m IN 'a'", "position 12: expected '(' after 'IN', found \"'a'\""),
        ("params.m IN ()", "position 13: expected a value after '(', found ')'"),
        ("params.m IN ('a' 'b')", "position 17: expected ',' or ')' in the list, found \"'b'\""),
        ("(metrics.a = 1", "position 14: expected ')' to close '(' at position 0, found end of"),
        ("metrics.a = 1)", "position 13: expected AND, OR or end of filter, found ')'"),
        ("metrics.a = 1 metrics.b = 2", "position 14: expected AND, OR or end of filter"),
        ("and metrics.a = 1", "position 0: expected a field such as metrics.accuracy"),
        ("metrics.a = 1 and", "position 17: expected a field such as metrics.accuracy"),
        ("metrics.a = 1e999", "position 12: number '1e999' is out of range"),
        ("metrics.a = 12abc", "position 12: malformed number '12a'"),
        ("metrics.a = 1 ; drop table runs", "position 14: unexpected character ';'"),
        ("params.p LIKE 'a\\\\\\\\\\\\'", "position 14: a LIKE pattern must not end with"),
        ("(" * 101 + "metrics.a = 1" + ")" * 101, "position 100: nested more than 100 levels"),
    ],
)
def test_errors_name_token_and_position(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_filter(text)
    assert str(caught.value).startswith(f"Invalid filter at {message}")


def test_parse_order_by() -> None:
    assert parse_order_by(None) == []
    items = ["metrics.m1 DESC", "params.lr", "start_time ASC", "attributes.start_time desc"]
    assert parse_order_by([*items, "tags.`a b` asc"]) == [
        OrderKey(Field("metrics", "m1"), descending=True),
        OrderKey(Field("params", "lr")),
        OrderKey(Field("attributes", "start_time")),
        OrderKey(Field("attributes", "start_time"), descending=True),
        OrderKey(Field("tags", "a b")),
    ]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("", "Invalid order_by '' at position 0: expected a field"),
        ("metrics.m1 DOWN", "Invalid order_by 'metrics.m1 DOWN' at position 11: expected ASC"),
        ("metrics.m1 DESC x", "Invalid order_by 'metrics.m1 DESC x' at position 16: expected"),
        ("colour", "Invalid order_by 'colour' at position 0: unknown attribute 'colour'"),
    ],
)
def test_order_by_errors(item: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_order_by([item])
    assert str(caught.value).startswith(message)


def test_as_utc_datetime() -> None:
    assert as_utc_datetime(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert as_utc_datetime(1500) == datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    assert as_utc_datetime("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    moment = as_utc_datetime("2024-05-01T12:00:00+02:00")
    assert moment == datetime(2024, 5, 1, 10, tzinfo=UTC) and moment.tzinfo is UTC


# -- properties ---------------------------------------------------------------

characters = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
keys = st.text(characters, min_size=1, max_size=12)
strings = st.text(characters, max_size=12)
numbers = st.integers(-(10**15), 10**15) | st.floats(allow_nan=False, allow_infinity=False)
like_patterns = strings.filter(lambda s: (len(s) - len(s.rstrip("\\"))) % 2 == 0)
zones = st.none() | st.just(UTC) | st.just(timezone(timedelta(hours=5)))
times = st.integers(-(10**12), 10**13) | st.datetimes(datetime(1000, 1, 1), timezones=zones).map(
    datetime.isoformat
)
ORDERING = ["=", "!=", "<", "<=", ">", ">="]


def tuples_of(values: st.SearchStrategy[object]) -> st.SearchStrategy[tuple[object, ...]]:
    return st.lists(values, min_size=1, max_size=3).map(tuple)


def comparisons_of(
    kind: str, key: st.SearchStrategy[str], ops: list[str], values: st.SearchStrategy[object]
) -> st.SearchStrategy[Comparison]:
    return st.builds(Comparison, st.builds(Field, st.just(kind), key), st.sampled_from(ops), values)


def string_comparisons(kind: str, key: st.SearchStrategy[str]) -> st.SearchStrategy[Comparison]:
    return st.one_of(
        comparisons_of(kind, key, ["=", "!="], strings),
        comparisons_of(kind, key, ["LIKE", "ILIKE"], like_patterns),
        comparisons_of(kind, key, ["IN", "NOT IN"], tuples_of(strings)),
        comparisons_of(kind, key, ["IS NULL", "IS NOT NULL"], st.none()),
    )


comparisons = st.one_of(
    comparisons_of("metrics", keys, ORDERING, numbers),
    comparisons_of("metrics", keys, ["IN", "NOT IN"], tuples_of(numbers)),
    comparisons_of("metrics", keys, ["IS NULL", "IS NOT NULL"], st.none()),
    string_comparisons("params", keys),
    string_comparisons("tags", keys),
    string_comparisons("attributes", st.sampled_from(sorted(ATTRIBUTES - TIME_ATTRIBUTES))),
    comparisons_of("attributes", st.sampled_from(sorted(TIME_ATTRIBUTES)), ORDERING, times),
    comparisons_of("attributes", st.sampled_from(sorted(TIME_ATTRIBUTES)), ["IS NULL"], st.none()),
)

expressions: st.SearchStrategy[Expr] = st.recursive(
    comparisons,
    lambda children: st.one_of(
        st.builds(Not, children),
        st.lists(children, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
        st.lists(children, min_size=2, max_size=3).map(lambda items: Or(tuple(items))),
    ),
    max_leaves=8,
)


@given(expressions)
@settings(max_examples=300)
def test_printed_filters_parse_back(expr: Expr) -> None:
    assert parse_filter(format_filter(expr)) == expr


filter_alphabet = st.sampled_from(
    list(string.ascii_letters + string.digits + " ._-/:`'\"\\()=!<>,+%eE\x00é")
    + ["metrics.", "params.", "tags.", " and ", " or ", "not ", " in ", " is ", "null", "like"]
)


@given(st.lists(filter_alphabet, max_size=40).map("".join) | st.text(max_size=60))
@settings(max_examples=500)
def test_arbitrary_text_raises_only_invalid_input(text: str) -> None:
    try:
        expr = parse_filter(text)
    except InvalidInput:
        return
    if expr is not None:
        assert parse_filter(format_filter(expr)) == expr


@given(st.lists(st.text(max_size=20), max_size=3))
def test_arbitrary_order_by_raises_only_invalid_input(items: list[str]) -> None:
    try:
        parse_order_by(items)
    except InvalidInput:
        pass
