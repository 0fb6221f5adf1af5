"""Train a small MLP with Corridor's PyTorch trainer and register it as ``mlp@production``.

1. A multi-layer perceptron (64 -> 256 -> 256 -> 10) is trained on generated data (64 features,
   10 classes given by a fixed linear rule) as a compute job, with ``workers="auto"``: the
   trainer measures a step and says how many processes it uses and why.
2. The trained model is scored on held-out generated rows.
3. It is registered as model ``mlp`` in the project ``default`` with alias ``production``: a
   ``torch`` package (safetensors weights and this file as the model's code), signed, with the
   signature input ``input`` float32 [-1, 64] -> output ``logits`` float32 [-1, 10].
4. The package's signature is verified and the model is loaded back from the registry; its
   predictions are compared with the trained model's.

Runs against ``CORRIDOR_URL``/``CORRIDOR_TOKEN``, or the local home when they are unset:

    python examples/mlp.py

then, for instance, ``corridor models verify mlp@production`` and ``corridor models show mlp``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

import corridor
from corridor.errors import NotFound
from corridor.training.torch import Trainer

PROJECT = "default"
MODEL = "mlp"
FEATURES = 64
CLASSES = 10
SAMPLES = 8192
EPOCHS = 4
SIGNATURE = {
    "inputs": {
        "kind": "tensors",
        "tensors": [{"name": "input", "dtype": "float32", "shape": [-1, FEATURES]}],
    },
    "outputs": {
        "kind": "tensors",
        "tensors": [{"name": "logits", "dtype": "float32", "shape": [-1, CLASSES]}],
    },
}


def make_model(hidden: int = 256) -> nn.Module:
    """The model: 64 -> 256 -> 256 -> 10 with ReLU."""
    return nn.Sequential(
        nn.Linear(FEATURES, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, CLASSES),
    )


def make_data(n: int = SAMPLES, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Generated rows: normal features, labelled by a fixed linear rule (the same rule for every
    seed, so held-out rows drawn with another seed follow it too)."""
    rule = torch.randn(FEATURES, CLASSES, generator=torch.Generator().manual_seed(1234))
    x = torch.randn(n, FEATURES, generator=torch.Generator().manual_seed(seed))
    return x, (x @ rule).argmax(dim=1)


def ensure_project(client: corridor.Client) -> None:
    try:
        client.get_project(PROJECT)
    except NotFound:
        client.create_project(PROJECT, description="Models and data with no project of their own")


def main() -> None:
    with corridor.Client() as client:
        ensure_project(client)
        print(
            f"training {MODEL} ({FEATURES} -> 256 -> 256 -> {CLASSES}) on {SAMPLES:,} generated "
            f"samples, {EPOCHS} epochs ..."
        )
        trainer = Trainer(
            make_model,
            make_data,
            loss="cross_entropy",
            optimizer=("adam", {"lr": 1e-3}),
            epochs=EPOCHS,
            batch_size=64,
            workers="auto",
            signature=SIGNATURE,
            project=PROJECT,
            experiment="mlp-example",
            run_name=MODEL,
            workdir=Path(__file__).resolve().parent,
            progress=False,
        )
        result = trainer.fit(client)
        reason = client.tracking.get_run(result.run_id).tags.get("corridor.training.workers_reason")
        if reason:
            print(reason)
        print(
            f"trained in job {result.job_id} (run {result.run_id}): "
            f"{result.details['global_step']} steps on {result.details['world_size']} "
            f"process(es), last epoch's loss {result.metrics['epoch_loss']:.4f}, "
            f"{result.metrics['samples_per_s']:,.0f} samples/s"
        )

        model = result.model()
        held_x, held_y = make_data(2048, seed=1)
        with torch.no_grad():
            accuracy = float((model(held_x).argmax(dim=1) == held_y).float().mean())
        result.metrics["held_out_accuracy"] = accuracy
        client.tracking.log_metric(result.run_id, "held_out_accuracy", accuracy)
        print(f"held-out accuracy {accuracy:.3f} on 2,048 new rows")

        version = result.register(
            MODEL,
            alias="production",
            signature=SIGNATURE,
            description="Example MLP trained on generated data (examples/mlp.py)",
        )
        print(f"registered {MODEL}@{version.version} (alias production) in project {PROJECT}")

        verified = client.registry.verify_model(f"{MODEL}@production", project=PROJECT)
        print(
            f"verified {MODEL}@production: signed by key {verified.key_id}, {verified.files} files"
        )
        loaded = client.registry.load_model(f"{MODEL}@production", project=PROJECT)
        rows = held_x[:5].numpy()
        with torch.no_grad():
            expected = model(held_x[:5]).numpy()
        same = np.allclose(loaded.predict({"input": rows}), expected, atol=1e-6)
        print(
            f"loaded {MODEL}@production back ({loaded.manifest.flavour}): its predictions "
            f"{'match' if same else 'DO NOT match'} the trained model's"
        )
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
