"""MLflow's filter and order-by language, parsed without a database."""

from __future__ import annotations

import pytest

from corridor.errors import InvalidInput
from corridor.search.filters import (
    EXPERIMENTS,
    RUNS,
    Comparison,
    Entity,
    Key,
    Op,
    OrderBy,
    parse_filter,
    parse_order_by,
)

M, P, T, A = Entity.METRIC, Entity.PARAM, Entity.TAG, Entity.ATTRIBUTE


def one(text: str) -> Comparison:
    (comparison,) = parse_filter(text)
    return comparison


def test_the_issue_example_parses_into_four_comparisons() -> None:
    text = (
        "metrics.acc > 0.9 and params.lr = '0.1' and tags.team LIKE '%ml%' "
        "and attributes.status = 'FINISHED'"
    )
    assert parse_filter(text) == (
        Comparison(Key(M, "acc"), Op.GT, 0.9),
        Comparison(Key(P, "lr"), Op.EQ, "0.1"),
        Comparison(Key(T, "team"), Op.LIKE, "%ml%"),
        Comparison(Key(A, "status"), Op.EQ, "FINISHED"),
    )


@pytest.mark.parametrize("text", ["", "   ", None])
def test_an_empty_filter_has_no_comparisons(text: str | None) -> None:
    assert parse_filter(text) == ()


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("metrics.a = 1", Op.EQ, 1.0),
        ("metrics.a != 1", Op.NE, 1.0),
        ("metrics.a < 1", Op.LT, 1.0),
        ("metrics.a <= -1.5", Op.LE, -1.5),
        ("metrics.a > 1e3", Op.GT, 1000.0),
        ("metrics.a >= .5", Op.GE, 0.5),
        ("metrics.a>=+2E-2", Op.GE, 0.02),
        ("metrics.a=3", Op.EQ, 3.0),
    ],
)
def test_metric_comparisons_take_numbers(text: str, op: Op, value: float) -> None:
    assert one(text) == Comparison(Key(M, "a"), op, value)


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("params.p = 'x'", Op.EQ, "x"),
        ('params.p = "x"', Op.EQ, "x"),
        ("params.p != 'x'", Op.NE, "x"),
        ("params.p LIKE 'x%'", Op.LIKE, "x%"),
        ("params.p like 'x%'", Op.LIKE, "x%"),
        ("params.p ILIKE '%X'", Op.ILIKE, "%X"),
        ("params.p IN ('a', 'b')", Op.IN, ("a", "b")),
        ("params.p in ('a')", Op.IN, ("a",)),
        ("params.p NOT IN ('a','b')", Op.NOT_IN, ("a", "b")),
        ("params.p not in ('a')", Op.NOT_IN, ("a",)),
        ("params.p = 'it''s'", Op.EQ, "it's"),
        ('params.p = "say ""hi"""', Op.EQ, 'say "hi"'),
        ("params.p = ''", Op.EQ, ""),
        ("params.p = 'and or = <'", Op.EQ, "and or = <"),
    ],
)
def test_param_comparisons_take_strings(text: str, op: Op, value: object) -> None:
    assert one(text) == Comparison(Key(P, "p"), op, value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("metrics.`my key` > 1", Key(M, "my key")),
        ('metrics."my key" > 1', Key(M, "my key")),
        ("metrics.train.loss > 1", Key(M, "train.loss")),
        ("metrics.`a``b` > 1", Key(M, "a`b")),
        ("metrics.`a/b-c:d` > 1", Key(M, "a/b-c:d")),
        ("metric.a > 1", Key(M, "a")),
        ("METRICS.a > 1", Key(M, "a")),
        ("param.a = 'x'", Key(P, "a")),
        ("parameters.a = 'x'", Key(P, "a")),
        ("tag.a = 'x'", Key(T, "a")),
        ("tags.`mlflow.runName` = 'x'", Key(T, "mlflow.runName")),
        ("attr.status = 'x'", Key(A, "status")),
        ("run.status = 'x'", Key(A, "status")),
        ("status = 'x'", Key(A, "status")),
        ("attributes.created > 5", Key(A, "start_time")),
        ("attributes.run_uuid = 'x'", Key(A, "run_id")),
    ],
)
def test_keys_take_every_spelling_mlflow_accepts(text: str, key: Key) -> None:
    assert one(text).key == key


@pytest.mark.parametrize(
    "text",
    [
        "attributes.run_name = 'r'",
        "attributes.run_id IN ('a', 'b')",
        "attributes.user_id != 'u'",
        "attributes.artifact_uri LIKE 'x%'",
        "attributes.start_time >= 10",
        "attributes.end_time < 10",
    ],
)
def test_run_attributes_parse(text: str) -> None:
    assert one(text).key.entity is A


@pytest.mark.parametrize(
    ("text", "op"),
    [("tags.owner IS NULL", Op.IS_NULL), ("params.`a b` is not null", Op.IS_NOT_NULL)],
)
def test_tags_and_params_can_be_tested_for_absence(text: str, op: Op) -> None:
    comparison = one(text)
    assert comparison.op is op
    assert comparison.value is None


