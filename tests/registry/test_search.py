"""Searching models and versions: MLflow's filters, order_by and page tokens, both backends."""

from __future__ import annotations

import pytest

from corridor.errors import InvalidInput
from corridor.registry import service
from corridor.store.blobs import BlobStore
from corridor.store.db import Database
from tests.registry.conftest import ADMIN, Packager, Team

NAMES = ["churn/Alpha", "churn/alpha", "churn/beta-1", "churn/beta_1", "churn/gamma"]


@pytest.fixture
def catalogue(db: Database, blobs: BlobStore, team: Team, packager: Packager) -> None:
    digest = packager.package(team.churn)
    with db.write() as session:
        for i, name in enumerate(NAMES):
            service.create_registered_model(session, team.churn, name, tags={"rank": str(i)})
            for _ in range(i % 3 + 1):
                service.create_model_version(session, blobs, name, by=ADMIN, package_digest=digest)
        service.create_registered_model(session, team.other, "other/alpha")


def _names(db: Database, project_ids: set[str] | None = None, **kwargs: object) -> list[str]:
    with db.read() as session:
        page = service.search_registered_models(session, project_ids=project_ids, **kwargs)  # type: ignore[arg-type]
    return [m.name for m in page.items]


def test_filters_on_name_and_tags(db: Database, team: Team, catalogue: None) -> None:
    churn = {team.churn.id}
    assert _names(db, churn) == sorted(NAMES)
    assert _names(db, churn, filter_string="name = 'churn/alpha'") == ["churn/alpha"]
    # LIKE is case-sensitive and ILIKE is not, on SQLite as on PostgreSQL.
    assert _names(db, churn, filter_string="name LIKE '%alpha'") == ["churn/alpha"]
    assert _names(db, churn, filter_string="name ILIKE '%alpha'") == ["churn/Alpha", "churn/alpha"]
    # '_' is any one character, as in SQL.
    assert _names(db, churn, filter_string="name LIKE 'churn/beta_1'") == [
        "churn/beta-1",
        "churn/beta_1",
    ]
    assert _names(db, churn, filter_string="name LIKE '%[%'") == []
    assert _names(db, churn, filter_string="tags.rank = '4'") == ["churn/gamma"]
    assert _names(
        db, churn, filter_string="tags.`rank` IN ('0', '1') and name != 'churn/Alpha'"
    ) == ["churn/alpha"]
    assert _names(db, None, filter_string="name ILIKE '%alpha'") == [
        "churn/Alpha",
        "churn/alpha",
        "other/alpha",
    ]
    assert _names(db, set(), filter_string="") == []


def test_order_by_and_pages(db: Database, team: Team, catalogue: None) -> None:
    ordered = _names(db, {team.churn.id}, order_by=["name DESC"])
    assert ordered == sorted(NAMES, reverse=True)
    seen: list[str] = []
    token = None
    with db.read() as session:
        while True:
            page = service.search_registered_models(
                session,
                project_ids={team.churn.id},
                order_by=["last_updated_timestamp DESC"],
                max_results=2,
                page_token=token,
            )
            seen.extend(m.name for m in page.items)
            token = page.next_page_token
            if token is None:
                break
        assert sorted(seen) == sorted(NAMES)
        assert len(seen) == len(set(seen))
        first = service.search_registered_models(
            session, project_ids={team.churn.id}, max_results=2
        )
        assert first.next_page_token is not None
        with pytest.raises(InvalidInput, match="different query"):
            service.search_registered_models(
                session,
                project_ids={team.churn.id},
                filter_string="name LIKE 'x%'",
                page_token=first.next_page_token,
            )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filter_string": "name = alpha"}, "quoted string"),
        ({"filter_string": "run_id = 'x'"}, "unknown attribute"),
        ({"filter_string": "metrics.acc > 1"}, "unknown entity"),
        ({"filter_string": "name = 'a' OR name = 'b'"}, "OR is not supported"),
        ({"order_by": ["tags.rank"]}, "ordered by attributes only"),
        ({"order_by": ["nonsense"]}, "unknown attribute"),
        ({"max_results": 0}, "max_results"),
        ({"max_results": 1001}, "max_results"),
        ({"page_token": "!!!"}, "page_token"),
    ],
)
def test_bad_searches_say_what_is_wrong(
    db: Database, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message), db.read() as session:
        service.search_registered_models(session, project_ids=None, **kwargs)  # type: ignore[arg-type]


def test_version_search(db: Database, team: Team, catalogue: None) -> None:
    with db.write() as session:
        service.transition_model_version_stage(session, "churn/gamma", 2, "Production")
    with db.read() as session:
        found = service.search_model_versions(
            session, project_ids={team.churn.id}, filter_string="name = 'churn/gamma'"
        )
        assert [v.version for v in found.items] == [2, 1]
        prod = service.search_model_versions(
            session, project_ids=None, filter_string="current_stage = 'Production'"
        )
        assert [(v.name, v.version) for v in prod.items] == [("churn/gamma", 2)]
        old = service.search_model_versions(
            session,
            project_ids=None,
            filter_string="version_number >= 3",
            order_by=["name ASC"],
        )
        assert [(v.name, v.version) for v in old.items] == [("churn/beta-1", 3)]
        assert service.search_model_versions(session, project_ids={team.other.id}).items == []
