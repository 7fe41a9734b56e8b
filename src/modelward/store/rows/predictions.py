"""The prediction log's per-request index and ground-truth feedback. Private to ``modelward.store``.

The full records (inputs, outputs) live in Parquet files under the artifact root; a row here
names the file (``part``) so one request is found without scanning the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from modelward.store.rows.base import Base, Timestamp


class PredictionIndexRow(Base):
    __tablename__ = "prediction_index"
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(256))
    model_name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(Timestamp)
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    rows: Mapped[int] = mapped_column(Integer)
    part: Mapped[str] = mapped_column(String(1024))

    __table_args__ = (
        Index("ix_prediction_index_endpoint_at", "endpoint", "at"),
        Index("ix_prediction_index_endpoint_version_at", "endpoint", "version", "at"),
    )


class PredictionFeedbackRow(Base):
    __tablename__ = "prediction_feedback"
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(256), index=True)
    ground_truth: Mapped[Any] = mapped_column(JSON)
    values: Mapped[dict[str, float] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(Timestamp)
    actor: Mapped[str] = mapped_column(String(256))
