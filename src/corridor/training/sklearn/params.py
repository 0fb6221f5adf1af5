"""An estimator's parameters as tracking params: ``get_params(deep=True)``, flat and as text.

Nested estimators' parameters already come flat from scikit-learn (``clf__C``); an estimator
among the values is written as its class name, a callable as its qualified name, and every
other value as its ``repr`` (so ``None`` and ``'auto'`` stay distinguishable).
"""

from __future__ import annotations

from typing import Any


def flat_params(estimator: Any) -> dict[str, str]:
    """Every parameter of ``estimator`` and of the estimators inside it, as strings."""
    return {key: _text(value) for key, value in sorted(estimator.get_params(deep=True).items())}


def _text(value: object) -> str:
    if hasattr(value, "get_params") and hasattr(value, "fit"):
        return type(value).__name__
    if callable(value):
        module = getattr(value, "__module__", "") or ""
        name = getattr(value, "__qualname__", None) or type(value).__name__
        return f"{module}.{name}" if module else name
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        # A Pipeline's or ColumnTransformer's steps: their names and classes, not the objects.
        return repr([tuple(_text(part) if i else part for i, part in enumerate(v)) for v in value])
    return repr(value)
