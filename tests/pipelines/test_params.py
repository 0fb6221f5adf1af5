"""Pipeline parameters: read from type hints, checked from JSON, parsed from the command line."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import pytest

from corridor.errors import InvalidInput
from corridor.pipelines import pipeline
from corridor.pipelines.params import check, params_json, parse_cli, parse_type
from corridor.pipelines.schemas import ParamSpec


@pipeline
def report(
    n: int,
    factor: float = 1.5,
    name: str = "x",
    dry: bool = False,
    day: dt.date = dt.date(2026, 1, 2),
    at: dt.datetime | None = None,
    tags: list[str] | None = None,
    limits: dict[str, int] | None = None,
    mode: Literal["fast", "slow"] = "fast",
    extra: Any = None,
) -> None:
    return None


def test_specs_come_from_the_signature_with_json_defaults() -> None:
    specs = {s.name: s for s in report.params}
    assert list(specs) == [
        "n", "factor", "name", "dry", "day", "at", "tags", "limits", "mode", "extra",
    ]  # fmt: skip
    assert specs["n"] == ParamSpec(name="n", type="int", required=True, default=None)
    assert specs["factor"].default == 1.5
    assert not specs["factor"].required
    assert specs["day"].type == "date"
    assert specs["day"].default == "2026-01-02"
    assert specs["at"].type == "datetime | None"
    assert specs["tags"].type == "list[str] | None"
    assert specs["limits"].type == "dict[str, int] | None"
    assert specs["mode"].type == "Literal['fast', 'slow']"
    assert specs["extra"].type == "Any"


def test_type_texts_parse_back_to_the_same_types() -> None:
    for spec in report.params:
        assert parse_type(spec.type).text() == spec.type
    with pytest.raises(InvalidInput, match="unknown parameter type"):
        parse_type("numpy.ndarray")


def test_check_fills_defaults_and_coerces_json_values() -> None:
    values = check(report, {"n": 3, "factor": 2, "day": "2026-03-04", "at": "2026-03-04T05:06:07Z"})
    assert values["n"] == 3
    assert values["factor"] == 2.0
    assert isinstance(values["factor"], float)
    assert values["day"] == dt.date(2026, 3, 4)
    assert values["at"] == dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    assert values["mode"] == "fast"
    assert values["tags"] is None
    assert params_json(values)["day"] == "2026-03-04"


def test_check_from_stored_specs_alone_matches_the_function() -> None:
    given = {"n": 1, "tags": ["a"], "limits": {"cpu": 2}, "mode": "slow"}
    assert check(report.params, given) == check(report, given)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n": "abc"}, "parameter 'n' must be an int, got 'abc'"),
        ({"n": True}, "parameter 'n' must be an int, got True"),
        ({"n": 1, "factor": "fast"}, "parameter 'factor' must be a float, got 'fast'"),
        ({"n": 1, "dry": "yes"}, "parameter 'dry' must be a bool (true or false), got 'yes'"),
        (
            {"n": 1, "day": "tomorrow"},
            "parameter 'day' must be a date (YYYY-MM-DD), got 'tomorrow'",
        ),
        ({"n": 1, "tags": ["a", 2]}, "parameter 'tags'[1] must be a string, got 2"),
        ({"n": 1, "limits": {"a": "b"}}, "parameter 'limits'['a'] must be an int, got 'b'"),
        (
            {"n": 1, "mode": "medium"},
            "parameter 'mode' must be one of 'fast', 'slow', got 'medium'",
        ),
        ({}, "parameter 'n' is required (an int)"),
        ({"n": 1, "colour": "red"}, "unknown parameter 'colour' (the pipeline takes n, factor"),
    ],
)
def test_wrong_values_are_refused_naming_the_parameter(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        check(report, values)
    assert message in caught.value.message


def test_a_build_with_a_wrong_parameter_is_refused_before_the_body_runs() -> None:
    ran: list[int] = []

    @pipeline
    def counted(n: int) -> None:
        ran.append(n)

    with pytest.raises(InvalidInput, match="parameter 'n' must be an int, got 'abc'"):
        counted.build(n="abc")
    assert ran == []


def test_cli_strings_are_coerced_by_type() -> None:
    values = parse_cli(
        report,
        [
            "n=5",
            "factor=0.25",
            "name=a=b",
            "dry=yes",
            "day=2026-05-06",
            "at=null",
            'tags=["a","b"]',
            'limits={"x": 1}',
            "mode=slow",
            "extra=[1, 2]",
        ],
    )
    assert values == {
        "n": 5,
        "factor": 0.25,
        "name": "a=b",
        "dry": True,
        "day": dt.date(2026, 5, 6),
        "at": None,
        "tags": ["a", "b"],
        "limits": {"x": 1},
        "mode": "slow",
        "extra": [1, 2],
    }
    assert parse_cli(report, ["dry=0", "extra=plain words", "at=2026-01-01T10:00"]) == {
        "dry": False,
        "extra": "plain words",
        "at": dt.datetime(2026, 1, 1, 10, 0),
    }
    # Only what is given: check() fills in the rest.
    assert check(report, parse_cli(report, ["n=2"]))["factor"] == 1.5


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("n=abc", "parameter 'n' must be an int, got 'abc'"),
        ("n=2.5", "parameter 'n' must be an int, got '2.5'"),
        ("dry=maybe", "parameter 'dry' must be a bool (true or false), got 'maybe'"),
        ("tags=a,b", "parameter 'tags' must be a list of strings as JSON, got 'a,b'"),
        ("mode=medium", "parameter 'mode' must be one of 'fast', 'slow', got 'medium'"),
        ("size=3", "unknown parameter 'size'"),
        ("n", "a parameter is given as NAME=VALUE, got 'n'"),
    ],
)
def test_cli_refusals_name_the_parameter(pair: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_cli(report, [pair])
    assert message in caught.value.message


def test_a_parameter_type_json_cannot_carry_is_refused_at_decoration() -> None:
    with pytest.raises(InvalidInput, match="parameter 'rows' of pipeline 'bad' has the type set"):

        @pipeline
        def bad(rows: set[int]) -> None: ...

    with pytest.raises(InvalidInput, match="has the type object, which cannot be passed as JSON"):

        @pipeline
        def worse(thing: object) -> None: ...

    with pytest.raises(InvalidInput, match=r"named parameters only \(no \*args"):

        @pipeline
        def star(*items: int) -> None: ...

    with pytest.raises(InvalidInput, match=r"the default of parameter 'n' .* must be an int"):

        @pipeline
        def bad_default(n: int = "x") -> None: ...  # type: ignore[assignment]


def test_a_none_default_makes_the_parameter_optional() -> None:
    @pipeline
    def maybe(n: int = None) -> None: ...  # type: ignore[assignment]  # noqa: RUF013

    assert maybe.params[0].type == "int | None"
    assert check(maybe, {}) == {"n": None}
    assert parse_cli(maybe, ["n=none"]) == {"n": None}
    assert parse_cli(maybe, ["n=4"]) == {"n": 4}
