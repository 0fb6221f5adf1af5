"""MLflow's model stages (None, Staging, Production, Archived), kept for clients that use them.

Aliases (`corridor.registry.aliases`) are the better tool; stages stay because MLflow 2 clients
still call ``transition_model_version_stage`` and ``get_latest_versions``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.registry.entities import ModelVersionRecord
from corridor.registry.lookup import model_row, version_row
from corridor.registry.models import ModelVersion
from corridor.registry.records import version_record, version_records
from corridor.registry.validation import Stage, canonical_stage, now_ms

ACTIVE_STAGES = frozenset({Stage.STAGING, Stage.PRODUCTION})


def get_latest_versions(
    session: Session,
    name: str,
    stages: list[str] | None = None,
    *,
    project_id: str | None = None,
) -> list[ModelVersionRecord]:
    """The newest version in each of ``stages`` (all stages if None or empty), oldest first."""
    model = model_row(session, name, project_id=project_id)
    wanted = {canonical_stage(s).value for s in stages} if stages else None
    newest: dict[str, ModelVersion] = {}
    for row in session.scalars(
        select(ModelVersion)
        .where(ModelVersion.registered_model_id == model.id)
        .order_by(ModelVersion.version)
    ):
        if wanted is None or row.current_stage in wanted:
            newest[row.current_stage] = row
    return version_records(session, sorted(newest.values(), key=lambda r: r.version))


def transition_model_version_stage(
    session: Session,
    name: str,
    version: int | str,
    stage: str,
    *,
    archive_existing_versions: bool = False,
    project_id: str | None = None,
) -> ModelVersionRecord:
    """Move a version to ``stage``; ``archive_existing_versions`` archives the others there.

    Archiving the others applies to Staging and Production only, as in MLflow.
    """
    target = canonical_stage(stage)
    if archive_existing_versions and target not in ACTIVE_STAGES:
        raise InvalidInput(
            f"archive_existing_versions applies to Staging and Production, not {target.value}"
        )
    model = model_row(session, name, project_id=project_id, for_update=True)
    row = version_row(session, model, version)
    now = now_ms()
    if archive_existing_versions:
        others = session.scalars(
            select(ModelVersion).where(
                ModelVersion.registered_model_id == model.id,
                ModelVersion.current_stage == target.value,
                ModelVersion.id != row.id,
            )
        )
        for other in others:
            other.current_stage = Stage.ARCHIVED.value
            other.last_updated_time = now
    row.current_stage = target.value
    row.last_updated_time = now
    session.flush()
    return version_record(session, row)
