"""Mask the cell values of personal-data columns inside report bodies (pure, no I/O).

Reports are sealed in the blob store, but whoever may read a version's reports reads them in
the clear, and a report is read far more widely than the data: a profile's top values of an
email column are a list of emails. So the values of the columns a PII scan flags are replaced
(`REDACTED`) in what a report keeps: a profile keeps no min, max, top values, quantiles,
histogram, mean or standard deviation of such a column (counts, missing and distinct stay);
a validation keeps its failing rows with those columns' values replaced, and no freshness
timestamp read from such a column. PII scans hold no cell values and are left as they are.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

REDACTED = "[REDACTED]"
VALIDATION, PROFILE, PII = "validation", "profile", "pii"
"""The report kinds, as stored in ``dataset_reports.kind``."""

_PROFILE_VALUES = ("mean", "std", "histogram")


def carries_values(kind: str, body: dict[str, Any]) -> bool:
    """Whether ``body`` holds cell values at all, so that finding PII columns can be skipped."""
    if kind == PROFILE:
        return True
    if kind == VALIDATION:
        return any(r.get("samples") or r.get("kind") == "freshness" for r in _results(body))
    return False


def mask_report(kind: str, body: dict[str, Any], personal: Collection[str]) -> dict[str, Any]:
    """A copy of ``body`` with the values of the ``personal`` columns masked."""
    if not personal:
        return body
    if kind == PROFILE:
        return _mask_profile(body, set(personal))
    if kind == VALIDATION:
        return _mask_validation(body, set(personal))
    return body


def _mask_profile(body: dict[str, Any], personal: set[str]) -> dict[str, Any]:
    columns = []
    for column in body.get("columns", []):
        if column.get("name") in personal:
            column = {
                **column,
                "min": _hide(column.get("min")),
                "max": _hide(column.get("max")),
                "top_values": [],
                "quantiles": {},
                **dict.fromkeys(_PROFILE_VALUES),
            }
        columns.append(column)
    return {**body, "columns": columns}


def _mask_validation(body: dict[str, Any], personal: set[str]) -> dict[str, Any]:
    results = []
    for result in _results(body):
        samples = [
            {name: _hide(value) if name in personal else value for name, value in row.items()}
            for row in result.get("samples", [])
        ]
        result = {**result, "samples": samples}
        observed = result.get("observed")
        touches = personal.intersection(result.get("columns", []))
        if result.get("kind") == "freshness" and touches and isinstance(observed, str):
            # The message quotes the newest timestamp, which is a value of the column.
            message = str(result.get("message", "")).replace(observed, REDACTED)
            result = {**result, "observed": REDACTED, "message": message}
        results.append(result)
    return {**body, "results": results}


def _results(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = body.get("results", [])
    return found if isinstance(found, list) else []


def _hide(value: Any) -> Any:
    return None if value is None else REDACTED
