"""The review side of the model-version life cycle: request review, comment, request changes,
approve, reject, release, retire; risk assessment, compliance checklist, business impact.

Every status change goes through ``domain.governance.check_transition`` and writes an audit
event in the same transaction. Four-eyes is enforced here for everyone, admins included: the
authors of a version (its registrant, its run's creator and everyone who wrote into that run)
cannot approve it. An approval records the digests of what it saw (``evidence_of``); a later
change to any of them voids it, and once approved the evidence is frozen. Who may approve may
reject: the policy's named roles (approver when it names none). A version whose training data's
purpose, consent or retention refuses its policy's ``data.use`` cannot be approved
(``services.data_governance``). Evaluations (the automated gates) live in ``services.evaluations``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from modelward.domain.actors import Actor, Role
from modelward.domain.governance import (
    RISK_CATEGORIES,
    Evaluation,
    BusinessImpact,
    ChecklistItem,
    ComplianceChecklist,
    GovernanceStatus,
    Review,
    RiskAssessment,
    RiskItem,
    VersionState,
    allowed_targets,
    authors_of,
    check_evidence_open,
    check_transition,
    checklist_for,
    counting_roles,
    missing_approvals,
    missing_evidence,
    missing_for_approval,
    valid_approvals,
    validate_risk,
)
from modelward.domain.names import new_id
from modelward.domain.policy import Policy
from modelward.errors import InvalidInput, NotFound, PermissionDenied, PolicyViolation
from modelward.services import audit, data_governance, policies
from modelward.services.lifecycle import subject_id, transition
from modelward.services.backend import Backend
from modelward.store import governance as store
from modelward.store import registry as registry_store
from modelward.store import run_writers
from modelward.store import runs as run_store

MAX_COMMENT_CHARS = 20_000
S = VersionState


def _now() -> datetime:
    return datetime.now(UTC)


def locked_version(session: Any, name: str, version: int) -> Any:
    """The version's row, with its model's row locked: one life-cycle change at a time per model."""
    registry_store.model_row(session, name, lock=True)
    return registry_store.version_row(session, name, version)


def authors(session: Any, row: Any) -> set[str]:
    """The registrant, the source run's creator and everyone who wrote into that run: as recorded
    at registration (kept if the run is purged) and as the run's writers stand now."""
    known = authors_of(row.created_by, writers=set(row.authors or []))
    if row.source_run_id is None:
        return known
    try:
        run = run_store.row_of(session, row.source_run_id)
    except NotFound:  # the source run was purged: what registration recorded still counts
        return known
    return known | authors_of(run.user, writers=run_writers.users(session, run.pk))


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def evidence_of(row: Any, used: dict[str, int], found: dict[str, Any]) -> dict[str, str]:
    """Digests of everything an approval covers: change one and the approval no longer counts."""
    evaluation: Evaluation | None = found["latest_evaluation"]
    impact: BusinessImpact | None = found["impact"]
    return {
        "artifact": row.artifact_digest,
        "card": _digest(row.card),
        "evaluation": evaluation.id if evaluation is not None else "none",
        "policy": policies.policy_fingerprint(used),
        "risk": _digest(found["risk"].model_dump(mode="json")),
        "checklist": _digest(found["checklist"].model_dump(mode="json")),
        "impact": _digest(impact.model_dump(mode="json") if impact is not None else None),
    }


def _require_review_role(actor: Actor) -> None:
    if not any(actor.has(role) for role in (Role.REVIEWER, Role.RISK, Role.COMPLIANCE, Role.APPROVER)):
        raise PermissionDenied(f"user '{actor.name}' needs a review role (reviewer, risk, compliance or approver)")


def _comment_text(comment: str | None, *, required: bool, what: str) -> str | None:
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"a {what} comment is limited to {MAX_COMMENT_CHARS} characters")
    if required and (comment is None or not comment.strip()):
        raise InvalidInput(f"a {what} needs a comment saying why")
    return comment


