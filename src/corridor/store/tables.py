"""Every slice's tables, gathered on one metadata (what migrations are checked against)."""

from __future__ import annotations

from corridor.security import models as security_models
from corridor.store.base import Base

metadata = Base.metadata

__all__ = ["metadata", "security_models"]
