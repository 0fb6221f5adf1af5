"""What a dataset delete says about its dependants names nothing of projects the caller
cannot read: a run made from the version in another project is only "a run in another
project", as a model version or dataset version there already was."""

from __future__ import annotations

from corridor.data.deletion import dependants_of
from corridor.lineage import Node, NodeKind, add_edge
from corridor.security import identity, projects
from corridor.security.policy import Principal
from corridor.store.db import Database
from tests.registry.conftest import make_dataset_version, make_run


def test_dependants_in_unreadable_projects_are_named_without_their_ids(db: Database) -> None:
    with db.write() as session:
        owner = identity.create_user(session, "alice")
        other = identity.create_user(session, "mallory")
        alice = Principal(user_id=owner.id, name="alice", is_admin=False)
        mallory = Principal(user_id=other.id, name="mallory", is_admin=False)
        p = projects.create_project(session, "p", description="", by=alice)
        q = projects.create_project(session, "q", description="", by=mallory)
    used = make_dataset_version(db, p, "features")
    theirs = make_run(db, q, "training")
    mine = make_run(db, p, "training")
    with db.write() as session:
        for run in (theirs, mine):
            add_edge(session, Node(NodeKind.DATASET_VERSION, used), Node(NodeKind.RUN, run))
    with db.read() as session:
        told = dependants_of(session, {used}, alice)
        admin_told = dependants_of(session, {used}, Principal.local_admin())
    assert sorted(told) == sorted(["a run in another project", f"run {mine}"])
    assert theirs not in " ".join(told)
    assert sorted(admin_told) == sorted([f"run {theirs}", f"run {mine}"])
