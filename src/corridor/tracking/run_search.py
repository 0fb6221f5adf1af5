"""Searching runs: an MLflow filter and order, translated into one SQL query.

Each comparison becomes an ``EXISTS`` on the latest-metric, param or tag table (or a plain
condition on the run), so the database does the filtering with its indexes; each metric, param
or tag in ``order_by`` becomes an outer join. Runs without the key never match a comparison
(not even ``!=``) and sort last, as in MLflow. Pages are offsets in an opaque token.

A page is read with one statement: the search is a common table expression (numbered in its
order), and the rows of the page's params, tags, latest metrics and model outputs are joined to
it and appended to its own rows with ``UNION ALL``. So no list of 1,000 run ids is sent back to
the database (compiling such ``IN`` lists cost more than running the queries), no ORM object is
built, and a reply can be written straight from the rows (`RunRows`). The page itself is a CTE
(`search_page`) that another statement can read: MLflow's reply is written over it by the
database (`corridor.mlflow_compat.run_search_reply`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from corridor.errors import InvalidInput, NotFound
from corridor.search import page_tokens
from corridor.search.filters import (
    RUNS,
    Comparison,
    Entity,
    Op,
    OrderBy,
    parse_filter,
    parse_order_by,
)
from corridor.search.sql import compare, keyed_condition
from corridor.security.models import Project
from corridor.store.dialects import Dialect, dialect_of
from corridor.tracking.entities import MetricPoint, Page, RunInfo, RunRecord
from corridor.tracking.experiments import parse_experiment_id
from corridor.tracking.models import (
    Experiment,
    LatestMetric,
    Run,
    RunModelOutput,
    RunParam,
    RunTag,
)
from corridor.tracking.validation import ViewType, parse_view_type

DEFAULT_SEARCH_RESULTS = 1000
MAX_SEARCH_RESULTS = 50_000
_KIND = "run-search"
_ATTRIBUTES: dict[str, Any] = {
    "run_id": Run.run_id,
    "run_name": Run.name,
    "status": Run.status,
    "user_id": Run.user_id,
    "artifact_uri": Run.artifact_uri,
    "start_time": Run.start_time,
    "end_time": Run.end_time,
}
# The name of `SearchPage.runs` in SQL: a statement written once may read it by this name.
PAGE_CTE = "page"
_INFO_COLUMNS = (
    Run.run_id,
    Run.experiment_id,
    Run.name,
    Run.user_id,
    Run.status,
    Run.start_time,
    Run.end_time,
    Run.lifecycle_stage,
    Run.artifact_uri,
)


def condition(comparison: Comparison, *, dialect: Dialect) -> ColumnElement[bool]:
    """The SQL condition on ``Run`` for one comparison of a filter."""
    key, op, value = comparison.key, comparison.op, comparison.value
    if key.entity is Entity.ATTRIBUTE:
        return compare(_ATTRIBUTES[key.name], op, value, dialect=dialect)
    if key.entity is Entity.METRIC:
        lm = LatestMetric
        # NaN compares false with everything, except that it differs from everything.
        on_value = (
            or_(lm.is_nan, lm.value != value)
            if op is Op.NE
            else and_(lm.is_nan == false(), compare(lm.value, op, value, dialect=dialect))
        )
        return exists().where(lm.run_id == Run.run_id, lm.key == key.name, on_value)
    table: Any = RunParam if key.entity is Entity.PARAM else RunTag
    owned = table.run_id == Run.run_id
    return keyed_condition(owned, table.key, table.value, key.name, op, value, dialect=dialect)


def _order(query: Any, order: OrderBy) -> tuple[Any, list[Any]]:
    key = order.key

    def direction(column: Any) -> Any:
        return column.asc() if order.ascending else column.desc()

    if key.entity is Entity.ATTRIBUTE:
        column = _ATTRIBUTES[key.name]
        return query, [case((column.is_(None), 1), else_=0), direction(column)]
    if key.entity is Entity.METRIC:
        lm = aliased(LatestMetric)
        query = query.outerjoin(lm, and_(lm.run_id == Run.run_id, lm.key == key.name))
        rank = case((lm.run_id.is_(None), 2), (lm.is_nan, 1), else_=0)
        return query, [rank, direction(lm.value)]
    table: Any = aliased(RunParam if key.entity is Entity.PARAM else RunTag)
    query = query.outerjoin(table, and_(table.run_id == Run.run_id, table.key == key.name))
    return query, [case((table.run_id.is_(None), 1), else_=0), direction(table.value)]


def _experiment_ids(
    session: Session, experiment_ids: Sequence[str | int], project: Project | None
) -> list[int]:
    ids = sorted({parse_experiment_id(e) for e in experiment_ids})
    if project is None:
        return ids
    owned = select(Experiment.experiment_id).where(Experiment.project_id == project.id)
    if not ids:
        return list(session.scalars(owned))
    found = set(session.scalars(owned.where(Experiment.experiment_id.in_(ids))))
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise NotFound(f"experiments {', '.join(missing)} not found in project {project.name!r}")
    return ids


@dataclass(slots=True)
class RunRows:
    """One run found, as read: its info row and the rows of its data.

    ``info`` is ``(run_id, experiment_id, run_name, user_id, status, start_time, end_time,
    lifecycle_stage, artifact_uri)``; ``metrics`` holds ``(key, value, is_nan, timestamp, step)``
    for the latest point of each metric, ``outputs`` ``(model_id, step)`` in step order.
    """

    info: tuple[Any, ...]
    params: list[tuple[str, str]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    metrics: list[tuple[str, float, bool, int, int]] = field(default_factory=list)
    outputs: list[tuple[str, int]] = field(default_factory=list)

    def record(self) -> RunRecord:
        """The run as the services' `RunRecord` (its model outputs left out)."""
        r = self.info
        info = RunInfo(r[0], str(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8])
        return RunRecord(
            info=info,
            params=dict(self.params),
            tags=dict(self.tags),
            metrics={
                k: MetricPoint(k, float("nan") if nan else v, ts, step)
                for k, v, nan, ts, step in self.metrics
            },
        )


