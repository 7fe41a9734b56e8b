"""Stored checks of datasets against their expectations: appended, never updated."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from modelward.store.rows.base import Base, BigIntId, Timestamp


class DataCheckRow(Base):
    """One check of one dataset (a lineage artifact of a data kind): the declaration it used,
    the result, who asked and when."""

    __tablename__ = "dataset_checks"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    artifact_id: Mapped[str] = mapped_column(ForeignKey("lineage_artifacts.id", ondelete="CASCADE"))
    dataset_digest: Mapped[str | None] = mapped_column(String(140))
    status: Mapped[str] = mapped_column(String(16))
    passed: Mapped[bool | None] = mapped_column(Boolean)
    trigger: Mapped[str] = mapped_column(String(32))
    declaration: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    checked_by: Mapped[str | None] = mapped_column(String(256))
    checked_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (Index("ix_dataset_checks_artifact", "artifact_id", "id"),)
