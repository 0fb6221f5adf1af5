"""A search space as Optuna distributions. Pure: values in, values out.

Each parameter is an Optuna distribution, or a tuple that names one:
``("float", low, high)``, ``("float", low, high, {"log": True})``, ``("int", low, high,
{"step": 2})``, ``("categorical", [choice, ...])``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from corridor.errors import InvalidInput

_KINDS = ("float", "int", "categorical")


def distributions(space: Mapping[str, object]) -> dict[str, BaseDistribution]:
    """Each parameter's distribution; InvalidInput naming the first entry that is not one."""
    if not space:
        raise InvalidInput("the search space is empty: give at least one parameter")
    return {name: _distribution(name, entry) for name, entry in space.items()}


def _distribution(name: str, entry: object) -> BaseDistribution:
    if isinstance(entry, BaseDistribution):
        return entry
    if not isinstance(entry, tuple | list) or not entry or entry[0] not in _KINDS:
        raise InvalidInput(
            f"space[{name!r}] = {entry!r}: give an Optuna distribution or a tuple "
            "('float', low, high[, {options}]), ('int', low, high[, {options}]) or "
            "('categorical', [choices])"
        )
    kind, *rest = entry
    try:
        if kind == "categorical":
            (choices,) = rest
            if not isinstance(choices, Sequence) or isinstance(choices, str):
                raise ValueError("choices are a list")
            return CategoricalDistribution(list(choices))
        options: dict[str, Any] = {}
        if len(rest) == 3:
            low, high, options = rest
        else:
            low, high = rest
        if kind == "float":
            return FloatDistribution(low, high, **options)
        return IntDistribution(low, high, **options)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"space[{name!r}] = {entry!r}: {exc}") from None