# The kinds of row the one statement returns, in its first column.
_RUN, _PARAM, _TAG, _METRIC, _OUTPUT = range(5)


def _typed_null(kind: Any) -> Any:
    # Typed, so that PostgreSQL can line up the branches of the UNION.
    return cast(null(), kind)


def _page_statement(page: Any) -> Any:
    """The page's runs and the rows of their data, as one ``UNION ALL`` over the CTE ``page``.

    Columns: kind, run id, position, then two texts, three big integers, a float and a flag,
    which each kind of row fills as it needs (the run's own row uses them for its info).
    """
    text, big, number, flag = String(), BigInteger(), Float(), Boolean()
    runs = select(
        literal_column(str(_RUN), Integer()).label("kind"),
        page.c.run_id,
        page.c.pos,
        page.c.name.label("a"),
        page.c.user_id.label("b"),
        page.c.status.label("c"),
        page.c.lifecycle_stage.label("d"),
        page.c.artifact_uri.label("e"),
        cast(page.c.experiment_id, big).label("i1"),
        page.c.start_time.label("i2"),
        page.c.end_time.label("i3"),
        _typed_null(number).label("f"),
        _typed_null(flag).label("flag"),
    )

    def child(kind: int, table: Any, a: Any, b: Any, i2: Any, i3: Any, f: Any, nan: Any) -> Any:
        return select(
            literal_column(str(kind), Integer()),
            table.run_id,
            _typed_null(big),
            a,
            b,
            _typed_null(text),
            _typed_null(text),
            _typed_null(text),
            _typed_null(big),
            i2,
            i3,
            f,
            nan,
        ).join_from(table, page, table.run_id == page.c.run_id)

    nothing = (_typed_null(big), _typed_null(big), _typed_null(number), _typed_null(flag))
    lm, out = LatestMetric, RunModelOutput
    return union_all(
        runs,
        child(_PARAM, RunParam, RunParam.key, RunParam.value, *nothing),
        child(_TAG, RunTag, RunTag.key, RunTag.value, *nothing),
        child(_METRIC, lm, lm.key, _typed_null(text), lm.timestamp, lm.step, lm.value, lm.is_nan),
        child(_OUTPUT, out, out.model_id, _typed_null(text), *nothing[:1], out.step, *nothing[2:]),
    )


