"""The cache key of a step run: equal keys mean the step would compute the same output.

The key is the sha256 hex digest of one canonical JSON document (sorted keys, no spaces, ASCII)::

    {"v": 1, "code": CODE, "inputs": {PATH: DIGEST, ...}, "params": PARAMS,
     "environment": {NAME: VALUE, ...}}

- ``code``: ``code_digest.code_digest`` of the step's function: its source and the source of
  every function, class and module attribute it reaches inside the user's package. Editing the
  step or a helper it calls changes the key; upgrading an installed library does not (that is
  the environment's part).
- ``inputs``: every argument of the call, by its path (``args[0]``, ``kwargs['factor']``; a map
  item is ``args[0]``), to the sha256 of its payload encoding (``artifacts.encode_output``). An
  upstream step's output counts by its output digest, a literal by its literal digest, so the
  key follows the data, not where it came from: a cached upstream step and a re-run one that
  produced the same bytes give the same key downstream.
- ``params``: the digest of the step options that change what it computes (its ``env``
  values); resources, retries, timeouts and placement hints do not change an output and are
  left out, so giving a step more CPUs keeps its cache.
- ``environment``: ``environment.environment_of``: the Python ``major.minor``, Corridor's
  version and the versions of the third-party distributions the step's module imports.

The version number ``v`` changes whenever this document's shape or the meaning of a part
changes, so old keys miss rather than match something else. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Final

KEY_VERSION: Final = 1


def cache_key(
    *,
    code: str,
    inputs: Mapping[str, str],
    params: str,
    environment: Mapping[str, str],
) -> str:
    """The sha256 hex digest of the canonical JSON of a step run's code, inputs, params and
    environment (see the module docstring for what each holds)."""
    document = {
        "v": KEY_VERSION,
        "code": code,
        "inputs": dict(inputs),
        "params": params,
        "environment": dict(environment),
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


def params_digest(env: Mapping[str, str] | None) -> str:
    """The ``params`` part: the sha256 of the canonical JSON of the step's ``env`` option.

    The only option that changes what a step computes; ``None`` and ``{}`` are the same.
    """
    return hashlib.sha256(canonical_json({"env": dict(env or {})})).hexdigest()


def canonical_json(value: object) -> bytes:
    """One byte string per JSON value: sorted keys, no whitespace, ASCII escapes, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")
