"""The lineage table: one row per edge, whichever slices its two nodes come from."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from corridor.store.base import Base, UTCDateTime, utcnow


class LineageEdge(Base):
    """``src`` was used to make ``dst`` (dataset version -> run -> model version...)."""

    __tablename__ = "lineage_edges"
    __table_args__ = (
        UniqueConstraint("src_kind", "src_id", "dst_kind", "dst_id"),
        Index("ix_lineage_edges_dst", "dst_kind", "dst_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    src_kind: Mapped[str] = mapped_column(String(32))
    src_id: Mapped[str] = mapped_column(String(256))
    dst_kind: Mapped[str] = mapped_column(String(32))
    dst_id: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
