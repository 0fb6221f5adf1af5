"""Tables of the tracking slice, shaped like MLflow's SQL store so its REST API maps onto them.

Times are epoch milliseconds (``BigInteger``), as MLflow reports them. Metric points are keyed by
every field, so a retried identical point is stored once (``INSERT ... ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from corridor.store.base import Base
from corridor.tracking.validation import (
    MAX_ARTIFACT_PATH_BYTES,
    MAX_EXPERIMENT_NAME_LENGTH,
    MAX_EXPERIMENT_TAG_VALUE_LENGTH,
    MAX_KEY_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_RUN_NAME_LENGTH,
    MAX_TAG_VALUE_LENGTH,
)


class Experiment(Base):
    __tablename__ = "experiments"
    # Ids are never reused, even after the newest experiment is removed with its project.
    __table_args__ = {"sqlite_autoincrement": True}

    experiment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(MAX_EXPERIMENT_NAME_LENGTH), unique=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    artifact_location: Mapped[str] = mapped_column(String(1000))
    lifecycle_stage: Mapped[str] = mapped_column(String(32))
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)


class ExperimentTag(Base):
    __tablename__ = "experiment_tags"
    __table_args__ = (PrimaryKeyConstraint("experiment_id", "key"),)

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.experiment_id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    value: Mapped[str] = mapped_column(String(MAX_EXPERIMENT_TAG_VALUE_LENGTH))


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_experiment_id_start_time", "experiment_id", "start_time"),)

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.experiment_id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(MAX_RUN_NAME_LENGTH))
    user_id: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    lifecycle_stage: Mapped[str] = mapped_column(String(32))
    deleted_time: Mapped[int | None] = mapped_column(BigInteger)
    artifact_uri: Mapped[str] = mapped_column(String(1000))


class RunParam(Base):
    __tablename__ = "run_params"
    __table_args__ = (PrimaryKeyConstraint("run_id", "key"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    value: Mapped[str] = mapped_column(String(MAX_PARAM_VALUE_LENGTH))


class RunTag(Base):
    __tablename__ = "run_tags"
    __table_args__ = (PrimaryKeyConstraint("run_id", "key"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    value: Mapped[str] = mapped_column(String(MAX_TAG_VALUE_LENGTH))


class Metric(Base):
    """One point of a metric's time series; NaN is ``is_nan`` with ``value`` 0."""

    __tablename__ = "run_metrics"
    # The key leads with (run, key, step, timestamp): it is also the index history reads use.
    __table_args__ = (
        PrimaryKeyConstraint("run_id", "key", "step", "timestamp", "value", "is_nan"),
        {"sqlite_with_rowid": False},
    )

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Double)
    is_nan: Mapped[bool] = mapped_column(Boolean)


class LatestMetric(Base):
    """The newest point of each metric of a run (highest step, then timestamp, then value)."""

    __tablename__ = "run_latest_metrics"
    __table_args__ = (
        PrimaryKeyConstraint("run_id", "key"),
        Index("ix_run_latest_metrics_key_value", "key", "value"),
        {"sqlite_with_rowid": False},
    )

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Double)
    is_nan: Mapped[bool] = mapped_column(Boolean)


class Artifact(Base):
    """One file of a run's artifact tree; directories are implied by the paths."""

    __tablename__ = "run_artifacts"
    __table_args__ = (PrimaryKeyConstraint("run_id", "path"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(MAX_ARTIFACT_PATH_BYTES))
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[int] = mapped_column(BigInteger)


# MLflow's column sizes for a logged model's name and type.
MAX_LOGGED_MODEL_NAME_LENGTH = 500


class LoggedModel(Base):
    """An MLflow 3 logged model: files and metadata of a model, apart from any run."""

    __tablename__ = "logged_models"
    __table_args__ = (
        Index("ix_logged_models_experiment_id_creation_time", "experiment_id", "creation_time"),
    )

    model_id: Mapped[str] = mapped_column(String(34), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.experiment_id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(MAX_LOGGED_MODEL_NAME_LENGTH))
    # By id only, as model versions name runs: the run may live on after the model or not.
    source_run_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    model_type: Mapped[str | None] = mapped_column(String(MAX_LOGGED_MODEL_NAME_LENGTH))
    artifact_location: Mapped[str] = mapped_column(String(1000))
    lifecycle_stage: Mapped[str] = mapped_column(String(32))
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_updated_time: Mapped[int] = mapped_column(BigInteger)


class LoggedModelTag(Base):
    __tablename__ = "logged_model_tags"
    __table_args__ = (PrimaryKeyConstraint("model_id", "key"),)

    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    value: Mapped[str] = mapped_column(String(MAX_TAG_VALUE_LENGTH))


class LoggedModelParam(Base):
    __tablename__ = "logged_model_params"
    __table_args__ = (PrimaryKeyConstraint("model_id", "key"),)

    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    value: Mapped[str] = mapped_column(String(MAX_PARAM_VALUE_LENGTH))


class LoggedModelArtifact(Base):
    """One file of a logged model's artifact tree; the same shape as a run's `Artifact`."""

    __tablename__ = "logged_model_artifacts"
    __table_args__ = (PrimaryKeyConstraint("model_id", "path"),)

    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(MAX_ARTIFACT_PATH_BYTES))
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[int] = mapped_column(BigInteger)


class RunModelOutput(Base):
    """A run produced logged model ``model_id`` at ``step`` (MLflow's run outputs)."""

    __tablename__ = "run_model_outputs"
    __table_args__ = (PrimaryKeyConstraint("run_id", "model_id", "step"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(
        ForeignKey("logged_models.model_id", ondelete="CASCADE"), index=True
    )
    step: Mapped[int] = mapped_column(BigInteger)