def _add_review(session: Any, row: Any, name: str, actor: Actor, decision: str, *, roles: list[str],
                comment: str | None, parent_id: str | None = None, evidence: dict[str, str] | None = None) -> Review:
    if parent_id is not None and not store.review_exists(session, row, parent_id):
        raise NotFound(f"version {row.version} of model '{name}' has no review or comment '{parent_id}'")
    review = Review(
        id=new_id(), model_name=name, version=row.version, decision=decision,  # type: ignore[arg-type]
        reviewer=actor.name, roles=roles, comment=comment, parent_id=parent_id,
        artifact_digest=row.artifact_digest, evidence=evidence or {}, at=_now(),
    )
    return store.add_review(session, row, review)


# -- reviewing -------------------------------------------------------------------------------


def request_review(backend: Backend, actor: Actor, name: str, version: int, *, comment: str | None = None) -> Review:
    """Resubmit after requested changes (changes_requested -> in_review). A candidate reaches
    review through a passing evaluation instead."""
    _comment_text(comment, required=False, what="review request")
    with backend.write() as session:
        row = locked_version(session, name, version)
        if row.status == S.CANDIDATE.value:
            raise PolicyViolation(
                f"version {version} of model '{name}' is a candidate: evaluate it first "
                "(passing the automated gates puts it in review)"
            )
        transition(session, actor, name, row, S.IN_REVIEW, action="review.requested", reason=comment)
        return _add_review(session, row, name, actor, "comment", roles=[], comment=comment or "review requested")


def comment(backend: Backend, actor: Actor, name: str, version: int, text: str, *,
            parent_id: str | None = None) -> Review:
    _comment_text(text, required=True, what="comment")
    with backend.write() as session:
        row = registry_store.version_row(session, name, version)
        review = _add_review(session, row, name, actor, "comment", roles=[], comment=text, parent_id=parent_id)
        audit.record(session, actor, "review.commented", subject_type="model_version",
                     subject_id=subject_id(name, version), model_name=name,
                     details={"review_id": review.id, "parent_id": parent_id})
        return review


def request_changes(backend: Backend, actor: Actor, name: str, version: int, comment: str) -> Review:
    _require_review_role(actor)
    _comment_text(comment, required=True, what="request for changes")
    with backend.write() as session:
        row = locked_version(session, name, version)
        transition(session, actor, name, row, S.CHANGES_REQUESTED, action="review.changes_requested", reason=comment)
        return _add_review(session, row, name, actor, "request_changes", roles=[], comment=comment)


def reject(backend: Backend, actor: Actor, name: str, version: int, comment: str) -> Review:
    _comment_text(comment, required=True, what="rejection")
    with backend.write() as session:
        row = locked_version(session, name, version)
        _deciding_roles(session, actor, name, "reject")
        transition(session, actor, name, row, S.REJECTED, action="model_version.rejected", reason=comment)
        return _add_review(session, row, name, actor, "reject", roles=[], comment=comment)


def _assemble(session: Any, policy: Policy, row: Any, name: str) -> dict[str, Any]:
    from modelward.services.evaluations import latest_in

    return {
        "reviews": store.reviews(session, row, name),
        "risk": store.risk(session, row),
        "checklist": checklist_for(policy, store.checklist(session, row)),
        "impact": store.impact(session, row),
        "latest_evaluation": latest_in(session, row, name),
    }


def _deciding_roles(session: Any, actor: Actor, name: str, verb: str) -> list[str]:
    """The policy's roles ``actor`` decides with; refused if none (who may approve may reject)."""
    policy, _ = policies.effective_in(session, name)
    roles = counting_roles(policy, actor)
    if not roles:
        named = ", ".join(r.value for r in policy.review.roles) or "approver"
        raise PermissionDenied(f"the policy of model '{name}' lets only {named} {verb}; '{actor.name}' holds none")
    return roles


