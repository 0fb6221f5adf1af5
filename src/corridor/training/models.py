"""Tables of the hyperparameter search: Optuna studies and their trials, per project.

A trial is one row whose params, values, intermediate values and attributes are JSON text:
Optuna reads a trial whole, and its owner writes it a field at a time, so one row read and one
row written is the whole cost of either. Every change of a trial bumps its study's ``version``
in the same transaction and stamps the trial with it, so a reader can ask for the trials
changed since the version it saw (`corridor.training.studies`). Ids are never reused after a
delete (``sqlite_autoincrement``), as Optuna requires of study and trial ids.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from corridor.store.base import Base, UTCDateTime, utcnow

MAX_STUDY_NAME_LENGTH = 512


class Study(Base):
    __tablename__ = "tuning_studies"
    __table_args__ = (UniqueConstraint("project_id", "name"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(MAX_STUDY_NAME_LENGTH))
    # JSON list of "minimize" / "maximize".
    directions: Mapped[str] = mapped_column(String(2000))
    user_attrs: Mapped[str] = mapped_column(Text, default="{}")
    system_attrs: Mapped[str] = mapped_column(Text, default="{}")
    # JSON map of a parameter's name to the distribution its first trial gave it: later trials
    # must give a compatible one (checked in the same transaction as the write).
    distributions: Mapped[str] = mapped_column(Text, default="{}")
    # Trial numbers given so far: the next trial's number, taken under the row's lock.
    trial_count: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Trial(Base):
    __tablename__ = "tuning_trials"
    __table_args__ = (UniqueConstraint("study_id", "number"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey("tuning_studies.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    # JSON: values a list of numbers (or "inf", "-inf", "nan"), or null; params a list of
    # [name, internal value, distribution JSON] in the order set; intermediate a list of
    # [step, value]; attributes an object.
    values_json: Mapped[str | None] = mapped_column(Text)
    params_json: Mapped[str] = mapped_column(Text, default="[]")
    intermediate_json: Mapped[str] = mapped_column(Text, default="[]")
    user_attrs: Mapped[str] = mapped_column(Text, default="{}")
    system_attrs: Mapped[str] = mapped_column(Text, default="{}")
    datetime_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    datetime_complete: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(BigInteger, index=True)
