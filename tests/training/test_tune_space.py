"""The pure parts of the search: the space, the float encoding of the routes, the reporter's
checks and the best trial of a listing. No server."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from corridor.errors import InvalidInput
from corridor.training.schemas import TrialOut
from corridor.training.tune.space import distributions
from corridor.training.tune.storage import from_wire, to_wire
from corridor.training.tune.summary import best_trial_of
from corridor.training.tune.trial_job import Reporter


def test_a_space_of_tuples_and_distributions_becomes_optuna_distributions() -> None:
    found = distributions(
        {
            "lr": ("float", 1e-4, 1e-1, {"log": True}),
            "layers": ("int", 1, 8, {"step": 1}),
            "act": ("categorical", ["relu", "tanh"]),
            "drop": FloatDistribution(0.0, 0.5),
            "width": ["int", 16, 64],
        }
    )
    assert found["lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert found["layers"] == IntDistribution(1, 8)
    assert found["act"] == CategoricalDistribution(["relu", "tanh"])
    assert found["drop"] == FloatDistribution(0.0, 0.5)
    assert found["width"] == IntDistribution(16, 64)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (("normal", 0, 1), "give an Optuna distribution"),
        (("float", 1.0, 0.0), "low"),
        (("float", 0.0, 1.0, {"log": True}), "log"),
        (("categorical", "abc"), "choices are a list"),
        (("int", 0), "not enough values"),
        (3.0, "give an Optuna distribution"),
    ],
)
def test_a_bad_space_entry_is_refused_naming_the_parameter(entry: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        distributions({"p": entry})
    assert "space['p']" in caught.value.message


def test_an_empty_space_is_refused() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        distributions({})


def test_floats_that_json_cannot_spell_travel_as_strings_and_come_back() -> None:
    for value in (0.5, -3.0, float("inf"), float("-inf")):
        assert from_wire(to_wire(value)) == value
    assert to_wire(float("nan")) == "nan"
    assert math.isnan(from_wire("nan"))
    assert to_wire(2) == 2.0


def test_a_report_outside_a_job_checks_its_arguments_and_sends_nothing() -> None:
    report = Reporter({})
    report(0.25, 3)  # no job token: nothing to send to
    with pytest.raises(ValueError, match="finite"):
        report(float("nan"), 0)
    with pytest.raises(ValueError, match="integer"):
        report(1.0, -1)
    with pytest.raises(ValueError, match="integer"):
        report(1.0, 1.5)  # type: ignore[arg-type]


def _trial(number: int, state: str, value: float | str | None) -> TrialOut:
    return TrialOut(
        id=number + 10,
        study_id=1,
        number=number,
        state=state,  # type: ignore[arg-type]
        values=None if value is None else [value],
        params=[],
        intermediate=[],
        user_attrs={},
        system_attrs={},
        datetime_start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        datetime_complete=None,
        version=number,
    )


def test_the_best_trial_is_the_best_complete_one_for_the_direction() -> None:
    trials = [
        _trial(0, "COMPLETE", 3.0),
        _trial(1, "PRUNED", None),
        _trial(2, "COMPLETE", 1.0),
        _trial(3, "COMPLETE", "nan"),
        _trial(4, "COMPLETE", "inf"),
        _trial(5, "FAIL", None),
    ]
    best_min = best_trial_of(["minimize"], trials)
    assert best_min is not None
    assert best_min.number == 2
    best_max = best_trial_of(["maximize"], trials)
    assert best_max is not None
    assert best_max.number == 4
    assert best_trial_of(["minimize"], [_trial(0, "PRUNED", None)]) is None
