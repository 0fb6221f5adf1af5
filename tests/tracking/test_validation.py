"""What tracking accepts, checked without a database: MLflow's keys, limits and statuses."""

from __future__ import annotations

import math

import pytest

from corridor.errors import InvalidInput
from corridor.tracking.validation import (
    MAX_FLOAT,
    RunStatus,
    ViewType,
    check_experiment_name,
    check_key,
    check_param,
    check_run_name,
    check_status_change,
    check_tag,
    check_timestamp,
    is_run_id,
    metric_value,
    parse_status,
)

GOOD_KEYS = [
    "a",
    "Ab-5_",
    "a/b/c",
    "a.b.c",
    ".a",
    "b.",
    "a..a/._./o_O/.e.",
    "a b/c d",
    "x:y",
    "k" * 250,
]
BAD_KEYS = [
    "",
    ".",
    "/",
    "..",
    "//",
    "a//b",
    "a/./b",
    "/a",
    "a/",
    "\\",
    "./",
    "/./",
    "../x",
    "a\n",
    "a;b",
    "k" * 251,
    "a%b",
]


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_mlflow_keys_are_accepted(key: str) -> None:
    assert check_key("metric", key) == key


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_mlflow_refuses_are_refused(key: str) -> None:
    with pytest.raises(InvalidInput, match="metric key"):
        check_key("metric", key)


def test_value_limits_are_mlflows() -> None:
    check_param("p", "v" * 6000)
    with pytest.raises(InvalidInput, match="6001 characters; at most 6000"):
        check_param("p", "v" * 6001)
    check_tag("t", "v" * 8000)
    with pytest.raises(InvalidInput, match="at most 8000"):
        check_tag("t", "v" * 8001)
    with pytest.raises(InvalidInput, match="must be a string"):
        check_param("p", 3)  # type: ignore[arg-type]


def test_nan_is_a_flag_and_infinities_are_clamped() -> None:
    assert metric_value("m", float("nan")) == (0.0, True)
    assert metric_value("m", math.inf) == (MAX_FLOAT, False)
    assert metric_value("m", -math.inf) == (-MAX_FLOAT, False)
    assert metric_value("m", 3) == (3.0, False)
    for bad in (True, "1", None):
        with pytest.raises(InvalidInput, match="must be a number"):
            metric_value("m", bad)  # type: ignore[arg-type]


def test_timestamps_are_non_negative_64_bit_integers() -> None:
    assert check_timestamp("t", 0) == 0
    for bad in (-1, 2**63, 1.5, True):
        with pytest.raises(InvalidInput):
            check_timestamp("t", bad)  # type: ignore[arg-type]


def test_the_run_state_machine_never_returns_to_scheduled() -> None:
    for current in RunStatus:
        for new in RunStatus:
            if new is RunStatus.SCHEDULED and current is not RunStatus.SCHEDULED:
                with pytest.raises(InvalidInput, match="cannot go back to SCHEDULED"):
                    check_status_change(current, new)
            else:
                check_status_change(current, new)
    assert [s for s in RunStatus if s.is_terminal] == [
        RunStatus.FINISHED,
        RunStatus.FAILED,
        RunStatus.KILLED,
    ]


def test_statuses_parse_case_insensitively() -> None:
    assert parse_status("finished") is RunStatus.FINISHED
    with pytest.raises(InvalidInput, match="unknown; use one of SCHEDULED"):
        parse_status("DONE")


def test_names() -> None:
    assert check_experiment_name("p/my experiment") == "p/my experiment"
    for bad in ("", "   ", "x" * 501, "a\x00b"):
        with pytest.raises(InvalidInput):
            check_experiment_name(bad)
    with pytest.raises(InvalidInput):
        check_run_name("r" * 251)
    with pytest.raises(InvalidInput, match="control"):
        check_run_name("a\nb")


def test_run_ids_are_32_lowercase_hex() -> None:
    assert is_run_id("0" * 32)
    assert not is_run_id("A" * 32)
    assert not is_run_id("0" * 31)
    assert not is_run_id("../" + "0" * 29)


def test_view_types_name_lifecycle_stages() -> None:
    assert ViewType.ACTIVE_ONLY.stages() == ("active",)
    assert ViewType.DELETED_ONLY.stages() == ("deleted",)
    assert set(ViewType.ALL.stages()) == {"active", "deleted"}
