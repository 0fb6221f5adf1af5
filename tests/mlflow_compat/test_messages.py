"""MLflow's JSON shapes, built without a server."""

from __future__ import annotations

import math

import pytest

from corridor.errors import InvalidInput
from corridor.mlflow_compat.access import parse
from corridor.mlflow_compat.messages import (
    LogBatch,
    RunMessage,
    SearchRuns,
    double,
    local_name,
    run_out,
)
from corridor.mlflow_compat.registry_api import model_filter
from corridor.tracking.entities import MetricPoint, RunInfo, RunRecord


def test_non_finite_doubles_are_written_as_protobuf_does() -> None:
    assert double(1.5) == 1.5
    assert double(math.nan) == "NaN"
    assert double(math.inf) == "Infinity"
    assert double(-math.inf) == "-Infinity"


def test_requests_accept_what_mlflow_clients_send() -> None:
    batch = parse(
        LogBatch,
        {
            "run_id": "r",
            "metrics": [{"key": "k", "value": "NaN", "timestamp": "12", "step": 1}],
            "workspace": "a field from a newer client",
        },
    )
    assert math.isnan(batch.metrics[0].value)
    assert batch.metrics[0].timestamp == 12
    # A repeated field given once in a query string is a single value.
    assert parse(SearchRuns, {"experiment_ids": "3"}).experiment_ids == ["3"]
    assert parse(RunMessage, {"run_uuid": "u"}).run == "u"


def test_missing_and_malformed_fields_name_the_field() -> None:
    with pytest.raises(InvalidInput, match=r"required parameter 'metrics\.0\.key'"):
        parse(LogBatch, {"run_id": "r", "metrics": [{"value": 1, "timestamp": 1}]})
    with pytest.raises(InvalidInput, match="'run_id'"):
        _ = parse(RunMessage, {}).run


def test_a_run_is_written_with_both_ids_and_without_an_unset_end_time() -> None:
    info = RunInfo("r1", "3", "name", "ed", "RUNNING", 5, None, "active", "mlflow-artifacts:/3")
    record = RunRecord(info, {"p": "1"}, {"t": "v"}, {"m": MetricPoint("m", math.nan, 7, 2)})
    out = run_out(record)
    assert out["info"]["run_id"] == out["info"]["run_uuid"] == "r1"
    assert "end_time" not in out["info"]
    assert out["data"]["metrics"] == [{"key": "m", "value": "NaN", "timestamp": 7, "step": 2}]
    assert out["data"]["params"] == [{"key": "p", "value": "1"}]


def test_names_inside_a_workspace_lose_the_project_prefix() -> None:
    assert local_name("team/churn", "team") == "churn"
    assert local_name("team/churn", None) == "team/churn"
    assert local_name("other/churn", "team") == "other/churn"


def test_the_not_a_prompt_clause_of_mlflow_3_clients_is_dropped() -> None:
    clause = "tag.`mlflow.prompt.is_prompt` != 'true'"
    assert model_filter(clause) is None
    assert model_filter(f"name LIKE 'a%' AND {clause}") == "name LIKE 'a%'"
    assert model_filter("tags.k = 'v'") == "tags.k = 'v'"
