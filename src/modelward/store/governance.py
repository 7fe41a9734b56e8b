"""Governance queries: policies, evaluations, reviews, risk, checklist, impact. Never commit.

Rows hang off a model version by its ``pk`` (the registry store resolves name/version);
entities carry the model name and version number back out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from modelward.domain.governance import (
    BusinessImpact,
    ChecklistItem,
    DatasetRef,
    Evaluation,
    Review,
    RiskAssessment,
    RiskItem,
    StoredPolicy,
)
from modelward.errors import NotFound
from modelward.store.dialect import aware, upsert
from modelward.store.rows import ModelVersionRow, RegisteredModelRow
from modelward.store.rows.governance import (
    BusinessImpactRow,
    ChecklistRow,
    EvaluationRow,
    PolicyRow,
    ReviewRow,
    RiskRow,
)

# -- policies -------------------------------------------------------------------------------------


def _policy(row: PolicyRow) -> StoredPolicy:
    return StoredPolicy(
        scope=row.scope, version=row.version, yaml=row.yaml, active=row.active,
        created_by=row.created_by, created_at=aware(row.created_at),
    )


def add_policy(
    session: Session, *, scope: str, yaml_text: str, created_by: str, now: datetime,
    model_id: str | None = None, dataset_digest: str | None = None,
) -> StoredPolicy:
    """A new active version of ``scope``'s policy; earlier versions become inactive."""
    newest = session.scalar(select(func.max(PolicyRow.version)).where(PolicyRow.scope == scope)) or 0
    session.execute(update(PolicyRow).where(PolicyRow.scope == scope).values(active=False))
    row = PolicyRow(scope=scope, version=newest + 1, yaml=yaml_text, active=True, created_by=created_by,
                    created_at=now, model_id=model_id, dataset_digest=dataset_digest)
    session.add(row)
    session.flush()
    return _policy(row)


def active_policy_row(session: Session, scope: str, *, model_id: str | None = None) -> PolicyRow | None:
    """The active row of ``scope``; for a model scope, only one bound to ``model_id`` or not bound yet
    (a policy of a deleted model, under the same name, does not pass to a new model)."""
    stmt = select(PolicyRow).where(PolicyRow.scope == scope, PolicyRow.active.is_(True))
    if model_id is not None:
        stmt = stmt.where((PolicyRow.model_id == model_id) | PolicyRow.model_id.is_(None))
    return session.scalar(stmt)


def stored(row: PolicyRow) -> StoredPolicy:
    return _policy(row)


def bind_model_policies(session: Session, scope: str, model_id: str) -> None:
    """Bind the not-yet-bound versions of a model scope to the model that now carries the name."""
    session.execute(update(PolicyRow).where(PolicyRow.scope == scope, PolicyRow.model_id.is_(None))
                    .values(model_id=model_id))


def rescope_model_policies(session: Session, model_id: str, old_scope: str, new_scope: str) -> None:
    """A renamed model takes its policy versions along."""
    session.execute(update(PolicyRow).where(PolicyRow.scope == old_scope, PolicyRow.model_id == model_id)
                    .values(scope=new_scope))


def scope_in_use(session: Session, scope: str) -> bool:
    return session.scalar(select(PolicyRow.id).where(PolicyRow.scope == scope).limit(1)) is not None


def any_active_policy(session: Session) -> bool:
    """Whether any scope has an active policy: without one, every model's policy is the default."""
    return session.scalar(select(PolicyRow.id).where(PolicyRow.active.is_(True)).limit(1)) is not None


def active_policy(session: Session, scope: str) -> StoredPolicy | None:
    row = session.scalar(select(PolicyRow).where(PolicyRow.scope == scope, PolicyRow.active.is_(True)))
    return _policy(row) if row is not None else None


def policy_version(session: Session, scope: str, version: int) -> StoredPolicy:
    row = session.scalar(select(PolicyRow).where(PolicyRow.scope == scope, PolicyRow.version == version))
    if row is None:
        raise NotFound(f"policy '{scope}' has no version {version}")
    return _policy(row)


def policy_history(session: Session, scope: str) -> list[StoredPolicy]:
    rows = session.scalars(select(PolicyRow).where(PolicyRow.scope == scope).order_by(PolicyRow.version))
    return [_policy(r) for r in rows]


def active_policies(session: Session) -> list[StoredPolicy]:
    rows = session.scalars(select(PolicyRow).where(PolicyRow.active.is_(True)).order_by(PolicyRow.scope))
    return [_policy(r) for r in rows]


def deactivate_policy(session: Session, scope: str) -> None:
    session.execute(update(PolicyRow).where(PolicyRow.scope == scope).values(active=False))


# -- evaluations ---------------------------------------------------------------------------------


def _evaluation(row: EvaluationRow, name: str, version: int) -> Evaluation:
    return Evaluation(
        id=row.id, model_name=name, version=version, artifact_digest=row.artifact_digest,
        policy_versions=row.policy_versions, dataset=DatasetRef(**row.dataset) if row.dataset else None,
        passed=row.passed, advisory=bool(row.advisory), failures=list(row.result.get("failures", [])),
        result=row.result, created_by=row.created_by, created_at=aware(row.created_at),
    )


