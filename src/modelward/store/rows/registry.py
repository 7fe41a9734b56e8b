"""Registry tables: registered models, versions, their files, tags, aliases and alias history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelward.store.rows.base import Base, BigIntId, Timestamp


class RegisteredModelRow(Base):
    __tablename__ = "registered_models"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    # The last version number handed out; bumped under a row lock so numbers never repeat.
    last_version: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class RegisteredModelTagRow(Base):
    __tablename__ = "registered_model_tags"
    model_id: Mapped[str] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    pk: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), default="candidate")
    source: Mapped[str] = mapped_column(String(1024))
    source_run_id: Mapped[str | None] = mapped_column(String(32), index=True)
    artifact_digest: Mapped[str] = mapped_column(String(64), index=True)
    flavor: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    requirements: Mapped[list[str]] = mapped_column(JSON, default=list)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    card: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Who made it, as known when registered (registrant, run creator, run writers): kept even if
    # the run is later purged, so four-eyes cannot be reset by deleting the run.
    authors: Mapped[list[str] | None] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),)


class ModelVersionTagRow(Base):
    __tablename__ = "model_version_tags"
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("model_versions.pk", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelVersionFileRow(Base):
    """One file of a version: a logical path naming a blob (the bytes are never copied)."""

    __tablename__ = "model_version_files"
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("model_versions.pk", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)


class ModelAliasRow(Base):
    """Where an alias points now. No cascade from versions: a pointed-at version cannot go."""

    __tablename__ = "model_aliases"
    model_id: Mapped[str] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(255), primary_key=True)
    version_pk: Mapped[int] = mapped_column(ForeignKey("model_versions.pk"), index=True)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class ModelAliasEventRow(Base):
    """Every move of an alias, append-only: what 'as of' questions are answered from."""

    __tablename__ = "model_alias_events"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(255))
    version: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(Timestamp)
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_model_alias_events_model_alias_at", "model_id", "alias", "at"),)
