"""Lineage edges: dataset version -> run -> model version, walked upstream and downstream."""

from __future__ import annotations

import pytest

from corridor.errors import InvalidInput
from corridor.lineage import Direction, Node, NodeKind
from corridor.lineage.visibility import lineage_visibility
from corridor.registry import service
from corridor.store.blobs import BlobStore
from corridor.store.db import Database
from tests.registry.conftest import ADMIN, Packager, Team, make_dataset_version, make_run


def n(kind: str, node_id: str) -> Node:
    return Node.of(kind, node_id)


def test_registration_records_dataset_run_and_version(
    db: Database, blobs: BlobStore, team: Team, packager: Packager
) -> None:
    run = make_run(db, team.churn)
    sales = make_dataset_version(db, team.churn, "sales")
    fx = make_dataset_version(db, team.churn, "fx")
    # Either an id or a reference (read from the model's project) names a dataset version.
    digest = packager.package(team.churn, source_run=run, dataset_versions=[sales, "fx@1"])
    with db.write() as session:
        service.create_registered_model(session, team.churn, "churn/fraud")
        v = service.create_model_version(
            session, blobs, "churn/fraud", by=ADMIN, package_digest=digest
        )
    version = n("model_version", v.id)
    with db.read() as session:
        up = service.upstream(session, version)
        down = service.downstream(session, n("dataset_version", sales))
    assert up.nodes == {
        version: 0,
        n("run", run): 1,
        n("dataset_version", fx): 2,
        n("dataset_version", sales): 2,
    }
    assert down.nodes == {n("dataset_version", sales): 0, n("run", run): 1, version: 2}
    with db.read() as session:
        assert set(service.upstream(session, version, depth=1).nodes) == {version, n("run", run)}


def test_edges_are_stored_once_and_cycles_end_the_walk(db: Database) -> None:
    a, b, c = n("job", "a"), n("job", "b"), n("job", "c")
    with db.write() as session:
        for src, dst in ((a, b), (b, c), (c, a), (a, b)):
            service.add_edge(session, src, dst)
    with db.read() as session:
        walk = service.walk(session, a, Direction.DOWNSTREAM, depth=50)
    assert walk.nodes == {a: 0, b: 1, c: 2}
    assert len(walk.edges) == 3


def test_bad_nodes_and_depths_are_refused(db: Database) -> None:
    with pytest.raises(InvalidInput, match="not one of"):
        n("spaceship", "x")
    with pytest.raises(InvalidInput, match="control"):
        n("run", "a b")
    with pytest.raises(InvalidInput, match="two different"), db.write() as session:
        service.add_edge(session, n("run", "x"), n("run", "x"))
    with pytest.raises(InvalidInput, match="depth"), db.read() as session:
        service.upstream(session, n("run", "x"), depth=0)


def test_walks_hide_versions_of_projects_the_caller_cannot_read(
    db: Database, blobs: BlobStore, team: Team, packager: Packager
) -> None:
    churn_pkg, other_pkg = packager.package(team.churn), packager.package(team.other)
    run = make_run(db, team.churn)
    with db.write() as session:
        service.create_registered_model(session, team.churn, "churn/fraud")
        service.create_registered_model(session, team.other, "other/secret")
        mine = service.create_model_version(
            session, blobs, "churn/fraud", by=ADMIN, package_digest=churn_pkg
        )
        theirs = service.create_model_version(
            session, blobs, "other/secret", by=ADMIN, package_digest=other_pkg, run_id=run
        )
        service.add_edge(session, n("model_version", theirs.id), n("deployment", "d1"))
        service.add_edge(session, n("run", run), n("model_version", mine.id))
    with db.read() as session:
        seen = service.downstream(
            session,
            n("run", run),
            depth=3,
            visible=lineage_visibility(session, team.people["vic"]),
        )
        everything = service.downstream(session, n("run", run), depth=3)
    assert set(seen.nodes) == {n("run", run), n("model_version", mine.id)}
    assert n("deployment", "d1") in everything.nodes
    assert all(e.dst.kind != NodeKind.MODEL_VERSION or e.dst.id == mine.id for e in seen.edges)


def test_deleting_a_version_removes_its_edges(
    db: Database, blobs: BlobStore, team: Team, packager: Packager
) -> None:
    digest = packager.package(team.churn)
    run = make_run(db, team.churn)
    with db.write() as session:
        service.create_registered_model(session, team.churn, "churn/fraud")
        v = service.create_model_version(
            session,
            blobs,
            "churn/fraud",
            by=ADMIN,
            package_digest=digest,
            run_id=run,
        )
        service.delete_model_version(session, "churn/fraud", v.version)
    with db.read() as session:
        assert service.downstream(session, n("run", run)).nodes == {n("run", run): 0}
