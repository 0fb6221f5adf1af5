"""MLflow's answer to a run search, written as JSON by the database in the search's statement.

A page of 300 runs holds about 1,500 rows of params, tags and metrics. Read as rows, each costs
the driver a tuple and Python a dict in MLflow's shape, and that was most of the handler's time.
Here one statement reads the page (`run_search.search_page`), writes each run as MLflow's JSON
object (the fields of `messages.run_out`, in its order) and the page as one JSON array: one
row, one text. Params, tags and metrics are in key order and model outputs in step order, as
SQLite always read them (its primary keys' order) and as the rows path now sorts them too.

The part of the statement that writes JSON does not depend on the search, so it is built once
per backend over the page's name (`run_search.PAGE_CTE`), and SQLAlchemy compiles it once per
shape of search; building it per request cost 2 ms. The reply's bytes are those pydantic-core
wrote when the reply was built in Python. A float is printed exactly by the database
(`Dialect.float_text`), so it reads back as the same float. SQLite writes compact JSON with
pydantic-core's escapes, so only the metric values are rewritten, in pydantic-core's shortest
form, and the rest is used as written.

Where the database is not faster at this (`Dialect.json_replies`: PostgreSQL, whose JSON
functions over correlated subqueries took longer than reading the rows), the page's rows are
read in one statement (`run_search.page_rows`) and the reply is built from them in Python.
`written_by_database` still works there (the text is read back and written again, as
PostgreSQL spaces its JSON), and the tests hold both ways to the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import pydantic_core
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    TableClause,
    Text,
    bindparam,
    case,
    cast,
    column,
    exists,
    func,
    literal_column,
    select,
    table,
)
from sqlalchemy.orm import Session

from corridor.mlflow_compat.messages import SearchRuns, run_rows_out
from corridor.store.dialects import Dialect, dialect_named, dialect_of, json_key
from corridor.tracking import run_search
from corridor.tracking.models import LatestMetric, RunModelOutput, RunParam, RunTag

# SQL expressions below are typed Any, as SQLAlchemy types `func` and column collections.

# The page as the statement reads it: `SearchPage.runs`, by name.
_PAGE: TableClause = table(
    run_search.PAGE_CTE,
    column("run_id", String()),
    column("experiment_id", BigInteger()),
    column("name", String()),
    column("user_id", String()),
    column("status", String()),
    column("start_time", BigInteger()),
    column("end_time", BigInteger()),
    column("lifecycle_stage", String()),
    column("artifact_uri", String()),
    column("pos", Integer()),
)
# Protobuf's JSON writes a NaN double as this string; the store keeps NaN as a flag.
_NAN_JSON = literal_column("'\"NaN\"'", String())


def _object(dialect: Dialect, *pairs: tuple[str, Any]) -> ColumnElement[Any]:
    args: list[Any] = []
    for key, value in pairs:
        args += [json_key(key), value]
    return dialect.json_object(*args)


def _info(dialect: Dialect, run: Any, *, ended: bool) -> ColumnElement[Any]:
    """``RunInfoOut``; ``end_time`` (last, as `run_info_out` adds it) only for a run that ended."""
    end = (("end_time", run.end_time),) if ended else ()
    return _object(
        dialect,
        ("run_id", run.run_id),
        ("run_uuid", run.run_id),
        ("run_name", run.name),
        ("experiment_id", cast(run.experiment_id, String())),
        ("user_id", run.user_id),
        ("status", run.status),
        ("start_time", run.start_time),
        ("artifact_uri", run.artifact_uri),
        ("lifecycle_stage", run.lifecycle_stage),
        *end,
    )


def _array(
    dialect: Dialect,
    table_: Any,
    rows: Select[*tuple[Any, ...]],
    element: Any,
    *order_by: str,
) -> Any:
    """The JSON array of ``element(row)`` over ``rows`` of ``table_``, in ``order_by`` order."""
    # ``rows`` names the run of the query around it; only ``table_`` is its own FROM.
    ordered = rows.correlate_except(table_).order_by(*order_by).subquery()
    agg = dialect.json_array_agg(element(ordered.c), *(ordered.c[name] for name in order_by))
    return select(agg).select_from(ordered).scalar_subquery()


def _key_values(dialect: Dialect, table_: Any, run_id: Any) -> Any:
    rows = select(table_.key, table_.value).where(table_.run_id == run_id)

    def element(c: Any) -> ColumnElement[Any]:
        return _object(dialect, ("key", c.key), ("value", c.value))

    return _array(dialect, table_, rows, element, "key")


def _metrics(dialect: Dialect, run_id: Any) -> Any:
    lm = LatestMetric
    rows = select(lm.key, lm.value, lm.is_nan, lm.timestamp, lm.step).where(lm.run_id == run_id)

    def element(c: Any) -> ColumnElement[Any]:
        value = dialect.json_parse(case((c.is_nan, _NAN_JSON), else_=dialect.float_text(c.value)))
        return _object(
            dialect, ("key", c.key), ("value", value), ("timestamp", c.timestamp), ("step", c.step)
        )

    return _array(dialect, lm, rows, element, "key")


def _outputs(dialect: Dialect, run_id: Any) -> ColumnElement[Any]:
    """``RunOutputsOut``: ``model_outputs`` only for a run that has some."""
    out = RunModelOutput
    rows = select(out.model_id, out.step).where(out.run_id == run_id)

    def element(c: Any) -> ColumnElement[Any]:
        return _object(dialect, ("model_id", c.model_id), ("step", c.step))

    models = _array(dialect, out, rows, element, "step", "model_id")
    return case(
        (exists().where(out.run_id == run_id), _object(dialect, ("model_outputs", models))),
        else_=dialect.json_object(),
    )


def _run(dialect: Dialect, run: Any) -> ColumnElement[Any]:
    """``RunOut`` of ``run``, a row of the page."""
    info = case(
        (run.end_time.is_(None), _info(dialect, run, ended=False)),
        else_=_info(dialect, run, ended=True),
    )
    data = _object(
        dialect,
        ("metrics", _metrics(dialect, run.run_id)),
        ("params", _key_values(dialect, RunParam, run.run_id)),
        ("tags", _key_values(dialect, RunTag, run.run_id)),
    )
    return _object(
        dialect,
        ("info", info),
        ("data", data),
        ("inputs", dialect.json_object()),
        ("outputs", _outputs(dialect, run.run_id)),
    )


@cache
def page_json(dialect_name: str) -> Select[Any]:
    """One row: the runs of the page up to ``:last_pos`` as a JSON array of ``RunOut``, in page
    order, and how many runs the page holds (one more than the reply says another page follows).

    It reads the page by name; `search_runs_out` adds the page's CTE.
    """
    dialect = dialect_named(dialect_name)
    page = _PAGE
    in_page = select(page).where(page.c.pos <= bindparam("last_pos")).order_by(page.c.pos)
    runs = in_page.subquery()
    as_json = dialect.json_array_agg(_run(dialect, runs.c), runs.c.pos)
    held = select(func.count()).select_from(page).scalar_subquery()
    # As text: a driver would otherwise read PostgreSQL's JSON into Python objects itself.
    return select(cast(as_json, Text()), held).select_from(runs)


# In compact JSON, ``"value":`` followed by a number is a metric's value and nothing else: a
# quote inside a string is always escaped, so the text cannot occur in one, and params and tags
# have string values. (A NaN is the string "NaN".)
_METRIC_VALUE = re.compile(r'"value":(-?[0-9][0-9.eE+-]*)')


def _shortest_floats(runs_json: str) -> bytes:
    """``runs_json`` with each metric value written as pydantic-core writes a float."""
    pieces = _METRIC_VALUE.split(runs_json)
    printed = pieces[1::2]
    if printed:
        # One call for all: a float's JSON never holds a comma.
        shortest = pydantic_core.to_json([float(p) for p in printed]).decode()[1:-1].split(",")
        pieces[1::2] = ['"value":' + number for number in shortest]
    return "".join(pieces).encode()


@dataclass(frozen=True, slots=True)
class RunsReply:
    """A page of MLflow's ``SearchRuns`` reply: ``runs`` is its JSON array of ``RunOut``."""

    runs: bytes
    next_page_token: str | None

    def body(self) -> bytes:
        """The reply's JSON: ``{"runs": [...], "next_page_token": ...}``, as `page_reply`."""
        token = self.next_page_token
        more = b',"next_page_token":' + pydantic_core.to_json(token) if token else b""
        return b'{"runs":' + self.runs + more + b"}"


