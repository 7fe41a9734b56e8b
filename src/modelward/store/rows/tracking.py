"""Tracking tables (SQLAlchemy 2 typed rows). Private to ``modelward.store``.

Times are timezone-aware datetimes, except metric timestamps, which stay integer
milliseconds since the epoch: they arrive by the hundred thousand per second and are
compared, never displayed one by one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from modelward.store.rows.base import Base, BigIntId, Timestamp


class ExperimentRow(Base):
    __tablename__ = "experiments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    lifecycle: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    deleted_at: Mapped[datetime | None] = mapped_column(Timestamp)


class ExperimentTagRow(Base):
    __tablename__ = "experiment_tags"
    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunRow(Base):
    __tablename__ = "runs"
    pk: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    lifecycle: Mapped[str] = mapped_column(String(16), default="active")
    user: Mapped[str | None] = mapped_column(String(256))
    parent_run_id: Mapped[str | None] = mapped_column(String(32), index=True)
    start_time: Mapped[datetime] = mapped_column(Timestamp)
    end_time: Mapped[datetime | None] = mapped_column(Timestamp)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_traceback: Mapped[str | None] = mapped_column(Text)
    pipeline_run_id: Mapped[str | None] = mapped_column(String(256), index=True)
    trigger_type: Mapped[str | None] = mapped_column(String(64))
    process_type: Mapped[str | None] = mapped_column(String(64))
    step_name: Mapped[str | None] = mapped_column(String(256))
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deleted_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Set by the SDK's heartbeat while a run is active; NULL: nobody watches it, never timed out.
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        Index("ix_runs_experiment_start", "experiment_id", "start_time"),
        Index("ix_runs_start_time", "start_time"),  # listings across experiments (migration 0020)
        Index("ix_runs_status_heartbeat", "status", "last_heartbeat_at"),  # the sweep for silent runs
    )


class ParamRow(Base):
    __tablename__ = "params"
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_params_key_value", "key", "value"),)


class TagRow(Base):
    __tablename__ = "tags"
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_tags_key_value", "key", "value"),)


class MetricRow(Base):
    __tablename__ = "metrics"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float | None] = mapped_column(Float)  # NULL is NaN (SQLite cannot store NaN)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)

    # One row per point, as MLflow's primary key: a retried batch stores nothing twice (NaN is
    # NULL, which a unique index never equates, hence the second, partial index).
    __table_args__ = (
        Index("ux_metrics_point", "run_pk", "key", "step", "timestamp_ms", "value", unique=True),
        Index("ux_metrics_nan_point", "run_pk", "key", "step", "timestamp_ms", unique=True,
              sqlite_where=text("value IS NULL"), postgresql_where=text("value IS NULL")),
    )


class LatestMetricRow(Base):
    """The newest point per (run, key): what search and compare read."""

    __tablename__ = "latest_metrics"
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)  # NULL is NaN
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_latest_metrics_key_value", "key", "value"),)


class RunNoteRow(Base):
    __tablename__ = "run_notes"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), index=True)
    author: Mapped[str | None] = mapped_column(String(256))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class RunLogRow(Base):
    """Captured stdout/stderr, stored in chunks in the order they were written."""

    __tablename__ = "run_logs"
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    stream: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class BlobRow(Base):
    """One stored blob, named by the SHA-256 of its bytes."""

    __tablename__ = "blobs"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class RunArtifactRow(Base):
    """A run's logical artifact path pointing at a blob."""

    __tablename__ = "run_artifacts"
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class RunWriterRow(Base):
    """Who wrote what kind of thing into a run (params, metrics, tags, artifacts, ...).

    Everyone listed here is an author of the model versions the run backs: four-eyes
    keeps them all from approving those versions."""

    __tablename__ = "run_writers"
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    user: Mapped[str] = mapped_column(String(256), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_at: Mapped[datetime] = mapped_column(Timestamp)
