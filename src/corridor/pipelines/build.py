"""Building a pipeline's graph: run its body with real parameters while step calls are traced.

While ``build`` runs a ``@pipeline`` function, a tracer sits in a context variable: each step
call inside adds a node and returns a ``StepOutput`` handle instead of running the step, and
``when(...)`` blocks add conditions to the nodes made inside them. Everything a run needs is
checked here, before any step runs: the call's arguments against the step's signature, literal
arguments against the payload codec, the graph for cycles. An exception in the body propagates
as it is and nothing is kept.

A context variable (not a global) holds the tracer, so builds in other threads or tasks never
see each other's steps.
"""

from __future__ import annotations

import hashlib
import reprlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from corridor.errors import InvalidInput
from corridor.pipelines import artifacts
from corridor.pipelines import params as params_module
from corridor.pipelines.sansio.graph import Arg, Graph, Node, PathPart

if TYPE_CHECKING:
    from corridor.pipelines.dsl import Pipeline, Step

_tracer: ContextVar[Tracer | None] = ContextVar("corridor_pipeline_tracer", default=None)
_RESULT = "the pipeline's return value"
_PASSABLE = (
    "pass JSON values, arrays (numpy), tables (pyarrow, polars, pandas), tensors or bytes, "
    "or make the value inside a step"
)
_shorten = reprlib.Repr()
_shorten.maxstring = 60
_shorten.maxother = 60
_shorten.maxlist = 6
_shorten.maxdict = 6


@dataclass(frozen=True)
class BuiltGraph:
    """A built pipeline: its graph, and what the driver keeps beside it."""

    graph: Graph
    literals: dict[str, object]  # literal digest -> its value (as artifacts.to_storable makes it)
    steps: dict[str, Step]  # node key -> its Step
    params: dict[str, object]  # the checked parameter values


class StepOutput:
    """The output of a step call, known only when the pipeline runs.

    Pass it to other steps, index it (``out["rows"]``, ``out[0]``: resolved on the value at run
    time), order a step after others with ``.after(...)``, or branch on it with ``when(...)``.
    """

    __slots__ = ("_tracer", "key", "path")

    def __init__(self, tracer: Tracer, key: str, path: tuple[PathPart, ...] = ()) -> None:
        self._tracer = tracer
        self.key = key
        self.path = path

    def __getitem__(self, part: str | int) -> StepOutput:
        if not isinstance(part, str | int) or isinstance(part, bool):
            raise InvalidInput(
                f"the output of step {self.key!r} can be indexed by a string or an int, "
                f"not {part!r}"
            )
        return StepOutput(self._tracer, self.key, (*self.path, part))

    def after(self, *handles: StepOutput) -> StepOutput:
        """Run this step only after the steps of ``handles`` (ordering without data)."""
        tracer = self._tracer.check_open(f"{self.key}.after(...)")
        for handle in handles:
            tracer.check_handle(handle, f"step {self.key!r}.after(...)")
            if handle.key not in tracer.drafts[self.key].after:
                tracer.drafts[self.key].after.append(handle.key)
        return self

    def _refuse(self) -> NoReturn:
        raise InvalidInput(
            f"the output of step {self.key!r} is known only when the pipeline runs: pass it to "
            "a step, or branch on it with when(...)"
        )

    def __bool__(self) -> bool:
        self._refuse()

    def __iter__(self) -> Iterator[object]:
        self._refuse()

    def __len__(self) -> int:
        self._refuse()

    def __repr__(self) -> str:
        shown = "".join(f"[{p!r}]" for p in self.path)
        return f"<output of step {self.key!r}{shown}>"


@dataclass
class _Draft:
    """A node while the body still runs (``after`` may still grow)."""

    step: Step
    args: tuple[Arg, ...]
    kwargs: dict[str, Arg]
    map_over: Arg | None
    when: tuple[tuple[str, bool], ...]
    after: list[str] = field(default_factory=list)


