"""Leader leases: one row per name saying which process holds a job (the compute scheduler,
the pipelines loop) and until when, so that several server processes over one database never
do it twice.

A holder renews its row before it expires; another process takes it only once it has expired
(or been released). The row is read ``FOR UPDATE`` in the write transaction, so two processes
that race for an expired row cannot both win. The table is the caller's: any mapped class with
``name``, ``holder`` and ``expires_at`` columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select

from corridor.store.db import Database


def take_lease(
    db: Database, table: type[Any], name: str, holder: str, *, now: dt.datetime, ttl_s: float
) -> bool:
    """Hold (or renew) lease ``name`` for ``holder``; False while another live holder has it."""
    expires_at = now + dt.timedelta(seconds=ttl_s)
    with db.write() as session:
        row = session.scalar(select(table).where(table.name == name).with_for_update())
        if row is None:
            session.add(table(name=name, holder=holder, expires_at=expires_at))
            return True
        if row.holder != holder and row.expires_at > now:
            return False
        row.holder = holder
        row.expires_at = expires_at
        return True


def release_lease(db: Database, table: type[Any], name: str, holder: str) -> None:
    """Give lease ``name`` up, if ``holder`` still holds it."""
    with db.write() as session:
        session.execute(delete(table).where(table.name == name, table.holder == holder))
