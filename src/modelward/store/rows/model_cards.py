"""Model card tables: every saved revision of a version's card, and its attachments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from modelward.store.rows.base import Base, BigIntId, Timestamp


class ModelCardRevisionRow(Base):
    """One saved state of a card; the newest is also in ``model_versions.card``."""

    __tablename__ = "model_card_revisions"
    version_pk: Mapped[int] = mapped_column(ForeignKey("model_versions.pk", ondelete="CASCADE"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    card: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str | None] = mapped_column(String(256))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class ModelCardAttachmentRow(Base):
    """A usage guideline or performance report: text stored as a blob, named by its digest."""

    __tablename__ = "model_card_attachments"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    version_pk: Mapped[int] = mapped_column(ForeignKey("model_versions.pk", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(256))
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