def approve(backend: Backend, actor: Actor, name: str, version: int, *, comment: str | None = None) -> Review:
    """Record an approval; the one that completes the policy's requirements approves the version."""
    _comment_text(comment, required=False, what="approval")
    with backend.write() as session:
        row = locked_version(session, name, version)
        made_by = authors(session, row)
        if actor.name in made_by:
            raise PermissionDenied(
                f"four-eyes rule: '{actor.name}' registered version {version} of model '{name}', or created or "
                "wrote into its run, and cannot approve it (this applies to admins too); ask another approver"
            )
        check_transition(row.status, S.APPROVED)  # only a version in review can collect approvals
        roles = _deciding_roles(session, actor, name, "approve")
        policy, used = policies.effective_in(session, name)
        found = _assemble(session, policy, row, name)
        evidence = evidence_of(row, used, found)
        refused_by_data = data_governance.refusals(policy, data_governance.training_data(session, name, version))
        missing = refused_by_data + missing_for_approval(
            policy, registry_store.version_entity(session, row), found["reviews"], found["risk"], found["checklist"],
            found["impact"], actor, latest_evaluation=found["latest_evaluation"], authors=made_by, evidence=evidence,
        )
        if refused_by_data or missing_evidence(
                policy, risk=found["risk"], checklist=found["checklist"], impact=found["impact"],
                latest_evaluation=found["latest_evaluation"], artifact_digest=row.artifact_digest):
            raise PolicyViolation(
                f"version {version} of model '{name}' cannot be approved yet; missing: " + "; ".join(missing)
            )
        review = _add_review(session, row, name, actor, "approve", roles=roles, comment=comment, evidence=evidence)
        audit.record(session, actor, "review.approval_recorded", subject_type="model_version",
                     subject_id=subject_id(name, version), model_name=name,
                     details={"review_id": review.id, "roles": roles, "artifact_digest": row.artifact_digest,
                              "evidence": evidence})
        approvals = valid_approvals(store.reviews(session, row, name), artifact_digest=row.artifact_digest,
                                    authors=made_by, evidence=evidence)
        if not missing_approvals(policy, approvals):
            transition(session, actor, name, row, S.APPROVED, action="model_version.approved", reason=comment,
                       details={"approvers": sorted(a.reviewer for a in approvals), "evidence": evidence})
        return review


def release(backend: Backend, actor: Actor, name: str, version: int, *, reason: str | None = None) -> dict[str, Any]:
    """'released' means 'serving traffic': a version reaches it by being deployed, never by hand."""
    raise InvalidInput(
        f"version {version} of model '{name}' is released by deploying it, not by setting its state: "
        f"'modelward deploy create ENDPOINT --model {name} --version {version} --environment production' "
        "(or client.deployments.create); it returns to approved when no deployment serves it")


def retire(backend: Backend, actor: Actor, name: str, version: int, *, reason: str | None = None) -> dict[str, Any]:
    from modelward.services.deployments import refuse_while_routed

    with backend.write() as session:
        row = locked_version(session, name, version)
        refuse_while_routed(session, name, f"version {version} of model '{name}' cannot be retired", version=version)
        transition(session, actor, name, row, S.RETIRED, action="model_version.retired", reason=reason)
        return {"model_name": name, "version": version, "state": row.status}


def change_state(backend: Backend, actor: Actor, name: str, version: int, state: str, *,
                 reason: str | None = None) -> dict[str, Any]:
    if state == S.RELEASED.value:
        return release(backend, actor, name, version, reason=reason)
    if state == S.RETIRED.value:
        return retire(backend, actor, name, version, reason=reason)
    raise InvalidInput(f"state '{state}' is reached through evaluate/approve/reject/request-changes, not set directly")


# -- evidence: risk, checklist, impact ---------------------------------------------------------


def set_risk(backend: Backend, actor: Actor, name: str, version: int, category: str, *, rating: str,
             rationale: str, mitigation: str | None = None) -> RiskAssessment:
    _require_review_role(actor)
    validate_risk(category, rating, rationale)
    with backend.write() as session:
        row = locked_version(session, name, version)
        check_evidence_open(row.status, "risk assessment")
        item = RiskItem(category=category, rating=rating, rationale=rationale,  # type: ignore[arg-type]
                        mitigation=mitigation, assessed_by=actor.name, assessed_at=_now())
        store.set_risk(session, row, item)
        audit.record(session, actor, "risk.assessed", subject_type="model_version", subject_id=subject_id(name, version),
                     model_name=name, details=item.model_dump(exclude={"assessed_at", "assessed_by"}))
        return store.risk(session, row)


