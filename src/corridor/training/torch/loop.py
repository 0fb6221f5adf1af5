"""The training loop a job runs, in one process or as one rank of a DDP gang.

Every rank builds the model from the same seed, reads the newest checkpoint if a previous
attempt left one, and runs the steps not yet done in the order ``order`` fixes, so a resumed
run does exactly what an uninterrupted one would have. Rank 0 logs metrics and writes the
checkpoints: at each epoch's end, and inside an epoch every ``checkpoint_every`` steps once
``checkpoint_interval_s`` has passed since the last one.

Per step the loop costs what a hand-written one does, plus, every ``log_every`` steps, one
``.item()``; the loss of an epoch is summed on the device and read once per epoch. The RNG is
reseeded only where a checkpoint may be taken (``torch.manual_seed`` costs about 0.1 ms, a
fifth of a small model's step on a CPU), which is all a resume needs to replay the draws.
On a CPU the job uses as many threads as CPUs it asked for per worker: torch's default (every
core) makes ranks that share a machine fight over it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from corridor.training.torch import checkpoint, order, parts
from corridor.training.torch.job_link import JobLink
from corridor.training.torch.spec import TrainSpec


def run(
    spec: TrainSpec,
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    link: JobLink,
    workdir: Path,
    say: Callable[[str], None] = print,
) -> dict[str, Any] | None:
    """Train; rank 0 returns the weights and metrics, other ranks None."""
    rank = int(os.environ.get("RANK") or 0)
    world = int(os.environ.get("WORLD_SIZE") or 1)
    device = parts.pick_device(spec.device, int(os.environ.get("LOCAL_RANK") or rank))
    lead = rank == 0
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://")
    try:
        return _train(spec, features, labels, link, workdir, say, rank, world, device, lead)
    finally:
        if world > 1:
            dist.destroy_process_group()


def _train(
    spec: TrainSpec,
    features: torch.Tensor,
    labels: torch.Tensor,
    link: JobLink,
    workdir: Path,
    say: Callable[[str], None],
    rank: int,
    world: int,
    device: torch.device,
    lead: bool,
) -> dict[str, Any] | None:
    cast_dtype = parts.autocast_dtype(spec.precision, device)
    if lead:
        if spec.workers_reason:
            say(f"corridor.training: {spec.workers_reason}")
        if spec.precision != "32" and device.type != "cuda":
            say(f"corridor.training: precision {spec.precision} is ignored on the CPU; float32")
        say(f"corridor.training: {world} process(es) on {device}, {len(features)} samples")
    if device.type == "cpu" and spec.threads:
        torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    model = parts.make_model(spec, workdir).to(device)
    optimizer = parts.make_optimizer(spec, model.parameters(), workdir)
    loss_fn = parts.make_loss(spec, workdir)
    scaler = torch.amp.GradScaler("cuda") if cast_dtype is torch.float16 else None

    state = None
    saved = link.load_checkpoint()
    if saved is not None:
        state = checkpoint.decode(saved)
        model.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        if scaler is not None and state.scaler:
            scaler.load_state_dict(state.scaler)
        if lead:
            say(
                f"corridor.training: resuming at epoch {state.epoch + 1}, step "
                f"{state.step_in_epoch} (global step {state.global_step}) from a checkpoint"
            )
    net: torch.nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)

    x, y = features.to(device), labels.to(device)
    per_epoch = order.steps_per_epoch(len(x), spec.batch_size, world)
    total = per_epoch * spec.epochs
    epoch0 = state.epoch if state else 0
    step0 = state.step_in_epoch if state else 0
    global_step = state.global_step if state else 0
    resumed_from = global_step if state else None
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    samples = 0
    if state is not None:
        loss_sum += state.epoch_loss_sum
        samples = state.epoch_samples
    if lead:
        link.metric("total_steps", total, 0)
        link.flush(force=True)
    metrics: dict[str, float] = {}
    last_saved = time.monotonic()

    def save(epoch: int, step_in_epoch: int) -> None:
        nonlocal last_saved
        if not lead:
            return
        last_saved = time.monotonic()
        # Copies taken now, on this thread; encoded and uploaded while training goes on.
        state = checkpoint.TrainingState(
            epoch=epoch,
            step_in_epoch=step_in_epoch,
            global_step=global_step,
            model=_copied(model.state_dict()),
            optimizer=_copied(optimizer.state_dict()),
            scaler=scaler.state_dict() if scaler is not None else None,
            epoch_loss_sum=float(loss_sum.item()),
            epoch_samples=samples,
        )
        link.save_checkpoint_later(lambda: checkpoint.encode(state), global_step)

    net.train()
    for epoch in range(epoch0, spec.epochs):
        epoch_order = order.epoch_order(len(x), spec.seed, epoch).to(device)
        started = time.perf_counter()
        first = step0 if epoch == epoch0 else 0
        if first == 0:
            loss_sum.zero_()
            samples = 0
        for step in range(first, per_epoch):
            part, weight = order.rank_part(epoch_order, step, spec.batch_size, rank, world)
            if step == 0 or global_step % spec.checkpoint_every == 0:
                # Reseeded where a checkpoint may be taken, so a resume replays the same
                # random draws (dropout) as an uninterrupted run, on every rank.
                torch.manual_seed(order.step_seed(spec.seed, rank, global_step))
            xb, yb = x[part], y[part]
            autocast = (
                torch.autocast(device.type, dtype=cast_dtype)
                if cast_dtype is not None
                else contextlib.nullcontext()
            )
            with autocast:
                loss = loss_fn(net(xb), yb)
            scaled = loss * weight if weight != 1.0 else loss
            if scaler is not None:
                scaler.scale(scaled).backward()  # type: ignore[no-untyped-call]
                scaler.step(optimizer)
                scaler.update()
            else:
                scaled.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            global_step += 1
            loss_sum += loss.detach().double() * len(part)
            samples += len(part)
            if lead and global_step % spec.log_every == 0:
                link.metric("loss", float(loss.item()), global_step)
                link.metric("global_step", global_step, global_step)
                link.flush()
            if (
                global_step % spec.checkpoint_every == 0
                and step + 1 < per_epoch
                and time.monotonic() - last_saved >= spec.checkpoint_interval_s
            ):
                save(epoch, step + 1)
        elapsed = time.perf_counter() - started
        totals = torch.stack(
            [loss_sum.clone(), torch.tensor(float(samples), device=device).double()]
        )
        if world > 1:
            dist.all_reduce(totals)
        epoch_loss = float(totals[0] / totals[1])
        rate = float(totals[1]) / elapsed if elapsed > 0 else 0.0
        metrics = {"epoch_loss": epoch_loss, "samples_per_s": rate}
        if lead:
            say(
                f"corridor.training: epoch {epoch + 1}/{spec.epochs} loss {epoch_loss:.6g} "
                f"({rate:,.0f} samples/s)"
            )
            link.metric("epoch_loss", epoch_loss, global_step)
            link.metric("samples_per_s", rate, global_step)
            link.metric("epoch", epoch + 1, global_step)
            link.metric("global_step", global_step, global_step)
            link.flush(force=True)
        save(epoch + 1, 0)
    link.wait_for_checkpoint()
    if not lead:
        return None
    return {
        "weights": {k: v.detach().to("cpu") for k, v in model.state_dict().items()},
        "metrics": metrics,
        "global_step": global_step,
        "epochs": spec.epochs,
        "world_size": world,
        "device": str(device),
        "precision": spec.precision if cast_dtype is not None else "32",
        "resumed_from": resumed_from,
    }


def _copied(value: Any) -> Any:
    """``value`` with every tensor in it (nested in dicts and lists) copied."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value
