"""The serving metrics, where the gateway and the data plane first found them.

They live in `corridor.serving.metrics` (the serving plane holds them, and the plane must not
import the gateway, which imports the plane).
"""

from __future__ import annotations

from corridor.serving.metrics import ServingMetrics as ServingMetrics

__all__ = ["ServingMetrics"]