def _gather(rows: Sequence[Any]) -> list[RunRows]:
    """Group the statement's rows by run, in the search's order."""
    found: dict[str, tuple[int, RunRows]] = {}
    children = []
    for row in rows:
        if row[0] == _RUN:
            found[row[1]] = (
                row[2],
                RunRows((row[1], row[8], *row[3:6], row[9], row[10], *row[6:8])),
            )
        else:
            children.append(row)
    for kind, run_id, _pos, a, b, _c, _d, _e, _i1, i2, i3, f, nan in children:
        run = found[run_id][1]
        if kind == _PARAM:
            run.params.append((a, b))
        elif kind == _TAG:
            run.tags.append((a, b))
        elif kind == _METRIC:
            run.metrics.append((a, f, bool(nan), i2, i3))
        else:
            run.outputs.append((a, i3))
    ordered = [run for _pos, run in sorted(found.values(), key=lambda item: item[0])]
    for run in ordered:
        # Key order on every backend (a hash join returns them in any order).
        for rows in (run.params, run.tags, run.metrics):
            if len(rows) > 1:
                rows.sort(key=lambda row: row[0])
        if len(run.outputs) > 1:
            run.outputs.sort(key=lambda o: (o[1], o[0]))
    return ordered


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of a run search, not yet read: ``runs`` is a CTE of the page's runs.

    Its columns are the run's info (see `RunRows`) and ``pos``, the run's place in the whole
    search's order. It holds up to ``max_results + 1`` runs: a run past the page says that another
    page follows (`next_token`).
    """

    runs: CTE
    offset: int
    max_results: int
    query_id: str

    @property
    def last_pos(self) -> int:
        """The ``pos`` of the page's last run: a run past it belongs to the next page."""
        return self.offset + self.max_results

    def next_token(self, found: int) -> str | None:
        """The next page's token, given how many runs the CTE held (None: no next page)."""
        if found <= self.max_results:
            return None
        return page_tokens.encode(_KIND, self.query_id, {"offset": self.last_pos})


def search_page(
    session: Session,
    experiment_ids: Sequence[str | int],
    *,
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    max_results: int = DEFAULT_SEARCH_RESULTS,
    page_token: str | None = None,
    view_type: ViewType | str = ViewType.ACTIVE_ONLY,
    project: Project | None = None,
) -> SearchPage | None:
    """The page of the search `search_run_rows` describes, as a CTE (None: no experiment)."""
    if not 1 <= max_results <= MAX_SEARCH_RESULTS:
        raise InvalidInput(f"max_results must be between 1 and {MAX_SEARCH_RESULTS}")
    view = parse_view_type(view_type)
    comparisons = parse_filter(filter_string, RUNS)
    orders = [parse_order_by(text, RUNS) for text in order_by]
    ids = _experiment_ids(session, experiment_ids, project)
    query_id = page_tokens.query_digest(ids, filter_string or "", list(order_by), view)
    offset = page_tokens.offset_of(page_token, _KIND, query_id)
    if not ids:
        return None
    dialect = dialect_of(session)
    query: Any = select(*_INFO_COLUMNS).where(
        Run.experiment_id.in_(ids),
        Run.lifecycle_stage.in_(view.stages()),
        *(condition(c, dialect=dialect) for c in comparisons),
    )
    clauses: list[Any] = []
    for order in orders:
        query, more = _order(query, order)
        clauses.extend(more)
    if not any(o.key.entity is Entity.ATTRIBUTE and o.key.name == "start_time" for o in orders):
        clauses.append(Run.start_time.desc())
    clauses.append(Run.run_id.asc())
    runs = (
        query.add_columns(func.row_number().over(order_by=clauses).label("pos"))
        .order_by(*clauses)
        .offset(offset)
        .limit(max_results + 1)
        .cte(PAGE_CTE)
    )
    return SearchPage(runs, offset, max_results, query_id)


def search_run_rows(
    session: Session,
    experiment_ids: Sequence[str | int],
    *,
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    max_results: int = DEFAULT_SEARCH_RESULTS,
    page_token: str | None = None,
    view_type: ViewType | str = ViewType.ACTIVE_ONLY,
    project: Project | None = None,
) -> Page[RunRows]:
    """Runs of ``experiment_ids`` that match ``filter_string``, in ``order_by`` order.

    Without an order, newest first (start time descending, then run id). With ``project``,
    only its experiments are searched, and no ids means all of them.
    """
    page = search_page(
        session,
        experiment_ids,
        filter_string=filter_string,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
        view_type=view_type,
        project=project,
    )
    if page is None:
        return Page([], None)
    return page_rows(session, page)


def page_rows(session: Session, page: SearchPage) -> Page[RunRows]:
    """The runs of ``page`` with their data, read in one statement."""
    found = _gather(session.execute(_page_statement(page.runs)).all())
    return Page(found[: page.max_results], page.next_token(len(found)))


def search_runs(
    session: Session,
    experiment_ids: Sequence[str | int],
    *,
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    max_results: int = DEFAULT_SEARCH_RESULTS,
    page_token: str | None = None,
    view_type: ViewType | str = ViewType.ACTIVE_ONLY,
    project: Project | None = None,
) -> Page[RunRecord]:
    """`search_run_rows`, each run as a `RunRecord`."""
    page = search_run_rows(
        session,
        experiment_ids,
        filter_string=filter_string,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
        view_type=view_type,
        project=project,
    )
    return Page([run.record() for run in page.items], page.next_page_token)
