"""`tune.search` against a live server with the scheduler: trials run as compute jobs, two at a
time, report intermediate values to their runs, and are pruned by Optuna's MedianPruner; the
best trial's model is registered; the study is what `corridor studies show` prints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from corridor.client.client import Client
from corridor.config import Settings
from corridor.errors import InvalidInput
from corridor.training import tune
from corridor.training.tune.driver import JOB_ATTR, RUN_ATTR
from corridor.training.tune.trial_job import INTERMEDIATE_KEY
from tests.conftest import LiveServer, module_server, run_cli
from tests.training.project_copy import copied_package

PROJECT_SOURCE = Path(__file__).parent / "tune_project"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory, "tune-search") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, token=server.token, settings=Settings(home=server.home)) as c:
        c.create_project("tuning")
        yield c


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ModuleType]]:
    """A copy of the test objectives under a fresh package name, importable here."""
    root = tmp_path_factory.mktemp("tune-work")
    with copied_package(PROJECT_SOURCE / "tunejobs", root, "objectives") as found:
        yield found


Work = tuple[Path, ModuleType]


def test_eight_trials_over_two_workers_with_pruning(
    server: LiveServer, client: Client, workdir: Work
) -> None:
    root, objectives = workdir
    result = tune.search(
        objectives.quadratic,
        {"x": ("float", -10.0, 10.0)},
        n_trials=8,
        parallel=2,
        direction="minimize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
        sampler=optuna.samplers.RandomSampler(seed=3),
        study_name="quadratic",
        project="tuning",
        client=client,
        workdir=root,
        cpus=0.5,
        timeout=120,
    )
    trials = result.study.get_trials()
    assert [t.number for t in trials] == list(range(8))
    counts = result.counts()
    assert counts.get("COMPLETE", 0) >= 2
    assert counts.get("PRUNED", 0) >= 1
    assert counts.get("COMPLETE", 0) + counts.get("PRUNED", 0) == 8
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = min(complete, key=lambda t: float(t.value or 0.0))
    assert result.best_trial.number == best.number
    assert result.best_value == pytest.approx((best.params["x"] - 2.0) ** 2)
    for trial in trials:
        run = client.get_run(trial.system_attrs[RUN_ATTR])
        assert run.params["x"] == str(trial.params["x"])
        history = client.metric_history(run.info.run_id, INTERMEDIATE_KEY)
        # Every value the study holds came from the trial's job through its run.
        assert {p.step: p.value for p in history}.items() >= trial.intermediate_values.items()
        job = client.compute.job(trial.system_attrs[JOB_ATTR])
        assert job.run_id == run.info.run_id
        if trial.state == TrialState.PRUNED:
            assert run.info.status == "KILLED"
            assert len(trial.intermediate_values) < objectives.STEPS
            assert client.compute.wait(job.id, timeout_s=30).state in ("cancelled", "succeeded")
        else:
            assert run.info.status == "FINISHED"
            assert len(trial.intermediate_values) == objectives.STEPS
            assert job.state == "succeeded"
    # The study is stored in the project: the CLI shows it, with the same best trial.
    shown = run_cli(server.home, "studies", "show", "quadratic", "--project", "tuning", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["best_trial"] == best.number
    assert [t["state"] for t in data["trials"]] == [t.state.name for t in trials]
    listed = run_cli(server.home, "studies", "ls", "--project", "tuning")
    assert "quadratic" in listed.stdout


def test_the_best_trials_model_is_registered_and_loads(client: Client, workdir: Work) -> None:
    root, objectives = workdir
    result = tune.search(
        objectives.iris_error,
        {"C": ("float", 1e-3, 10.0, {"log": True})},
        n_trials=3,
        parallel=2,
        sampler=optuna.samplers.RandomSampler(seed=0),
        study_name="iris",
        project="tuning",
        register_best=("iris-tuned", tune.skops_package),
        best_alias="production",
        client=client,
        workdir=root,
        cpus=0.5,
    )
    version = result.registered
    assert version is not None
    assert (version.flavour, version.aliases) == ("skops", ["production"])
    assert version.run_id == result.best_trial.system_attrs[RUN_ATTR]
    assert version.tags["corridor.trial"] == str(result.best_trial.number)
    model = client.load_model("models:/tuning/iris-tuned@production")
    assert model.predictor is not None
    predicted = model.predictor.predict(np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]))
    assert list(np.asarray(predicted)) == [0, 2]


def test_a_failing_objective_fails_its_trials_with_the_reason(
    client: Client, workdir: Work
) -> None:
    root, objectives = workdir
    result = tune.search(
        objectives.broken,
        {"k": ("categorical", ["a", "b"])},
        n_trials=2,
        study_name="broken",
        project="tuning",
        client=client,
        workdir=root,
        cpus=0.5,
    )
    assert result.counts() == {"FAIL": 2}
    for trial in result.study.trials:
        assert "this objective fails" in trial.user_attrs["error"]
        assert client.get_run(trial.system_attrs[RUN_ATTR]).info.status == "FAILED"
    with pytest.raises(ValueError, match="No trials are completed"):
        _ = result.best_value


def test_a_bad_space_or_objective_is_refused_before_any_trial(
    client: Client, workdir: Work
) -> None:
    root, objectives = workdir
    with pytest.raises(InvalidInput, match=r"space\['x'\]"):
        tune.search(objectives.quadratic, {"x": ("normal", 0, 1)}, client=client, workdir=root)
    with pytest.raises(InvalidInput, match="lambda"):
        tune.search(lambda p, r: 0.0, {"x": ("float", 0, 1)}, client=client, workdir=root)
    with pytest.raises(InvalidInput, match="set by the search"):
        tune.search(
            objectives.quadratic, {"x": ("float", 0, 1)}, client=client, workdir=root, run_id="r"
        )
    assert client.request("GET", "/api/v1/projects/default/studies").json() == []
