"""A study in project ``p`` for access-control tests: study ``s`` with one running trial.

Returns the placeholders the RBAC matrix puts in its URLs: ``STUDYID`` and ``TRIALID``.
"""

from __future__ import annotations

from sqlalchemy import select

from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.training import studies
from corridor.training.schemas import TrialCreate


def seed_tuning(runtime: Runtime) -> dict[str, str]:
    with runtime.db.write() as session:
        p = session.scalars(select(Project).where(Project.name == "p")).one()
        study = studies.create_study(session, p, "s", ["minimize"])
        trial = studies.create_trial(session, p, study.id, TrialCreate())
    return {"STUDYID": str(study.id), "TRIALID": str(trial.id)}