class Tracer:
    """The graph being built by one ``build`` call."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.drafts: dict[str, _Draft] = {}
        self.literals: dict[str, object] = {}
        self.conditions: list[tuple[str, bool]] = []
        self.calls: dict[str, int] = {}
        self.open = True

    def check_open(self, what: str) -> Tracer:
        if not self.open:
            raise InvalidInput(f"{what} was used after its pipeline was built")
        return self

    def check_handle(self, handle: object, where: str) -> StepOutput:
        if not isinstance(handle, StepOutput):
            raise InvalidInput(f"{where} takes step outputs, not {_shorten.repr(handle)}")
        if handle._tracer is not self:
            raise InvalidInput(
                f"{where}: the output of step {handle.key!r} belongs to another pipeline build"
            )
        return handle

    def add(
        self,
        step: Step,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        map_over: object = None,
        mapped: bool = False,
    ) -> StepOutput:
        """Add a node for one call of ``step`` and return its handle."""
        if "<locals>" in step.qualname and not step.settings.in_process:
            raise InvalidInput(
                f"step {step.name!r} is defined inside a function ({step.qualname}), where a "
                "job cannot import it: define it at the top level of a module, or make it "
                "in_process=True"
            )
        key = self._next_key(step.name)
        names = step.positional_names()
        arg_nodes = tuple(
            self.arg_of(v, _where(key, names[i] if i < len(names) else f"args[{i}]"))
            for i, v in enumerate(args)
        )
        kwarg_nodes = {k: self.arg_of(v, _where(key, k)) for k, v in kwargs.items()}
        over = self.arg_of(map_over, f"the items mapped by step {key!r}") if mapped else None
        if over is not None and over.kind not in ("node", "list"):
            value = self.literals[over.digest or ""]
            if not isinstance(value, list | tuple):
                raise InvalidInput(
                    f"step {step.name!r}.map(...) maps over a list, not {_shorten.repr(value)}"
                )
        self.drafts[key] = _Draft(step, arg_nodes, kwarg_nodes, over, tuple(self.conditions))
        return StepOutput(self, key)

    def _next_key(self, name: str) -> str:
        count = self.calls.get(name, 0) + 1
        key = name if count == 1 else f"{name}-{count}"
        while key in self.drafts:  # a step named like another's later call ("a-2")
            count += 1
            key = f"{name}-{count}"
        self.calls[name] = count
        return key

    def arg_of(self, value: object, where: str) -> Arg:
        """An argument's tree: handles by reference, everything else as literals."""
        if isinstance(value, StepOutput):
            handle = self.check_handle(value, where)
            return Arg.of_node(handle.key, handle.path)
        if isinstance(value, list | tuple) and _holds_handle(value):
            return Arg.of_list(self.arg_of(v, f"{where}[{i}]") for i, v in enumerate(value))
        if isinstance(value, dict) and _holds_handle(value):
            for k in value:
                if not isinstance(k, str):
                    raise InvalidInput(f"{where}: a dict holding step outputs needs string keys")
            return Arg.of_dict({k: self.arg_of(v, f"{where}[{k!r}]") for k, v in value.items()})
        _refuse_definition(value, where)
        try:
            stored, data = literal_form(value, where=where)
        except InvalidInput as exc:
            reason = exc.message.removeprefix(f"{where}:").strip()
            # The codec's advice is about outputs (register a model...); a literal gets its own.
            head, cut, _ = reason.partition("(no pickle):")
            reason = f"{head}(no pickle): {_PASSABLE}" if cut else reason
            reason = reason.replace("(at output[", "(at [")
            use = (
                "kept as the pipeline's value" if where.startswith(_RESULT) else "passed to a step"
            )
            raise InvalidInput(f"{where} cannot be {use}: {reason}") from None
        digest = hashlib.sha256(data).hexdigest()
        self.literals.setdefault(digest, stored)
        return Arg.of_literal(digest, _shorten.repr(value))

    def finish(self, pipeline: str, result: object) -> Graph:
        result_arg = self.arg_of(result, _RESULT)
        self.open = False
        nodes = {
            key: Node(
                key=key,
                step=d.step.name,
                module=d.step.module,
                qualname=d.step.qualname,
                options=d.step.settings.as_dict(),
                args=d.args,
                kwargs=d.kwargs,
                map_over=d.map_over,
                when=d.when,
                after=tuple(d.after),
            )
            for key, d in self.drafts.items()
        }
        return Graph(pipeline, nodes, result_arg)


