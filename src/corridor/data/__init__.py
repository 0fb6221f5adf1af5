"""Datasets: immutable, versioned Parquet blobs, and what is done with them (``docs/data.md``).

``sansio`` is the I/O-free core: references, formats and CSV dialects, expectations and
validation, cleaning recipes, the expression language, profiles, drift and personal-data
scanning and masking. It takes and returns plain values and Polars frames.

Around it, the slice that reads sources and stores data: ``ingest`` (``staging``, ``convert``,
``sources``, ``decoded`` and ``diagnose`` read inputs into Parquet), ``datasets``, ``versions``
and ``deletion`` (the metadata store), ``reading`` and ``reports`` (blobs), ``operations`` and
``transform`` (validate, profile, diff, PII; clean, mask, copy), ``api`` and ``cli``. The SDK
lives in ``corridor.client`` (``client.data``); its ``ingest``, ``get`` and ``DataClient`` are
importable from here.
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
