"""The run search's reply written by the database is, byte for byte, the reply built in Python.

The expected reply is built independently of the search: each run read back through the ORM
(`runs.get_run`, `model_outputs`), shaped by `messages.run_out` with its params, tags and
metrics in key order, and written by `page_reply`, as the route wrote it before. Values are
chosen where a database's JSON could differ from pydantic-core's: floats that need 17 digits,
huge and tiny ones, negative zero, NaN, 64-bit integers, quotes, backslashes, control
characters, and characters outside ASCII.
"""

from __future__ import annotations

import math

import pydantic_core
import pytest

from corridor.mlflow_compat.messages import SearchRuns, run_out
from corridor.mlflow_compat.routes import page_reply
from corridor.mlflow_compat.run_search_reply import search_runs_out, written_by_database
from corridor.security import projects
from corridor.security.policy import Principal
from corridor.store.db import Database
from corridor.store.dialects import dialect_of
from corridor.tracking import experiments, logged_models, run_data, run_search, runs
from corridor.tracking.entities import RunRecord
from corridor.tracking.logged_models_outputs import log_outputs, model_outputs

ODD_TEXT = 'q"uote b\\ack \n\t\r\b\f \x01\x1f\x7f é 漢 😀 \u2028 </script>'
ODD_FLOATS = (0.1 + 0.2, 1e300, 5e-324, -0.0, 1e20, 123456789.123456789, -2.5, 3.0, math.nan)
BIG_MS = 2**62


@pytest.fixture
def seeded(db: Database) -> str:
    """An experiment of runs with odd values; return its id."""
    with db.write() as session:
        project = projects.create_project(session, "p", description="", by=Principal.local_admin())
        exp = experiments.create_experiment(session, project, "exp").experiment_id
        model = logged_models.create_logged_model(session, exp, name="m1").model_id
        other = logged_models.create_logged_model(session, exp, name="m2").model_id
    for i, number in enumerate(ODD_FLOATS):
        with db.write() as session:
            run_id = runs.create_run(
                session, exp, user=f"user {ODD_TEXT}", run_name=f"r{i}", start_time=BIG_MS + i
            ).info.run_id
            run_data.log_batch_rows(
                session,
                run_id,
                metrics=[("z", number, BIG_MS, 2**40), ("a", float(i), i, -i)],
                params=[("p", ODD_TEXT), ("a", str(i)), ("B", "upper"), ("a.b/c d", "")],
                tags=[("t", ODD_TEXT[i:]), ("b", ""), ("Z", "z"), ("_", "_")],
            )
            if i % 3 == 0:
                log_outputs(session, run_id, [(other, 5), (model, 5), (model, 1)])
            if i % 2 == 0:
                runs.update_run(session, run_id, status="FINISHED", end_time=BIG_MS + 10 * i)
    return exp


def _in_key_order(record: RunRecord) -> RunRecord:
    return RunRecord(
        info=record.info,
        params=dict(sorted(record.params.items())),
        tags=dict(sorted(record.tags.items())),
        metrics=dict(sorted(record.metrics.items())),
    )


def _expected(db: Database, message: SearchRuns) -> bytes:
    """The reply as the route built it in Python, from runs read back through the ORM."""
    with db.read() as session:
        found = run_search.search_runs(
            session,
            message.experiment_ids,
            filter_string=message.filter or None,
            order_by=message.order_by,
            max_results=message.max_results,
            page_token=message.page_token or None,
            view_type=message.run_view_type,
        )
        ids = [r.info.run_id for r in found.items]
        outputs = model_outputs(session, ids)
        out = [run_out(_in_key_order(runs.get_run(session, i)), outputs[i]) for i in ids]
    return bytes(page_reply("runs", out, found.next_page_token).body)


def _written(db: Database, message: SearchRuns) -> bytes:
    with db.read() as session:
        return search_runs_out(session, message).body()


@pytest.mark.parametrize(
    ("filter_string", "order_by"),
    [
        ("", []),
        ("metrics.a < 5", ["metrics.z DESC"]),
        ("params.a != '3'", ["attributes.run_name ASC"]),
        ("metrics.a > 100", []),
    ],
)
def test_the_written_reply_is_the_reply_built_in_python(
    db: Database, seeded: str, filter_string: str, order_by: list[str]
) -> None:
    message = SearchRuns(experiment_ids=[seeded], filter=filter_string, order_by=order_by)
    assert _written(db, message) == _expected(db, message)


def test_pages_of_the_written_reply_are_the_pages_built_in_python(
    db: Database, seeded: str
) -> None:
    token = ""
    pages = 0
    while True:
        message = SearchRuns(experiment_ids=[seeded], max_results=4, page_token=token)
        written = _written(db, message)
        assert written == _expected(db, message)
        found = pydantic_core.from_json(written)
        assert len(found["runs"]) == (4 if pages < 2 else len(ODD_FLOATS) - 8)
        token = found.get("next_page_token", "")
        pages += 1
        if not token:
            break
    assert pages == math.ceil(len(ODD_FLOATS) / 4)


def test_the_reply_keeps_odd_values_exactly(db: Database, seeded: str) -> None:
    runs = pydantic_core.from_json(_written(db, SearchRuns(experiment_ids=[seeded])))["runs"]
    by_name = {run["info"]["run_name"]: run for run in runs}
    for i, number in enumerate(ODD_FLOATS):
        run = by_name[f"r{i}"]
        value = run["data"]["metrics"][1]["value"]
        if math.isnan(number):
            assert value == "NaN"
        else:
            assert value == number
        assert run["data"]["params"][-1]["value"] == ODD_TEXT
        assert run["info"]["start_time"] == BIG_MS + i
        assert ("end_time" in run["info"]) == (i % 2 == 0)
        assert bool(run["outputs"]) == (i % 3 == 0)


def test_no_experiment_is_an_empty_page(db: Database) -> None:
    assert _written(db, SearchRuns()) == b'{"runs":[]}' == _expected(db, SearchRuns())


def test_the_reply_written_by_the_database_is_the_same_where_rows_are_used(
    db: Database, seeded: str
) -> None:
    """PostgreSQL answers from rows (`json_replies` is off); its JSON statement, kept working
    for the backends that use it, writes the same bytes."""
    message = SearchRuns(experiment_ids=[seeded], max_results=5)
    with db.read() as session:
        page = run_search.search_page(session, [seeded], max_results=5)
        assert page is not None
        written = written_by_database(session, dialect_of(session), page).body()
    assert written == _written(db, message) == _expected(db, message)
