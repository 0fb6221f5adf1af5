"""Tables of the serving control plane: deployments and their revisions.

A deployment is a name (global, the model name on the inference routes) in one project with a
current revision number; each change (deploy, scale, rollback) writes a new, immutable
`DeploymentRevision` holding the whole `corridor.serving.spec.DeploymentSpec` as JSON and moves
``revision`` to it, in one transaction. The controller reads the current spec with one join
per deployment and notices changes by ``revision`` (and ``updated_at``, which moves with each
new revision; the controller's own status writes move neither). ``status`` and ``message`` are
the controller's to set ("pending" until it has looked, then "loading", "ready" or "failed"
with a message saying why).
Deleting a deployment deletes its row; its revisions go with it (ON DELETE CASCADE).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from corridor.store.base import Base, UTCDateTime, new_id, utcnow

MAX_DEPLOYMENT_NAME_LENGTH = 63
MAX_STATUS_MESSAGE_LENGTH = 2000

STATUSES = ("pending", "loading", "ready", "failed")
REASONS = ("deploy", "scale", "rollback")


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # One namespace across the server (`corridor.serving.spec.DEPLOYMENT_NAME`).
    name: Mapped[str] = mapped_column(String(MAX_DEPLOYMENT_NAME_LENGTH), unique=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # The revision served now (a row of `DeploymentRevision`).
    revision: Mapped[int] = mapped_column(Integer)
    # The highest revision number given; a rollback writes a new one, so numbers only grow.
    last_revision: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    message: Mapped[str] = mapped_column(String(MAX_STATUS_MESSAGE_LENGTH), default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DeploymentRevision(Base):
    __tablename__ = "deployment_revisions"
    __table_args__ = (UniqueConstraint("deployment_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column(Integer)
    # ``DeploymentSpec.model_dump(mode="json")``.
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Why it was made: "deploy", "scale" or "rollback".
    reason: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
