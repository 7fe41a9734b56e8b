"""Lineage tables: artifacts, executions, the input/output events joining them, and contexts.

``identity`` makes an artifact one node however often it is logged: 'digest:<digest>'
when its content digest is known, else 'uri:<uri>'. A run is represented by the one
execution whose ``run_id`` names it; other executions (OpenLineage job runs,
registrations, deployments) are keyed by (type, external_id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelward.store.rows.base import Base, BigIntId, Timestamp


class LineageArtifactRow(Base):
    __tablename__ = "lineage_artifacts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    identity: Mapped[str] = mapped_column(String(1100))
    name: Mapped[str] = mapped_column(String(512))
    digest: Mapped[str | None] = mapped_column(String(140), index=True)
    uri: Mapped[str | None] = mapped_column(String(1024))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (
        UniqueConstraint("kind", "identity", name="uq_lineage_artifacts_kind_identity"),
        Index("ix_lineage_artifacts_uri", "uri"),
        Index("ix_lineage_artifacts_name", "name"),
    )


class LineageExecutionRow(Base):
    __tablename__ = "lineage_executions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(512))
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), unique=True
    )
    external_id: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str | None] = mapped_column(String(32))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (
        UniqueConstraint("type", "external_id", name="uq_lineage_executions_type_external_id"),
    )


class LineageEventRow(Base):
    __tablename__ = "lineage_events"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("lineage_executions.id", ondelete="CASCADE"))
    artifact_id: Mapped[str] = mapped_column(ForeignKey("lineage_artifacts.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (
        UniqueConstraint("execution_id", "artifact_id", "direction", name="uq_lineage_events_edge"),
        Index("ix_lineage_events_artifact", "artifact_id", "direction"),
    )


class LineageContextRow(Base):
    __tablename__ = "lineage_contexts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("type", "name", name="uq_lineage_contexts_type_name"),)


class LineageAssociationRow(Base):
    """An execution belongs to a context (experiment, pipeline run, job)."""

    __tablename__ = "lineage_associations"
    context_id: Mapped[str] = mapped_column(
        ForeignKey("lineage_contexts.id", ondelete="CASCADE"), primary_key=True
    )
    execution_id: Mapped[str] = mapped_column(
        ForeignKey("lineage_executions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
