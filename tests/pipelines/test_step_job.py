"""The step job functions: a step found by name in the job's folder, its output kept as
``encode_output`` would, map chunks that fail item by item; and one job on a live server."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from corridor.client.client import Client
from corridor.compute.function_ref import FunctionRef, invoke
from corridor.compute.sansio import payload
from corridor.errors import InvalidInput
from corridor.pipelines import artifacts
from corridor.pipelines.step_job import run_items, run_step

FLOW = """
    import pandas as pd

    from corridor.pipelines import current_step, step


    def _scaled(rows, factor):
        return [r * factor for r in rows]


    @step
    def double(rows, factor=2):
        return pd.DataFrame({"value": _scaled(rows, factor)})


    @step(name="fit")
    def fit_model():
        return object()


    @step
    def item(x, add=0):
        if x == 3:
            raise ValueError("three is refused")
        if x == 4:
            return lambda: x
        here = current_step()
        return {"x": x + add, "key": here.key if here else None}
"""


@dataclass(frozen=True)
class StepPackage:
    root: Path
    module: str


@pytest.fixture
def step_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StepPackage]:
    """A package with steps under a fresh folder, which is the current folder (a job's snapshot)."""
    package = f"steps_{uuid.uuid4().hex[:10]}"
    root = tmp_path / "work"
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    (root / package / "flow.py").write_text(textwrap.dedent(FLOW))
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("PIPELINE_RUN_ID", raising=False)
    monkeypatch.delenv("PIPELINE_STEP", raising=False)
    yield StepPackage(root, f"{package}.flow")
    for name in [m for m in sys.modules if m.startswith(package)]:
        del sys.modules[name]


def _expected_table(values: list[int]) -> pa.Table:
    import pandas as pd

    return artifacts.to_storable(pd.DataFrame({"value": values}), where="the step")  # type: ignore[return-value]


def test_run_step_calls_the_steps_function_and_returns_its_storable_output(
    step_package: StepPackage,
) -> None:
    value = run_step(step_package.module, "double", [[1, 2, 3]], {"factor": 3})
    assert isinstance(value, pa.Table)
    assert value.equals(_expected_table([3, 6, 9]))


def test_a_step_jobs_result_bytes_are_the_outputs_encoding(step_package: StepPackage) -> None:
    """What the worker stores as the job's result is the step's output blob, digest and all."""
    call = payload.encode_call([step_package.module, "double", [[1, 2]], {}], {})
    result = invoke(run_step, call)
    assert result == artifacts.encode_output(_expected_table([2, 4]))
    assert result != payload.encode(_expected_table([2, 4]))  # tables are Parquet, not IPC


def test_an_output_that_cannot_be_stored_fails_naming_the_step(
    step_package: StepPackage, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InvalidInput, match=r"^step 'fit' returned an object, which cannot"):
        run_step(step_package.module, "fit_model", [], {})
    monkeypatch.setenv("PIPELINE_STEP", "fit-2")
    with pytest.raises(InvalidInput, match=r"^step 'fit-2' returned an object"):
        run_step(step_package.module, "fit_model", [], {})


def test_a_name_that_is_not_in_the_snapshot_is_refused(step_package: StepPackage) -> None:
    with pytest.raises(InvalidInput, match="has no function missing"):
        run_step(step_package.module, "missing", [], {})


def test_run_items_records_each_items_value_or_error(
    step_package: StepPackage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_RUN_ID", "run-1")
    monkeypatch.setenv("PIPELINE_STEP", "item")
    outcomes = run_items(step_package.module, "item", [1, 3, 4, 2], {"add": 10}, first_index=5)
    assert outcomes[0] == {"value": {"x": 11, "key": "item[5]"}}
    assert outcomes[3] == {"value": {"x": 12, "key": "item[8]"}}
    assert outcomes[1]["error"] == "ValueError: three is refused"
    assert "Traceback (most recent call last)" in str(outcomes[1]["traceback"])
    assert str(outcomes[2]["error"]).startswith(
        "InvalidInput: step 'item[7]' returned a function or class"
    )


def test_run_items_without_an_index_reports_the_map_step(
    step_package: StepPackage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_RUN_ID", "run-1")
    monkeypatch.setenv("PIPELINE_STEP", "item")
    assert run_items(step_package.module, "item", [1], {}) == [{"value": {"x": 1, "key": "item"}}]


def test_a_step_job_on_a_live_server_stores_the_outputs_encoding(
    step_package: StepPackage, admin_client: Client, project: str
) -> None:
    snapshot = admin_client.compute.build_snapshot(step_package.root)
    job = admin_client.compute.submit_function(
        FunctionRef("corridor.pipelines.step_job", "run_step", "installed"),
        [step_package.module, "double", [[1, 2, 3]], {"factor": 5}],
        project=project,
        snapshot=snapshot,
        options={"env": {"PIPELINE_RUN_ID": "r1", "PIPELINE_STEP": "double"}},
    )
    done = job.wait(timeout=120)
    assert done.state == "succeeded", done
    data = admin_client.compute.result_bytes(done.id)
    assert data == artifacts.encode_output(_expected_table([5, 10, 15]))
