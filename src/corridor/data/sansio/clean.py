"""Apply a cleaning recipe lazily, or dry-run it to see what each step would do.

``apply`` only builds a plan: nothing is read until the caller collects ``CleanResult.output``
(or calls ``CleanResult.collect``, which computes output and quarantine together, sharing the
work). Every step is first tried on an empty frame of the same schema, so a bad recipe fails
with ``InvalidInput`` naming the step before any data is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import polars as pl
from pydantic import BaseModel

from corridor.data.sansio import recipe as rc
from corridor.data.sansio.clean_steps import Stage, compile_step
from corridor.errors import InvalidInput

Engine = Literal["auto", "in-memory", "streaming"]
Frame = pl.LazyFrame | pl.DataFrame
QUARANTINE_COLUMNS = {"_step": pl.UInt32(), "_step_name": pl.String(), "_reason": pl.String()}


@dataclass(frozen=True)
class CleanResult:
    """The cleaned frame and the quarantined rows (both lazy), plus the step labels."""

    output: pl.LazyFrame
    quarantine: pl.LazyFrame
    steps: list[str]

    def collect(self, engine: Engine = "auto") -> tuple[pl.DataFrame, pl.DataFrame]:
        """Compute output and quarantine in one go, sharing the common part of their plans."""
        output, quarantine = pl.collect_all([self.output, self.quarantine], engine=engine)
        return output, quarantine


class StepReport(BaseModel):
    """What one step did (or would do) in a dry run."""

    index: int
    label: str
    kind: str
    rows_in: int
    rows_out: int
    cells_changed: int
    rows_quarantined: int
    columns_added: list[str]
    columns_removed: list[str]


def apply(recipe: rc.Recipe, data: Frame, frames: Mapping[str, Frame] | None = None) -> CleanResult:
    """The lazy plan of ``recipe`` over ``data``; ``frames`` holds frames that joins name."""
    lf, others = data.lazy(), {k: v.lazy() for k, v in (frames or {}).items()}
    stages = _stages(recipe, lf, others)
    quarantines = [s.quarantine for s in stages if s.quarantine is not None]
    if quarantines:
        quarantine = pl.concat(quarantines, how="diagonal_relaxed")
    else:
        empty = {**QUARANTINE_COLUMNS, **lf.collect_schema()}
        quarantine = pl.LazyFrame(schema=empty)
    output = stages[-1].output if stages else lf
    return CleanResult(output, quarantine, [_label(i, s) for i, s in enumerate(recipe.steps)])


def dry_run(
    recipe: rc.Recipe,
    data: Frame,
    frames: Mapping[str, Frame] | None = None,
    engine: Engine = "auto",
) -> list[StepReport]:
    """Per step: rows in and out, cells changed, rows quarantined, columns added and removed.

    All counts come from one ``collect_all``, so shared parts of the plan are computed once.
    """
    lf, others = data.lazy(), {k: v.lazy() for k, v in (frames or {}).items()}
    stages = _stages(recipe, lf, others)
    inputs = [lf, *(s.output for s in stages)]
    queries = [frame.select(pl.len().alias("rows")) for frame in inputs]
    for stage in stages:
        probe = stage.probe if stage.probe is not None else stage.output
        queries.append(
            probe.select(
                (stage.cells_changed if stage.cells_changed is not None else pl.lit(0)).alias("c"),
                (stage.rows_quarantined if stage.rows_quarantined is not None else pl.lit(0)).alias(
                    "q"
                ),
            )
        )
    found = pl.collect_all(queries, engine=engine)
    rows = [int(df.item()) for df in found[: len(inputs)]]
    counts = found[len(inputs) :]
    reports = []
    for i, step in enumerate(recipe.steps):
        before, after = inputs[i].collect_schema(), inputs[i + 1].collect_schema()
        reports.append(
            StepReport(
                index=i,
                label=_label(i, step),
                kind=step.kind,
                rows_in=rows[i],
                rows_out=rows[i + 1],
                cells_changed=int(counts[i]["c"].item() or 0),
                rows_quarantined=int(counts[i]["q"].item() or 0),
                columns_added=[c for c in after if c not in before],
                columns_removed=[c for c in before if c not in after],
            )
        )
    return reports


def _label(index: int, step: rc.Step) -> str:
    return (
        f"step {index + 1} {step.name!r} ({step.kind})"
        if step.name
        else f"step {index + 1} ({step.kind})"
    )


def _stages(recipe: rc.Recipe, lf: pl.LazyFrame, frames: Mapping[str, pl.LazyFrame]) -> list[Stage]:
    _rehearse(recipe, lf.collect_schema(), frames)
    stages: list[Stage] = []
    for index, step in enumerate(recipe.steps):
        stages.append(compile_step(index, step, lf, frames))
        lf = stages[-1].output
    return stages


def _rehearse(recipe: rc.Recipe, schema: pl.Schema, frames: Mapping[str, pl.LazyFrame]) -> None:
    """Run the recipe on empty frames: bad columns, types and expressions surface here."""
    empty_frames = {k: pl.LazyFrame(schema=v.collect_schema()) for k, v in frames.items()}
    lf = pl.LazyFrame(schema=schema)
    for index, step in enumerate(recipe.steps):
        try:
            stage = compile_step(index, step, lf, empty_frames)
            pl.collect_all(
                [stage.output, *([stage.quarantine] if stage.quarantine is not None else [])]
            )
        except InvalidInput as exc:
            raise InvalidInput(f"{_label(index, step)}: {exc.message}") from None
        except pl.exceptions.PolarsError as exc:
            reason = str(exc).strip().splitlines()[0]
            raise InvalidInput(
                f"{_label(index, step)}: does not fit the column types: {reason}"
            ) from None
        lf = stage.output
