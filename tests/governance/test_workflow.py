"""Evaluate, review and approve end to end on the services (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from modelward.domain.actors import Actor, Role
from modelward.domain.governance import RISK_CATEGORIES
from modelward.errors import Conflict, InvalidInput, InvalidTransition, PermissionDenied, PolicyViolation
from modelward.services import audit, deployments, evaluations, governance, policies, registry, reports
from tests.governance.helpers import (
    ADMIN, AUTHOR, COMPLIANCE, RISK, VIEWER, biased_model, cancer_frame, dataset, fair_model, register_model,
    set_model_policy,
)

FRAME = cancer_frame()
MODEL = fair_model(FRAME)


@pytest.fixture
def in_review(backend):  # type: ignore[no-untyped-def]
    data = dataset(backend, FRAME)
    set_model_policy(backend, "credit", data=data)  # the policy's own data: its evaluations count
    version = register_model(backend, "credit", MODEL, FRAME)
    evaluation = evaluations.evaluate(backend, AUTHOR, "credit", version)
    assert evaluation.passed and not evaluation.advisory, evaluation.failures
    return backend, version, data


def _complete_evidence(backend, version: int) -> None:  # type: ignore[no-untyped-def]
    for category in RISK_CATEGORIES:
        governance.set_risk(backend, RISK, "credit", version, category, rating="low", rationale=f"{category} ok")
    for item in ("data privacy review done", "model documented"):
        governance.check_item(backend, COMPLIANCE, "credit", version, item, evidence="ticket 42")
    governance.set_impact(backend, RISK, "credit", version, summary="fewer defaults", expected_revenue_impact="+2%",
                          kpis={"default_rate": -0.01}, affected_users="all applicants")


def test_passing_model_goes_to_review_and_a_biased_one_is_rejected_with_reasons(in_review) -> None:  # type: ignore[no-untyped-def]
    backend, version, data = in_review
    assert registry.get_version(backend, "credit", version).status == "in_review"
    biased = register_model(backend, "credit", biased_model(FRAME), FRAME, with_sex=True)  # data-only (skops)
    result = evaluations.evaluate(backend, AUTHOR, "credit", biased)
    assert not result.passed
    assert any("demographic_parity_difference for 'sex'" in f for f in result.failures)
    assert registry.get_version(backend, "credit", biased).status == "rejected"
    rejected = audit.list_(backend, model="credit", action="model_version.rejected")
    assert rejected and "demographic_parity_difference" in (rejected[0].reason or "")
    assert audit.list_(backend, model="credit", action="review.requested")[0].subject_id == f"credit/{version}"
    with pytest.raises(InvalidTransition, match="'rejected'"):
        governance.request_review(backend, AUTHOR, "credit", biased)


def test_csv_dataset_and_bad_dataset_refs(backend) -> None:  # type: ignore[no-untyped-def]
    set_model_policy(backend, "credit")
    version = register_model(backend, "credit", MODEL, FRAME)
    csv = dataset(backend, FRAME, fmt="csv")
    result = evaluations.evaluate(backend, AUTHOR, "credit", version, dataset=csv)  # the caller's own: advisory
    assert result.passed and result.advisory and result.dataset is not None and result.dataset.path.endswith(".csv")
    assert registry.get_version(backend, "credit", version).status == "candidate"
    with pytest.raises(InvalidInput, match="needs a dataset"):
        evaluations.evaluate(backend, AUTHOR, "credit", version)
    set_model_policy(backend, "credit", data=csv)
    assert not evaluations.evaluate(backend, AUTHOR, "credit", version).advisory
    assert registry.get_version(backend, "credit", version).status == "in_review"


def test_pickle_models_are_refused_on_the_server(backend) -> None:  # type: ignore[no-untyped-def]
    set_model_policy(backend, "credit")
    version = register_model(backend, "credit", MODEL, FRAME, flavor="pickle")
    with pytest.raises(PolicyViolation, match="never unpickles") as refused:
        evaluations.evaluate(backend, AUTHOR, "credit", version, dataset=dataset(backend, FRAME))
    assert "skops" in str(refused.value)
    assert registry.get_version(backend, "credit", version).status == "candidate"


def test_author_cannot_approve_even_as_admin(in_review) -> None:  # type: ignore[no-untyped-def]
    backend, version, _ = in_review
    _complete_evidence(backend, version)
    author_as_admin = Actor(name=AUTHOR.name, roles=frozenset({Role.ADMIN}))
    with pytest.raises(PermissionDenied, match="four-eyes") as refused:
        governance.approve(backend, author_as_admin, "credit", version)
    assert "admins too" in str(refused.value)
    assert governance.reviews(backend, "credit", version) == []


def test_approval_refused_with_the_full_missing_list_until_complete(in_review) -> None:  # type: ignore[no-untyped-def]
    backend, version, _ = in_review
    with pytest.raises(PolicyViolation) as refused:
        governance.approve(backend, RISK, "credit", version)
    message = str(refused.value)
    for expected in ("risk assessment: rate business", "ethical", "compliance checklist: check data privacy",
                     "business impact review", "approvals: 1 of 2", "'compliance' role"):
        assert expected in message
    assert "'risk' role" not in message  # RISK's own approval would count for risk
    missing = governance.status(backend, "credit", version).missing
    assert any("approvals: 0 of 2" in m for m in missing)
    _complete_evidence(backend, version)
    assert governance.status(backend, "credit", version).missing == [
        "approvals: 0 of 2 (distinct people, not the author)",
        "approval by someone with the 'risk' role",
        "approval by someone with the 'compliance' role",
    ]


def test_two_approvals_from_the_required_roles_approve_the_version(in_review) -> None:  # type: ignore[no-untyped-def]
    backend, version, _ = in_review
    _complete_evidence(backend, version)
    with pytest.raises(PermissionDenied, match="lets only risk, compliance approve"):
        governance.approve(backend, Actor(name="plain", roles=frozenset({Role.APPROVER})), "credit", version)
    governance.approve(backend, RISK, "credit", version, comment="risk ok")
    governance.approve(backend, RISK, "credit", version, comment="again")  # the same person counts once
    assert registry.get_version(backend, "credit", version).status == "in_review"
    governance.approve(backend, COMPLIANCE, "credit", version, comment="compliant")
    assert registry.get_version(backend, "credit", version).status == "approved"
    approved = audit.list_(backend, model="credit", action="model_version.approved")
    assert approved[0].details["approvers"] == ["carl", "rita"]
    with pytest.raises(InvalidInput, match="released by deploying it"):
        governance.release(backend, ADMIN, "credit", version)
    deployments.create(backend, ADMIN, "credit-prod", model="credit", environment="production", version=version)
    assert registry.get_version(backend, "credit", version).status == "released"
    with pytest.raises(Conflict, match="routed by deployment 'credit-prod'"):
        governance.retire(backend, ADMIN, "credit", version, reason="replaced")
    deployments.retire(backend, ADMIN, "credit-prod", reason="replaced")
    assert registry.get_version(backend, "credit", version).status == "approved"
    governance.retire(backend, ADMIN, "credit", version, reason="replaced")
    assert registry.get_version(backend, "credit", version).status == "retired"
    actions = [e.action for e in audit.list_(backend, model="credit", limit=1000, newest_first=False)]
    for action in ("policy.changed", "model_version.evaluated", "review.requested", "risk.assessed",
                   "checklist.item_checked", "business_impact.reviewed", "model_version.approved",
                   "model_version.released", "model_version.retired"):
        assert action in actions
    assert audit.verify(backend).ok


def test_request_changes_resets_approvals_and_resubmission_returns_to_review(in_review) -> None:  # type: ignore[no-untyped-def]
    backend, version, _ = in_review
    _complete_evidence(backend, version)
    governance.approve(backend, RISK, "credit", version)
    governance.request_changes(backend, COMPLIANCE, "credit", version, "add a calibration plot")
    assert registry.get_version(backend, "credit", version).status == "changes_requested"
    with pytest.raises(InvalidTransition, match="allowed from 'changes_requested': in_review, rejected"):
        governance.approve(backend, COMPLIANCE, "credit", version)
    governance.request_review(backend, AUTHOR, "credit", version, comment="plot added")
    governance.approve(backend, COMPLIANCE, "credit", version)
    assert registry.get_version(backend, "credit", version).status == "in_review"  # RISK's old approval is void
    assert [e.action for e in audit.list_(backend, model="credit", action="review.changes_requested")]


def test_comment_threads_and_review_permissions(in_review) -> None:  # type: ignore[no-untyped-def]
    backend, version, _ = in_review
    first = governance.comment(backend, RISK, "credit", version, "why this threshold?")
    reply = governance.comment(backend, AUTHOR, "credit", version, "regulator asked", parent_id=first.id)
    assert reply.parent_id == first.id
    with pytest.raises(PermissionDenied, match="review role"):
        governance.set_risk(backend, VIEWER, "credit", version, "legal", rating="low", rationale="x")
    with pytest.raises(InvalidInput, match="not one of"):
        governance.set_risk(backend, RISK, "credit", version, "weather", rating="low", rationale="x")
    with pytest.raises(InvalidInput, match="checklist"):
        governance.check_item(backend, RISK, "credit", version, "not an item")


def test_queue_lists_versions_for_other_reviewers_only(in_review) -> None:  # type: ignore[no-untyped-def]
    backend, version, _ = in_review
    assert {(i["model_name"], i["version"]) for i in governance.queue(backend, RISK)} == {("credit", version)}
    assert governance.queue(backend, Actor(name=AUTHOR.name, roles=frozenset({Role.ADMIN}))) == []


def test_protected_alias_needs_an_approved_version_and_the_role(in_review) -> None:  # type: ignore[no-untyped-def]
    backend, version, _ = in_review
    with pytest.raises(PolicyViolation, match="alias 'champion' of model 'credit' is protected"):
        registry.set_alias(backend, ADMIN, "credit", "champion", version)
    registry.set_alias(backend, ADMIN, "credit", "challenger", version)  # not protected
    _complete_evidence(backend, version)
    governance.approve(backend, RISK, "credit", version)
    governance.approve(backend, COMPLIANCE, "credit", version)
    with pytest.raises(PermissionDenied, match="'approver' role"):
        registry.set_alias(backend, Actor(name="dev", roles=frozenset({Role.CONTRIBUTOR})), "credit", "champion", version)
    assert registry.set_alias(backend, RISK, "credit", "champion", version).aliases == ["challenger", "champion"]
    with pytest.raises(PermissionDenied):
        registry.delete_alias(backend, Actor(name="dev", roles=frozenset({Role.CONTRIBUTOR})), "credit", "champion")


def test_compliance_report_has_every_section_and_the_gate_evidence(in_review) -> None:  # type: ignore[no-untyped-def]
    backend, version, _ = in_review
    _complete_evidence(backend, version)
    governance.approve(backend, RISK, "credit", version, comment="<script>alert(1)</script>")
    markdown, media = reports.compliance_report(backend, "credit", version, fmt="md")
    assert media.startswith("text/markdown")
    for section in ("## Model card", "## Lineage", "`models:/credit/", "### Training runs", "| evaluation | eval.parquet",
                    "## Evaluations", "Fairness across groups",
                    "## Risk assessment", "## Business impact", "## Compliance checklist", "## Reviews and approvals",
                    "## Deployments", "No deployments recorded", "## Audit events", "model_version.evaluated"):
        assert section in markdown, section
    assert "roc_auc" in markdown and "selection rate" in markdown and "<svg" in markdown
    assert "approve** by rita (as risk)" in markdown
    html, media = reports.compliance_report(backend, "credit", version, fmt="html")
    assert media.startswith("text/html") and "<svg" in html and "<rect" in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html  # a review comment is plain text, autoescaped
    with pytest.raises(InvalidInput):
        reports.compliance_report(backend, "credit", version, fmt="docx")


def test_protection_applies_once_a_policy_does(backend) -> None:  # type: ignore[no-untyped-def]
    version = register_model(backend, "plain", MODEL, FRAME)
    registry.set_alias(backend, ADMIN, "plain", "champion", version)  # no policy at all: plain registry
    policies.set_policy(backend, ADMIN, "gates: []\n")  # a global policy now applies to every model
    with pytest.raises(PolicyViolation, match="protected"):
        registry.set_alias(backend, ADMIN, "plain", "production", version)


def test_registration_evaluates_when_the_policy_names_a_dataset(backend) -> None:  # type: ignore[no-untyped-def]
    data = dataset(backend, FRAME)
    policies.set_policy(backend, ADMIN, f"gates:\n  - {{metric: roc_auc, min: 0.9}}\n"
                                        f"evaluation_dataset: {{run_id: {data['run_id']}, path: {data['path']}}}\n")
    version = register_model(backend, "auto", MODEL, FRAME)
    assert registry.get_version(backend, "auto", version).status == "in_review"
    assert len(evaluations.list_(backend, "auto", version)) == 1


def test_the_review_page_offers_decisions_only_while_in_review(in_review, settings) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from modelward.api.app import create_app

    backend, version, _ = in_review
    _complete_evidence(backend, version)
    with TestClient(create_app(settings, backend=backend)) as http:
        page = http.get(f"/ui/models/credit/versions/{version}/review").text
        assert 'id="approve-button"' in page and "your approval completes it" not in page  # two approvals needed
        governance.approve(backend, RISK, "credit", version)
        governance.approve(backend, COMPLIANCE, "credit", version)
        page = http.get(f"/ui/models/credit/versions/{version}/review").text
    assert 'id="approve-button"' not in page and ">Reject<" not in page and "completes it" not in page
    assert "Approval applies to versions in review; this one is approved" in page
