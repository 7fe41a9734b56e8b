"""Deployments and their append-only revisions. Private to ``modelward.store``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelward.store.rows.base import Base, BigIntId, Timestamp


class DeploymentRow(Base):
    __tablename__ = "deployments"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    environment: Mapped[str] = mapped_column(String(40), index=True)
    model_name: Mapped[str] = mapped_column(String(256), index=True)
    sticky_key: Mapped[str] = mapped_column(String(140))
    status: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class DeploymentRevisionRow(Base):
    """One state of a deployment; never updated, so 'what served at time T' is a lookup."""

    __tablename__ = "deployment_revisions"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    deployment_name: Mapped[str] = mapped_column(ForeignKey("deployments.name", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(Timestamp)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    routes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    rollout: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("deployment_name", "revision", name="uq_deployment_revisions_revision"),)
