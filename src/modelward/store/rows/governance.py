"""Governance tables: versioned policies, evaluations, reviews, risk, checklist, business impact."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from modelward.store.rows.base import Base, BigIntId, Timestamp


class PolicyRow(Base):
    """One version of the policy of a scope (global | tier:<tier> | model:<name>); never updated
    except ``active``, which only the newest version of a scope holds."""

    __tablename__ = "governance_policies"
    __table_args__ = (UniqueConstraint("scope", "version", name="uq_governance_policies_scope_version"),)
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(300), index=True)
    version: Mapped[int] = mapped_column(Integer)
    yaml: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    # A model policy binds to the model's identity once the model exists, so a rename
    # carries the policy along and a new model under the old name does not inherit it.
    model_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # The evaluation dataset's digest when the policy was stored: gates read those bytes.
    dataset_digest: Mapped[str | None] = mapped_column(String(64))


class EvaluationRow(Base):
    __tablename__ = "governance_evaluations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version_pk: Mapped[int] = mapped_column(ForeignKey("model_versions.pk", ondelete="CASCADE"), index=True)
    artifact_digest: Mapped[str] = mapped_column(String(64))
    policy_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    dataset: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    passed: Mapped[bool] = mapped_column(Boolean)
    # On a caller's own dataset: shown, but moves nothing and counts as no evidence.
    advisory: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class ReviewRow(Base):
    """A decision or comment on a version; ``parent_id`` threads replies."""

    __tablename__ = "governance_reviews"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version_pk: Mapped[int] = mapped_column(ForeignKey("model_versions.pk", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(32))
    reviewer: Mapped[str] = mapped_column(String(256))
    roles: Mapped[list[str]] = mapped_column(JSON)
    comment: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[str | None] = mapped_column(String(32))
    artifact_digest: Mapped[str] = mapped_column(String(64))
    # What an approval saw (digests of artifact, card, evaluation, policy, risk, checklist).
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class RiskRow(Base):
    __tablename__ = "governance_risk"
    version_pk: Mapped[int] = mapped_column(ForeignKey("model_versions.pk", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    rating: Mapped[str] = mapped_column(String(16))
    rationale: Mapped[str] = mapped_column(Text)
    mitigation: Mapped[str | None] = mapped_column(Text)
    assessed_by: Mapped[str] = mapped_column(String(256))
    assessed_at: Mapped[datetime] = mapped_column(Timestamp)


class ChecklistRow(Base):
    __tablename__ = "governance_checklist"
    version_pk: Mapped[int] = mapped_column(ForeignKey("model_versions.pk", ondelete="CASCADE"), primary_key=True)
    item: Mapped[str] = mapped_column(String(512), primary_key=True)
    checked: Mapped[bool] = mapped_column(Boolean)
    checked_by: Mapped[str | None] = mapped_column(String(256))
    checked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    evidence: Mapped[str | None] = mapped_column(Text)


class BusinessImpactRow(Base):
    __tablename__ = "governance_business_impact"
    version_pk: Mapped[int] = mapped_column(ForeignKey("model_versions.pk", ondelete="CASCADE"), primary_key=True)
    summary: Mapped[str] = mapped_column(Text)
    expected_revenue_impact: Mapped[str | None] = mapped_column(Text)
    kpis: Mapped[dict[str, Any]] = mapped_column(JSON)
    affected_users: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