def literal_form(value: object, *, where: str) -> tuple[object, bytes]:
    """A literal as the step will receive it, and the bytes whose sha256 is its digest.

    Converted as an output is (a pandas frame becomes an Arrow table), so a step gets the same
    value whether it runs in process or as a job, and a value has one digest whether a step
    returned it or the pipeline passed it."""
    stored = artifacts.to_storable(value, where=where)
    return stored, artifacts.encode_output(stored, where=where)


def _where(key: str, argument: str) -> str:
    return f"argument {argument!r} of step {key!r}"


def _holds_handle(value: object) -> bool:
    if isinstance(value, StepOutput):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_handle(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_handle(v) for v in value.values())
    return False


def _refuse_definition(value: object, where: str) -> None:
    # A Step or a Pipeline says which it is (``definition_kind``): dsl imports this module.
    kind = getattr(type(value), "definition_kind", None)
    if kind is not None:
        name = getattr(value, "name", "?")
        raise InvalidInput(
            f"{where} is the {kind} {name!r} itself, not its output: call it, e.g. {name}(...)"
        )


def active_tracer(step_name: str) -> Tracer:
    """The build a step call belongs to; InvalidInput outside any build."""
    tracer = _tracer.get()
    if tracer is None:
        raise InvalidInput(
            f"step {step_name!r} was called outside a pipeline: call it inside a @pipeline "
            f"function, or call {step_name}.fn(...) to run the plain function"
        )
    return tracer


def refuse_nesting(pipeline_name: str) -> None:
    """A pipeline used while another one builds: refused (graphs do not nest)."""
    tracer = _tracer.get()
    if tracer is not None:
        raise InvalidInput(
            f"pipeline {pipeline_name!r} was called while pipeline {tracer.pipeline!r} was being "
            "built: pipelines do not nest; call its steps instead"
        )


@contextmanager
def when(handle: StepOutput, negate: bool = False) -> Iterator[None]:
    """Steps called inside run only if ``handle``'s value is truthy (falsy with ``negate``).

    Nested blocks add up: a step runs only if every enclosing condition holds."""
    tracer = _tracer.get()
    if tracer is None:
        raise InvalidInput("when(...) is used inside a @pipeline function, around step calls")
    tracer.check_handle(handle, "when(...)")
    if handle.path:
        raise InvalidInput(
            f"when(...) takes a step's whole output, not {handle!r}: let a step return the "
            "condition and branch on that step's output"
        )
    tracer.conditions.append((handle.key, bool(negate)))
    try:
        yield
    finally:
        tracer.conditions.pop()


def build(pipeline: Pipeline, values: Mapping[str, Any]) -> BuiltGraph:
    """Check ``values``, run the pipeline's body while tracing its step calls, check the graph."""
    refuse_nesting(pipeline.name)
    checked = params_module.check(pipeline, values)
    tracer = Tracer(pipeline.name)
    token = _tracer.set(tracer)
    try:
        result = pipeline.fn(**checked)
        graph = tracer.finish(pipeline.name, result)
    finally:
        tracer.open = False
        _tracer.reset(token)
    steps = {key: draft.step for key, draft in tracer.drafts.items()}
    return BuiltGraph(graph, tracer.literals, steps, checked)