def search_runs_out(session: Session, message: SearchRuns) -> RunsReply:
    """The runs MLflow's ``SearchRuns`` asks for, as MLflow's JSON, and the next page's token."""
    page = run_search.search_page(
        session,
        message.experiment_ids,
        filter_string=message.filter or None,
        order_by=message.order_by,
        max_results=message.max_results,
        page_token=message.page_token or None,
        view_type=message.run_view_type,
    )
    if page is None:
        return RunsReply(b"[]", None)
    dialect = dialect_of(session)
    if not dialect.json_replies:
        rows = run_search.page_rows(session, page)
        runs = pydantic_core.to_json([run_rows_out(run) for run in rows.items])
        return RunsReply(runs, rows.next_page_token)
    return written_by_database(session, dialect, page)


def written_by_database(
    session: Session, dialect: Dialect, page: run_search.SearchPage
) -> RunsReply:
    """``page`` as the database writes it in JSON (`page_json`)."""
    statement = page_json(dialect.name).add_cte(page.runs)
    text, held = session.execute(statement, {"last_pos": page.last_pos}).one()
    if dialect.json_replies:
        runs = _shortest_floats(text)
    else:
        # Read back and written again: the database's spacing and numbers become pydantic-core's.
        runs = pydantic_core.to_json(pydantic_core.from_json(text))
    return RunsReply(runs, page.next_token(held))
