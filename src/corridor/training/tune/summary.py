"""A study's trials as people read them: the best trial, and params in their own values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from optuna.distributions import json_to_distribution

from corridor.training.schemas import TrialOut


def external_params(trial: TrialOut) -> dict[str, Any]:
    """The trial's params as the objective saw them (a choice, not its index)."""
    return {
        p.name: json_to_distribution(p.distribution).to_external_repr(float(p.value))
        for p in trial.params
    }


def best_trial_of(directions: Sequence[str], trials: Sequence[TrialOut]) -> TrialOut | None:
    """The complete trial with the best first value (None if none completed with a number)."""
    sign = -1.0 if directions and directions[0] == "maximize" else 1.0
    scored = [
        (sign * float(t.values[0]), t.number, t)
        for t in trials
        if t.state == "COMPLETE" and t.values and not math.isnan(float(t.values[0]))
    ]
    return min(scored, key=lambda s: (s[0], s[1]))[2] if scored else None
