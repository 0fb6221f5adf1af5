"""The cache key: one digest per (code, inputs, params, environment), whatever the order given."""

from __future__ import annotations

import hashlib
import json

from corridor.pipelines.sansio.cache_key import (
    KEY_VERSION,
    cache_key,
    canonical_json,
    params_digest,
)

BASE = {
    "code": "c" * 64,
    "inputs": {"args[0]": "a" * 64, "kwargs['factor']": "b" * 64},
    "params": params_digest(None),
    "environment": {"python": "3.11", "corridor": "0.1.0", "dist:numpy": "2.1.0"},
}


def _key(**changes: object) -> str:
    return cache_key(**{**BASE, **changes})  # type: ignore[arg-type]


def test_the_key_is_the_sha256_of_the_canonical_document() -> None:
    document = {"v": KEY_VERSION, **BASE}
    expected = hashlib.sha256(
        json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert _key() == expected


def test_the_order_of_inputs_and_environment_does_not_matter() -> None:
    inputs = dict(reversed(list(BASE["inputs"].items())))  # type: ignore[attr-defined]
    environment = dict(reversed(list(BASE["environment"].items())))  # type: ignore[attr-defined]
    assert _key(inputs=inputs, environment=environment) == _key()


def test_each_part_changes_the_key() -> None:
    keys = {
        _key(),
        _key(code="d" * 64),
        _key(inputs={"args[0]": "a" * 64}),
        _key(inputs={"args[0]": "a" * 64, "kwargs['factor']": "e" * 64}),
        _key(inputs={"args[1]": "a" * 64, "kwargs['factor']": "b" * 64}),
        _key(params=params_digest({"SEED": "7"})),
        _key(environment={**BASE["environment"], "dist:numpy": "2.2.0"}),  # type: ignore[dict-item]
    }
    assert len(keys) == 7


def test_params_digest_treats_no_env_as_an_empty_env_and_ignores_order() -> None:
    assert params_digest(None) == params_digest({})
    assert params_digest({"A": "1", "B": "2"}) == params_digest({"B": "2", "A": "1"})
    assert params_digest({"A": "1"}) != params_digest({"A": "2"})


def test_canonical_json_is_ascii_sorted_and_compact() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == b'{"a":"\\u00e9","b":1}'
