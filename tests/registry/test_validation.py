"""Names, aliases, tags and stages: MLflow's rules, plus what keeps API paths unambiguous."""

from __future__ import annotations

import pytest

from corridor.errors import InvalidInput
from corridor.registry.validation import (
    Stage,
    canonical_stage,
    check_alias,
    check_model_name,
    check_tag,
    parse_version,
)


@pytest.mark.parametrize("name", ["fraud", "churn/fraud", "My Model", "a.b-c_d", "x/y/z", "été"])
def test_model_names_accept_mlflow_style_names(name: str) -> None:
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 257,
        "/fraud",
        "fraud/",
        "a//b",
        "../fraud",
        "churn/..",
        "a/./b",
        "a\\b",
        "a:b",
        "a@b",
        "a%2fb",
        "a\nb",
        " fraud",
        "churn/ fraud",
        "a/versions/b",
        "fraud/aliases",
        "tags",
        "\uff46raud",
    ],
)
def test_model_names_refuse_what_would_be_ambiguous_or_unsafe(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_model_name(name)


@pytest.mark.parametrize("alias", ["production", "candidate", "champion-2", "a_b"])
def test_aliases_accept_words(alias: str) -> None:
    assert check_alias(alias) == alias


@pytest.mark.parametrize("alias", ["", "latest", "LATEST", "v3", "V12", "a b", "a/b", "a" * 256])
def test_aliases_refuse_mlflow_reserved_and_odd_ones(alias: str) -> None:
    with pytest.raises(InvalidInput):
        check_alias(alias)


def test_tags_follow_mlflow_limits() -> None:
    assert check_tag("team/owner", "x") == ("team/owner", "x")
    for key, value in [("", "v"), ("k" * 251, "v"), ("k\n", "v"), ("k", "v" * 5001)]:
        with pytest.raises(InvalidInput):
            check_tag(key, value)


def test_stages_are_case_insensitive_and_closed() -> None:
    assert canonical_stage("production") is Stage.PRODUCTION
    assert canonical_stage("None") is Stage.NONE
    with pytest.raises(InvalidInput, match="not one of"):
        canonical_stage("Deleted_Internal")


def test_versions_are_positive_whole_numbers() -> None:
    assert parse_version("3") == 3
    assert parse_version(3) == 3
    for bad in ("0", "-1", "3.0", "x", 0, True, "٣"):
        with pytest.raises(InvalidInput):
            parse_version(bad)  # type: ignore[arg-type]
