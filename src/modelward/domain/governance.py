"""Governance nouns and rules: the model-version life cycle, reviews, risk, checklist, impact.

No I/O. The one transitions table below is the whole state machine; services call
``check_transition`` before every status change, and ``missing_for_approval`` tells what
still stands between a version in review and its approval.

    candidate ──gates fail──> rejected          (terminal: register a new version)
        └──────gates pass──> in_review ──> approved ──> released ──> retired
                                 │  │   ^     │ └──────────────────> retired
                                 │  │   └─────┘ (approval voided: the policy changed)
                                 │  └──> rejected
                                 └──> changes_requested ──> in_review (re-evaluated / resubmitted)
                                                   └──> rejected (re-evaluation failed)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from modelward.domain.actors import Actor, Role
from modelward.domain.policy import Policy
from modelward.errors import InvalidInput, InvalidTransition


class VersionState(str, enum.Enum):
    CANDIDATE = "candidate"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    RELEASED = "released"
    RETIRED = "retired"


S = VersionState
TRANSITIONS: dict[tuple[VersionState, VersionState], str] = {
    (S.CANDIDATE, S.REJECTED): "automated gates failed",
    (S.CANDIDATE, S.IN_REVIEW): "automated gates passed",
    (S.IN_REVIEW, S.CHANGES_REQUESTED): "a reviewer requested changes",
    (S.IN_REVIEW, S.APPROVED): "the required approvals and evidence are complete",
    (S.IN_REVIEW, S.REJECTED): "an approver rejected it",
    (S.CHANGES_REQUESTED, S.IN_REVIEW): "re-evaluated or resubmitted after the requested changes",
    # Not in the design sketch, but the evaluate rule needs it: a re-evaluation whose gates
    # fail rejects the version, exactly as it would have as a candidate.
    (S.CHANGES_REQUESTED, S.REJECTED): "automated gates failed on re-evaluation",
    (S.APPROVED, S.IN_REVIEW): "approval voided: what it covered changed (e.g. the policy)",
    (S.APPROVED, S.RELEASED): "serving traffic in a deployment",
    (S.RELEASED, S.APPROVED): "drained: no deployment serves it any more",
    (S.APPROVED, S.RETIRED): "retired before release",
    (S.RELEASED, S.RETIRED): "retired from service",
}


def parse_state(value: str) -> VersionState | None:
    """The state a stored status names, or None for statuses outside the life cycle (e.g. archived)."""
    try:
        return VersionState(value)
    except ValueError:
        return None


def allowed_targets(current: VersionState | str) -> list[VersionState]:
    state = parse_state(current.value if isinstance(current, VersionState) else current)
    return [to for (frm, to) in TRANSITIONS if frm is state]


UNARCHIVABLE = (S.IN_REVIEW, S.APPROVED, S.RELEASED)
"""Archiving hides a version; one under review, approved or serving must leave the life cycle properly."""


def check_archivable(current: str) -> None:
    """Archiving sits outside the life cycle, but may not cut it short."""
    state = parse_state(current)
    if state in UNARCHIVABLE:
        way_out = "retire it" if state is not S.IN_REVIEW else "reject it"
        raise InvalidTransition(
            f"a version in state '{current}' cannot be archived; {way_out} first (allowed from '{current}': "
            + ", ".join(t.value for t in allowed_targets(current)) + ")"
        )


def check_transition(current: VersionState | str, target: VersionState) -> str:
    """The rule that allows ``current -> target``, or InvalidTransition naming the allowed targets."""
    name = current.value if isinstance(current, VersionState) else current
    rule = TRANSITIONS.get((parse_state(name), target))  # type: ignore[arg-type]
    if rule is None:
        allowed = ", ".join(t.value for t in allowed_targets(name))
        raise InvalidTransition(
            f"a version in state '{name}' cannot move to '{target.value}'; allowed from '{name}': "
            + (allowed or "nothing (a final state: register a new version instead)")
        )
    return rule


# -- reviews ------------------------------------------------------------------------------------

Decision = Literal["approve", "reject", "request_changes", "comment"]
DECISIONS = ("approve", "reject", "request_changes", "comment")
REVIEW_ROLES = frozenset({Role.REVIEWER, Role.RISK, Role.COMPLIANCE, Role.APPROVER})


class Review(BaseModel):
    id: str
    model_name: str
    version: int
    decision: Decision
    reviewer: str
    roles: list[str] = Field(default_factory=list, description="the roles this review counts for")
    comment: str | None = None
    parent_id: str | None = Field(default=None, description="the review or comment this one answers")
    artifact_digest: str
    evidence: dict[str, str] = Field(
        default_factory=dict,
        description="an approval: digests of what it saw (artifact, card, evaluation, policy, risk, checklist, impact)",
    )
    at: datetime


# -- risk assessment --------------------------------------------------------------------------

RISK_CATEGORIES = ("business", "financial", "legal", "security", "privacy", "reputational", "ethical")
RiskRating = Literal["low", "medium", "high", "critical"]
RISK_RATINGS = ("low", "medium", "high", "critical")


class RiskItem(BaseModel):
    category: str
    rating: RiskRating
    rationale: str
    mitigation: str | None = None
    assessed_by: str
    assessed_at: datetime


class RiskAssessment(BaseModel):
    items: dict[str, RiskItem] = Field(default_factory=dict, description="category -> rating")

    @property
    def unrated(self) -> list[str]:
        return [c for c in RISK_CATEGORIES if c not in self.items]


def validate_risk(category: str, rating: str, rationale: str) -> None:
    if category not in RISK_CATEGORIES:
        raise InvalidInput(f"risk category '{category}' is not one of {', '.join(RISK_CATEGORIES)}")
    if rating not in RISK_RATINGS:
        raise InvalidInput(f"risk rating '{rating}' is not one of {', '.join(RISK_RATINGS)}")
    if not rationale or not rationale.strip():
        raise InvalidInput(f"risk category '{category}' needs a rationale")


# -- compliance checklist -----------------------------------------------------------------------


class ChecklistItem(BaseModel):
    item: str
    checked: bool = False
    checked_by: str | None = None
    checked_at: datetime | None = None
    evidence: str | None = None


class ComplianceChecklist(BaseModel):
    items: list[ChecklistItem] = Field(default_factory=list)

    @property
    def unchecked(self) -> list[str]:
        return [i.item for i in self.items if not i.checked]


def checklist_for(policy: Policy, recorded: Sequence[ChecklistItem]) -> ComplianceChecklist:
    """The policy's items, each with what was recorded for it (items the policy dropped are left out)."""
    by_item = {r.item: r for r in recorded}
    return ComplianceChecklist(
        items=[by_item.get(item, ChecklistItem(item=item)) for item in policy.review.compliance_checklist]
    )


