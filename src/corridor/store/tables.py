"""Every slice's tables, gathered on one metadata (what migrations are checked against)."""

from __future__ import annotations

from corridor.data import models as data_models
from corridor.registry import models as registry_models
from corridor.security import models as security_models
from corridor.store.base import Base
from corridor.tracking import models as tracking_models

metadata = Base.metadata

__all__ = ["data_models", "metadata", "registry_models", "security_models", "tracking_models"]
