"""The plain-PyTorch DDP peer: ``torch.multiprocessing.spawn`` of N processes that join a gloo
process group and train the benchmark MLP on their shard of the data, written as one writes it
by hand.

Each rank takes every N-th batch of the data (the same rows a 1-process run at N times the
batch sees), runs one thread (N processes share the machine's cores), and notes on rank 0:
the wall clock when its function was entered (the interpreter up and, spawn being spawn, the
caller's main module imported again, which imports torch), when the process group was up, the
model wrapped in DDP, the data made, step 0 ended, and the seconds of the timed steps after a
short warm-up. The caller passes the wall clock at which it called ``spawn``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

WARMUP_STEPS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rank_main(rank: int, world: int, port: int, steps: int, out: str) -> None:
    entered = time.time()  # the interpreter up and the main module imported again (spawn)
    import torch
    import torch.distributed as dist
    import workload
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    imported = time.time()
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    group_up = time.time()
    torch.manual_seed(workload.SEED)
    model = DistributedDataParallel(workload.make_mlp())
    wrapped = time.time()
    optimizer = workload.make_optimizer(model)
    loss_fn = nn.CrossEntropyLoss()
    x, y = workload.make_data((steps + WARMUP_STEPS) * workload.BATCH * world)
    batches = list(
        zip(torch.split(x, workload.BATCH), torch.split(y, workload.BATCH), strict=True)
    )[rank::world]
    data_ready = time.time()

    def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        optimizer.step()

    step(*batches[0])
    first_step = time.time()
    for xb, yb in batches[1:WARMUP_STEPS]:
        step(xb, yb)
    dist.barrier()
    started = time.perf_counter()
    for xb, yb in batches[WARMUP_STEPS:]:
        step(xb, yb)
    dist.barrier()
    seconds = time.perf_counter() - started
    if rank == 0:
        note: dict[str, Any] = {
            "entered": entered,
            "imported": imported,
            "group_up": group_up,
            "wrapped": wrapped,
            "data_ready": data_ready,
            "first_step": first_step,
            "seconds": seconds,
            "samples": len(batches[WARMUP_STEPS:]) * workload.BATCH * world,
        }
        Path(out).write_text(json.dumps(note))
    dist.destroy_process_group()


def run(world: int, steps: int, out: Path) -> dict[str, float]:
    """Spawn ``world`` ranks that train ``steps`` steps each; rank 0's notes, times relative to
    the call (``to_*`` seconds) and its samples/s over the timed steps."""
    from torch.multiprocessing.spawn import spawn

    called = time.time()
    spawn(_rank_main, args=(world, free_port(), steps, str(out)), nprocs=world, join=True)  # type: ignore[no-untyped-call]
    returned = time.time()
    note = json.loads(out.read_text())
    out.unlink()
    return {
        "to_entered": note["entered"] - called,
        "to_imported": note["imported"] - called,
        "to_group": note["group_up"] - called,
        "to_wrapped": note["wrapped"] - called,
        "to_data": note["data_ready"] - called,
        "to_first_step": note["first_step"] - called,
        "to_return": returned - called,
        "samples_per_s": note["samples"] / note["seconds"],
    }
