"""Masking: redaction, keyed hashing, partial masks and reversible tokens."""

from __future__ import annotations

import hashlib
import hmac

import polars as pl
import pytest

from corridor.data.sansio.pii import mask
from corridor.errors import IntegrityError, InvalidInput

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "card": ["4111111111111111", "5555555555554444", None, "4111111111111111", "12"],
            "n": [1, 2, 3, 1, 5],
        }
    )


def test_redact_keeps_nulls(frame: pl.DataFrame) -> None:
    out = frame.select(mask.redact("card"))["card"].to_list()
    assert out == ["[REDACTED]", "[REDACTED]", None, "[REDACTED]", "[REDACTED]"]


def test_hmac_hash_is_keyed_and_deterministic(frame: pl.DataFrame) -> None:
    out = frame.select(mask.hmac_hash("card", KEY))["card"].to_list()
    expected = hmac.new(KEY, b"4111111111111111", hashlib.sha256).hexdigest()
    assert out[0] == out[3] == expected
    assert out[2] is None
    assert len(set(out[:2])) == 2
    other = frame.select(mask.hmac_hash("card", OTHER_KEY))["card"].to_list()
    assert other[0] != out[0]
    numbers = frame.select(mask.hmac_hash("n", KEY))["n"].to_list()
    assert numbers[0] == mask.hmac_hex("1", KEY)


def test_partial_mask_keeps_the_last_characters(frame: pl.DataFrame) -> None:
    out = frame.select(mask.partial("card", keep_last=4))["card"].to_list()
    assert out == ["************1111", "************4444", None, "************1111", "**"]
    hashes = frame.select(mask.partial("card", keep_last=0, mask_char="#"))["card"].to_list()
    assert hashes[4] == "##"


def test_tokens_are_deterministic_and_reversible(frame: pl.DataFrame) -> None:
    tokens = frame.lazy().select(mask.tokenise("card", KEY, context="cards")).collect()["card"]
    assert tokens[0] == tokens[3]
    assert tokens[0] != tokens[1]
    assert tokens[2] is None
    assert all(t.startswith("tok_") for t in tokens.drop_nulls())
    assert "4111" not in tokens[0]
    back = tokens.to_frame().select(mask.detokenise("card", KEY, context="cards"))["card"]
    assert back.to_list() == frame["card"].to_list()


def test_token_values_round_trip_one_by_one() -> None:
    token = mask.tokenise_value("jane@example.com", KEY, "email")
    assert token == mask.tokenise_value("jane@example.com", KEY, "email")
    assert mask.detokenise_value(token, KEY, "email") == "jane@example.com"
    assert mask.tokenise_value("jane@example.com", KEY, "other") != token


@pytest.mark.parametrize(
    ("key", "context", "token_edit"),
    [
        (OTHER_KEY, "email", lambda t: t),
        (KEY, "other", lambda t: t),
        (KEY, "email", lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1]),
        (KEY, "email", lambda t: "xyz" + t),
        (KEY, "email", lambda t: t + "!!"),
    ],
    ids=["wrong-key", "wrong-context", "flipped-character", "bad-prefix", "junk-appended"],
)
def test_detokenise_refuses_wrong_key_context_or_tampering(
    key: bytes, context: str, token_edit: object
) -> None:
    token = mask.tokenise_value("jane@example.com", KEY, "email")
    assert callable(token_edit)
    with pytest.raises(IntegrityError):
        mask.detokenise_value(token_edit(token), key, context)


def test_short_key_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least 16 bytes"):
        mask.tokenise_value("x", b"short", "")
    with pytest.raises(InvalidInput, match="at least 16 bytes"):
        mask.hmac_hash("card", b"short")


def test_masking_plan_from_yaml(frame: pl.DataFrame) -> None:
    plan = mask.load_mask_plan(
        """
        rules:
          - {column: card, operator: partial, keep_last: 2}
          - {column: n, operator: tokenise}
        """
    )
    out = mask.apply_masks(frame, plan, KEY).collect()
    assert out["card"][0] == "**************11"
    assert mask.detokenise_value(out["n"][0], KEY, "n") == "1"  # the context defaults to the column
    with pytest.raises(InvalidInput, match="tokenise needs a key"):
        mask.apply_masks(frame, plan)
    with pytest.raises(InvalidInput, match="column 'zz'"):
        mask.apply_masks(
            frame, mask.MaskPlan(rules=[mask.MaskRule(column="zz", operator="redact")])
        )
    with pytest.raises(InvalidInput, match="operator"):
        mask.load_mask_plan("[{column: card, operator: scramble}]")