def add_evaluation(session: Session, version: ModelVersionRow, name: str, evaluation: Evaluation) -> Evaluation:
    session.add(EvaluationRow(
        id=evaluation.id, version_pk=version.pk, artifact_digest=evaluation.artifact_digest,
        policy_versions=evaluation.policy_versions,
        dataset=evaluation.dataset.model_dump() if evaluation.dataset else None,
        passed=evaluation.passed, advisory=evaluation.advisory, result=evaluation.result,
        created_by=evaluation.created_by,
        created_at=evaluation.created_at,
    ))
    session.flush()
    return evaluation


def evaluations(session: Session, version: ModelVersionRow, name: str) -> list[Evaluation]:
    """Newest first."""
    rows = session.scalars(
        select(EvaluationRow).where(EvaluationRow.version_pk == version.pk)
        .order_by(EvaluationRow.created_at.desc(), EvaluationRow.id)
    )
    return [_evaluation(r, name, version.version) for r in rows]


# -- reviews -------------------------------------------------------------------------------------


def _review(row: ReviewRow, name: str, version: int) -> Review:
    return Review(
        id=row.id, model_name=name, version=version, decision=row.decision,  # type: ignore[arg-type]
        reviewer=row.reviewer, roles=list(row.roles), comment=row.comment, parent_id=row.parent_id,
        artifact_digest=row.artifact_digest, evidence=dict(row.evidence or {}), at=aware(row.created_at),
    )


def add_review(session: Session, version: ModelVersionRow, review: Review) -> Review:
    session.add(ReviewRow(
        id=review.id, version_pk=version.pk, decision=review.decision, reviewer=review.reviewer,
        roles=review.roles, comment=review.comment, parent_id=review.parent_id,
        artifact_digest=review.artifact_digest, evidence=review.evidence or None, created_at=review.at,
    ))
    session.flush()
    return review


def reviews(session: Session, version: ModelVersionRow, name: str) -> list[Review]:
    """Oldest first, so threads read in order."""
    rows = session.scalars(
        select(ReviewRow).where(ReviewRow.version_pk == version.pk).order_by(ReviewRow.created_at, ReviewRow.id)
    )
    return [_review(r, name, version.version) for r in rows]


def review_exists(session: Session, version: ModelVersionRow, review_id: str) -> bool:
    found = session.scalar(select(ReviewRow.id).where(ReviewRow.version_pk == version.pk, ReviewRow.id == review_id))
    return found is not None


# -- risk, checklist, impact ----------------------------------------------------------------------


def set_risk(session: Session, version: ModelVersionRow, item: RiskItem) -> None:
    upsert(session, RiskRow, [{"version_pk": version.pk, **item.model_dump()}], keys=["version_pk", "category"],
           update=["rating", "rationale", "mitigation", "assessed_by", "assessed_at"])


def risk(session: Session, version: ModelVersionRow) -> RiskAssessment:
    rows = session.scalars(select(RiskRow).where(RiskRow.version_pk == version.pk))
    return RiskAssessment(items={
        r.category: RiskItem(category=r.category, rating=r.rating, rationale=r.rationale,  # type: ignore[arg-type]
                             mitigation=r.mitigation, assessed_by=r.assessed_by, assessed_at=aware(r.assessed_at))
        for r in rows
    })


def set_checklist_item(session: Session, version: ModelVersionRow, item: ChecklistItem) -> None:
    upsert(session, ChecklistRow, [{"version_pk": version.pk, **item.model_dump()}], keys=["version_pk", "item"],
           update=["checked", "checked_by", "checked_at", "evidence"])


def checklist(session: Session, version: ModelVersionRow) -> list[ChecklistItem]:
    rows = session.scalars(select(ChecklistRow).where(ChecklistRow.version_pk == version.pk))
    return [
        ChecklistItem(item=r.item, checked=r.checked, checked_by=r.checked_by,
                      checked_at=aware(r.checked_at) if r.checked_at else None, evidence=r.evidence)
        for r in rows
    ]


def set_impact(session: Session, version: ModelVersionRow, impact: BusinessImpact) -> None:
    values = impact.model_dump()
    values["updated_at"] = values.pop("at")
    upsert(session, BusinessImpactRow, [{"version_pk": version.pk, **values}], keys=["version_pk"],
           update=["summary", "expected_revenue_impact", "kpis", "affected_users", "reviewer", "updated_at"])


def impact(session: Session, version: ModelVersionRow) -> BusinessImpact | None:
    row = session.get(BusinessImpactRow, version.pk)
    if row is None:
        return None
    return BusinessImpact(
        summary=row.summary, expected_revenue_impact=row.expected_revenue_impact, kpis=row.kpis,
        affected_users=row.affected_users, reviewer=row.reviewer, at=aware(row.updated_at),
    )


# -- review queue -------------------------------------------------------------------------------


def versions_in_state(session: Session, state: str) -> list[tuple[str, int, str | None]]:
    """(model name, version, created_by) of every version whose status is ``state``."""
    rows: Any = session.execute(
        select(RegisteredModelRow.name, ModelVersionRow.version, ModelVersionRow.created_by)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .where(ModelVersionRow.status == state)
        .order_by(ModelVersionRow.updated_at)
    )
    return [(name, version, created_by) for name, version, created_by in rows]
