"""Business KPIs logged per endpoint. Private to ``modelward.store``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from modelward.store.rows.base import Base, BigIntId, Timestamp


class BusinessMetricRow(Base):
    """One value of one named KPI at one instant; never updated."""

    __tablename__ = "business_metrics"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(128))
    value: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(Timestamp)
    version: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(256))
    recorded_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (
        Index("ix_business_metrics_endpoint_name_at", "endpoint", "name", "at"),
        Index("ix_business_metrics_endpoint_at", "endpoint", "at"),
    )
