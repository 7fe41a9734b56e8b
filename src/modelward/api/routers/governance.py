"""/api/v1/models/{name}/versions/{version}/...: evaluate, review, approve, evidence, state, report.

Each endpoint is one service call; the rules (four-eyes, roles, transitions) live in the services.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from modelward.api.decoding import FreeJSON, JsonRoute
from modelward.api.deps import APPROVE, READ, REVIEW, WRITE, ActorDep, BackendDep
from modelward.domain.governance import (
    BusinessImpact,
    ComplianceChecklist,
    DatasetRef,
    Evaluation,
    GovernanceStatus,
    Review,
    RiskAssessment,
)
from modelward.services import evaluations, governance, reports

router = APIRouter(route_class=JsonRoute, prefix="/api/v1", tags=["governance"])
VERSION = "/models/{name}/versions/{version}"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvaluateBody(_Body):
    """No ``dataset``: the policy's evaluation_dataset, and the result counts (unless ``advisory``).
    With your own ``dataset``, or ``local_result`` (gates you ran in your own process, see
    modelward.sdk.local_evaluation), the evaluation is advisory: stored, but no evidence."""

    dataset: DatasetRef | None = None
    kpis: FreeJSON = Field(default_factory=dict)
    advisory: bool = False
    local_result: FreeJSON | None = None


class CommentBody(_Body):
    comment: str | None = None
    parent_id: str | None = None


class DecisionBody(_Body):
    comment: str | None = None


class RiskBody(_Body):
    category: str
    rating: str
    rationale: str
    mitigation: str | None = None


class ChecklistBody(_Body):
    item: str
    checked: bool = True
    evidence: str | None = None


class ImpactBody(_Body):
    summary: str
    expected_revenue_impact: str | None = None
    kpis: FreeJSON = Field(default_factory=dict)
    affected_users: str | None = None


class StateBody(_Body):
    state: Literal["released", "retired"]
    reason: str | None = None


@router.post(VERSION + "/evaluate", status_code=201, dependencies=[WRITE])
def evaluate(name: str, version: int, body: EvaluateBody, backend: BackendDep, actor: ActorDep) -> Evaluation:
    if body.local_result is not None:
        return evaluations.record_client_result(backend, actor, name, version, body.local_result, dataset=body.dataset)
    return evaluations.evaluate(backend, actor, name, version, dataset=body.dataset, kpis=body.kpis,
                                advisory=body.advisory)


@router.get(VERSION + "/evaluations", dependencies=[READ])
def list_evaluations(name: str, version: int, backend: BackendDep) -> list[Evaluation]:
    return evaluations.list_(backend, name, version)


@router.get(VERSION + "/reviews", dependencies=[READ])
def list_reviews(name: str, version: int, backend: BackendDep) -> list[Review]:
    return governance.reviews(backend, name, version)


@router.post(VERSION + "/reviews", status_code=201, dependencies=[REVIEW])
def comment(name: str, version: int, body: CommentBody, backend: BackendDep, actor: ActorDep) -> Review:
    return governance.comment(backend, actor, name, version, body.comment or "", parent_id=body.parent_id)


@router.post(VERSION + "/request-review", status_code=201, dependencies=[WRITE])
def request_review(name: str, version: int, body: DecisionBody, backend: BackendDep, actor: ActorDep) -> Review:
    return governance.request_review(backend, actor, name, version, comment=body.comment)


@router.post(VERSION + "/request-changes", status_code=201, dependencies=[REVIEW])
def request_changes(name: str, version: int, body: DecisionBody, backend: BackendDep, actor: ActorDep) -> Review:
    return governance.request_changes(backend, actor, name, version, body.comment or "")


@router.post(VERSION + "/approve", status_code=201, dependencies=[APPROVE])
def approve(name: str, version: int, body: DecisionBody, backend: BackendDep, actor: ActorDep) -> Review:
    return governance.approve(backend, actor, name, version, comment=body.comment)


@router.post(VERSION + "/reject", status_code=201, dependencies=[APPROVE])
def reject(name: str, version: int, body: DecisionBody, backend: BackendDep, actor: ActorDep) -> Review:
    return governance.reject(backend, actor, name, version, body.comment or "")


@router.put(VERSION + "/risk", dependencies=[REVIEW])
def set_risk(name: str, version: int, body: RiskBody, backend: BackendDep, actor: ActorDep) -> RiskAssessment:
    return governance.set_risk(backend, actor, name, version, body.category, rating=body.rating,
                               rationale=body.rationale, mitigation=body.mitigation)


@router.put(VERSION + "/checklist", dependencies=[REVIEW])
def check_item(name: str, version: int, body: ChecklistBody, backend: BackendDep, actor: ActorDep) -> ComplianceChecklist:
    return governance.check_item(backend, actor, name, version, body.item, checked=body.checked, evidence=body.evidence)


@router.put(VERSION + "/impact", dependencies=[REVIEW])
def set_impact(name: str, version: int, body: ImpactBody, backend: BackendDep, actor: ActorDep) -> BusinessImpact:
    return governance.set_impact(backend, actor, name, version, summary=body.summary,
                                 expected_revenue_impact=body.expected_revenue_impact, kpis=body.kpis,
                                 affected_users=body.affected_users)


@router.get(VERSION + "/state", dependencies=[READ])
def state(name: str, version: int, backend: BackendDep, actor: ActorDep) -> GovernanceStatus:
    return governance.status(backend, name, version, actor=actor)


@router.post(VERSION + "/state", dependencies=[APPROVE])
def change_state(name: str, version: int, body: StateBody, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    return governance.change_state(backend, actor, name, version, body.state, reason=body.reason)


@router.get(VERSION + "/report", dependencies=[READ])
def report(name: str, version: int, backend: BackendDep, request: Request, format: str | None = None) -> Response:
    """The compliance report: ``?format=md|html|pdf``, else the Accept header's (PDF or HTML), else Markdown."""
    fmt = format or reports.format_for_accept(request.headers.get("accept", ""))
    document, media_type = reports.compliance_report(backend, name, version, fmt=fmt)
    headers = {"X-Content-Type-Options": "nosniff"}
    if fmt == "pdf":
        headers["Content-Disposition"] = f'attachment; filename="{reports.file_name(name, version)}.pdf"'
    return Response(document, media_type=media_type, headers=headers)


@router.get("/reviews/queue", dependencies=[READ])
def review_queue(backend: BackendDep, actor: ActorDep) -> list[dict[str, Any]]:
    return governance.queue(backend, actor)
