"""The PyTorch trainer end to end: jobs on a live server with real worker processes.

The factories come from a test-data package (``train_project/trainjobs``) copied into a
temporary work folder under a fresh name, so every job ships a real snapshot and imports its
factories from it. One server for the module; tiny models, a few dozen steps each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

from corridor.client.client import Client
from corridor.client.job_future import JobFailed
from corridor.config import Settings
from corridor.errors import InvalidInput
from corridor.training.torch import Trainer, TrainResult
from tests.conftest import LiveServer, module_server
from tests.training.project_copy import copied_package

PROJECT_SOURCE = Path(__file__).parent / "train_project"
# Checkpoints and results carry the weights: more than the suite's default 64 KiB body.
MAX_BODY_BYTES = 8 * 1024 * 1024
SIGNATURE = {
    "inputs": {"kind": "tensors", "tensors": [{"name": "input", "dtype": "float32",
                                               "shape": [-1, 8]}]},
    "outputs": {"kind": "tensors", "tensors": [{"name": "logits", "dtype": "float32",
                                                "shape": [-1, 3]}]},
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory, "training", max_body_bytes=MAX_BODY_BYTES) as live:
        yield live


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ModuleType]]:
    """A copy of the test-data project under a fresh package name, importable here."""
    root = tmp_path_factory.mktemp("train-work")
    with copied_package(PROJECT_SOURCE / "trainjobs", root, "models") as found:
        yield found


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, token=server.token, settings=Settings(home=server.home)) as c:
        yield c


Work = tuple[Path, ModuleType]


def trainer(work: Work, **options: Any) -> Trainer:
    root, models = work
    settings: dict[str, Any] = {
        "model": models.make_mlp,
        "data": models.make_data,
        "epochs": 2,
        "batch_size": 8,
        "optimizer": ("adam", {"lr": 0.01}),
        "checkpoint_every": 3,
        "checkpoint_interval_s": 0,
        "log_every": 2,
        "cpus": 0.5,
        "workdir": root,
        "progress": False,
    }
    settings.update(options)
    return Trainer(**settings)


@pytest.fixture(scope="module")
def one_process(client: Client, workdir: Work) -> TrainResult:
    return trainer(workdir).fit(client)


def assert_same_weights(a: TrainResult, b: TrainResult, *, atol: float) -> None:
    assert a.weights.keys() == b.weights.keys()
    for key in a.weights:
        torch.testing.assert_close(a.weights[key], b.weights[key], atol=atol, rtol=0)


def test_a_trainer_job_logs_to_its_run_and_returns_the_trained_weights(
    client: Client, one_process: TrainResult
) -> None:
    result = one_process
    run = client.tracking.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.tags["corridor.job_id"] == result.job_id
    assert run.params["batch_size"] == "8"
    # 64 samples in batches of 8: 8 steps an epoch, 16 in all.
    assert run.metrics["total_steps"].value == 16
    assert run.metrics["global_step"].value == 16
    assert run.metrics["epoch_loss"].value == pytest.approx(result.metrics["epoch_loss"])
    history = client.tracking.metric_history(result.run_id, "loss")
    assert [p.step for p in history] == [2, 4, 6, 8, 10, 12, 14, 16]
    job = client.compute.job(result.job_id)
    assert (job.state, job.run_id, job.workers) == ("succeeded", result.run_id, 1)
    assert result.details["global_step"] == 16
    assert result.details["resumed_from"] is None
    untrained = result.model()
    assert isinstance(untrained, torch.nn.Module)


def test_two_ddp_processes_give_the_weights_of_one_process(
    client: Client, workdir: Work, one_process: TrainResult
) -> None:
    """Each of the 2 ranks takes half of every global batch of 8 and DDP averages their
    gradients: the same updates as one process up to float rounding (the all-reduce sums in
    another order), so within 1e-5 after 16 Adam steps."""
    two = trainer(workdir, workers=2).fit(client)
    assert client.compute.job(two.job_id).workers == 2
    assert two.details["world_size"] == 2
    assert_same_weights(two, one_process, atol=1e-5)
    assert two.metrics["epoch_loss"] == pytest.approx(one_process.metrics["epoch_loss"], abs=1e-5)


def test_auto_workers_chooses_a_number_of_processes_and_says_why_as_for_precision(
    client: Client, workdir: Work
) -> None:
    """The choice rests on a measured step time (the rule itself is tested in test_pieces);
    here: whatever it chose is what the job ran, with the reason in the run and the log."""
    result = trainer(workdir, workers="auto", epochs=1, precision="bf16").fit(client)
    run = client.tracking.get_run(result.run_id)
    reason = run.tags["corridor.training.workers_reason"]
    workers = client.compute.job(result.job_id).workers
    assert run.tags["corridor.training.workers"] == str(workers)
    assert reason.startswith(f"workers=auto: {workers} process")
    assert result.details["world_size"] == workers
    logs = client.compute.future(result.job_id).logs().decode()
    assert reason in logs
    # Mixed precision needs a GPU; on a CPU the job says it trains in float32.
    assert "precision bf16 is ignored on the CPU; float32" in logs
    assert result.details["precision"] == "32"


def test_a_job_killed_mid_epoch_resumes_from_its_checkpoint_with_the_same_result(
    client: Client, workdir: Work, one_process: TrainResult
) -> None:
    """The first attempt's process is SIGKILLed at its 16th step (the last of epoch 2).
    Checkpoints are taken every 3 steps and uploaded one at a time in the background, so the
    one of step 12 is stored (the upload of 15 waited for it) and 15's may be: the retry
    resumes from one of them, in the middle of epoch 2, replays the same order, and ends with
    exactly the weights of the uninterrupted run."""
    loss = f"{workdir[1].__name__}:dying_loss"
    resumed = trainer(workdir, loss=loss, env={"TRAIN_KILL_AT": "16"}, retries=1).fit(client)
    attempts = client.request("GET", f"/api/v1/jobs/{resumed.job_id}/attempts").json()
    assert [a["state"] for a in attempts] == ["failed", "succeeded"]
    assert attempts[0]["exit_code"] == 137
    resumed_from = resumed.details["resumed_from"]
    assert resumed_from in (12, 15)
    assert_same_weights(resumed, one_process, atol=0)
    assert resumed.metrics["epoch_loss"] == one_process.metrics["epoch_loss"]
    logs = client.compute.future(resumed.job_id).logs().decode()
    step = resumed_from - 8  # 8 steps an epoch
    assert f"resuming at epoch 2, step {step} (global step {resumed_from})" in logs


def test_a_ddp_gang_killed_mid_epoch_resumes_every_rank_from_the_checkpoint(
    client: Client, workdir: Work, one_process: TrainResult
) -> None:
    """Both ranks die at their 16th step; the retried gang reads the checkpoint on each rank
    and ends where one uninterrupted process does, within the DDP tolerance."""
    loss = f"{workdir[1].__name__}:dying_loss"
    resumed = trainer(workdir, loss=loss, env={"TRAIN_KILL_AT": "16"}, retries=1, workers=2).fit(
        client
    )
    attempts = client.request("GET", f"/api/v1/jobs/{resumed.job_id}/attempts").json()
    assert [a["state"] for a in attempts] == ["failed", "succeeded"]
    # Rank 0 uploads the checkpoints, and it is killed when rank 1 dies, wherever it is: on a
    # busy machine its upload of step 12 (or even 9) may not have finished, so the retry may
    # resume from an earlier checkpoint; it must still resume mid-run, from one of them.
    assert resumed.details["resumed_from"] in (3, 6, 9, 12, 15)
    assert resumed.details["world_size"] == 2
    assert_same_weights(resumed, one_process, atol=1e-5)


def test_a_torch_package_registers_and_loads_back_predicting_as_the_model(
    client: Client, workdir: Work, one_process: TrainResult
) -> None:
    version = one_process.register("mlp", alias="production", signature=SIGNATURE)
    assert version.name == "mlp"
    loaded = client.registry.load_model("mlp@production")
    assert loaded.manifest.flavour == "torch"
    assert loaded.manifest.source_run == one_process.run_id
    assert loaded.manifest.entry == "model.safetensors"
    files = set(loaded.manifest.files)
    module_path = workdir[1].__name__.replace(".", "/") + ".py"
    assert {"model.safetensors", "torch-model.json", f"code/{module_path}"} <= files
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    expected = one_process.model()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_array_equal(loaded.predict(x), expected)
    np.testing.assert_array_equal(loaded.predict({"input": x}), expected)


def test_a_dataset_version_trains_through_the_jobs_declared_dataset(
    client: Client, workdir: Work
) -> None:
    x, y = workdir[1].make_data(32)
    rows = ["a,b,c,d,e,f,g,h,label"] + [
        ",".join([*(repr(float(v)) for v in x[i].tolist()), str(int(y[i]))]) for i in range(32)
    ]
    client.create_project("tabular")
    client.data.ingest("\n".join(rows).encode() + b"\n", "points", project="tabular")
    result = trainer(workdir, data="points@latest", label="label", epochs=1, project="tabular").fit(
        client
    )
    job = client.compute.job(result.job_id)
    # The version is pinned at submit, so every attempt and the package name the same data.
    assert job.datasets == ["points@1"]
    assert result.details["global_step"] == 4  # 32 rows in batches of 8
    result.register("points-mlp")
    loaded = client.registry.load_model("tabular/points-mlp@1")
    assert loaded.manifest.dataset_versions == ("points@1",)
    with pytest.raises(InvalidInput, match="has no column 'target'"):
        trainer(workdir, data="points@1", label="target", project="tabular").fit(client)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "{m}:make_broken_model"}, "make_broken_model raised ValueError: no weights"),
        ({"data": "{m}:make_nothing"}, "yielded no samples"),
        ({"data": "{m}:make_ragged"}, "10 rows of features but 9 labels"),
        ({"data_kwargs": {"width": 5}}, "does not fit the model"),
        ({"signature": {**SIGNATURE, "inputs": {"kind": "tensors", "tensors": [
            {"name": "input", "dtype": "float32", "shape": [-1, 64]}]}}},
         "the signature's input input has shape [-1, 64], but the data's features have shape"),
        ({"loss": "hinge"}, "unknown loss 'hinge'"),
    ],
    ids=["model-raises", "empty-data", "ragged-data", "wrong-width", "signature", "loss"],
)  # fmt: skip
def test_bad_input_is_refused_before_anything_is_submitted(
    client: Client, workdir: Work, options: dict[str, Any], message: str
) -> None:
    module = workdir[1].__name__
    options = {k: v.format(m=module) if isinstance(v, str) else v for k, v in options.items()}
    before = len(client.compute.jobs())
    with pytest.raises(InvalidInput) as caught:
        trainer(workdir, **options).fit(client)
    assert message in caught.value.message
    assert len(client.compute.jobs()) == before


def test_a_failure_found_only_on_the_worker_fails_the_run_with_the_reason(
    client: Client, workdir: Work
) -> None:
    module = workdir[1].__name__
    broken = trainer(workdir, model=f"{module}:make_broken_model", check=False, retries=0)
    with pytest.raises(JobFailed, match="no weights for you") as caught:
        broken.fit(client)
    job = client.compute.job(caught.value.job_id)
    assert job.run_id is not None
    run = client.tracking.get_run(job.run_id)
    assert run.info.status == "FAILED"
    assert "no weights for you" in run.tags["corridor.training.error"]
