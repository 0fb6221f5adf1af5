"""Load → search → train → register, as one pipeline that reruns only what changed.

    corridor run examples/iris_pipeline.py
    corridor run examples/iris_pipeline.py --param 'cs=[0.1, 1.0, 100.0]'   # only 100.0 is new

`load` reads scikit-learn's bundled iris table in process. `score` runs once per candidate `C`
as compute jobs, side by side (a map over a list parameter), each a 5-fold cross-validation.
`best` picks the winner, and `register` (in process, since it talks to the server) fits it, logs
a tracking run and registers the model as skops with the alias `candidate`. A second run with
the same parameters takes every step but `register` from the cache.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from corridor.pipelines import current_step, pipeline, step

FEATURES = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")


def features(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """The feature matrix and the labels of the iris table."""
    x = np.column_stack([table[name].to_numpy() for name in FEATURES]).astype(np.float64)
    return x, table["target"].to_numpy()


@step(in_process=True)
def load() -> pa.Table:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    return pa.Table.from_pandas(frame, preserve_index=False)


@step(cpus=1)
def score(c: float, table: pa.Table) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    x, y = features(table)
    accuracy = cross_val_score(LogisticRegression(C=c, max_iter=1000), x, y, cv=5).mean()
    print(f"C={c}: accuracy {accuracy:.3f}")
    return {"c": c, "accuracy": float(accuracy)}


@step(in_process=True)
def best(scores: list[dict[str, float]]) -> float:
    return max(scores, key=lambda s: s["accuracy"])["c"]


@step(in_process=True, cache=False)
def register(table: pa.Table, c: float, name: str) -> Any:
    from sklearn.linear_model import LogisticRegression

    from corridor.training.sklearn import fit_evaluate

    context = current_step()
    assert context is not None
    assert context.project is not None
    x, y = features(table)
    result = fit_evaluate(
        LogisticRegression(C=c, max_iter=1000),
        x[::2],
        y[::2],
        x[1::2],
        y[1::2],
        project=context.project,
        run_name=f"{name}-C{c}",
        client=context.client,
    )
    return result.register(name, alias="candidate")  # stored as a reference: name@N


@pipeline
def iris(cs: list[float] | None = None, name: str = "iris") -> dict[str, Any]:
    """Search C for a logistic regression on iris, then register the best as name@candidate."""
    table = load()
    scores = score.map(cs or [0.01, 0.1, 1.0, 10.0], table=table)
    c = best(scores)
    return {"best_c": c, "scores": scores, "model": register(table, c, name)}
