"""Objectives the search tests run as trials (copied under a fresh package name per test run)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Report = Callable[[float, int], None]
STEPS = 5


def quadratic(params: dict[str, Any], report: Report) -> float:
    """(x - 2)² plus a term that shrinks with each step; slow enough to be pruned midway."""
    x = float(params["x"])
    for step in range(STEPS):
        report((x - 2.0) ** 2 + 1.0 / (step + 1), step)
        time.sleep(0.4)
    return (x - 2.0) ** 2


def iris_error(params: dict[str, Any], report: Report) -> tuple[float, bytes]:
    """1 - accuracy of a logistic regression on iris, and the model as skops bytes."""
    import numpy as np
    import skops.io
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    model = LogisticRegression(C=float(params["C"]), max_iter=300).fit(x[:100], y[:100])
    error = 1.0 - float(model.score(x[100:], y[100:]))
    report(error, 0)
    return error, skops.io.dumps(model)


def broken(params: dict[str, Any], report: Report) -> float:
    raise RuntimeError(f"this objective fails for {params}")