def check_item(backend: Backend, actor: Actor, name: str, version: int, item: str, *, checked: bool = True,
               evidence: str | None = None) -> ComplianceChecklist:
    _require_review_role(actor)
    with backend.write() as session:
        row = locked_version(session, name, version)
        check_evidence_open(row.status, "compliance checklist")
        policy, _ = policies.effective_in(session, name)
        if item not in policy.review.compliance_checklist:
            listed = "; ".join(policy.review.compliance_checklist) or "none"
            raise InvalidInput(f"'{item}' is not an item of model '{name}''s compliance checklist (items: {listed})")
        record = ChecklistItem(item=item, checked=checked, checked_by=actor.name, checked_at=_now(), evidence=evidence)
        store.set_checklist_item(session, row, record)
        audit.record(session, actor, "checklist.item_checked" if checked else "checklist.item_unchecked",
                     subject_type="model_version", subject_id=subject_id(name, version), model_name=name,
                     details={"item": item, "evidence": evidence})
        return checklist_for(policy, store.checklist(session, row))


def set_impact(backend: Backend, actor: Actor, name: str, version: int, *, summary: str,
               expected_revenue_impact: str | None = None, kpis: dict[str, Any] | None = None,
               affected_users: str | None = None) -> BusinessImpact:
    _require_review_role(actor)
    if not summary or not summary.strip():
        raise InvalidInput("a business impact review needs a summary")
    with backend.write() as session:
        row = locked_version(session, name, version)
        check_evidence_open(row.status, "business impact review")
        impact = BusinessImpact(summary=summary, expected_revenue_impact=expected_revenue_impact, kpis=kpis or {},
                                affected_users=affected_users, reviewer=actor.name, at=_now())
        store.set_impact(session, row, impact)
        audit.record(session, actor, "business_impact.reviewed", subject_type="model_version",
                     subject_id=subject_id(name, version), model_name=name,
                     details=impact.model_dump(exclude={"at", "reviewer"}))
        return impact


# -- reads -----------------------------------------------------------------------------------


def reviews(backend: Backend, name: str, version: int) -> list[Review]:
    with backend.read() as session:
        return store.reviews(session, registry_store.version_row(session, name, version), name)


def status(backend: Backend, name: str, version: int, *, actor: Actor | None = None) -> GovernanceStatus:
    from modelward.services import erasure, personal_data

    with backend.read() as session:
        row = registry_store.version_row(session, name, version)
        policy, used = policies.effective_in(session, name)
        found = _assemble(session, policy, row, name)
        made_by = authors(session, row)
        evidence = evidence_of(row, used, found)
        entity = registry_store.version_entity(session, row)
        trained_on = data_governance.training_data(session, name, version)
        missing = data_governance.refusals(policy, trained_on) + missing_for_approval(
            policy, entity, found["reviews"], found["risk"], found["checklist"], found["impact"], actor,
            latest_evaluation=found["latest_evaluation"], authors=made_by, evidence=evidence)
        approvals = valid_approvals(found["reviews"], artifact_digest=row.artifact_digest, authors=made_by,
                                    evidence=evidence)
        return GovernanceStatus(
            model_name=name, version=version, state=row.status,
            allowed_next=[t.value for t in allowed_targets(row.status)], missing=missing, approvals=approvals,
            latest_evaluation=found["latest_evaluation"], risk=found["risk"], checklist=found["checklist"],
            impact=found["impact"], personal_data=personal_data.of_version(session, name, version),
            data_governance=data_governance.described(trained_on),
            erasure_flags=[flag.model_dump(mode="json") for flag in erasure.flags_in(session, name, version)],
        )


def queue(backend: Backend, actor: Actor) -> list[dict[str, Any]]:
    """Versions in review that ``actor`` could approve: their roles count and they are not the author."""
    items = []
    with backend.read() as session:
        for name, version, created_by in store.versions_in_state(session, S.IN_REVIEW.value):
            row = registry_store.version_row(session, name, version)
            if actor.name in authors(session, row):
                continue
            policy, _ = policies.effective_in(session, name)
            roles = counting_roles(policy, actor)
            if not roles and not any(actor.has(r) for r in (Role.REVIEWER, Role.RISK, Role.COMPLIANCE)):
                continue
            items.append({"model_name": name, "version": version, "created_by": created_by, "roles": roles,
                          "required_roles": [r.value for r in policy.review.roles],
                          "approvals_needed": policy.review.approvals})
    return items


__all__ = [
    "RISK_CATEGORIES", "approve", "check_item", "comment", "queue", "reject", "release", "request_changes",
    "request_review", "retire", "reviews", "set_impact", "set_risk", "status", "transition",
]
