"""Alert states, their history, and the leases that let one server process of many run a
scheduled job. Private to ``modelward.store``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from modelward.store.rows.base import Base, BigIntId, Timestamp


class AlertStateRow(Base):
    """Where one rule of the endpoint's policy stands; ``evaluated_at`` only moves forward."""

    __tablename__ = "alert_states"
    endpoint: Mapped[str] = mapped_column(String(128), primary_key=True)
    rule: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    evaluated_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    fired_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # of the last observation


class AlertEventRow(Base):
    """One move of an alert; never updated except to add what the move caused (``actions``)."""

    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(String(128))
    rule: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(256))
    metric: Mapped[str] = mapped_column(String(256))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float] = mapped_column(Float)
    comparison: Mapped[str] = mapped_column(String(2))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    severity: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(Timestamp)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    rollback: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_alert_events_endpoint_at", "endpoint", "at"),)


class SchedulerLeaseRow(Base):
    """Who runs a scheduled job (``name``) until ``expires_at``; another process takes it after."""

    __tablename__ = "scheduler_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    acquired_at: Mapped[datetime] = mapped_column(Timestamp)
