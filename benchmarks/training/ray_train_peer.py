"""The Ray Train peer: ``TorchTrainer`` with N CPU workers training the benchmark MLP, the same
loop as the plain DDP peer (``spawn_ddp.py``) inside Ray Train's worker group.

Ray Train starts the worker actors and their gloo process group, then calls ``train_func`` in
each; rank 0 notes the wall clock when the function was entered, when the model was wrapped
in DDP, when step 0 ended and the seconds of the timed steps, in a file the caller reads (the
cluster is this machine's, so one clock). The benchmark's folder is on the workers' path
through the head's ``PYTHONPATH`` (see ``bench_first_step.py``), so nothing is shipped by value.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

WARMUP_STEPS = 20


def train_func(config: dict[str, Any]) -> None:
    entered = time.time()
    import ray.train
    import torch
    import workload
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(1)
    torch.manual_seed(workload.SEED)
    model = DistributedDataParallel(workload.make_mlp())
    wrapped = time.time()
    optimizer = workload.make_optimizer(model)
    loss_fn = nn.CrossEntropyLoss()
    steps = int(config["steps"])
    x, y = workload.make_data((steps + WARMUP_STEPS) * workload.BATCH * world)
    batches = list(
        zip(torch.split(x, workload.BATCH), torch.split(y, workload.BATCH), strict=True)
    )[rank::world]

    def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        optimizer.step()

    step(*batches[0])
    first_step = time.time()
    for xb, yb in batches[1:WARMUP_STEPS]:
        step(xb, yb)
    torch.distributed.barrier()
    started = time.perf_counter()
    for xb, yb in batches[WARMUP_STEPS:]:
        step(xb, yb)
    torch.distributed.barrier()
    seconds = time.perf_counter() - started
    if rank == 0:
        note = {
            "entered": entered,
            "wrapped": wrapped,
            "first_step": first_step,
            "seconds": seconds,
            "samples": len(batches[WARMUP_STEPS:]) * workload.BATCH * world,
        }
        Path(config["out"]).write_text(json.dumps(note))


def run(workers: int, steps: int, out: Path, storage: Path) -> dict[str, float]:
    """One ``TorchTrainer(...).fit()`` of ``workers`` CPU workers; times relative to ``fit()``."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        train_func,
        train_loop_config={"steps": steps, "out": str(out)},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=False),
        run_config=RunConfig(storage_path=str(storage)),
    )
    called = time.time()
    trainer.fit()
    returned = time.time()
    note = json.loads(out.read_text())
    out.unlink()
    return {
        "to_entered": note["entered"] - called,
        "to_wrapped": note["wrapped"] - called,
        "to_first_step": note["first_step"] - called,
        "to_return": returned - called,
        "samples_per_s": note["samples"] / note["seconds"],
    }
