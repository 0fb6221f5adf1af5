"""Page tokens: opaque, and bound to the listing and query that issued them."""

from __future__ import annotations

import pytest

from corridor.errors import InvalidInput
from corridor.search import page_tokens


def test_a_token_round_trips_its_position() -> None:
    q = page_tokens.query_digest(["1"], "metrics.a > 1")
    token = page_tokens.encode("run-search", q, {"offset": 40})
    assert page_tokens.offset_of(token, "run-search", q) == 40
    assert page_tokens.offset_of(None, "run-search", q) == 0
    assert page_tokens.offset_of("", "run-search", q) == 0


def test_a_token_for_another_query_or_listing_is_refused() -> None:
    q = page_tokens.query_digest(["1"], "")
    token = page_tokens.encode("run-search", q, {"offset": 40})
    with pytest.raises(InvalidInput, match="different query"):
        page_tokens.offset_of(token, "run-search", page_tokens.query_digest(["2"], ""))
    with pytest.raises(InvalidInput, match="not issued by this listing"):
        page_tokens.offset_of(token, "experiment-search", q)


@pytest.mark.parametrize("token", ["!!!", "bm90IGpzb24", "W10", "eyJrIjoxfQ", "\u00e9"])
def test_garbage_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidInput, match="page_token"):
        page_tokens.offset_of(token, "run-search", "q")


def test_negative_offsets_are_refused() -> None:
    token = page_tokens.encode("run-search", "q", {"offset": -1})
    with pytest.raises(InvalidInput, match="no valid offset"):
        page_tokens.offset_of(token, "run-search", "q")
