"""`search`: a hyperparameter search whose trials run as compute jobs, with pruning.

The driver runs in the caller's process and keeps ``parallel`` trials in flight. For each it
asks the study for a trial (ask-and-tell over the fixed space), starts a tracking run with the
trial's params, and submits a function job linked to that run (`corridor.training.tune.submit`).
The job's objective reports intermediate values to the run (`trial_job`); the driver reads
them as they arrive, hands them to Optuna (``trial.report``), and when the pruner says so
cancels the job and tells the study the trial was PRUNED. A job that ends is told as COMPLETE
with its value, or FAIL. The study lives in the project (`CorridorStorage`), so the search can
be followed and resumed from anywhere that can read it.

Cost per poll of a trial in flight: one request for its job's state and one for its points.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.trial import TrialState

from corridor.client.client import Client
from corridor.client.job_future import JobFuture
from corridor.compute.sansio.states import TERMINAL
from corridor.errors import Conflict, InvalidInput
from corridor.registry.schemas import ModelVersionOut
from corridor.training import tracking_run
from corridor.training.model_files import ModelFiles, register_files
from corridor.training.tune.space import distributions
from corridor.training.tune.storage import CorridorStorage
from corridor.training.tune.submit import TrialLauncher
from corridor.training.tune.trial_job import INTERMEDIATE_KEY

log = logging.getLogger(__name__)

Builder = Callable[[dict[str, Any], object], ModelFiles]
RUN_ATTR = "corridor:run_id"
JOB_ATTR = "corridor:job_id"


@dataclass
class _InFlight:
    trial: optuna.Trial
    future: JobFuture
    run_id: str
    seen: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class SearchResult:
    """The study after the search, its best trial, and the version registered from it."""

    study: optuna.Study
    registered: ModelVersionOut | None = None

    @property
    def best_params(self) -> dict[str, Any]:
        return self.study.best_params

    @property
    def best_value(self) -> float:
        return self.study.best_value

    @property
    def best_trial(self) -> optuna.trial.FrozenTrial:
        return self.study.best_trial

    def counts(self) -> dict[str, int]:
        """How many trials ended in each state (``COMPLETE``, ``PRUNED``, ``FAIL``...)."""
        found: dict[str, int] = {}
        for trial in self.study.get_trials(deepcopy=False):
            found[trial.state.name] = found.get(trial.state.name, 0) + 1
        return found


def search(
    objective: Callable[..., object],
    space: Mapping[str, object],
    *,
    n_trials: int = 8,
    parallel: int = 2,
    direction: Literal["minimize", "maximize"] = "minimize",
    pruner: optuna.pruners.BasePruner | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    study_name: str | None = None,
    project: str = tracking_run.DEFAULT_PROJECT,
    experiment: str | None = None,
    register_best: tuple[str, Builder] | None = None,
    best_alias: str | None = None,
    client: Client | None = None,
    workdir: str | Path | None = None,
    poll_s: float = 0.25,
    **job_options: object,
) -> SearchResult:
    """Run ``n_trials`` trials of ``objective(params, report) -> value`` over ``space``, at
    most ``parallel`` at once, each as a compute job; return the study.

    ``report(value, step)`` inside the objective logs an intermediate value, which the
    ``pruner`` (Optuna's; ``MedianPruner()`` by default) may prune the trial on. The objective
    may return ``(value, artifact)``; with ``register_best=(name, builder)`` the best trial's
    artifact becomes ``builder(params, artifact)``'s package, registered as the next version
    of ``name`` with the best trial's run as its source. Other keywords are job options
    (``cpus``, ``memory``, ``gpus``, ``site``, ``timeout``, ``retries``, ``env``...).
    """
    if n_trials < 1 or parallel < 1:
        raise InvalidInput("n_trials and parallel are at least 1")
    dists = distributions(space)
    own_client = client is None
    client = client or Client()
    try:
        tracking_run.ensure_project(client, project)
        launcher = TrialLauncher.prepare(
            client, project, objective, workdir=workdir, job_options=job_options
        )
        storage = CorridorStorage(client, project)
        study = optuna.create_study(
            storage=storage,
            study_name=study_name or f"{getattr(objective, '__name__', 'objective')}",
            direction=direction,
            pruner=pruner if pruner is not None else optuna.pruners.MedianPruner(),
            sampler=sampler,
            load_if_exists=True,
        )
        experiment_name = experiment or f"study {study.study_name}"
        driver = _Driver(client, project, storage, study, launcher, dists, experiment_name)
        driver.run(n_trials, parallel, poll_s)
        registered = None
        if register_best is not None:
            name, builder = register_best
            registered = _register_best(client, project, study, name, builder, best_alias)
        return SearchResult(study, registered)
    finally:
        if own_client:
            client.close()


class _Driver:
    def __init__(
        self,
        client: Client,
        project: str,
        storage: CorridorStorage,
        study: optuna.Study,
        launcher: TrialLauncher,
        dists: dict[str, optuna.distributions.BaseDistribution],
        experiment: str,
    ) -> None:
        self.client = client
        self.project = project
        self.storage = storage
        self.study = study
        self.launcher = launcher
        self.dists = dists
        self.experiment = experiment

    def run(self, n_trials: int, parallel: int, poll_s: float) -> None:
        in_flight: list[_InFlight] = []
        asked = 0
        try:
            while asked < n_trials or in_flight:
                while asked < n_trials and len(in_flight) < parallel:
                    in_flight.append(self._launch())
                    asked += 1
                ended = [t for t in in_flight if self._poll(t)]
                in_flight = [t for t in in_flight if t not in ended]
                if not ended:
                    time.sleep(poll_s)
        except BaseException:
            for t in in_flight:
                self._abandon(t)
            raise

    def _launch(self) -> _InFlight:
        trial = self.study.ask(self.dists)
        name = f"{self.study.study_name}/trial-{trial.number}"
        tags = {"corridor.study": self.study.study_name, "corridor.trial": str(trial.number)}
        run_id = tracking_run.start_run(
            self.client, self.project, self.experiment, run_name=f"trial-{trial.number}", tags=tags
        )
        try:
            tracking_run.log_params(
                self.client, run_id, {k: str(v) for k, v in trial.params.items()}
            )
            future = self.launcher.submit(trial.params, run_id=run_id, name=name)
        except BaseException:
            self.study.tell(trial, state=TrialState.FAIL)
            tracking_run.end_run(self.client, run_id, "FAILED")
            raise
        self.storage.set_trial_system_attrs(
            trial._trial_id, {RUN_ATTR: run_id, JOB_ATTR: future.id}
        )
        return _InFlight(trial, future, run_id)

    def _poll(self, t: _InFlight) -> bool:
        """Take the trial's new points and its end, if any; True once it is told."""
        state = t.future.state
        ended = state in TERMINAL
        points = self.client.tracking.metric_history(t.run_id, INTERMEDIATE_KEY)
        for point in sorted(points, key=lambda p: p.step):
            if point.step in t.seen:
                continue
            t.seen.add(point.step)
            t.trial.report(point.value, point.step)
            if not ended and t.trial.should_prune():
                self._prune(t, point.step)
                return True
        if not ended:
            return False
        if state == "succeeded":
            value = _value_of(t.future.result())
            self.study.tell(t.trial, value)
            tracking_run.log_metrics(self.client, t.run_id, {"value": value})
            tracking_run.end_run(self.client, t.run_id, "FINISHED")
        else:
            error = t.future.job.error or state
            log.warning("trial %d %s: %s", t.trial.number, state, error)
            t.trial.set_user_attr("error", error[:1000])
            self.study.tell(t.trial, state=TrialState.FAIL)
            tracking_run.end_run(self.client, t.run_id, "FAILED")
        return True

    def _prune(self, t: _InFlight, step: int) -> None:
        # It may have ended meanwhile (409): pruned all the same, as the pruner decided.
        with contextlib.suppress(Conflict):
            t.future.cancel()
        self.study.tell(t.trial, state=TrialState.PRUNED)
        self.client.set_tag(t.run_id, "corridor.pruned_at_step", step)
        tracking_run.end_run(self.client, t.run_id, "KILLED")

    def _abandon(self, t: _InFlight) -> None:
        """The driver stops (an error, Ctrl-C): cancel the trial's job and fail the trial."""
        try:
            t.future.cancel()
            self.study.tell(t.trial, state=TrialState.FAIL)
            tracking_run.end_run(self.client, t.run_id, "KILLED")
        except Exception as exc:  # keep the first error: this is clean-up
            log.warning("could not abandon trial %d cleanly: %s", t.trial.number, exc)


def _value_of(result: object) -> float:
    if isinstance(result, list | tuple):
        result = result[0]
    if isinstance(result, bool) or not isinstance(result, int | float):
        raise InvalidInput(f"a trial's job returned {type(result).__name__}, not a number")
    return float(result)


def _register_best(
    client: Client,
    project: str,
    study: optuna.Study,
    name: str,
    builder: Builder,
    alias: str | None,
) -> ModelVersionOut:
    """Build the best trial's package from its job's artifact and register it, its run as the
    source and its value as the metric ``objective``."""
    best = study.best_trial
    job_id = best.system_attrs.get(JOB_ATTR)
    if not isinstance(job_id, str):
        raise InvalidInput(f"trial {best.number} of {study.study_name!r} ran no job of this search")
    result = client.compute.result(job_id)
    artifact = result[1] if isinstance(result, list | tuple) else None
    files = builder(dict(best.params), artifact)
    return register_files(
        client,
        name,
        files,
        project=project,
        alias=alias,
        metrics={"objective": float(best.value) if best.value is not None else float("nan")},
        source_run=best.system_attrs.get(RUN_ATTR),
        tags={"corridor.study": study.study_name, "corridor.trial": str(best.number)},
    )
