"""Corridor's side of the training benchmarks: a ``corridor server`` over a fresh home whose
local site is configured by the caller, and ``Trainer(...).fit()`` of the benchmark MLP on it.

The model and data factories are this folder's (``workload``, ``probe``): the trainer ships the
folder as the job's code snapshot and names them by reference, as it does a user's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from corridor.client.client import Client
from corridor.config import Settings
from corridor.home import init_home
from corridor.quickstart import ServerProcess, free_port
from corridor.training.torch import Trainer

HERE = Path(__file__).resolve().parent


@contextmanager
def corridor_server(home: Path, site_toml: str) -> Iterator[Client]:
    """A server over ``home`` (created) with ``site_toml`` as its corridor.toml; a client of it
    for the default project."""
    home.mkdir(parents=True)
    (home / "corridor.toml").write_text(site_toml)
    admin = init_home(Settings(home=home)).admin_token
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "CORRIDOR_"))}
    server = ServerProcess(home, free_port(), env={**env, "CORRIDOR_HOME": str(home)})
    try:
        server.wait_ready()
        with Client(server.url, admin, settings=Settings(home=home)) as client:
            yield client
    finally:
        server.stop()


class TimedTrainer(Trainer):
    """The trainer, with the wall clock noted after each of ``fit``'s client-side stages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.marks: dict[str, float] = {}
        for stage in ("_plan", "_start_run", "_submit"):
            method = getattr(self, stage, None)
            if method is not None:
                setattr(self, stage, self._marked(stage.strip("_"), method))

    def _marked(self, stage: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            self.marks[stage] = time.time()
            return result

        return call


def trainer(
    *,
    workers: int | str,
    samples: int,
    batch_size: int,
    epochs: int,
    probe_file: Path | None = None,
    **options: Any,
) -> TimedTrainer:
    """A trainer of the benchmark MLP (SGD, the workload's learning rate) over ``samples`` rows;
    with ``probe_file``, the job notes when its factories ran and its first steps began."""
    import workload

    model: str = "workload:make_mlp"
    data: str = "workload:make_data"
    model_kwargs: dict[str, Any] = {}
    data_kwargs: dict[str, Any] = {"samples": samples}
    if probe_file is not None:
        model, data = "probe:probed_mlp", "probe:probed_data"
        model_kwargs = {"out": str(probe_file)}
        data_kwargs["out"] = str(probe_file)
    return TimedTrainer(
        model,
        data,
        loss="cross_entropy",
        optimizer=("sgd", {"lr": workload.LEARNING_RATE}),
        epochs=epochs,
        batch_size=batch_size,
        workers=workers,
        device="cpu",
        model_kwargs=model_kwargs,
        data_kwargs=data_kwargs,
        workdir=HERE,
        progress=False,
        **options,
    )


def first_step(client: Client, *, workers: int, steps: int, probe_file: Path) -> dict[str, float]:
    """One fit of ``steps`` steps per rank, 1 epoch, with the probes on; each stage's wall
    clock as seconds from the call of ``fit()`` (``to_*``), client, server and job alike."""
    import probe
    import workload

    timed = trainer(
        workers=workers,
        samples=steps * workload.BATCH * workers,
        batch_size=workload.BATCH * workers,
        epochs=1,
        probe_file=probe_file,
    )
    called = time.time()
    result = timed.fit(client)
    returned = time.time()
    job = client.compute.job(result.job_id)
    stages = probe.read(str(probe_file))
    probe_file.unlink()
    at = {
        **{f"client_{k}": v for k, v in timed.marks.items()},
        "job_created": job.created_at.timestamp(),
        "job_placed": job.placed_at.timestamp() if job.placed_at else float("nan"),
        "worker_started": job.started_at.timestamp() if job.started_at else float("nan"),
        "data_factory": stages["data_factory"],
        "model_factory": stages["model_factory"],
        "step0_began": stages["forward_1"],
        "job_finished": job.finished_at.timestamp() if job.finished_at else float("nan"),
    }
    notes = {f"to_{k}": v - called for k, v in at.items()}
    notes.update(
        to_entered=stages["data_factory"] - called,
        to_wrapped=stages["forward_1"] - called,
        to_first_step=stages["forward_2"] - called,
        to_return=returned - called,
    )
    return notes
