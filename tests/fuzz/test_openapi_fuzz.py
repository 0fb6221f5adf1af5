"""Every operation of ``/api/v1/openapi.json``, fuzzed over HTTP as the server administrator.

Schemathesis draws requests from the document, both ones the schema allows and ones it does
not (wrong types, missing fields, huge numbers, odd strings), and checks each reply: never a
5xx, a status and content type the document declares, and a body that matches the schema it
declares for that status. The server's log must hold no error and no traceback afterwards.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import schemathesis
from hypothesis import assume, given
from schemathesis import GenerationMode, checks

from tests.fuzz.conftest import FUZZ_SETTINGS, ONLY, FuzzTarget, seeded_path_parameters

MAX_REQUEST_TEXT = 8000
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


def _destructive_last(operation: Any) -> tuple[int, str]:
    # Deleting the seeded project first would leave every later operation aiming at nothing.
    if operation.method.upper() != "DELETE":
        return (0, operation.path)
    return (2 if operation.path == "/api/v1/projects/{project}" else 1, operation.path)


def _fuzz(operation: Any, target: FuzzTarget) -> None:
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @FUZZ_SETTINGS
    @given(case=cases)
    def one(case: Any) -> None:
        # Request lines past what HTTP servers accept are refused by the protocol layer (the
        # connection is closed), not by Corridor: keep requests to a size a client can send.
        assume(len(case.as_curl_command()) < MAX_REQUEST_TEXT)
        try:
            response = case.call(base_url=target.server.url, headers=target.server.auth())
        except OSError as exc:  # a dropped connection is a failure too: say what was sent
            raise AssertionError(f"{exc!r} answering {case.as_curl_command()[:2000]}") from None
        case.validate_response(response, checks=CHECKS)

    one()


def test_every_api_operation_survives_fuzzing(fuzz_target: FuzzTarget) -> None:
    document = fuzz_target.http.get("/api/v1/openapi.json").json()
    seeded_path_parameters(document, fuzz_target.seeds)
    schema = schemathesis.openapi.from_dict(document)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()), key=_destructive_last
    )
    assert len(operations) > 50, "the document lost its operations"
    if ONLY:
        operations = [op for op in operations if ONLY in op.path]
    failures = []
    for operation in operations:
        try:
            _fuzz(operation, fuzz_target)
        except (Exception, BaseExceptionGroup) as exc:  # one report for every operation
            failures.append(f"{operation.method.upper()} {operation.path}\n{exc}")
    assert not failures, "\n\n".join(failures)
    assert fuzz_target.log_errors() == []