def test_experiment_tags_can_be_tested_for_absence_but_not_names() -> None:
    (tagged,) = parse_filter("tags.team IS NULL", EXPERIMENTS)
    assert tagged.op is Op.IS_NULL
    with pytest.raises(InvalidInput, match="IS NULL does not apply"):
        parse_filter("name IS NULL", EXPERIMENTS)


def test_and_is_case_insensitive_and_chains() -> None:
    text = "metrics.a > 1 AND metrics.b < 2 and params.c = 'x' And tags.d = 'y'"
    assert [c.key.name for c in parse_filter(text)] == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("metrics.acc > 'x'", "compares with a number", 15),
        ("params.lr = 0.1", "compares with a quoted string", 13),
        ("metrics.a > 1 or metrics.b < 2", "OR is not supported", 15),
        ("foo.bar = 1", "unknown entity 'foo'", 1),
        ("metrics.acc >", "found the end", 14),
        ("attributes.bogus = 'x'", "unknown attribute 'bogus'", 1),
        ("params.a = 'x", "unterminated", 12),
        ("metrics.a LIKE 1", "LIKE does not apply", 11),
        ("metrics.a IN ('1')", "IN does not apply", 11),
        ("attributes.start_time LIKE '1'", "LIKE does not apply", 23),
        ("params.a < 'x'", "< does not apply", 10),
        ("metrics.a > 1 metrics.b > 2", "expected AND", 15),
        ("metrics.a 1", "expected an operator", 11),
        ("= 1", "expected a key", 1),
        ("metrics.a > 1 and", "expected a key", 18),
        ("params.a IN 'x'", "expected '('", 13),
        ("params.a IN ('x' 'y')", "expected ',' or ')'", 18),
        ("params.a IN (1)", "expected a quoted string", 14),
        ("params.a IN ()", "expected a quoted string", 14),
        ("metrics.a > 1 ; drop table runs", "unexpected character ';'", 15),
        ("metrics. > 1", "has no name", 1),
        ("params.a NOT = 'x'", "expected an operator", 10),
        ("metrics.a == 1", "compares with a number", 12),
        ("metrics.a IS NULL", "IS NULL does not apply", 11),
        ("attributes.status IS NOT NULL", "IS NOT NULL does not apply", 19),
        ("tags.a IS 'x'", "expected NULL", 11),
        ("tags.a IS NOT", "expected NULL", 14),
    ],
)
def test_bad_filters_name_the_problem_and_the_column(text: str, message: str, column: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_filter(text)
    assert message in caught.value.message
    assert f"at column {column} " in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc DESC", OrderBy(Key(M, "acc"), False)),
        ("metrics.acc desc", OrderBy(Key(M, "acc"), False)),
        ("metrics.acc ASC", OrderBy(Key(M, "acc"), True)),
        ("metrics.acc", OrderBy(Key(M, "acc"), True)),
        ("attributes.start_time", OrderBy(Key(A, "start_time"), True)),
        ("start_time DESC", OrderBy(Key(A, "start_time"), False)),
        ("params.`learning rate` DESC", OrderBy(Key(P, "learning rate"), False)),
        ("tags.team", OrderBy(Key(T, "team"), True)),
        ("attributes.run_name", OrderBy(Key(A, "run_name"), True)),
    ],
)
def test_order_by_clauses(text: str, expected: OrderBy) -> None:
    assert parse_order_by(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "it is empty"),
        ("metrics.acc sideways", "expected ASC, DESC or the end"),
        ("metrics.acc DESC ASC", "expected ASC, DESC or the end"),
        ("bogus.acc", "unknown entity"),
        ("attributes.colour", "unknown attribute"),
    ],
)
def test_bad_order_by_clauses_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_order_by(text)


def test_experiment_searches_know_names_and_tags_only() -> None:
    assert parse_filter("name LIKE 'p/%' and tags.team = 'x'", EXPERIMENTS) == (
        Comparison(Key(A, "name"), Op.LIKE, "p/%"),
        Comparison(Key(T, "team"), Op.EQ, "x"),
    )
    assert parse_filter("attributes.creation_time > 5", EXPERIMENTS)[0].value == 5.0
    with pytest.raises(InvalidInput, match="unknown entity 'metrics'"):
        parse_filter("metrics.a > 1", EXPERIMENTS)
    with pytest.raises(InvalidInput, match="unknown attribute 'status'"):
        parse_filter("status = 'x'", EXPERIMENTS)
    assert parse_order_by("name DESC", EXPERIMENTS) == OrderBy(Key(A, "name"), False)


def test_runs_grammar_knows_no_experiment_names() -> None:
    with pytest.raises(InvalidInput, match="unknown attribute 'name'"):
        parse_filter("name = 'x'", RUNS)


def test_keys_print_with_their_entity() -> None:
    assert str(Key(M, "acc")) == "metrics.acc"
