"""scikit-learn helpers: fit and evaluate with the run logged, and packages in skops or ONNX.

```python
from sklearn.ensemble import RandomForestClassifier
from corridor.training.sklearn import fit_evaluate

result = fit_evaluate(RandomForestClassifier(), X_train, y_train, X_test, y_test)
result.metrics  # {"accuracy": 0.93, "f1_macro": 0.92}
result.register("churn-rf", format="onnx", alias="candidate")
```
"""

from corridor.training.sklearn.fit import FitResult, fit_evaluate
from corridor.training.sklearn.metrics import METRICS, default_metrics, evaluate
from corridor.training.sklearn.package import onnx_files, package_files, skops_files
from corridor.training.sklearn.params import flat_params
from corridor.training.sklearn.signature import infer_signature, onnx_signature

__all__ = [
    "METRICS",
    "FitResult",
    "default_metrics",
    "evaluate",
    "fit_evaluate",
    "flat_params",
    "infer_signature",
    "onnx_files",
    "onnx_signature",
    "package_files",
    "skops_files",
]
