from __future__ import annotations

import pytest

from corridor.data.sansio.refs import DatasetRef, parse_ref, parse_version
from corridor.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("orders", DatasetRef("orders", None, None)),
        ("orders@3", DatasetRef("orders", 3, None)),
        ("orders@latest", DatasetRef("orders", None, None)),
        ("orders@LATEST", DatasetRef("orders", None, None)),
        ("churn/orders@12", DatasetRef("orders", 12, "churn")),
        (" orders.v2_x-y@1 ", DatasetRef("orders.v2_x-y", 1, None)),
    ],
)
def test_parse_ref_reads_project_name_and_version(text: str, expected: DatasetRef) -> None:
    assert parse_ref(text) == expected


def test_refs_print_back_in_the_form_they_are_read() -> None:
    assert str(parse_ref("churn/orders@3")) == "churn/orders@3"
    assert str(parse_ref("orders")) == "orders@latest"
    assert parse_ref("orders@2").in_project("p") == DatasetRef("orders", 2, "p")
    assert parse_ref("q/orders@2").in_project("p").project == "q"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty"),
        ("orders@", "ends with '@'"),
        ("orders@0", "start at 1"),
        ("orders@-1", "neither a positive number"),
        ("orders@two", "neither a positive number"),
        ("orders@1@2", "more than one '@'"),
        ("a/b/orders@1", "more than one '/'"),
        ("..@1", "invalid"),
        ("orders\\evil@1", "path separator"),
        ("/orders@1", "project name must not be empty"),
        ("orders\x00@1", "control character"),
    ],
)
def test_parse_ref_refuses_bad_references_saying_why(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_ref(text)


def test_parse_version() -> None:
    assert parse_version("7") == 7
    assert parse_version(7) == 7
    assert parse_version("latest") is None
    with pytest.raises(InvalidInput):
        parse_version("1e3")
