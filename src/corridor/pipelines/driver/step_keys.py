"""Each step call's cache key, from what the driver knows before running it.

The code digest (the step's source and what it calls inside the user's package) and the
environment (Python, Corridor and the versions of the libraries the step's module imports) cost
a walk over source files and installed distributions, so each is computed once per step
function per run; a call's key is then one sha256 over small JSON. See
``corridor.pipelines.sansio.cache_key`` for what the key holds.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from corridor.pipelines.sansio.cache_key import cache_key, params_digest

if TYPE_CHECKING:
    from corridor.pipelines.dsl import Step


@dataclass(frozen=True)
class StepIdentity:
    """What a step's cache keys share across its calls."""

    code: str
    environment: Mapping[str, str]
    params: str

    def key_of(self, inputs: Mapping[str, str]) -> str:
        return cache_key(
            code=self.code, inputs=inputs, params=self.params, environment=self.environment
        )


class StepKeys:
    """Step identities of one run, computed on first use (thread-safe)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._found: dict[tuple[int, str], StepIdentity] = {}
        self._lock = threading.Lock()

    def identity(self, step: Step, env: Mapping[str, str]) -> StepIdentity:
        # The env option is part of the identity: `step.options(env=...)` is another step.
        marker = (id(step.fn), params_digest(env))
        with self._lock:
            found = self._found.get(marker)
        if found is not None:
            return found
        from corridor.pipelines.code_digest import code_digest
        from corridor.pipelines.environment import environment_of

        made = StepIdentity(
            code=code_digest(step.fn, self.root),
            environment=environment_of(step.fn, env, root=self.root),
            params=marker[1],
        )
        with self._lock:
            return self._found.setdefault(marker, made)
