"""The user-facing DSL: ``@step`` and ``@pipeline`` (bare or with arguments) and what they make.

A ``Step`` wraps a plain function with the options its runs need (resources, retries, timeout,
cache, placement hints, in-process). Called inside a ``@pipeline`` body it adds a node to the
graph being built and returns a handle; called anywhere else it refuses, pointing at ``.fn``.
A ``Pipeline`` wraps the body function with its parameters (read and checked from the type
hints when it is decorated) and its run policy. Options are checked when the decorator runs, so
a typo in ``memory="4Q"`` fails at import, not minutes into a run.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal, overload

from corridor.compute.sansio.units import parse_duration, parse_memory
from corridor.errors import InvalidInput
from corridor.pipelines import build as build_module
from corridor.pipelines import params as params_module
from corridor.pipelines.schemas import NAME_PATTERN, ParamSpec

Objective = Literal["cost", "carbon", "time"]
FailurePolicy = Literal["fail_fast", "continue"]
_STEP_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Set by the driver for every step run; a step's own env must not hide them.
RESERVED_ENV = frozenset({"PIPELINE_RUN_ID", "PIPELINE_STEP"})


@dataclass(frozen=True)
class StepOptions:
    """How a step's runs are placed and retried; checked when made."""

    cpus: float = 1.0
    memory: int | str = 0
    gpus: float = 0.0
    gpu_type: str | None = None
    retries: int = 0
    backoff_s: float = 1.0
    timeout: float | str | None = None
    cache: bool = True
    site: str | None = None
    objective: Objective | None = None
    in_process: bool = False
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _number(self.cpus, "cpus", low=0.0, low_open=True, high=4096.0)
        _number(self.gpus, "gpus", low=0.0, high=1024.0)
        if self.gpus > 1 and not float(self.gpus).is_integer():
            raise InvalidInput(f"gpus must be whole, or a fraction below one, not {self.gpus!r}")
        parse_memory(self.memory, "memory")
        if self.timeout is not None and parse_duration(self.timeout, "timeout") <= 0:
            raise InvalidInput(f"timeout must be longer than zero, not {self.timeout!r}")
        if not isinstance(self.retries, int) or isinstance(self.retries, bool):
            raise InvalidInput(f"retries must be an int from 0 to 20, not {self.retries!r}")
        _number(self.retries, "retries", low=0.0, high=20.0)
        _number(self.backoff_s, "backoff_s", low=0.0, high=86_400.0)
        for name in ("cache", "in_process"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInput(f"{name} must be True or False, not {getattr(self, name)!r}")
        for name in ("gpu_type", "site"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 64):
                raise InvalidInput(f"{name} must be a name of 1 to 64 characters, not {value!r}")
        if self.objective not in (None, "cost", "carbon", "time"):
            raise InvalidInput(
                f"objective must be 'cost', 'carbon' or 'time', not {self.objective!r}"
            )
        _check_env(self.env)
        object.__setattr__(self, "env", dict(self.env))
        for name in ("cpus", "gpus", "backoff_s"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def __hash__(self) -> int:
        values = [getattr(self, f.name) for f in fields(self) if f.name != "env"]
        return hash((*values, tuple(sorted(self.env.items()))))

    def as_dict(self) -> dict[str, Any]:
        """The options as JSON values (a graph node's ``options``)."""
        values = asdict(self)
        values["env"] = dict(self.env)
        return values


def _number(value: object, name: str, *, low: float, high: float, low_open: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and (value > low if low_open else value >= low) and value <= high:  # type: ignore[operator]
        return
    bound = f"more than {low:g}" if low_open else f"{low:g} or more"
    raise InvalidInput(f"{name} must be a number, {bound} and at most {high:g}, not {value!r}")


def _check_env(env: object) -> None:
    if not isinstance(env, Mapping):
        raise InvalidInput(f"env must be a dict of names to strings, not {env!r}")
    if len(env) > 256:
        raise InvalidInput("env has more than 256 entries")
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise InvalidInput(f"env name {name!r} is not a variable name (letters, digits, _)")
        if name in RESERVED_ENV:
            raise InvalidInput(f"env name {name!r} is set by the pipeline runner")
        if not isinstance(value, str):
            raise InvalidInput(f"env {name!r} must be a string, not {value!r}")


class Step:
    """A function that runs as one step of a pipeline (``@step``).

    ``settings`` holds its ``StepOptions``; ``options(...)`` returns a copy with other ones.
    """

    # What the build calls a definition passed where an output was meant (no import back).
    definition_kind = "step"

    def __init__(self, fn: Callable[..., Any], *, name: str | None, settings: StepOptions) -> None:
        _refuse_non_plain(fn, "step")
        self.fn = fn
        self.name = name if name is not None else fn.__name__
        if not isinstance(self.name, str) or not _STEP_NAME.match(self.name):
            raise InvalidInput(
                f"step name {self.name!r} must be 1 to 128 letters, digits, '_', '.' or '-'"
            )
        self.settings = settings
        self.module: str = fn.__module__
        self.qualname: str = fn.__qualname__
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def positional_names(self) -> list[str]:
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return [p.name for p in self.signature.parameters.values() if p.kind in kinds]

    def _bind(self, args: tuple[object, ...], kwargs: Mapping[str, object]) -> None:
        try:
            self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(f"step {self.name!r} cannot take these arguments: {exc}") from None

    def __call__(self, *args: Any, **kwargs: Any) -> build_module.StepOutput:
        tracer = build_module.active_tracer(self.name)
        self._bind(args, kwargs)
        return tracer.add(self, args, kwargs)

    def map(self, items: Any, /, **fixed: Any) -> build_module.StepOutput:
        """One run per item of ``items`` (a list, or a step's output that is one), the item as
        the first argument and ``fixed`` to every item; its output is the list of outputs."""
        tracer = build_module.active_tracer(self.name)
        self._bind((None,), fixed)
        return tracer.add(self, (), fixed, map_over=items, mapped=True)

    def options(self, **changes: Any) -> Step:
        """A copy of this step with other options (``clean.options(cpus=4)(rows)``)."""
        name = changes.pop("name", self.name)
        unknown = set(changes) - {f.name for f in fields(StepOptions)}
        if unknown:
            raise InvalidInput(f"step {self.name!r} has no option {sorted(unknown)[0]!r}")
        return Step(self.fn, name=name, settings=_options(self.name, self.settings, changes))

    def __repr__(self) -> str:
        return f"<step {self.name!r} ({self.module}:{self.qualname})>"


def _options(name: str, base: StepOptions, changes: Mapping[str, Any]) -> StepOptions:
    try:
        return replace(base, **changes)
    except InvalidInput as exc:
        raise InvalidInput(f"step {name!r}: {exc.message}") from None


def _refuse_non_plain(fn: object, what: str) -> None:
    if not callable(fn) or not inspect.isfunction(fn):
        raise InvalidInput(f"@{what} decorates a plain function (def ...), not {fn!r}")
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise InvalidInput(f"@{what} {fn.__name__!r}: async functions are not supported")
    if inspect.isgeneratorfunction(fn):
        raise InvalidInput(f"@{what} {fn.__name__!r}: return a value instead of yielding")


class Pipeline:
    """A pipeline (``@pipeline``): its body builds the graph; its parameters are JSON values."""

    definition_kind = "pipeline"

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        on_failure: FailurePolicy = "fail_fast",
        max_concurrent_runs: int | None = None,
        description: str = "",
    ) -> None:
        _refuse_non_plain(fn, "pipeline")
        self.fn = fn
        self.name = name if name is not None else fn.__name__
        if not isinstance(self.name, str) or not re.match(NAME_PATTERN, self.name):
            raise InvalidInput(
                f"pipeline name {self.name!r} must start with a letter or digit, then up to 127 "
                "letters, digits, '_', '.' or '-' (pass name=...)"
            )
        if on_failure not in ("fail_fast", "continue"):
            raise InvalidInput(f"on_failure must be 'fail_fast' or 'continue', not {on_failure!r}")
        limit = max_concurrent_runs
        if limit is not None and (not isinstance(limit, int) or not 1 <= limit <= 10_000):
            raise InvalidInput(f"max_concurrent_runs must be 1 to 10000 or None, not {limit!r}")
        if not isinstance(description, str):
            raise InvalidInput("description must be a string")
        self.on_failure: FailurePolicy = on_failure
        self.max_concurrent_runs = max_concurrent_runs
        self.description = description or inspect.getdoc(fn) or ""
        self.module: str = fn.__module__
        self.qualname: str = fn.__qualname__
        # Read once: the types are checked here, and every build reuses them.
        self._corridor_params = params_module.read_signature(fn)
        functools.update_wrapper(self, fn)

    @property
    def params(self) -> list[ParamSpec]:
        return [spec for spec, _ in self._corridor_params]

    def check(self, values: Mapping[str, Any]) -> dict[str, object]:
        """Parameter values checked and coerced, defaults filled in."""
        return params_module.check(self, values)

    def build(self, **values: Any) -> build_module.BuiltGraph:
        """The graph of a run with these parameters (nothing runs)."""
        return build_module.build(self, values)

    def __call__(self, **values: Any) -> Any:
        """Run the pipeline with the default client, driving it from this process; its value.

        Raises ``PipelineFailed`` when the run does not succeed."""
        build_module.refuse_nesting(self.name)
        from corridor.client.client import Client

        with Client() as client:
            # A failed run raises (PipelineFailed, naming the failed step), as a call should.
            return client.pipelines.run(self, values).value_or_raise()

    def __repr__(self) -> str:
        return f"<pipeline {self.name!r} ({self.module}:{self.qualname})>"


@overload
def step(fn: Callable[..., Any], /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    cpus: float = 1.0,
    memory: int | str = 0,
    gpus: float = 0.0,
    gpu_type: str | None = None,
    retries: int = 0,
    backoff_s: float = 1.0,
    timeout: float | str | None = None,
    cache: bool = True,
    site: str | None = None,
    objective: Objective | None = None,
    in_process: bool = False,
    env: Mapping[str, str] | None = None,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None, **options: Any
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make a function a pipeline step: ``@step`` or ``@step(cpus=2, retries=3, ...)``."""
    if options.get("env") is None:
        options.pop("env", None)
    unknown = set(options) - {f.name for f in fields(StepOptions)}
    if unknown:
        raise InvalidInput(f"@step has no option {sorted(unknown)[0]!r}")

    def decorate(f: Callable[..., Any]) -> Step:
        label = name or str(getattr(f, "__name__", "step"))
        return Step(f, name=name, settings=_options(label, StepOptions(), options))

    return decorate(fn) if fn is not None else decorate


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(
    *,
    name: str | None = None,
    on_failure: FailurePolicy = "fail_fast",
    max_concurrent_runs: int | None = None,
    description: str = "",
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    on_failure: FailurePolicy = "fail_fast",
    max_concurrent_runs: int | None = None,
    description: str = "",
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function a pipeline: ``@pipeline`` or ``@pipeline(name=..., on_failure=...)``."""

    def decorate(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(
            f,
            name=name,
            on_failure=on_failure,
            max_concurrent_runs=max_concurrent_runs,
            description=description,
        )

    return decorate(fn) if fn is not None else decorate


@dataclass(frozen=True)
class StepContext:
    """Which step run the running code belongs to."""

    run_id: str
    key: str  # the step run's key: "clean", "clean-2", "clean[3]"
    # In-process steps only: the driver's client (a `corridor.Client`), for steps that talk to
    # the server (register a model, ingest a dataset). None in a job, whose token is its
    # worker's alone.
    client: Any = field(default=None, compare=False, repr=False)
    project: str | None = None  # in-process steps: the run's project


_current_step: ContextVar[StepContext | None] = ContextVar("corridor_step", default=None)


def current_step() -> StepContext | None:
    """The step run this code runs in (None outside a pipeline run)."""
    context = _current_step.get()
    if context is not None:
        return context
    run_id, key = os.environ.get("PIPELINE_RUN_ID"), os.environ.get("PIPELINE_STEP")
    return StepContext(run_id, key) if run_id and key else None


@contextmanager
def set_current_step(
    run_id: str, key: str, client: Any = None, project: str | None = None
) -> Iterator[StepContext]:
    """Mark the code run inside as step run ``key`` of run ``run_id`` (in-process steps)."""
    context = StepContext(run_id, key, client, project)
    token = _current_step.set(context)
    try:
        yield context
    finally:
        _current_step.reset(token)
