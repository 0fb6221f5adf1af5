"""The trainer's pure pieces: the sample order, checkpoints, the workers rule, the spec."""

from __future__ import annotations

import pytest
import torch

from corridor.errors import InvalidInput
from corridor.training.torch import checkpoint, order, workers_rule
from corridor.training.torch.spec import DataSpec, TrainSpec


def test_ranks_split_every_global_batch_exactly_and_their_weights_average_to_one() -> None:
    samples, batch, world = 52, 16, 3
    epoch = order.epoch_order(samples, seed=7, epoch=1)
    assert torch.equal(epoch, order.epoch_order(samples, seed=7, epoch=1))
    assert not torch.equal(epoch, order.epoch_order(samples, seed=7, epoch=2))
    steps = order.steps_per_epoch(samples, batch, world)
    assert steps == 4  # 16 + 16 + 16 + 4, the last split 2 + 1 + 1
    assert order.steps_per_epoch(50, batch, world) == 3  # a last batch of 2 < 3 ranks is dropped
    seen = []
    for step in range(steps):
        parts = [order.rank_part(epoch, step, batch, rank, world) for rank in range(world)]
        assert all(len(p) > 0 for p, _ in parts)
        # DDP averages the ranks' mean-loss gradients: with the weights, every sample of the
        # global batch counts 1/len(batch), as in one process.
        size = sum(len(p) for p, _ in parts)
        for part, weight in parts:
            assert weight / world / len(part) == pytest.approx(1 / size)
        seen.extend(torch.cat([p for p, _ in parts]).tolist())
    assert sorted(seen) == sorted(epoch[: steps * batch].tolist())


def test_a_checkpoint_round_trips_weights_optimiser_state_and_position() -> None:
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    state = checkpoint.TrainingState(
        epoch=1,
        step_in_epoch=5,
        global_step=17,
        model=model.state_dict(),
        optimizer=optimizer.state_dict(),
        epoch_loss_sum=1.25,
        epoch_samples=40,
    )
    back = checkpoint.decode(checkpoint.encode(state))
    assert (back.epoch, back.step_in_epoch, back.global_step) == (1, 5, 17)
    assert (back.epoch_loss_sum, back.epoch_samples) == (1.25, 40)
    for key, value in model.state_dict().items():
        assert torch.equal(back.model[key], value)
    restored = torch.optim.Adam(torch.nn.Linear(4, 2).parameters(), lr=0.5)
    restored.load_state_dict(back.optimizer)
    assert restored.param_groups[0]["lr"] == 0.01
    original = optimizer.state_dict()["state"][0]
    assert torch.equal(restored.state_dict()["state"][0]["exp_avg"], original["exp_avg"])


def test_bytes_that_are_not_a_checkpoint_are_refused() -> None:
    with pytest.raises(InvalidInput, match="not a Corridor training checkpoint"):
        checkpoint.decode(b"\x00" * 64)


def test_auto_workers_keeps_one_process_when_the_gradient_sync_costs_more_than_it_saves() -> None:
    # The benchmark MLP 64-256-256-10 at batch 64: 0.56 ms of compute per step on one core.
    params = 64 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    workers, reason = workers_rule.choose(
        compute_s=0.00056, grad_bytes=params * 4, max_workers=2, on_gpu=False
    )
    assert workers == 1
    assert "more processes would be slower" in reason
    # The same model with a step a hundred times heavier is worth splitting.
    workers, reason = workers_rule.choose(
        compute_s=0.056, grad_bytes=params * 4, max_workers=4, on_gpu=False
    )
    assert workers == 4
    assert "4 processes" in reason


def test_a_spec_refuses_unknown_names_and_round_trips_as_json() -> None:
    data = DataSpec(ref="m:data")
    with pytest.raises(InvalidInput, match="unknown loss 'hinge'"):
        TrainSpec(model="m:model", data=data, loss="hinge")
    with pytest.raises(InvalidInput, match="unknown optimizer"):
        TrainSpec(model="m:model", data=data, optimizer="lbfgs2")
    with pytest.raises(InvalidInput, match="batch_size must be"):
        TrainSpec(model="m:model", data=data, batch_size=0)
    with pytest.raises(InvalidInput, match="needs label="):
        TrainSpec(model="m:model", data=DataSpec(dataset="tickets@2"))
    spec = TrainSpec(model="m:model", data=data, epochs=3, model_kwargs={"hidden": 4})
    assert TrainSpec.from_json(spec.to_json()) == spec
