"""Fixtures for tracking: a project, an experiment and a run in a migrated store (both backends)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from corridor.security import projects
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.store.db import Database
from corridor.tracking import experiments, runs
from corridor.tracking.entities import ExperimentRecord
from corridor.tracking.models import (
    Artifact,
    Experiment,
    ExperimentTag,
    LatestMetric,
    Metric,
    Run,
    RunParam,
    RunTag,
)
from tests.server.conftest import app, http, runtime, world  # noqa: F401 (fixtures)

ADMIN = Principal.local_admin()
TABLES = (Experiment, ExperimentTag, Run, RunParam, RunTag, Metric, LatestMetric, Artifact)


@pytest.fixture
def project(db: Database) -> Project:
    with db.write() as session:
        return projects.create_project(session, "p", description="", by=ADMIN)


@pytest.fixture
def experiment(db: Database, project: Project) -> ExperimentRecord:
    with db.write() as session:
        return experiments.create_experiment(session, project, "exp")


@pytest.fixture
def run_id(db: Database, experiment: ExperimentRecord) -> str:
    with db.write() as session:
        return runs.create_run(session, experiment.experiment_id, user="alice").info.run_id


Counts = dict[str, int]


@pytest.fixture
def row_counts(db: Database) -> Callable[[], Counts]:
    """A function returning how many rows each tracking table holds (to prove nothing changed)."""

    def count() -> Counts:
        with db.read() as session:
            out: dict[str, Any] = {}
            for model in TABLES:
                out[model.__tablename__] = session.scalar(select(func.count()).select_from(model))
            return out

    return count
