"""The pipelines slice's tables."""

from __future__ import annotations
