"""Datasets: validation, cleaning, profiling, drift and personal-data handling.

The modules here are I/O-free: they take and return Polars frames and plain values, with
pydantic models for the declarative specs (expectation suites, cleaning recipes, masking plans)
so that specs can be read from YAML or JSON and stored beside a dataset version.

- ``expectations`` (spec) and ``validate`` (engine): one-pass data validation;
- ``recipe`` (spec), ``clean_steps`` and ``clean`` (engine): lazy cleaning with quarantine;
- ``profile`` and ``drift``: statistics of a frame, and how two frames or profiles differ;
- ``expr``: the safe expression language used by filters, derived columns and custom checks;
- ``pii``: recognizers, column scanning and masking of personal data.

Around that core, the slice that stores data (see ``docs/data.md``): ``ingest`` (staging,
``convert``, ``sources``), ``datasets`` and ``versions`` (the metadata store), ``operations``
and ``transform`` (validate, profile, diff, PII; clean, mask, copy), ``api`` and ``cli``. The
SDK lives in ``corridor.client`` (``client.data``); its ``ingest``, ``get`` and ``DataClient``
are importable from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corridor.client.data import DataClient
    from corridor.client.data_shortcuts import get, ingest

__all__ = ["DataClient", "get", "ingest"]


def __getattr__(name: str) -> Any:
    # Lazy, so that the slice's own modules do not pull in the HTTP client.
    if name == "DataClient":
        from corridor.client.data import DataClient

        return DataClient
    if name in __all__:
        from corridor.client import data_shortcuts

        return getattr(data_shortcuts, name)
    raise AttributeError(f"module 'corridor.data' has no attribute {name!r}")
