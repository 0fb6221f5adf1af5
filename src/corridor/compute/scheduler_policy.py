"""The scheduler's policy from the ``[scheduler]`` table of ``corridor.toml``.

```toml
[scheduler]
aging_per_hour = 60          # priority points a waiting job gains per hour (default 60)

[scheduler.weights]          # fair-share weights by project (default 1 each)
research = 1
production = 3               # gets three times research's share when both wait
```

A mistake is a `ConfigurationError` naming the file and the key, as for ``[sites]``: a typo
must not silently give every project the same share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from corridor.config import CONFIG_FILE_NAME, Settings, read_config_file
from corridor.errors import ConfigurationError

DEFAULT_AGING_PER_HOUR = 60.0
KEYS = ("aging_per_hour", "weights")


@dataclass(frozen=True)
class SchedulerPolicy:
    aging_per_s: float = DEFAULT_AGING_PER_HOUR / 3600
    project_weights: dict[str, float] = field(default_factory=dict)


def load_policy(settings: Settings) -> SchedulerPolicy:
    """The ``[scheduler]`` table of the home's corridor.toml, or the defaults."""
    path = settings.home / CONFIG_FILE_NAME
    table: Any = read_config_file(path).get("scheduler", {})

    def fail(key: str, problem: str) -> ConfigurationError:
        return ConfigurationError(f"{path}: [scheduler] {key}: {problem}")

    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: 'scheduler' must be a table, [scheduler]")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise fail(unknown[0], f"unknown key; the keys are {', '.join(KEYS)}")
    aging = table.get("aging_per_hour", DEFAULT_AGING_PER_HOUR)
    if isinstance(aging, bool) or not isinstance(aging, int | float) or not math.isfinite(aging):
        raise fail("aging_per_hour", f"must be a number, not {aging!r}")
    if aging < 0:
        raise fail("aging_per_hour", "must be 0 or more")
    raw_weights = table.get("weights", {})
    if not isinstance(raw_weights, dict):
        raise fail("weights", "must be a table of project = weight")
    weights: dict[str, float] = {}
    for project, weight in raw_weights.items():
        valid = isinstance(weight, int | float) and not isinstance(weight, bool)
        if not valid or not math.isfinite(weight) or weight <= 0:
            raise fail(f"weights.{project}", f"must be a number above 0, not {weight!r}")
        weights[project] = float(weight)
    return SchedulerPolicy(aging_per_s=float(aging) / 3600, project_weights=weights)
