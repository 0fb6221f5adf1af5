"""The graph's pure parts: order, cycles, readiness, argument trees and the JSON round trip."""

from __future__ import annotations

import json

import pytest

from corridor.errors import InvalidInput
from corridor.pipelines.sansio.graph import Arg, Frontier, Graph, Node, resolve

OPTIONS = {"cpus": 1.0, "in_process": False}


def node(key: str, *upstream: str, after: tuple[str, ...] = (), **extra: object) -> Node:
    args = tuple(Arg.of_node(u) for u in upstream)
    return Node(key, key, "flows", key, dict(OPTIONS), args=args, after=after, **extra)  # type: ignore[arg-type]


def diamond() -> Graph:
    nodes = [node("a"), node("b", "a"), node("c", "a"), node("d", "b", "c")]
    return Graph("diamond", {n.key: n for n in nodes}, Arg.of_node("d"))


def test_diamond_orders_each_node_after_its_upstream_and_tells_roots_and_dependents() -> None:
    graph = diamond()
    order = graph.order()
    assert order[0] == "a"
    assert order[-1] == "d"
    assert set(order) == {"a", "b", "c", "d"}
    assert graph.roots() == ["a"]
    assert set(graph.dependents("a")) == {"b", "c"}
    assert graph.upstream("d") == {"b", "c"}
    assert graph.downstream("b") == ["d"]
    assert set(graph.downstream("a")) == {"b", "c", "d"}


def test_ready_gives_the_nodes_whose_upstream_is_all_done() -> None:
    graph = diamond()
    assert graph.ready(set()) == ["a"]
    assert set(graph.ready({"a"})) == {"b", "c"}
    assert graph.ready({"a", "b"}) == ["c"]
    assert graph.ready({"a", "b", "c"}) == ["d"]
    assert graph.ready({"a", "b", "c", "d"}) == []


def test_a_cycle_through_after_is_refused_naming_the_cycle() -> None:
    nodes = [node("a", after=("b",)), node("b", "a"), node("c", "b")]
    with pytest.raises(InvalidInput, match=r"steps form a cycle: (a -> b -> a|b -> a -> b)"):
        Graph("loop", {n.key: n for n in nodes}, Arg.of_node("c"))


def test_a_self_cycle_is_refused() -> None:
    with pytest.raises(InvalidInput, match="steps form a cycle: a -> a"):
        Graph("self", {"a": node("a", after=("a",))}, Arg.of_literal("0" * 64))


def test_a_reference_to_a_missing_node_is_refused() -> None:
    with pytest.raises(InvalidInput, match="depends on 'ghost', which is not a step"):
        Graph("g", {"a": node("a", "ghost")}, Arg.of_node("a"))
    with pytest.raises(InvalidInput, match="result names 'ghost'"):
        Graph("g", {"a": node("a")}, Arg.of_node("ghost"))


def test_conditions_and_map_over_count_as_upstream() -> None:
    n = node("x", when=(("ok", True),), map_over=Arg.of_node("rows", ["items"]))
    assert n.upstream() == {"ok", "rows"}


def test_a_long_chain_orders_without_recursion() -> None:
    nodes = [node("s0")] + [node(f"s{i}", f"s{i - 1}") for i in range(1, 5000)]
    graph = Graph("chain", {n.key: n for n in nodes}, Arg.of_node("s4999"))
    assert graph.order() == [f"s{i}" for i in range(5000)]


def test_json_round_trip_keeps_every_field_and_node_order() -> None:
    lit = Arg.of_literal("ab" * 32, "2.0")
    nested = Arg.of_dict({"rows": Arg.of_node("b", ["x", 0]), "all": Arg.of_list([lit])})
    nodes = [
        node("b"),
        Node(
            "m",
            "clean",
            "flows",
            "clean",
            {"cpus": 2.0, "env": {"A": "1"}},
            kwargs={"factor": lit},
            map_over=Arg.of_node("b"),
            when=(("b", False),),
        ),
        node("a", "m", after=("b",)),
    ]
    graph = Graph("etl", {n.key: n for n in nodes}, nested)
    data = json.loads(json.dumps(graph.to_json()))
    again = Graph.from_json(data)
    assert again == graph
    assert list(again.nodes) == ["b", "m", "a"]
    assert again.to_json() == graph.to_json()


def test_from_json_refuses_duplicate_keys_and_unknown_arguments() -> None:
    data = diamond().to_json()
    data["nodes"].append(data["nodes"][0])
    with pytest.raises(InvalidInput, match="two steps of the graph have the key 'a'"):
        Graph.from_json(data)
    with pytest.raises(InvalidInput, match="unknown graph argument"):
        Arg.from_json({"$what": 1})


def test_resolve_follows_paths_and_reports_a_missing_item() -> None:
    outputs = {"a": {"rows": [10, 20]}}
    literals = {"d": 2.5}
    arg = Arg.of_list([Arg.of_node("a", ["rows", 1]), Arg.of_dict({"f": Arg.of_literal("d")})])
    assert resolve(arg, outputs.__getitem__, literals.__getitem__) == [20, {"f": 2.5}]
    with pytest.raises(
        InvalidInput, match=r"output of step 'a'\['rows'\] \(list\) has no item \[5\]"
    ):
        resolve(Arg.of_node("a", ["rows", 5]), outputs.__getitem__, literals.__getitem__)


def test_the_frontier_releases_each_node_once_its_upstream_has_finished() -> None:
    frontier = Frontier(diamond())
    assert frontier.start() == ["a"]
    assert sorted(frontier.finish("a")) == ["b", "c"]
    assert frontier.finish("b") == []
    assert frontier.finish("b") == []  # finishing twice changes nothing
    assert frontier.finish("c") == ["d"]
    assert frontier.finish("d") == []
    assert frontier.finished() == {"a", "b", "c", "d"}


def test_a_resumed_frontier_starts_from_what_is_left() -> None:
    frontier = Frontier(diamond(), done={"a", "b"})
    assert frontier.start() == ["c"]
    assert frontier.finish("c") == ["d"]
