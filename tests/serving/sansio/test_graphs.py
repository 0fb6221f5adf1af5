"""Graph validation and the combinators of ensembles, switches and sequences."""

from __future__ import annotations

import numpy as np
import pytest

from corridor.errors import InvalidInput
from corridor.serving.sansio.graphs import (
    combine_mean,
    combine_vote,
    sequence_feed,
    switch_target,
    validate_graphs,
)
from corridor.serving.spec import EnsembleGraph, SequenceGraph, SwitchGraph
from corridor.serving.tensors import Batch, TensorSpec


def test_valid_graphs_over_models_and_graphs_pass() -> None:
    validate_graphs(
        {
            "embed": None,
            "head": None,
            "pipe": SequenceGraph(steps=("embed", "head")),
            "both": EnsembleGraph(members=("pipe", "head")),
            "route": SwitchGraph(field="lang", cases={"en": "both", "fr": "pipe"}, default="head"),
        }
    )


def test_a_cycle_is_refused_and_named() -> None:
    specs = {
        "m": None,
        "a": SequenceGraph(steps=("m", "b")),
        "b": EnsembleGraph(members=("m", "c")),
        "c": SwitchGraph(field="x", cases={"1": "a"}),
    }
    with pytest.raises(InvalidInput, match="cycle: a -> b -> c -> a"):
        validate_graphs(specs)


def test_a_graph_naming_itself_is_refused() -> None:
    with pytest.raises(InvalidInput, match="'loop' names itself"):
        validate_graphs({"m": None, "loop": SequenceGraph(steps=("m", "loop"))})


def test_an_unknown_member_is_refused_and_named() -> None:
    with pytest.raises(InvalidInput, match="'ghost', which is not a deployment"):
        validate_graphs({"m": None, "g": SwitchGraph(field="x", cases={"1": "m"}, default="ghost")})


def test_graphs_nested_past_the_depth_limit_are_refused() -> None:
    specs: dict[str, SequenceGraph | None] = {"m": None, "g0": SequenceGraph(steps=("m",))}
    for i in range(1, 4):
        specs[f"g{i}"] = SequenceGraph(steps=(f"g{i - 1}",))
    validate_graphs(specs, max_depth=4)
    with pytest.raises(InvalidInput, match="4 levels deep; the limit is 3"):
        validate_graphs(specs, max_depth=3)


def test_the_mean_of_float_outputs_keeps_their_dtype() -> None:
    a = {"logits": np.array([[1.0, 3.0]], dtype=np.float32), "n": np.array([1, 2])}
    b = {"logits": np.array([[3.0, 5.0]], dtype=np.float32), "n": np.array([2, 2])}
    out = combine_mean([a, b])
    assert out["logits"].dtype == np.float32
    np.testing.assert_array_equal(out["logits"], [[2.0, 4.0]])
    assert out["n"].dtype == np.float64
    np.testing.assert_array_equal(out["n"], [1.5, 2.0])


def test_the_mean_refuses_bytes_and_members_that_disagree() -> None:
    with pytest.raises(InvalidInput, match="use combine 'vote'"):
        combine_mean([{"t": np.array([b"x"], dtype=object)}] * 2)
    with pytest.raises(InvalidInput, match="same outputs"):
        combine_mean([{"a": np.zeros(2)}, {"b": np.zeros(2)}])
    with pytest.raises(InvalidInput, match="shape of output 'a'"):
        combine_mean([{"a": np.zeros((2, 3))}, {"a": np.zeros((2, 4))}])


def test_a_vote_on_scores_gives_the_share_of_members_per_class() -> None:
    members = [
        {"logits": np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]], dtype=np.float32)},
        {"logits": np.array([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32)},
        {"logits": np.array([[0.1, 0.8, 0.1], [0.3, 0.3, 0.4]], dtype=np.float32)},
    ]
    out = combine_vote(members)["logits"]
    assert out.dtype == np.float32
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out, [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]])
    assert list(out.argmax(axis=1)) == [0, 2]


def test_a_tied_vote_goes_to_the_lowest_class_or_value() -> None:
    scores = [{"s": np.array([[0.0, 0.0, 1.0]])}, {"s": np.array([[0.0, 1.0, 0.0]])}]
    assert combine_vote(scores)["s"].argmax(axis=1)[0] == 1
    labels = [{"y": np.array([3, 7, 5])}, {"y": np.array([1, 7, 9])}, {"y": np.array([3, 2, 4])}]
    np.testing.assert_array_equal(combine_vote(labels)["y"], [3, 7, 4])
    texts = [
        {"t": np.array([b"b", b"x"], dtype=object)},
        {"t": np.array([b"a", b"x"], dtype=object)},
    ]
    assert list(combine_vote(texts)["t"]) == [b"a", b"x"]


def test_a_switch_routes_on_its_field_and_falls_back_to_its_default() -> None:
    graph = SwitchGraph(field="lang", cases={"en": "english", "true": "flagged", "2": "two"})
    assert switch_target(graph, {"lang": "en"}) == "english"
    assert switch_target(graph, {"lang": True}) == "flagged"
    assert switch_target(graph, {"lang": 2}) == "two"
    with_default = SwitchGraph(field="lang", cases={"en": "english"}, default="other")
    assert switch_target(with_default, None) == "other"
    assert switch_target(with_default, {"lang": "de"}) == "other"


def test_a_switch_without_its_field_or_a_matching_case_names_both() -> None:
    graph = SwitchGraph(field="lang", cases={"en": "english", "fr": "french"})
    with pytest.raises(InvalidInput, match=r"parameter 'lang'.*'en', 'fr'"):
        switch_target(graph, {})
    with pytest.raises(InvalidInput, match=r"is 'de'.*'en', 'fr'"):
        switch_target(graph, {"lang": "de"})


def test_a_sequence_feeds_outputs_by_name_then_by_position() -> None:
    emb = np.ones((2, 4), dtype=np.float32)
    by_name = sequence_feed(
        {"extra": np.zeros(2), "embedding": emb}, [TensorSpec("embedding", "FP32", (-1, 4))]
    )
    assert list(by_name) == ["embedding"]
    assert by_name["embedding"] is emb
    by_position = sequence_feed({"embedding": emb}, [TensorSpec("input", "FP32", (-1, 4))])
    assert list(by_position) == ["input"]
    assert by_position["input"] is emb


def test_a_sequence_whose_steps_do_not_fit_names_both_signatures() -> None:
    outputs: Batch = {"a": np.zeros((2, 3), dtype=np.float32), "b": np.zeros(2, dtype=np.int64)}
    with pytest.raises(InvalidInput, match=r"a FP32 \[2, 3\]; b INT64 \[2\].*x FP32 \[-1, 3\]"):
        sequence_feed(outputs, [TensorSpec("x", "FP32", (-1, 3))])
