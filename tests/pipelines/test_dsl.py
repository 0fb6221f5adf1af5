"""The DSL: decorators, step calls traced into a graph, handles, conditions and refusals."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from corridor.errors import InvalidInput
from corridor.pipelines import (
    Pipeline,
    Step,
    StepOptions,
    StepOutput,
    artifacts,
    current_step,
    pipeline,
    step,
    when,
)
from corridor.pipelines.dsl import set_current_step
from corridor.pipelines.sansio.graph import Arg, Graph
from tests.conftest import LiveServer
from tests.pipelines.conftest import WriteModule


@step
def load(n: int) -> list[int]:
    return list(range(n))


@step(cpus=2, memory="4G", retries=2, backoff_s=0.5, timeout="10m", env={"MODE": "fast"})
def clean(row: int, factor: float = 1.0) -> float:
    return row * factor


@step
def combine(parts: list[float]) -> float:
    return sum(parts)


@step(in_process=True)
def positive(total: float) -> bool:
    return total > 0


@step
def publish(total: float, note: str = "") -> str:
    return f"{note}{total}"


def test_decorators_work_bare_and_with_arguments() -> None:
    assert isinstance(load, Step)
    assert load.name == "load"
    assert load.settings == StepOptions()
    assert clean.settings.cpus == 2.0
    assert clean.settings.memory == "4G"
    assert clean.settings.env == {"MODE": "fast"}
    assert clean.settings.retries == 2
    assert load.fn(3) == [0, 1, 2]
    assert clean.fn(2, factor=3.0) == 6.0
    assert load.__name__ == "load"
    assert load.module == __name__
    assert load.qualname == "load"

    @pipeline(name="etl-x", on_failure="continue", max_concurrent_runs=2, description="d")
    def flow(n: int = 3) -> Any:
        return load(n)

    assert isinstance(flow, Pipeline)
    assert flow.name == "etl-x"
    assert (flow.on_failure, flow.max_concurrent_runs, flow.description) == ("continue", 2, "d")


def test_a_diamond_builds_four_nodes_wired_as_called() -> None:
    @pipeline
    def diamond(n: int = 4) -> Any:
        rows = load(n)
        left = combine(rows)
        right = publish(rows, note="r")
        return publish(left, note=right)

    built = diamond.build(n=5)
    graph = built.graph
    assert list(graph.nodes) == ["load", "combine", "publish", "publish-2"]
    assert graph.upstream("publish-2") == {"combine", "publish"}
    assert graph.upstream("combine") == {"load"}
    assert graph.upstream("publish") == {"load"}
    assert graph.roots() == ["load"]
    assert graph.order()[-1] == "publish-2"
    assert graph.result == Arg.of_node("publish-2")
    assert built.params == {"n": 5}
    assert built.steps["publish-2"] is publish
    (n_arg,) = graph.nodes["load"].args
    assert n_arg.kind == "lit"
    assert built.literals[n_arg.digest or ""] == 5
    assert n_arg.digest == hashlib.sha256(artifacts.encode_output(5)).hexdigest()


def test_later_calls_of_a_step_get_numbered_keys() -> None:
    @pipeline
    def many() -> Any:
        return [load(i) for i in range(4)]

    graph = many.build().graph
    assert list(graph.nodes) == ["load", "load-2", "load-3", "load-4"]
    assert graph.result.kind == "list"
    assert len(graph.result.items) == 4


def test_map_over_a_handle_and_over_a_literal_list() -> None:
    @pipeline
    def fan(factor: float = 2.0) -> Any:
        rows = load(10)
        scaled = clean.map(rows, factor=factor)
        fixed = clean.map([1, 2, 3], factor=combine(scaled))
        return combine(fixed)

    built = fan.build()
    mapped = built.graph.nodes["clean"]
    assert mapped.map_over == Arg.of_node("load")
    assert mapped.args == ()
    assert mapped.kwargs["factor"].kind == "lit"
    assert mapped.options["cpus"] == 2.0
    assert mapped.options["timeout"] == "10m"
    literal_map = built.graph.nodes["clean-2"]
    assert literal_map.map_over is not None
    assert literal_map.map_over.kind == "lit"
    assert built.literals[literal_map.map_over.digest or ""] == [1, 2, 3]
    assert literal_map.kwargs["factor"] == Arg.of_node("combine")
    assert built.graph.upstream("combine-2") == {"clean-2"}


def test_map_refuses_a_literal_that_is_not_a_list_and_arguments_the_step_cannot_take() -> None:
    @pipeline
    def bad_items() -> Any:
        return clean.map(5)

    with pytest.raises(InvalidInput, match=r"step 'clean'.map\(...\) maps over a list, not 5"):
        bad_items.build()

    @pipeline
    def bad_fixed() -> Any:
        return clean.map([1], speed=3)

    with pytest.raises(InvalidInput, match="step 'clean' cannot take these arguments"):
        bad_fixed.build()


def test_nested_whens_add_up_and_negate_is_kept() -> None:
    @pipeline
    def branches() -> Any:
        total = combine([1.0, 2.0])
        ok = positive(total)
        big = positive(total)
        with when(ok):
            first = publish(total)
            with when(big, negate=True):
                second = publish(total)
        with when(ok, negate=True):
            third = publish(total)
        after = publish(total)
        return [first, second, third, after]

    nodes = branches.build().graph.nodes
    assert nodes["publish"].when == (("positive", False),)
    assert nodes["publish-2"].when == (("positive", False), ("positive-2", True))
    assert nodes["publish-3"].when == (("positive", True),)
    assert nodes["publish-4"].when == ()
    assert nodes["publish-2"].upstream() == {"combine", "positive", "positive-2"}


def test_when_refuses_a_path_and_anything_outside_a_build() -> None:
    @pipeline
    def by_path() -> Any:
        out = load(3)
        with when(out[0]):
            return publish(1.0)

    with pytest.raises(InvalidInput, match=r"when\(...\) takes a step's whole output"):
        by_path.build()
    with pytest.raises(InvalidInput, match="inside a @pipeline function"), when(None):  # type: ignore[arg-type]
        pass


def test_the_result_may_be_a_tree_of_handles_and_literals() -> None:
    @pipeline
    def tree(n: int = 2) -> Any:
        rows = load(n)
        return {"rows": rows, "first": rows[0], "pair": (rows["k"], 7), "n": n, "plain": [1, 2]}

    built = tree.build()
    result = built.graph.result
    assert result.kind == "dict"
    assert result.keys == ("rows", "first", "pair", "n", "plain")
    items = dict(zip(result.keys, result.items, strict=True))
    assert items["rows"] == Arg.of_node("load")
    assert items["first"] == Arg.of_node("load", [0])
    assert items["pair"].kind == "list"
    assert items["pair"].items[0] == Arg.of_node("load", ["k"])
    assert items["n"].kind == "lit"
    assert items["plain"].kind == "lit"
    assert built.literals[items["plain"].digest or ""] == [1, 2]

    @pipeline
    def constant() -> Any:
        return "done"

    built = constant.build()
    assert built.graph.nodes == {}
    assert built.graph.result.kind == "lit"


def test_after_orders_without_data_and_a_cycle_is_refused_before_anything_runs() -> None:
    @pipeline
    def ordered() -> Any:
        a = load(1)
        b = load(2).after(a)
        return b

    assert ordered.build().graph.nodes["load-2"].after == ("load",)

    @pipeline
    def cyclic() -> Any:
        a = load(1)
        b = combine(a)
        a.after(b)
        return b

    with pytest.raises(
        InvalidInput,
        match=r"steps form a cycle: (load -> combine -> load|combine -> load -> combine)",
    ):
        cyclic.build()


def test_a_step_called_outside_a_pipeline_says_what_to_do() -> None:
    message = (
        "step 'clean' was called outside a pipeline: call it inside a @pipeline function, or "
        "call clean.fn(...) to run the plain function"
    )
    with pytest.raises(InvalidInput) as caught:
        clean(1)
    assert caught.value.message == message
    with pytest.raises(InvalidInput, match="called outside a pipeline"):
        clean.map([1, 2])


def test_handles_refuse_bool_iteration_and_len() -> None:
    seen: list[str] = []

    @pipeline
    def misuse() -> Any:
        out = load(3)
        for attempt in (bool, list, len):
            try:
                attempt(out)
            except InvalidInput as exc:
                seen.append(exc.message)
        return out

    misuse.build()
    assert len(seen) == 3
    assert all(
        m == "the output of step 'load' is known only when the pipeline runs: pass it to a "
        "step, or branch on it with when(...)"
        for m in seen
    )


def test_handles_of_another_build_or_a_finished_build_are_refused() -> None:
    kept: list[StepOutput] = []

    @pipeline
    def first() -> Any:
        kept.append(load(1))
        return kept[0]

    first.build()

    @pipeline
    def second() -> Any:
        return combine(kept[0])

    with pytest.raises(InvalidInput, match="belongs to another pipeline build"):
        second.build()
    with pytest.raises(InvalidInput, match="after its pipeline was built"):
        kept[0].after()


def test_an_unencodable_literal_is_refused_naming_the_step_and_argument() -> None:
    @pipeline
    def bad() -> Any:
        rows = load(2)
        return publish(rows, note=object())  # type: ignore[arg-type]

    with pytest.raises(InvalidInput, match="argument 'note' of step 'publish' cannot be passed"):
        bad.build()

    @pipeline
    def positional() -> Any:
        return combine({1, 2})  # type: ignore[arg-type]

    with pytest.raises(InvalidInput, match="argument 'parts' of step 'combine'"):
        positional.build()


def test_a_step_passed_instead_of_its_output_is_refused() -> None:
    @pipeline
    def forgot() -> Any:
        return combine(load)

    with pytest.raises(InvalidInput, match="is the step 'load' itself, not its output"):
        forgot.build()


def test_wrong_step_arguments_are_refused_at_build() -> None:
    @pipeline
    def wrong() -> Any:
        return clean(1, 2, 3)

    with pytest.raises(InvalidInput, match="step 'clean' cannot take these arguments"):
        wrong.build()


def test_pipelines_do_not_nest() -> None:
    @pipeline
    def inner() -> Any:
        return load(1)

    @pipeline
    def outer() -> Any:
        return inner()

    with pytest.raises(InvalidInput, match="pipelines do not nest; call its steps instead"):
        outer.build()

    @pipeline
    def outer_build() -> Any:
        return inner.build()

    with pytest.raises(InvalidInput, match="pipelines do not nest"):
        outer_build.build()


def test_an_exception_in_the_body_propagates_and_leaves_no_build_behind() -> None:
    @pipeline
    def broken() -> Any:
        load(1)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        broken.build()
    with pytest.raises(InvalidInput, match="called outside a pipeline"):
        load(1)


def test_options_are_checked_when_decorating_and_copied_by_options() -> None:
    with pytest.raises(InvalidInput, match="step 'f': memory '4Q' is not a size"):

        @step(memory="4Q")
        def f() -> None: ...

    for bad, pattern in [
        ({"retries": -1}, "retries must be"),
        ({"cpus": 0}, "cpus must be a number, more than 0"),
        ({"gpus": 1.5}, "gpus must be whole"),
        ({"timeout": "soon"}, "timeout 'soon' is not a duration"),
        ({"objective": "speed"}, "objective must be"),
        ({"cache": "yes"}, "cache must be True or False"),
        ({"env": {"PIPELINE_STEP": "x"}}, "is set by the pipeline runner"),
        ({"colour": "red"}, "@step has no option 'colour'"),
    ]:
        with pytest.raises(InvalidInput, match=pattern):
            step(**bad)(lambda: None)  # type: ignore[call-overload]

    with pytest.raises(InvalidInput, match="async functions are not supported"):

        @step
        async def later() -> None: ...

    bigger = clean.options(cpus=8, name="clean_big")
    assert bigger.settings.cpus == 8.0
    assert bigger.settings.retries == 2
    assert bigger.name == "clean_big"
    assert clean.settings.cpus == 2.0
    assert bigger.fn is clean.fn
    with pytest.raises(InvalidInput, match="has no option 'cpu'"):
        clean.options(cpu=8)


def test_a_built_graph_round_trips_through_json() -> None:
    @pipeline
    def etl(n: int = 3) -> Any:
        rows = load(n)
        parts = clean.map(rows, factor=2.0)
        total = combine(parts)
        with when(positive(total)):
            publish(total).after(rows)
        return {"total": total, "first": parts[0]}

    graph = etl.build().graph
    assert Graph.from_json(graph.to_json()) == graph


def test_current_step_reads_the_runner_context_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PIPELINE_RUN_ID", raising=False)
    monkeypatch.delenv("PIPELINE_STEP", raising=False)
    assert current_step() is None
    monkeypatch.setenv("PIPELINE_RUN_ID", "r1")
    monkeypatch.setenv("PIPELINE_STEP", "clean[3]")
    ctx = current_step()
    assert ctx is not None
    assert (ctx.run_id, ctx.key) == ("r1", "clean[3]")
    with set_current_step("r2", "load"):
        ctx = current_step()
        assert ctx is not None
        assert (ctx.run_id, ctx.key) == ("r2", "load")
    ctx = current_step()
    assert ctx is not None
    assert ctx.run_id == "r1"


def test_an_unencodable_result_is_refused_at_build() -> None:
    @pipeline
    def odd() -> Any:
        return {"rows": load(1), "seen": {1, 2}}

    with pytest.raises(InvalidInput) as caught:
        odd.build()
    assert caught.value.message.startswith(
        "the pipeline's return value['seen'] cannot be kept as the pipeline's value: a set"
    )


def test_a_pandas_literal_is_kept_as_the_arrow_table_a_job_would_receive() -> None:
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")

    @pipeline
    def frames() -> Any:
        return combine(pd.DataFrame({"a": [1, 2]}))

    built = frames.build()
    (arg,) = built.graph.nodes["combine"].args
    table = built.literals[arg.digest or ""]
    assert isinstance(table, pa.Table)
    assert table.column("a").to_pylist() == [1, 2]
    assert arg.digest == hashlib.sha256(artifacts.encode_output(table)).hexdigest()


def test_calling_a_pipeline_runs_it_with_the_default_client_and_returns_its_value(
    pipelines_server: LiveServer,
    pipeline_module: WriteModule,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORRIDOR_HOME", str(pipelines_server.home))
    monkeypatch.setenv("CORRIDOR_URL", pipelines_server.url)
    monkeypatch.setenv("CORRIDOR_TOKEN", pipelines_server.token)
    flow = pipeline_module(
        """
        from corridor.pipelines import pipeline, step

        @step(in_process=True)
        def double(x: int) -> int:
            return 2 * x

        @step(in_process=True)
        def total(xs: list[int]) -> int:
            return sum(xs)

        @pipeline
        def doubled(n: int = 3) -> dict:
            parts = double.map(list(range(n)))
            return {"sum": total(parts), "n": n}
        """
    )
    assert flow.doubled(n=4) == {"sum": 12, "n": 4}


def test_a_list_holding_handles_can_be_mapped_and_options_copies_show_in_the_graph() -> None:
    @pipeline
    def mixed() -> Any:
        first = load(2)
        over = clean.map([first[0], 5], factor=first[1])
        return clean.options(cpus=4, retries=0)(over[0])

    graph = mixed.build().graph
    over = graph.nodes["clean"].map_over
    assert over is not None
    assert over.kind == "list"
    assert over.items[0] == Arg.of_node("load", [0])
    assert over.items[1].kind == "lit"
    assert graph.nodes["clean"].kwargs["factor"] == Arg.of_node("load", [1])
    later = graph.nodes["clean-2"]
    assert (later.options["cpus"], later.options["retries"]) == (4.0, 0)
    assert graph.nodes["clean"].options["cpus"] == 2.0
    assert later.upstream() == {"clean"}


def test_a_step_defined_inside_a_function_must_run_in_process() -> None:
    @step
    def local(x: int) -> int:
        return x

    @step(in_process=True)
    def local_cheap(x: int) -> int:
        return x

    @pipeline
    def uses_local() -> Any:
        return local(1)

    @pipeline
    def uses_cheap() -> Any:
        return local_cheap(1)

    with pytest.raises(InvalidInput, match="where a job cannot import it"):
        uses_local.build()
    assert list(uses_cheap.build().graph.nodes) == ["local_cheap"]
