"""The metrics `fit_evaluate` computes, by name, and the default ones for each kind of task.

A name in the table below is computed here (the multi-class averages are macro averages);
any other name is asked of scikit-learn's scorers (``sklearn.metrics.get_scorer``), whose
``neg_*`` losses come back negated, as scikit-learn defines them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm  # type: ignore[import-untyped]
from sklearn.base import is_classifier, is_regressor  # type: ignore[import-untyped]

from corridor.errors import InvalidInput

# (estimator, features, y_true, y_pred) -> value
Metric = Callable[[Any, Any, Any, Any], float]

CLASSIFICATION_DEFAULT = ("accuracy", "f1_macro")
REGRESSION_DEFAULT = ("r2", "rmse", "mae")


def _proba(estimator: Any, x: Any) -> Any:
    if not hasattr(estimator, "predict_proba"):
        raise InvalidInput(f"{type(estimator).__name__} has no predict_proba for this metric")
    return estimator.predict_proba(x)


def _roc_auc(estimator: Any, x: Any, y: Any, _: Any) -> float:
    proba = _proba(estimator, x)
    if proba.shape[1] == 2:
        return float(skm.roc_auc_score(y, proba[:, 1]))
    return float(skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"))


METRICS: dict[str, Metric] = {
    "accuracy": lambda e, x, y, p: float(skm.accuracy_score(y, p)),
    "balanced_accuracy": lambda e, x, y, p: float(skm.balanced_accuracy_score(y, p)),
    "f1_macro": lambda e, x, y, p: float(skm.f1_score(y, p, average="macro")),
    "precision_macro": lambda e, x, y, p: float(
        skm.precision_score(y, p, average="macro", zero_division=0)
    ),
    "recall_macro": lambda e, x, y, p: float(skm.recall_score(y, p, average="macro")),
    "log_loss": lambda e, x, y, p: float(skm.log_loss(y, _proba(e, x), labels=e.classes_)),
    "roc_auc": _roc_auc,
    "r2": lambda e, x, y, p: float(skm.r2_score(y, p)),
    "mse": lambda e, x, y, p: float(skm.mean_squared_error(y, p)),
    "rmse": lambda e, x, y, p: float(np.sqrt(skm.mean_squared_error(y, p))),
    "mae": lambda e, x, y, p: float(skm.mean_absolute_error(y, p)),
}


def default_metrics(estimator: Any) -> tuple[str, ...]:
    """Accuracy and macro F1 for a classifier; R², RMSE and MAE for a regressor."""
    if is_classifier(estimator):
        return CLASSIFICATION_DEFAULT
    if is_regressor(estimator):
        return REGRESSION_DEFAULT
    raise InvalidInput(
        f"{type(estimator).__name__} is neither a classifier nor a regressor; name the metrics"
    )


def evaluate(estimator: Any, x: Any, y: Any, names: Sequence[str]) -> dict[str, float]:
    """Each named metric of the fitted ``estimator`` on features ``x`` and targets ``y``."""
    predicted = estimator.predict(x)
    scores: dict[str, float] = {}
    for name in names:
        metric = METRICS.get(name)
        if metric is not None:
            scores[name] = metric(estimator, x, y, predicted)
            continue
        try:
            scorer = skm.get_scorer(name)
        except ValueError:
            known = ", ".join(sorted(METRICS))
            raise InvalidInput(
                f"unknown metric {name!r}: use one of {known}, or a scikit-learn scorer name"
            ) from None
        scores[name] = float(scorer(estimator, x, y))
    return scores
