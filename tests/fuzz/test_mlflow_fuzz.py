"""A property-based suite for the MLflow routes, which are not in the OpenAPI document.

For every MLflow route Corridor serves, requests are drawn from the fields of that route's own
request message, filled with seeded ids and names or with anything JSON can hold: wrong types,
integers far past 64 bits, NaN, deep nesting, lone surrogates; plus bodies that are not JSON or
not UTF-8, and query strings with undecodable bytes. Every reply must be MLflow's error body or
a JSON success, never a 5xx; the server's log must hold no error and no traceback afterwards.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import hypothesis.strategies as st
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import given

from corridor.mlflow_compat import api as mlflow_api
from corridor.mlflow_compat.access import MlflowGuard
from tests.fuzz.conftest import FUZZ_SETTINGS, FuzzTarget

HUGE = st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, -1, 0])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.just(b"[" * 5000 + b"]" * 5000),
    st.just(b'{"a":' * 3000 + b"1" + b"}" * 3000),
    st.just(b'{"name": "\\ud800"}'),
    st.just(b'{"name": "\xff\xfe"}'),
    st.just(b"\xef\xbb\xbf{}"),
)


def _routes() -> list[tuple[str, str, list[str]]]:
    """(method, path, field names of its request message) for every MLflow route."""
    found = []
    for context in iter_route_contexts(mlflow_api.router.routes):
        route = context.original_route
        # The UI's /ajax-api prefix serves the very same handlers as /api.
        if not isinstance(route, APIRoute) or str(context.path).startswith("/ajax-api"):
            continue
        fields: list[str] = []
        for dependency in route.dependant.dependencies:
            if isinstance(dependency.call, MlflowGuard):
                fields = list(dependency.call.message.model_fields)
        for method in sorted(context.methods or ()):
            found.append((method, str(context.path), fields))
    return found


def _seeds(http: httpx.Client) -> dict[str, list[Any]]:
    def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = http.post("/api/2.0/mlflow/" + path, json=body)
        assert response.status_code == 200, response.text
        reply: dict[str, Any] = response.json()
        return reply

    experiment = call("experiments/create", {"name": "fuzz/mlflow"})["experiment_id"]
    run = call("runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"]
    call("runs/log-metric", {"run_id": run, "key": "loss", "value": 1.0, "timestamp": 1})
    call("registered-models/create", {"name": "fuzz/rm"})
    return {
        "experiment_id": [experiment, "0"],
        "experiment_ids": [[experiment]],
        "run_id": [run],
        "run_uuid": [run],
        "name": ["fuzz/rm", "fuzz/mlflow"],
        "key": ["loss"],
        "version": ["1"],
    }


def _fill(path: str, run_id: str) -> st.SearchStrategy[str]:
    """The route's path with its parameters drawn from seeds or from arbitrary text."""
    if "{" not in path:
        return st.just(path)
    head, _, _ = path.partition("{")
    tails = st.one_of(
        st.just(f"{run_id}/artifacts/x.txt"),
        st.just("m-" + "0" * 32),
        st.text(min_size=1, max_size=30).map(lambda text: quote(text, safe="")),
        st.just("%FF%FE/../..%2F%00"),
    )
    return tails.map(lambda tail: head + tail)


def _request(
    method: str, path: str, fields: list[str], seeds: dict[str, list[Any]]
) -> st.SearchStrategy[tuple[str, str, bytes | None]]:
    def value(field: str) -> st.SearchStrategy[Any]:
        if field in seeds:
            return st.one_of(st.sampled_from(seeds[field]), JSON_VALUES)
        return JSON_VALUES

    message = st.fixed_dictionaries({}, optional={f: value(f) for f in fields})
    url = _fill(path, seeds["run_id"][0])
    if method == "GET":
        query = message.map(
            lambda m: "&".join(
                f"{quote(k)}={quote(v if isinstance(v, str) else json.dumps(v))}"
                for k, v in m.items()
            )
        )
        odd_query = st.sampled_from(["run_id=%FF%FE", "name=%00", "experiment_id=" + "9" * 40])
        return st.tuples(url, st.one_of(query, odd_query)).map(
            lambda pair: (method, f"{pair[0]}?{pair[1]}", None)
        )
    bodies = st.one_of(
        message.map(lambda m: json.dumps(m, allow_nan=True).encode()),
        RAW_BODIES,
    )
    return st.tuples(url, bodies).map(lambda pair: (method, pair[0], pair[1]))


def _check(http: httpx.Client, method: str, url: str, body: bytes | None) -> None:
    headers = {"content-type": "application/json"} if body is not None else {}
    response = http.request(method, url, content=body, headers=headers)
    where = f"{method} {url} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400 and not url.startswith("/api/2.0/mlflow-artifacts"):
        error = response.json()
        assert isinstance(error.get("error_code"), str), where
        assert isinstance(error.get("message"), str), where


def test_every_mlflow_route_survives_fuzzing(fuzz_target: FuzzTarget) -> None:
    http = fuzz_target.http
    seeds = _seeds(http)
    routes = _routes()
    assert len(routes) > 50, "the MLflow router lost its routes"
    failures = []
    for method, path, fields in routes:

        @FUZZ_SETTINGS
        @given(request=_request(method, path, fields, seeds))
        def one(request: tuple[str, str, bytes | None]) -> None:
            _check(http, *request)

        try:
            one()
        except (Exception, BaseExceptionGroup) as exc:  # one report for every route
            failures.append(f"{method} {path}\n{exc}")
    assert not failures, "\n\n".join(failures)
    assert fuzz_target.log_errors() == []
