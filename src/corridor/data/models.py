"""Tables of the data slice: datasets, their immutable versions, and reports on versions.

A version's data is one Parquet blob (``digest``, the SHA-256 of its bytes); a dataset holds a
given content once (``uq_dataset_versions_content``), so ingesting the same bytes again finds
the version that has them. Gating state is kept on the version (``gate_passed``) so that
listings need no extra query; it is set whenever a validation against the gate suite is stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from corridor.store.base import Base, UTCDateTime, new_id, utcnow

MAX_DESCRIPTION_LENGTH = 2000


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(MAX_DESCRIPTION_LENGTH), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Numbers are never reused, so "orders@3" always means the same bytes.
    last_version: Mapped[int] = mapped_column(Integer, default=0)


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_number"),
        UniqueConstraint("dataset_id", "digest", name="uq_dataset_versions_content"),
        Index("ix_dataset_versions_digest", "digest"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    row_count: Mapped[int] = mapped_column(BigInteger)
    columns: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL")
    )
    # How the version was made from others: {"kind": "clean" | "mask" | ..., "inputs": ...}.
    recipe: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Where an ingested version's bytes came from, and how they were read (the ingest report).
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    sensitivity: Mapped[str] = mapped_column(String(16))
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    masked: Mapped[bool] = mapped_column(Boolean, default=False)
    gate_suite: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    gate_digest: Mapped[str | None] = mapped_column(String(64))
    gate_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatasetReport(Base):
    """A validation report, profile or PII scan of one version (newest of a kind wins).

    The body, which carries cell values, is a blob (``body_digest``, see `corridor.data.reports`);
    the row keeps only a ``summary`` that names no cell value. Rows written before bodies were
    sealed have no body (``body_digest`` is NULL): only their summary survived the migration.
    """

    __tablename__ = "dataset_reports"
    __table_args__ = (Index("ix_dataset_reports_version_id_kind", "version_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    suite_digest: Mapped[str | None] = mapped_column(String(64))
    passed: Mapped[bool | None] = mapped_column(Boolean)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    body_digest: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatasetMaskKey(Base):
    """The project's masking key (for hash and tokenise), kept as a blob: the digest names it.

    Stored in the blob store so that it is encrypted under the master key and re-wrapped by
    key rotation like every other blob; one key per project keeps hashed columns joinable.
    """

    __tablename__ = "dataset_mask_keys"

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    key_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
