"""Sampled requests: the rate, the bounded buffer, PII masking, the dataset version a flush
writes, and the drift of a shifted sample against the training data."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from corridor.config import Settings
from corridor.data import datasets as ds
from corridor.data.convert import finish
from corridor.data.limits import DataLimits
from corridor.data.sansio.refs import DatasetRef
from corridor.data.schemas import VersionMeta
from corridor.data.versions import NewVersion, store_version
from corridor.home import init_home
from corridor.runtime import Runtime
from corridor.security import projects
from corridor.security.models import Project
from corridor.security.policy import Permission, Principal
from corridor.serving.drift import sample_drift
from corridor.serving.sample_table import sample_frame
from corridor.serving.sampling import RequestSampler, Sampled, flush
from tests.conftest import premigrate, sqlite_url

FEATURES = 8
ADMIN = Principal.local_admin()


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Runtime]:
    """A home on SQLite with project ``p`` and its training data ``train`` (8 normal columns):
    the services alone, no app, so that the module sets up in a fraction of a second."""
    home = tmp_path_factory.mktemp("observability") / "home"
    settings = Settings(home=home, database_url=sqlite_url(home))
    home.mkdir()
    premigrate(sqlite_url(home), sqlite_template)
    init_home(settings)
    runtime = Runtime(settings)
    with runtime.db.write() as session:
        projects.create_project(session, "p", description="", by=ADMIN)
    rng = np.random.default_rng(1)
    _store(
        runtime, "train", pl.DataFrame({f"f{i}": rng.normal(0, 1, 2000) for i in range(FEATURES)})
    )
    yield runtime
    runtime.close()


def _project(runtime: Runtime) -> Project:
    with runtime.db.read() as session:
        return projects.authorize(session, "p", ADMIN, Permission.PROJECT_READ)


def _store(runtime: Runtime, name: str, frame: pl.DataFrame) -> None:
    limits = DataLimits.from_settings(runtime.settings)
    limits.tmp_root.mkdir(parents=True, exist_ok=True)
    path = limits.tmp_root / f"{name}.parquet"
    frame.write_parquet(path)
    new = NewVersion(finish(path))
    store_version(runtime.db, runtime.blobs, _project(runtime), name, new, VersionMeta(), by=ADMIN)
    path.unlink()


def _latest(runtime: Runtime, name: str) -> ds.Resolved:
    with runtime.db.read() as session:
        return ds.resolve(session, _project(runtime), DatasetRef(name, None), ADMIN)


def _requests(sampler: RequestSampler, rows: np.ndarray, per_request: int = 4) -> None:
    for start in range(0, len(rows), per_request):
        x = rows[start : start + per_request].astype(np.float32)
        logits = np.stack([x.sum(axis=1), -x.sum(axis=1)], axis=1)
        sampler.offer({"input": x}, {"logits": logits}, time.time(), version=1)


def test_the_sampler_keeps_about_its_rate_of_requests_and_none_at_rate_zero() -> None:
    batch = {"input": np.zeros((1, FEATURES), np.float32)}
    draws = random.Random(3)
    kept = RequestSampler(0.1, None, "project-id", deployment="mlp", draw=draws.random)
    for _ in range(10_000):
        kept.offer(batch, batch, 0.0)
    assert 850 <= kept.sampled <= 1150
    assert kept.offered == 10_000
    assert kept.dataset == "mlp-samples"
    never = RequestSampler(0.0, "d", "project-id", deployment="mlp")
    assert not any(never.offer(batch, batch, 0.0) for _ in range(1000))
    assert never.pending == 0


def test_a_full_buffer_drops_its_oldest_requests_and_counts_them() -> None:
    sampler = RequestSampler(1.0, "d", "project-id", deployment="mlp", capacity=3)
    for i in range(5):
        sampler.offer({"input": np.full((1, 2), i, np.float32)}, {}, float(i))
    assert (sampler.pending, sampler.dropped, sampler.sampled) == (3, 2, 5)
    assert [e.at for e in sampler.take()] == [2.0, 3.0, 4.0]
    assert sampler.pending == 0


def test_an_email_in_a_text_input_is_masked_in_the_sampled_table() -> None:
    texts = np.array([b"please refund jane.doe@example.com today", b"no personal data"], object)
    entry = Sampled(0.0, "2", {"text": texts}, {"embedding": np.ones((2, 4), np.float32)})
    table = sample_frame([entry], deployment="minilm", kind="embeddings")
    column = table.frame["text"].to_list()
    assert column == ["please refund [EMAIL] today", "no personal data"]
    assert table.inputs == ["text"]
    assert table.outputs == ["embedding_norm"]
    assert table.frame["embedding_norm"].to_list() == pytest.approx([2.0, 2.0])


def test_a_flush_writes_the_buffer_as_a_new_dataset_version(runtime: Runtime) -> None:
    sampler = RequestSampler(1.0, "flushed", _project(runtime).id, deployment="mlp")
    _requests(sampler, np.random.default_rng(2).normal(0, 1, (12, FEATURES)))
    assert asyncio.run(flush(runtime, sampler)) == 3
    assert (sampler.pending, sampler.written_rows, sampler.versions_written) == (0, 12, 1)
    stored = _latest(runtime, "flushed")
    assert stored.version.row_count == 12
    names = [c["name"] for c in stored.version.columns]
    assert names[:3] == ["time", "deployment", "version"]
    assert names[3 : 3 + FEATURES] == [f"input_{i}" for i in range(FEATURES)]
    assert names[-2:] == ["logits_argmax", "logits_max"]
    assert stored.version.recipe is not None
    assert stored.version.recipe["inputs"] == [f"input_{i}" for i in range(FEATURES)]
    assert asyncio.run(flush(runtime, sampler)) == 0  # nothing buffered: no empty version


def test_a_shifted_sample_drifts_from_the_training_data_and_an_unshifted_one_does_not(
    runtime: Runtime,
) -> None:
    project_id = _project(runtime).id
    rng = np.random.default_rng(5)
    reports = {}
    for name, mean in (("same", 0.0), ("shifted", 1.5)):
        sampler = RequestSampler(1.0, name, project_id, deployment="mlp")
        _requests(sampler, rng.normal(mean, 1, (800, FEATURES)))
        asyncio.run(flush(runtime, sampler))
        reports[name] = sample_drift(
            runtime.blobs,
            DataLimits.from_settings(runtime.settings),
            _latest(runtime, name),
            _latest(runtime, "train"),
            deployment="mlp",
        )
    same, shifted = reports["same"], reports["shifted"]
    # The flattened input_0..input_7 meet the training table's f0..f7 by position.
    assert same.matched_by == "position"
    assert same.columns == {f"input_{i}": f"f{i}" for i in range(FEATURES)}
    assert not same.drift.drifted
    assert shifted.drift.drifted
    assert all(c.drifted for c in shifted.drift.columns)
    assert not any(c.drifted for c in same.drift.columns)


def _deploy_with_lineage(runtime: Runtime, name: str, sampling_dataset: str) -> None:
    """Deployment ``name`` serving model ``p/lineage-mlp`` version 1, whose package names
    ``train@1`` as its training data (rows written as the registry and control plane do)."""
    from corridor.registry.manifest import FileEntry, ManifestFields
    from corridor.registry.models import ModelVersion
    from corridor.registry.package_store import store_manifest
    from corridor.registry.registered_models import create_registered_model
    from corridor.serving.models import Deployment, DeploymentRevision
    from corridor.serving.spec import DeploymentSpec

    weights = runtime.blobs.put(b"weights")
    digest, _ = store_manifest(
        runtime.blobs,
        ManifestFields(flavour="torch", dataset_versions=("train@1",)),
        {"model.safetensors": FileEntry(digest=weights, size=len(b"weights"))},
    )
    spec = DeploymentSpec.model_validate(
        {
            "routes": [{"model": "p/lineage-mlp", "version": 1}],
            "sampling": {"rate": 1.0, "dataset": sampling_dataset},
        }
    )
    with runtime.db.write() as session:
        project = projects.authorize(session, "p", ADMIN, Permission.PROJECT_READ)
        model = create_registered_model(session, project, "p/lineage-mlp")
        session.add(
            ModelVersion(
                registered_model_id=model.id, version=1, creation_time=0, last_updated_time=0,
                current_stage="None", source="", status="READY", package_digest=digest,
            )
        )  # fmt: skip
        row = Deployment(name=name, project_id=project.id, revision=1, created_by="t")
        session.add(row)
        session.flush()
        session.add(
            DeploymentRevision(
                deployment_id=row.id, revision=1, spec=spec.model_dump(mode="json"),
                reason="deploy", created_by="t",
            )
        )  # fmt: skip


def test_a_deployments_drift_is_measured_against_the_training_data_its_model_names(
    runtime: Runtime,
) -> None:
    from corridor.errors import NotFound
    from corridor.serving.drift import deployment_drift

    _deploy_with_lineage(runtime, "obs-lineage", "obs-lineage-traffic")
    limits = DataLimits.from_settings(runtime.settings)
    project = _project(runtime)
    with pytest.raises(NotFound, match="no sampled requests yet"):
        deployment_drift(runtime.db, runtime.blobs, limits, project, "obs-lineage", by=ADMIN)
    sampler = RequestSampler(1.0, "obs-lineage-traffic", project.id, deployment="obs-lineage")
    _requests(sampler, np.random.default_rng(9).normal(2.0, 1, (400, FEATURES)))
    asyncio.run(flush(runtime, sampler))
    found = deployment_drift(runtime.db, runtime.blobs, limits, project, "obs-lineage", by=ADMIN)
    assert (found.reference, found.reference_from) == ("p/train@1", "lineage")
    assert found.sample == "p/obs-lineage-traffic@1"
    assert found.drift.drifted
    named = deployment_drift(
        runtime.db, runtime.blobs, limits, project, "obs-lineage", by=ADMIN,
        reference="obs-lineage-traffic@1",
    )  # fmt: skip
    assert named.reference_from == "request"
    assert named.matched_by == "name"
    assert not named.drift.drifted  # the sample against itself


def test_a_sampled_answer_that_is_a_view_of_a_whole_batch_is_kept_as_its_own_rows() -> None:
    whole = np.arange(64 * 10, dtype=np.float32).reshape(64, 10)
    sampler = RequestSampler(1.0, "d", "project-id", deployment="mlp")
    own = {"input": np.zeros((2, FEATURES), np.float32)}
    sampler.offer(own, {"logits": whole[4:6]}, 0.0)
    (kept,) = sampler.take()
    assert kept.inputs["input"] is own["input"]  # not a view: kept as it is
    assert kept.outputs["logits"].base is None
    np.testing.assert_array_equal(kept.outputs["logits"], whole[4:6])
