"""Step outputs: what may be returned, how it is converted and kept, and what is refused."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

from corridor.compute.sansio import payload
from corridor.data.schemas import DatasetVersionOut
from corridor.errors import InvalidInput
from corridor.pipelines import artifacts
from corridor.registry.schemas import ModelVersionOut
from corridor.tracking.schemas import RunInfoOut, RunOut


def _dataset_version(name: str, version: int) -> DatasetVersionOut:
    return DatasetVersionOut(
        id="d1",
        project="p",
        dataset=name,
        version=version,
        ref=f"p/{name}@{version}",
        digest="0" * 64,
        size_bytes=1,
        row_count=1,
        columns=[],
        tags={},
        sensitivity="internal",
        regions=[],
        masked=False,
        gated=False,
        gate_passed=True,
        created_by="u",
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


def _model_version(name: str, version: int) -> ModelVersionOut:
    return ModelVersionOut(
        id="m1",
        name=name,
        project="p",
        version=version,
        creation_timestamp=0,
        last_updated_timestamp=0,
        description="",
        user_id="u",
        current_stage="None",
        source="",
        run_id=None,
        run_link=None,
        model_id=None,
        status="READY",
        status_message=None,
        storage_location=None,
        package_digest=None,
        flavour=None,
        scope=None,
        tags={},
        aliases=[],
    )


def _run(run_id: str) -> RunOut:
    info = RunInfoOut(
        run_id=run_id,
        experiment_id="0",
        run_name="r",
        user_id="u",
        status="FINISHED",
        start_time=0,
        end_time=1,
        lifecycle_stage="active",
        artifact_uri="",
    )
    return RunOut(info=info, params={}, tags={}, metrics={})


def test_a_pandas_frame_becomes_an_arrow_table_without_its_unnamed_index() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=[10, 11, 12])
    table = artifacts.to_storable(frame, where="step 'load'")
    assert isinstance(table, pa.Table)
    assert table.column_names == ["a", "b"]
    named = frame.rename_axis("key")
    table = artifacts.to_storable(named, where="step 'load'")
    assert isinstance(table, pa.Table)
    assert table.column_names == ["a", "b", "key"]
    assert table.column("key").to_pylist() == [10, 11, 12]


def test_numpy_scalars_become_python_scalars_and_containers_are_walked() -> None:
    value = artifacts.to_storable(
        {"n": np.int64(3), "xs": (np.float32(0.5), [np.bool_(True)])}, where="step 's'"
    )
    assert value == {"n": 3, "xs": (0.5, [True])}
    assert type(value["n"]) is int  # type: ignore[index]


def test_sdk_records_become_references_and_are_listed_for_lineage() -> None:
    value = {
        "data": _dataset_version("sales", 3),
        "model": _model_version("churn", 2),
        "runs": [_run("abc"), _run("abc")],
    }
    storable = artifacts.to_storable(value, where="step 'train'")
    assert storable == {
        "data": {"$dataset_version": "sales@3"},
        "model": {"$model_version": "churn@2"},
        "runs": [{"$run": "abc"}, {"$run": "abc"}],
    }
    expected = [("dataset_version", "sales@3"), ("model_version", "churn@2"), ("run", "abc")]
    assert artifacts.references(value) == expected
    assert artifacts.references(storable) == expected
    decoded = artifacts.decode_output(artifacts.encode_output(value))
    assert decoded == storable
    assert artifacts.references(decoded) == expected


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (LogisticRegression(), "returned a sklearn.linear_model.LogisticRegression, which"),
        (lambda x: x, "returned a function or class (<lambda>)"),
        (object(), "returned an object, which cannot be stored safely (no pickle)"),
        ({"deep": [1, LogisticRegression()]}, "(at output['deep'][1])"),
    ],
)
def test_unsafe_outputs_are_refused_saying_what_to_return(value: object, needle: str) -> None:
    for attempt in (
        lambda: artifacts.to_storable(value, where="step 'train'"),
        lambda: artifacts.encode_output(value, where="step 'train'"),
    ):
        with pytest.raises(InvalidInput) as caught:
            attempt()
        message = caught.value.message
        assert message.startswith("step 'train' returned")
        assert needle in message
        assert "tables (pyarrow, polars, pandas)" in message


def test_the_estimator_refusal_reads_as_the_spec_says() -> None:
    with pytest.raises(InvalidInput) as caught:
        artifacts.to_storable(LogisticRegression(), where="step 'train'")
    assert caught.value.message == (
        "step 'train' returned a sklearn.linear_model.LogisticRegression, which cannot be stored "
        "safely (no pickle): register it as a model version (client.registry / "
        "corridor.training) and return the version, or return its arrays (numpy), tables "
        "(pyarrow, polars, pandas), tensors or JSON values"
    )


def test_a_refused_argument_is_named_as_given() -> None:
    with pytest.raises(InvalidInput, match=r"^argument 'rows' of step 'clean': an object"):
        artifacts.to_storable(object(), where="argument 'rows' of step 'clean'")


def test_encode_output_equals_encoding_the_storable_value_with_parquet_tables() -> None:
    value = {
        "frame": pd.DataFrame({"a": [1.0, 2.0]}),
        "polars": pl.DataFrame({"b": ["x"]}),
        "array": np.arange(6).reshape(2, 3),
        "n": np.float64(2.5),
        "blob": b"\x00\x01",
        "model": _model_version("churn", 1),
    }
    data = artifacts.encode_output(value)
    storable = artifacts.to_storable(value, where="the step")
    assert data == payload.encode(storable, tables="parquet")
    assert artifacts.encode_output(value) == data
    assert artifacts.digest(data) == hashlib.sha256(data).hexdigest()
    decoded = artifacts.decode_output(data)
    assert isinstance(decoded, dict)
    assert isinstance(decoded["frame"], pa.Table)
    assert isinstance(decoded["polars"], pl.DataFrame)


@pytest.mark.parametrize(
    "value",
    [
        pa.table({"a": [1, 2], "s": ["x", None], "d": [dt.date(2026, 1, 1), None]}),
        pd.DataFrame({"a": [1, 2], "s": ["x", "y"]}),
        pl.DataFrame({"a": [1, None], "l": [[1, 2], []]}),
        {"xs": [np.arange(3), pa.table({"c": [1.5]})], "k": (1, "two")},
    ],
)
def test_re_encoding_a_decoded_output_gives_the_same_bytes(value: object) -> None:
    """The driver re-encodes a map item's decoded value: its digest must not move."""
    data = artifacts.encode_output(value)
    assert artifacts.encode_output(artifacts.decode_output(data)) == data


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "none"),
        (3, "json"),
        ({"a": [1, "x", None]}, "json"),
        ([], "json"),
        (pa.table({"a": [1]}), "table"),
        (pd.DataFrame({"a": [1]}), "table"),
        (pl.DataFrame({"a": [1]}), "table"),
        ([pa.table({"a": [1]}), pa.table({"a": [2]})], "table"),
        (np.zeros(3), "array"),
        (b"raw", "bytes"),
        ({"$dataset_version": "sales@3"}, "dataset_version"),
        (_model_version("churn", 1), "model_version"),
        (_run("r1"), "run"),
        ({"t": pa.table({"a": [1]}), "n": 1}, "mixed"),
    ],
)
def test_kind_of_names_what_an_output_holds(value: object, kind: str) -> None:
    assert artifacts.kind_of(value) == kind


def test_a_dataset_input_passes_as_the_codec_holds_it() -> None:
    marker = payload.DatasetInput("sales@3")
    assert artifacts.to_storable([marker], where="the step") == [marker]
    assert artifacts.decode_output(artifacts.encode_output([marker])) == [marker]
