from __future__ import annotations

import pytest

from corridor.errors import InvalidInput
from corridor.names import check_name


@pytest.mark.parametrize("name", ["a", "churn-model", "v1.2_final", "A" * 64, "0day"])
def test_valid_names_pass(name: str) -> None:
    assert check_name("project", name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "must not be empty"),
        ("a" * 65, "at most 64"),
        ("a/b", "path separator"),
        ("..\\etc", "path separator"),
        ("bad\x00name", "control character"),
        ("tab\tname", "control character"),
        ("new\nline", "control character"),
        ("..", "invalid"),
        (".hidden", "invalid"),
        ("-flag", "invalid"),
        ("sp ace", "invalid"),
        ("naïve", "invalid"),
    ],
)
def test_bad_names_say_why(name: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_name("project", name)
