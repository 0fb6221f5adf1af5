"""`fit_evaluate`: fit a scikit-learn estimator, score it on held-out data, log both to a run.

The run gets the estimator's parameters (flat, as text), its class, the sizes of the two sets,
the fit time and every metric; it ends FINISHED, or FAILED (and the error is raised again) if
fitting or scoring failed. The result registers the fitted model as skops or ONNX, with the
run as its source and the metrics in its manifest.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corridor.client.client import Client
from corridor.registry.manifest import Scope, Signature
from corridor.registry.schemas import ModelVersionOut
from corridor.training import tracking_run
from corridor.training.model_files import register_files
from corridor.training.sklearn.metrics import default_metrics, evaluate
from corridor.training.sklearn.package import package_files
from corridor.training.sklearn.params import flat_params


@dataclass
class FitResult:
    """A fitted estimator, its test metrics, and the run they were logged to."""

    estimator: Any
    metrics: dict[str, float]
    run_id: str
    project: str
    client: Client
    x_sample: Any
    fit_s: float

    def package(self, format: str = "skops", *, signature: Signature | None = None) -> Any:
        """The package files (`ModelFiles`) the model would be registered as."""
        return package_files(self.estimator, self.x_sample, format, signature=signature)

    def register(
        self,
        name: str,
        *,
        format: str = "skops",
        alias: str | None = None,
        signature: Signature | None = None,
        scope: Scope | str = Scope.GENERAL,
        dataset_versions: Sequence[str] = (),
        derived_from: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersionOut:
        """Register the model as the next version of ``name`` in the run's project: skops
        (flavour ``skops``, ``model.skops``) or ONNX (flavour ``onnx``, ``model.onnx``), with a
        signature read from the test data unless one is given."""
        files = self.package(format, signature=signature)
        return register_files(
            self.client,
            name,
            files,
            project=self.project,
            alias=alias,
            metrics=self.metrics,
            source_run=self.run_id,
            dataset_versions=dataset_versions,
            scope=scope,
            derived_from=derived_from,
            description=description,
            tags=tags,
        )


def fit_evaluate(
    estimator: Any,
    X_train: Any,  # noqa: N803 (scikit-learn's name)
    y_train: Any,
    X_test: Any,  # noqa: N803
    y_test: Any,
    *,
    metrics: Sequence[str] | None = None,
    project: str = tracking_run.DEFAULT_PROJECT,
    experiment: str = "sklearn",
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    client: Client | None = None,
) -> FitResult:
    """Fit ``estimator`` on the training set, score it on the test set, and log both to a new
    run of ``experiment`` in ``project``.

    ``metrics`` are names (``accuracy``, ``f1_macro``, ``roc_auc``, ``log_loss``, ``r2``,
    ``rmse``, ``mae``... or any scikit-learn scorer); by default accuracy and macro F1 for a
    classifier, R², RMSE and MAE for a regressor.
    """
    client = client or Client()
    names = tuple(metrics) if metrics is not None else default_metrics(estimator)
    run_name = run_name or type(estimator).__name__
    run_id = tracking_run.start_run(client, project, experiment, run_name=run_name, tags=tags)
    try:
        params = {
            **flat_params(estimator),
            "estimator_class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
            "n_train": str(len(X_train)),
            "n_test": str(len(X_test)),
        }
        tracking_run.log_params(client, run_id, params)
        started = time.perf_counter()
        estimator.fit(X_train, y_train)
        fit_s = time.perf_counter() - started
        scores = evaluate(estimator, X_test, y_test, names)
        tracking_run.log_metrics(client, run_id, {**scores, "fit_s": fit_s})
    except BaseException:
        tracking_run.end_run(client, run_id, "FAILED")
        raise
    tracking_run.end_run(client, run_id, "FINISHED")
    return FitResult(estimator, scores, run_id, project, client, X_test, fit_s)
