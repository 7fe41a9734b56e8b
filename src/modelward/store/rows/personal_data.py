"""Stored scans for personal data: appended, never updated."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from modelward.store.rows.base import Base, BigIntId, Timestamp


class PersonalDataScanRow(Base):
    """One scan of one subject: a dataset (its lineage artifact id) or an endpoint's prediction
    log (the endpoint's name), the findings, who asked and when."""

    __tablename__ = "personal_data_scans"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(256))
    data_digest: Mapped[str | None] = mapped_column(String(140))
    columns_found: Mapped[int] = mapped_column(Integer)
    kinds: Mapped[list[str]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    scanned_by: Mapped[str | None] = mapped_column(String(256))
    scanned_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (Index("ix_personal_data_scans_subject", "subject_type", "subject_id", "id"),)
