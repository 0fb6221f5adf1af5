"""Tables of the model registry, shaped like MLflow's registry store so its REST API maps on.

Times are epoch milliseconds (``BigInteger``), as MLflow reports them. A version names its run
by id only, with no foreign key (as MLflow's ``model_versions.run_id`` does), so the registry
does not depend on the tracking tables. Aliases point at a version through a composite foreign
key, so deleting a version deletes its aliases in the database itself.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from corridor.registry.validation import (
    MAX_ALIAS_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_MODEL_NAME_LENGTH,
    MAX_SOURCE_LENGTH,
    MAX_STATUS_MESSAGE_LENGTH,
    MAX_TAG_KEY_LENGTH,
    MAX_TAG_VALUE_LENGTH,
)
from corridor.store.base import Base, UTCDateTime, new_id, utcnow


class RegisteredModel(Base):
    __tablename__ = "registered_models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # One namespace across the server, as in MLflow: clients find a model by its name alone.
    name: Mapped[str] = mapped_column(String(MAX_MODEL_NAME_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(String(MAX_DESCRIPTION_LENGTH), default="")
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_updated_time: Mapped[int] = mapped_column(BigInteger)
    # The highest version number ever given: numbers are never reused after a delete, so that
    # "models:/fraud/3" can never come to mean a different model.
    last_version: Mapped[int] = mapped_column(Integer, default=0)


class RegisteredModelTag(Base):
    __tablename__ = "registered_model_tags"
    __table_args__ = (PrimaryKeyConstraint("registered_model_id", "key"),)

    registered_model_id: Mapped[str] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(MAX_TAG_KEY_LENGTH))
    value: Mapped[str] = mapped_column(String(MAX_TAG_VALUE_LENGTH))


class ModelVersion(Base):
    """One immutable version; only description, tags, stage and a pending status change."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("registered_model_id", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    registered_model_id: Mapped[str] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_updated_time: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(String(MAX_DESCRIPTION_LENGTH), default="")
    user_id: Mapped[str] = mapped_column(String(256), default="")
    current_stage: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(MAX_SOURCE_LENGTH))
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    run_link: Mapped[str | None] = mapped_column(String(MAX_SOURCE_LENGTH))
    # MLflow 3's logged model id (``m-...``), not the registered model.
    model_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    status_message: Mapped[str | None] = mapped_column(String(MAX_STATUS_MESSAGE_LENGTH))
    storage_location: Mapped[str | None] = mapped_column(String(MAX_SOURCE_LENGTH))
    package_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    flavour: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[str | None] = mapped_column(String(16))
    # The manifest's derived_from, kept here so that listings need not read packages.
    derived_from: Mapped[str | None] = mapped_column(String(MAX_SOURCE_LENGTH))


class ModelVersionTag(Base):
    __tablename__ = "model_version_tags"
    __table_args__ = (PrimaryKeyConstraint("model_version_id", "key"),)

    model_version_id: Mapped[str] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(MAX_TAG_KEY_LENGTH))
    value: Mapped[str] = mapped_column(String(MAX_TAG_VALUE_LENGTH))


class ModelAlias(Base):
    __tablename__ = "model_aliases"
    __table_args__ = (
        PrimaryKeyConstraint("registered_model_id", "alias"),
        ForeignKeyConstraint(
            ["registered_model_id", "version"],
            ["model_versions.registered_model_id", "model_versions.version"],
            ondelete="CASCADE",
        ),
    )

    registered_model_id: Mapped[str] = mapped_column(String(32))
    alias: Mapped[str] = mapped_column(String(MAX_ALIAS_LENGTH))
    version: Mapped[int] = mapped_column(Integer)


class PackageUpload(Base):
    """A blob uploaded into a project, which its packages may then list.

    Blobs are shared by digest across the server; this row is what lets a project use one, so
    that knowing a digest is not enough to pull another project's file into your package.
    """

    __tablename__ = "package_uploads"
    __table_args__ = (PrimaryKeyConstraint("project_id", "digest"),)

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
