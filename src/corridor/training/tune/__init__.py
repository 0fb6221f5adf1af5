"""Hyperparameter search with Optuna: studies kept in a project, trials run as compute jobs.

```python
from corridor.training import tune

result = tune.search(objective, {"lr": ("float", 1e-4, 1e-1, {"log": True})}, n_trials=8)
result.best_params, result.best_value
```

Names are imported when first used, so a trial's job (`trial_job`) loads neither Optuna nor
the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corridor.training.tune.best_model import onnx_package, skops_package
    from corridor.training.tune.driver import SearchResult, search
    from corridor.training.tune.storage import CorridorStorage

__all__ = ["CorridorStorage", "SearchResult", "onnx_package", "search", "skops_package"]

_WHERE = {
    "CorridorStorage": "corridor.training.tune.storage",
    "SearchResult": "corridor.training.tune.driver",
    "search": "corridor.training.tune.driver",
    "onnx_package": "corridor.training.tune.best_model",
    "skops_package": "corridor.training.tune.best_model",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
