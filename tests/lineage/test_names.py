"""Lineage names another slice's nodes through the table of `corridor.lineage.names`."""

from __future__ import annotations

import pkgutil

from corridor.lineage import Node, NodeKind
from corridor.lineage.names import NAMES, node_names
from corridor.store.db import Database


def test_every_line_of_the_table_names_a_function_of_its_slice() -> None:
    for kind, path in NAMES.items():
        assert callable(pkgutil.resolve_name(path)), (kind, path)


def test_a_node_whose_row_is_gone_has_no_name_and_an_unnamed_kind_is_left_out(
    db: Database,
) -> None:
    gone = Node(NodeKind.MODEL_VERSION, "0" * 32)
    run = Node(NodeKind.RUN, "1" * 32)
    with db.read() as session:
        assert node_names(session, [gone, run]) == {}
