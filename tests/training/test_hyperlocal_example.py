"""examples/hyperlocal_tickets.py run as a user runs it, on a fresh home; then what it left
behind, read through the API and the CLI: both versions, their scopes and parent, and the
lineage from the general model down to the head and from the head up to its sources."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.training.example_run import ExampleRun, run_example

EXPECTED_ROUTES = ["billing", "login", "shipping", "refund", "bug"]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> ExampleRun:
    """The example, run once for the module in a child process over a new local home."""
    return run_example(tmp_path_factory, "hyperlocal_tickets.py")


def test_the_example_registers_both_models_and_routes_new_tickets(example: ExampleRun) -> None:
    done = example.done
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "registered minilm@1 (scope general)" in lines
    assert "ingested 400 tickets as default/support-tickets@1" in lines
    assert any(
        line.startswith(
            "registered ticket-router@1 (scope hyperlocal, from models:/minilm/1), held-out"
        )
        for line in lines
    ), done.stdout
    # The last five lines route tickets the head never saw, one per category.
    routes = [line.split()[0] for line in lines[-5:]]
    assert routes == EXPECTED_ROUTES, done.stdout


def test_lineage_runs_from_the_general_model_to_the_head_and_back(example: ExampleRun) -> None:
    assert example.done.returncode == 0, example.done.stderr
    with example.client() as c:
        dataset = c.data.show("default/support-tickets@1")
        embedded = c.data.show("default/ticket-embeddings@1")
        head = c.registry.resolve_model("ticket-router@production")
        down = c.registry.version_lineage("minilm", 1, direction="downstream", project="default")
        up = c.registry.version_lineage(
            "ticket-router", head.version, direction="upstream", project="default"
        )
    below = {(n.kind, n.name, n.version) for n in down.nodes if n.distance > 0}
    assert ("model_version", "ticket-router", 1) in below
    above = {(n.kind, n.name or n.id) for n in up.nodes if n.distance > 0}
    assert ("model_version", "minilm") in above
    assert ("dataset_version", dataset.id) in above
    assert ("dataset_version", embedded.id) in above
    assert ("run", head.run_id) in above


def test_models_show_json_gives_each_version_its_scope_and_parent(example: ExampleRun) -> None:
    assert example.done.returncode == 0, example.done.stderr
    shown = run_cli(example.home, "models", "show", "ticket-router", "--json")
    assert shown.returncode == 0, shown.stderr
    [head] = json.loads(shown.stdout)["versions"]
    assert (head["scope"], head["derived_from"], head["flavour"]) == (
        "hyperlocal",
        "models:/minilm/1",
        "torch",
    )
    assert head["aliases"] == ["production"]
    shown = run_cli(example.home, "models", "show", "minilm", "--json")
    assert shown.returncode == 0, shown.stderr
    [general] = json.loads(shown.stdout)["versions"]
    assert (general["scope"], general["derived_from"]) == ("general", None)
    assert general["flavour"] == "sentence_transformers"


def test_the_head_names_its_data_run_and_parent_in_its_manifest(example: ExampleRun) -> None:
    assert example.done.returncode == 0, example.done.stderr
    with example.client() as c:
        head = c.registry.resolve_model("ticket-router@production")
        base = f"/api/v1/projects/default/models/ticket-router/versions/{head.version}"
        manifest = c.request("GET", f"{base}/manifest").json()
    assert manifest["dataset_versions"] == [
        "default/support-tickets@1",
        "default/ticket-embeddings@1",
    ]
    assert manifest["source_run"] == head.run_id
    assert manifest["derived_from"] == "models:/minilm/1"
    [inputs] = manifest["signature"]["inputs"]["tensors"]
    [outputs] = manifest["signature"]["outputs"]["tensors"]
    assert (inputs["name"], inputs["shape"]) == ("embedding", [-1, 384])
    assert (outputs["name"], outputs["shape"]) == ("logits", [-1, 5])
    assert 0.0 <= manifest["metrics"]["heldout_accuracy"] <= 1.0