# -- business impact ----------------------------------------------------------------------------


class BusinessImpact(BaseModel):
    summary: str
    expected_revenue_impact: str | None = None
    kpis: dict[str, Any] = Field(default_factory=dict)
    affected_users: str | None = None
    reviewer: str
    at: datetime


# -- evaluations --------------------------------------------------------------------------------


class DatasetRef(BaseModel):
    """An evaluation dataset: a Parquet or CSV artifact of a run (read from its verified bytes)."""

    run_id: str = Field(min_length=1)
    path: str = Field(min_length=1)
    digest: str | None = Field(default=None, description="SHA-256 of the bytes evaluated on")


class Evaluation(BaseModel):
    id: str
    model_name: str
    version: int
    artifact_digest: str
    policy_versions: dict[str, int] = Field(default_factory=dict, description="scope -> policy version used")
    dataset: DatasetRef | None = None
    passed: bool
    advisory: bool = Field(
        default=False, description="on the caller's own data: shown, but it moves no state and is no evidence",
    )
    failures: list[str] = Field(default_factory=list)
    result: dict[str, Any]
    created_by: str
    created_at: datetime


class StoredPolicy(BaseModel):
    scope: str
    version: int
    yaml: str
    active: bool = True
    created_by: str | None = None
    created_at: datetime


class GovernanceStatus(BaseModel):
    """Everything a reviewer needs to see the state of one version at a glance."""

    model_name: str
    version: int
    state: str
    allowed_next: list[str]
    missing: list[str]
    approvals: list[Review]
    latest_evaluation: Evaluation | None = None
    risk: RiskAssessment
    checklist: ComplianceChecklist
    impact: BusinessImpact | None = None
    personal_data: list[dict[str, Any]] = Field(
        default_factory=list, description="the privacy evidence: the latest personal-data scan of each dataset the "
        "version's source run read ({dataset_id, dataset, scan_id, columns: [{column, kinds}]})")
    data_governance: list[dict[str, Any]] = Field(
        default_factory=list, description="purpose, consent and retention of each dataset the version's source run "
        "read, and of the datasets those were split from ({dataset_id, dataset, via, declaration})")
    erasure_flags: list[dict[str, Any]] = Field(
        default_factory=list, description="deletion requests that reached the version's data (services.erasure): "
        "{request_id, flagged_at, flagged_by, reason, datasets, decision: null | {decision, reason, by, at}}")


# -- approval rules ---------------------------------------------------------------------------


def authors_of(*names: str | None, writers: set[str] | None = None) -> set[str]:
    """Everyone who made a version: its registrant, its run's creator and every writer of the run."""
    return {name for name in names if name} | (writers or set())


def counting_roles(policy: Policy, actor: Actor) -> list[str]:
    """The policy's named roles the actor holds (an admin holds them all); without named roles, approver."""
    named = policy.review.roles or [Role.APPROVER]
    return [role.value for role in named if actor.has(role)]


