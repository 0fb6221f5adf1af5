"""Masking operators for personal data, as Polars expressions, plus a declarative masking plan.

- ``redact``: replace every non-null value with a fixed text;
- ``hmac_hash``: HMAC-SHA256 under a secret key (hex); equal values give equal digests, so joins
  and counts still work, and without the key the digests cannot be recomputed by guessing;
- ``partial``: mask all but the last N characters;
- ``tokenise``/``detokenise``: deterministic, reversible encryption with AES-SIV under a key
  derived from the given one. Equal values give equal tokens; a token reveals the value's length.

Keys are passed in (Corridor keeps them); nothing here stores one. Hashing and tokenising run
Python once per distinct value of each batch, not per row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import polars as pl
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, Field

from corridor.data.sansio.spec_text import load_spec
from corridor.errors import IntegrityError, InvalidInput

MIN_KEY_BYTES = 16
TOKEN_PREFIX = "tok_"  # noqa: S105 - a marker, not a secret


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise InvalidInput(f"the masking key must be at least {MIN_KEY_BYTES} bytes")
    return key


def _siv(key: bytes) -> AESSIV:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"corridor/pii/tokens/v1")
    return AESSIV(hkdf.derive(_check_key(key)))


def hmac_hex(value: str, key: bytes) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, in hex."""
    return hmac.new(_check_key(key), value.encode("utf-8"), hashlib.sha256).hexdigest()


def tokenise_value(value: str, key: bytes, context: str = "") -> str:
    """A deterministic, reversible token for ``value``; ``context`` separates token spaces."""
    return _tokeniser(_siv(key), context)(value)


def detokenise_value(token: str, key: bytes, context: str = "") -> str:
    """The value a token stands for; ``IntegrityError`` if it is corrupt or the key is wrong."""
    return _detokeniser(_siv(key), context)(token)


def _tokeniser(siv: AESSIV, context: str) -> Callable[[str], str]:
    aad = [context.encode("utf-8")]

    def seal(value: str) -> str:
        sealed = siv.encrypt(value.encode("utf-8"), aad)
        return TOKEN_PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    return seal


def _detokeniser(siv: AESSIV, context: str) -> Callable[[str], str]:
    def open_token(token: str) -> str:
        if not token.startswith(TOKEN_PREFIX):
            raise IntegrityError(f"{token[:16]!r}... is not a Corridor token")
        body = token[len(TOKEN_PREFIX) :]
        try:
            padded = body + "=" * (-len(body) % 4)
            sealed = base64.b64decode(padded, altchars=b"-_", validate=True)
            return siv.decrypt(sealed, [context.encode("utf-8")]).decode("utf-8")
        except (InvalidTag, ValueError):  # binascii.Error is a ValueError
            raise IntegrityError(
                "a token failed verification: it is corrupt or the key differs"
            ) from None

    return open_token


def _per_distinct(column: str, fn: Callable[[str], str]) -> pl.Expr:
    def run(series: pl.Series) -> pl.Series:
        text = series.cast(pl.String)
        mapping = {v: fn(v) for v in text.drop_nulls().unique().to_list()}
        return text.replace_strict(mapping, default=None, return_dtype=pl.String)

    return pl.col(column).map_batches(run, return_dtype=pl.String, is_elementwise=True)


def redact(column: str, replacement: str = "[REDACTED]") -> pl.Expr:
    return pl.when(pl.col(column).is_not_null()).then(pl.lit(replacement)).alias(column)


def hmac_hash(column: str, key: bytes) -> pl.Expr:
    _check_key(key)
    return _per_distinct(column, lambda v: hmac_hex(v, key)).alias(column)


def partial(column: str, keep_last: int = 4, mask_char: str = "*") -> pl.Expr:
    """Mask all but the last ``keep_last`` characters; values that short are masked whole."""
    if keep_last < 0 or len(mask_char) != 1:
        raise InvalidInput("keep_last must be at least 0 and mask_char one character")
    text = pl.col(column).cast(pl.String)
    length = text.str.len_chars()
    kept = (
        pl.when(length > keep_last)
        .then(text.str.slice(-keep_last) if keep_last else pl.lit(""))
        .otherwise(pl.lit(""))
    )
    hidden = pl.when(length > keep_last).then(length - keep_last).otherwise(length)
    return pl.concat_str(pl.lit(mask_char).repeat_by(hidden).list.join(""), kept).alias(column)


def tokenise(column: str, key: bytes, context: str = "") -> pl.Expr:
    return _per_distinct(column, _tokeniser(_siv(key), context)).alias(column)


def detokenise(column: str, key: bytes, context: str = "") -> pl.Expr:
    return _per_distinct(column, _detokeniser(_siv(key), context)).alias(column)


class MaskRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    operator: Literal["redact", "hash", "partial", "tokenise"]
    replacement: str = "[REDACTED]"
    keep_last: int = Field(4, ge=0)
    mask_char: str = Field("*", min_length=1, max_length=1)
    context: str | None = Field(None, description="token space; the column name when omitted")


class MaskPlan(BaseModel):
    """Which operator masks which column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[MaskRule] = Field(default_factory=list)


def load_mask_plan(source: str | Mapping[str, Any] | Sequence[Any]) -> MaskPlan:
    return load_spec(MaskPlan, source, "masking plan")


def apply_masks(
    data: pl.LazyFrame | pl.DataFrame, plan: MaskPlan, key: bytes | None = None
) -> pl.LazyFrame:
    """``data`` with each rule's column masked; ``key`` is needed for hash and tokenise."""
    lf = data.lazy()
    schema = lf.collect_schema()
    exprs = []
    for rule in plan.rules:
        if rule.column not in schema:
            known = ", ".join(schema)
            raise InvalidInput(
                f"masking rule for column {rule.column!r}: no such column; the columns are: {known}"
            )
        if rule.operator in ("hash", "tokenise") and key is None:
            raise InvalidInput(
                f"masking rule for column {rule.column!r}: {rule.operator} needs a key"
            )
        exprs.append(_rule_expr(rule, key))
    return lf.with_columns(exprs)


def _rule_expr(rule: MaskRule, key: bytes | None) -> pl.Expr:
    if rule.operator == "redact":
        return redact(rule.column, rule.replacement)
    if rule.operator == "partial":
        return partial(rule.column, rule.keep_last, rule.mask_char)
    assert key is not None
    if rule.operator == "hash":
        return hmac_hash(rule.column, key)
    return tokenise(rule.column, key, rule.context if rule.context is not None else rule.column)
