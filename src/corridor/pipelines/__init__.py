"""Pipelines: Python DAGs of steps, run on the compute layer, with caching, fan-out and triggers.

``@step`` marks a function as a step, ``@pipeline`` a function whose body calls steps to build
the graph; ``when(...)`` makes steps conditional; ``current_step()`` tells running code which
step run it is.
"""

from corridor.pipelines.build import BuiltGraph, StepOutput, when
from corridor.pipelines.dsl import (
    Pipeline,
    Step,
    StepContext,
    StepOptions,
    current_step,
    pipeline,
    step,
)

__all__ = [
    "BuiltGraph",
    "Pipeline",
    "Step",
    "StepContext",
    "StepOptions",
    "StepOutput",
    "current_step",
    "pipeline",
    "step",
    "when",
]