def valid_approvals(
    reviews: Sequence[Review], *, artifact_digest: str, authors: set[str], evidence: dict[str, str] | None = None,
) -> list[Review]:
    """Approvals that still count: after the last request for changes, for these exact bytes and
    (when ``evidence`` is given) this exact evidence, not by an author, one per person (their latest)."""
    since_changes: list[Review] = []
    for review in sorted(reviews, key=lambda r: r.at):
        if review.decision == "request_changes":
            since_changes = []
        elif review.decision == "approve":
            since_changes.append(review)
    by_person = {
        r.reviewer: r for r in since_changes
        if r.artifact_digest == artifact_digest and r.reviewer not in authors and _saw(r, evidence)
    }
    return list(by_person.values())


def _saw(review: Review, evidence: dict[str, str] | None) -> bool:
    # Approvals recorded before evidence was kept are judged by their artifact digest alone.
    return evidence is None or not review.evidence or review.evidence == evidence


def stale_evidence(review: Review, evidence: dict[str, str]) -> list[str]:
    """What changed since ``review`` was given (names of the evidence items)."""
    return sorted(k for k in set(review.evidence) | set(evidence) if review.evidence.get(k) != evidence.get(k))


def missing_approvals(policy: Policy, approvals: Sequence[Review]) -> list[str]:
    needed = policy.review.approvals
    missing: list[str] = []
    if len(approvals) < needed:
        missing.append(f"approvals: {len(approvals)} of {needed} (distinct people, not the author)")
    for role in policy.review.roles:
        if not any(role.value in a.roles for a in approvals):
            missing.append(f"approval by someone with the '{role.value}' role")
    return missing


def missing_evidence(
    policy: Policy, *, risk: RiskAssessment, checklist: ComplianceChecklist, impact: BusinessImpact | None,
    latest_evaluation: Evaluation | None, artifact_digest: str,
) -> list[str]:
    missing: list[str] = []
    if latest_evaluation is None:
        missing.append("an evaluation of this version")
    elif not latest_evaluation.passed:
        missing.append("the latest evaluation passed (it failed: " + "; ".join(latest_evaluation.failures) + ")")
    elif latest_evaluation.artifact_digest != artifact_digest:
        missing.append("an evaluation of this version's current files")
    if policy.review.risk_assessment_required and risk.unrated:
        missing.append("risk assessment: rate " + ", ".join(risk.unrated))
    if checklist.unchecked:
        missing.append("compliance checklist: check " + "; ".join(checklist.unchecked))
    if policy.review.business_impact_required and impact is None:
        missing.append("business impact review")
    return missing


def missing_for_approval(
    policy: Policy,
    version: Any,
    reviews: Sequence[Review],
    risk: RiskAssessment,
    checklist: ComplianceChecklist,
    impact: BusinessImpact | None,
    actor: Actor | None = None,
    *,
    latest_evaluation: Evaluation | None = None,
    authors: set[str] | None = None,
    evidence: dict[str, str] | None = None,
) -> list[str]:
    """What is missing before ``version`` can be approved; counts ``actor``'s approval as if given now."""
    authors = authors if authors is not None else authors_of(version.created_by)
    approvals = valid_approvals(reviews, artifact_digest=version.artifact_digest, authors=authors, evidence=evidence)
    if actor is not None and actor.name not in authors and counting_roles(policy, actor):
        approvals = [a for a in approvals if a.reviewer != actor.name] + [
            Review(id="pending", model_name=version.model_name, version=version.version, decision="approve",
                   reviewer=actor.name, roles=counting_roles(policy, actor), artifact_digest=version.artifact_digest,
                   evidence=evidence or {}, at=version.updated_at)
        ]
    found = missing_evidence(
        policy, risk=risk, checklist=checklist, impact=impact, latest_evaluation=latest_evaluation,
        artifact_digest=version.artifact_digest,
    )
    return found + missing_approvals(policy, approvals)


FROZEN_STATES = (S.APPROVED, S.RELEASED, S.RETIRED)
"""Once approved, a version's evidence (card, risk, checklist, impact, governing evaluation) is fixed."""


def check_evidence_open(current: str, what: str) -> None:
    state = parse_state(current)
    if state in FROZEN_STATES:
        raise InvalidTransition(
            f"the {what} of a version in state '{current}' cannot change: its approval covered exactly the "
            "evidence it saw (register a new version to change it)"
        )


__all__ = [
    "DECISIONS",
    "FROZEN_STATES",
    "REVIEW_ROLES",
    "RISK_CATEGORIES",
    "RISK_RATINGS",
    "TRANSITIONS",
    "UNARCHIVABLE",
    "BusinessImpact",
    "ChecklistItem",
    "ComplianceChecklist",
    "DatasetRef",
    "Evaluation",
    "GovernanceStatus",
    "Review",
    "RiskAssessment",
    "RiskItem",
    "StoredPolicy",
    "VersionState",
    "allowed_targets",
    "check_archivable",
    "check_evidence_open",
    "check_transition",
    "missing_for_approval",
]
