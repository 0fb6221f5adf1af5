"""Two tiny function models for the controller tests: each version says who answered."""

from __future__ import annotations

from typing import Any

import numpy as np


def double(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"y": (np.asarray(inputs["x"]) * 2).astype(np.float32)}


def triple(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"y": (np.asarray(inputs["x"]) * 3).astype(np.float32)}
