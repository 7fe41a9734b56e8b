"""HTML pages for governance: the review queue, a version's review (evaluation with every gate
and its evidence, fairness per group with intervals and small groups flagged, the latest global
explanation's top features beside it, risk assessment, compliance checklist, business impact,
comments and decisions) and its compliance report.

The rules (roles, four-eyes, transitions, missing evidence) live in the services. When a
service refuses, the review page is shown again with the refusal in words, so the person sees
what is missing or why they may not act, next to what they typed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelward.api.decoding import JsonRoute
from modelward.api.deps import APPROVE, READ, REVIEW, WRITE, ActorDep, BackendDep
from modelward.api.errors import status_of
from modelward.domain.actors import Actor
from modelward.domain.governance import RISK_CATEGORIES, RISK_RATINGS, validate_risk
from modelward.errors import InvalidInput, ModelwardError, NotFound
from modelward.formats.card_evidence import explanation_of, explanation_view, protected_group_view
from modelward.services import (
    data_checks,
    evaluations,
    explanations,
    governance,
    model_cards,
    policies,
    registry,
    reports,
)
from modelward.services.backend import Backend
from modelward.ui.registry_pages import version_url
from modelward.ui.rendering import render

router = APIRouter(route_class=JsonRoute, prefix="/ui", include_in_schema=False)
VERSION = "/models/{name}/versions/{version}"
DONE_MESSAGES = {
    "approved": "Your approval is recorded.",
    "rejected": "The version is rejected.",
    "changes": "Changes are requested; the author sees your comment.",
    "resubmitted": "The version is back in review.",
    "commented": "Your comment is added.",
    "risk": "The risk assessment is saved.",
    "checklist": "The compliance checklist is saved.",
    "impact": "The business impact review is saved.",
    "evaluated": "The evaluation ran; its result is below.",
    "nothing": "Nothing changed.",
}


@router.get("/reviews", response_class=HTMLResponse, dependencies=[READ])
def queue_page(request: Request, backend: BackendDep, actor: ActorDep) -> HTMLResponse:
    items = governance.queue(backend, actor)
    return render(request, "review_queue.html", section="reviews", items=items)


# -- the review page ------------------------------------------------------------------------------


def _review_context(backend: Backend, actor: Actor, name: str, version: int) -> dict[str, Any]:
    evaluation_list = evaluations.list_(backend, name, version)
    # What stands now (approvals given, evidence missing) does not count the viewer; whether the
    # viewer's own approval would complete it is asked separately, so both read the same approvals.
    status = governance.status(backend, name, version)
    with_mine = governance.status(backend, name, version, actor=actor)
    policy = policies.effective_policy(backend, name)
    # The governing evaluation (on the policy's data) is the one shown; advisory ones only when
    # there is no governing one yet, and labelled as such.
    latest = status.latest_evaluation or (evaluation_list[0] if evaluation_list else None)
    return {
        "section": "reviews",
        "version": registry.get_version(backend, name, version),
        "status": status,
        "policy": policy,
        "approved_by_me": any(a.reviewer == actor.name for a in status.approvals),
        "mine_completes": status.state == "in_review" and bool(status.missing) and not with_mine.missing,
        "evaluations": evaluation_list,
        "others": [e for e in evaluation_list if latest is None or e.id != latest.id],
        "latest": latest,
        "fairness": _fairness_chart_data(latest.result if latest else {}),
        "protected": protected_group_view(model_cards.protected_group_analysis(latest)),
        "explanation": _explanation(backend, name, version),
        "data_quality": data_checks.for_version(backend, name, version),
        "reviews": governance.reviews(backend, name, version),
        "categories": RISK_CATEGORIES,
        "ratings": RISK_RATINGS,
    }


REVIEW_TOP_FEATURES = 8


def _explanation(backend: Backend, name: str, version: int) -> dict[str, Any] | None:
    """The latest stored global explanation's top features, as a table and as bar chart data."""
    try:
        document = explanations.latest_global(backend, name, version)
    except NotFound:
        return None
    summary = explanation_of(document, top=REVIEW_TOP_FEATURES)
    chart = {"features": [f.feature for f in summary.top_features],
             "importance": [f.importance_mean for f in summary.top_features],
             "std": [f.importance_std for f in summary.top_features], "scoring": summary.scoring}
    return {"summary": summary, "view": explanation_view(summary), "chart": chart,
            "url": f"{version_url(name, version)}/explanations"}


def _fairness_chart_data(result: dict[str, Any]) -> dict[str, Any]:
    """feature -> {groups, rates: {metric: [value per group]}} for the per-group bar charts."""
    charts: dict[str, Any] = {}
    for feature, report in (result.get("fairness") or {}).items():
        by_group = report.get("by_group") if isinstance(report, dict) else None
        if not by_group:
            continue
        groups = [str(g) for g in by_group]
        metrics = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")
        charts[feature] = {"groups": groups,
                           "rates": {m: [by_group[g].get(m) for g in by_group] for m in metrics}}
    return charts


def _page(request: Request, backend: Backend, actor: Actor, name: str, version: int, *,
          error: str | None = None, status_code: int = 200, form: dict[str, Any] | None = None) -> HTMLResponse:
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return render(request, "review.html", status_code=status_code, error=error, done=done, form=form or {},
                  **_review_context(backend, actor, name, version))


@router.get(VERSION + "/review", response_class=HTMLResponse, dependencies=[READ])
def review_page(request: Request, name: str, version: int, backend: BackendDep, actor: ActorDep) -> HTMLResponse:
    return _page(request, backend, actor, name, version)


def _act(request: Request, backend: Backend, actor: Actor, name: str, version: int, action: Any,
         done: str, form: dict[str, Any] | None = None, anchor: str = "") -> Response:
    """Run ``action``; on success go back to the review page, on refusal show it there in words."""
    try:
        changed = action()
    except ModelwardError as exc:
        return _page(request, backend, actor, name, version, error=exc.message, status_code=status_of(exc),
                     form=form)
    outcome = done if changed is not False else "nothing"
    return RedirectResponse(f"{version_url(name, version)}/review?done={outcome}{anchor}", status_code=303)


@router.post(VERSION + "/approve", dependencies=[APPROVE])
def approve(request: Request, name: str, version: int, backend: BackendDep, actor: ActorDep,
            comment: str = Form("")) -> Response:
    return _act(request, backend, actor, name, version,
                lambda: governance.approve(backend, actor, name, version, comment=comment.strip() or None),
                "approved", {"comment": comment})


@router.post(VERSION + "/reject", dependencies=[APPROVE])
def reject(request: Request, name: str, version: int, backend: BackendDep, actor: ActorDep,
           comment: str = Form("")) -> Response:
    return _act(request, backend, actor, name, version,
                lambda: governance.reject(backend, actor, name, version, comment),
                "rejected", {"comment": comment})


@router.post(VERSION + "/request-changes", dependencies=[REVIEW])
def request_changes(request: Request, name: str, version: int, backend: BackendDep, actor: ActorDep,
                    comment: str = Form("")) -> Response:
    return _act(request, backend, actor, name, version,
                lambda: governance.request_changes(backend, actor, name, version, comment),
                "changes", {"comment": comment})


@router.post(VERSION + "/request-review", dependencies=[WRITE])
def request_review(request: Request, name: str, version: int, backend: BackendDep, actor: ActorDep,
                   comment: str = Form("")) -> Response:
    return _act(request, backend, actor, name, version,
                lambda: governance.request_review(backend, actor, name, version, comment=comment.strip() or None),
                "resubmitted", {"comment": comment})


@router.post(VERSION + "/comment", dependencies=[REVIEW])
def add_comment(request: Request, name: str, version: int, backend: BackendDep, actor: ActorDep,
                text: str = Form(""), parent_id: str = Form("")) -> Response:
    return _act(request, backend, actor, name, version,
                lambda: governance.comment(backend, actor, name, version, text, parent_id=parent_id or None),
                "commented", {"text": text}, "#reviews")


@router.post(VERSION + "/evaluate", dependencies=[WRITE])
def evaluate(request: Request, name: str, version: int, backend: BackendDep, actor: ActorDep,
             dataset_run_id: str = Form(""), dataset_path: str = Form("")) -> Response:
    def run() -> Any:
        if bool(dataset_run_id.strip()) != bool(dataset_path.strip()):
            raise InvalidInput("give both the dataset's run id and its artifact path, or neither "
                               "(then the policy's evaluation_dataset is used)")
        dataset = {"run_id": dataset_run_id.strip(), "path": dataset_path.strip()} if dataset_run_id.strip() else None
        return evaluations.evaluate(backend, actor, name, version, dataset=dataset)

    return _act(request, backend, actor, name, version, run, "evaluated",
                {"dataset_run_id": dataset_run_id, "dataset_path": dataset_path}, "#evaluation")


# -- evidence forms ----------------------------------------------------------------------------------


@router.post(VERSION + "/risk", dependencies=[REVIEW])
async def save_risk(request: Request, name: str, version: int, backend: BackendDep, actor: ActorDep) -> Response:
    fields = dict(await request.form())
    current = governance.status(backend, name, version).risk.items
    changes = []
    for category in RISK_CATEGORIES:
        rating = str(fields.get(f"rating_{category}", "")).strip()
        rationale = str(fields.get(f"rationale_{category}", "")).strip()
        mitigation = str(fields.get(f"mitigation_{category}", "")).strip() or None
        if not rating:
            continue
        before = current.get(category)
        if before and (before.rating, before.rationale, before.mitigation) == (rating, rationale, mitigation):
            continue
        changes.append((category, rating, rationale, mitigation))

    def save() -> bool:
        for category, rating, rationale, _ in changes:  # all or nothing: check every row first
            validate_risk(category, rating, rationale)
        for category, rating, rationale, mitigation in changes:
            governance.set_risk(backend, actor, name, version, category, rating=rating, rationale=rationale,
                                mitigation=mitigation)
        return bool(changes)

    return _act(request, backend, actor, name, version, save, "risk", fields, "#risk")


@router.post(VERSION + "/checklist", dependencies=[REVIEW])
async def save_checklist(request: Request, name: str, version: int, backend: BackendDep,
                         actor: ActorDep) -> Response:
    fields = dict(await request.form())
    current = {i.item: i for i in governance.status(backend, name, version).checklist.items}
    changes = []
    for index, item in enumerate(current):
        checked = fields.get(f"checked_{index}") == "on"
        evidence = str(fields.get(f"evidence_{index}", "")).strip() or None
        before = current[item]
        if (before.checked, before.evidence) != (checked, evidence) and (checked or before.checked):
            changes.append((item, checked, evidence))

    def save() -> bool:
        for item, checked, evidence in changes:
            governance.check_item(backend, actor, name, version, item, checked=checked, evidence=evidence)
        return bool(changes)

    return _act(request, backend, actor, name, version, save, "checklist", fields, "#checklist")


def parse_kpis(text: str) -> dict[str, Any]:
    """'name: value' lines -> {name: number or text}."""
    kpis: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise InvalidInput(f"KPI line {number} ({line.strip()!r}) must read 'name: value'")
        try:
            kpis[key.strip()] = float(value)
        except ValueError:
            kpis[key.strip()] = value.strip()
    return kpis


@router.post(VERSION + "/impact", dependencies=[REVIEW])
def save_impact(request: Request, name: str, version: int, backend: BackendDep, actor: ActorDep,
                summary: str = Form(""), expected_revenue_impact: str = Form(""), affected_users: str = Form(""),
                kpis: str = Form("")) -> Response:
    def save() -> Any:
        return governance.set_impact(backend, actor, name, version, summary=summary,
                                     expected_revenue_impact=expected_revenue_impact.strip() or None,
                                     kpis=parse_kpis(kpis), affected_users=affected_users.strip() or None)

    form = {"summary": summary, "expected_revenue_impact": expected_revenue_impact,
            "affected_users": affected_users, "kpis": kpis}
    return _act(request, backend, actor, name, version, save, "impact", form, "#impact")


# -- the compliance report --------------------------------------------------------------------------


@router.get(VERSION + "/report", response_class=HTMLResponse, dependencies=[READ])
def report_page(request: Request, name: str, version: int, backend: BackendDep) -> HTMLResponse:
    document, _ = reports.compliance_report(backend, name, version, fmt="html")
    return render(request, "report.html", section="reviews", version=registry.get_version(backend, name, version),
                  document=document)


@router.get(VERSION + "/report.html", dependencies=[READ])
def report_document(name: str, version: int, backend: BackendDep) -> Response:
    """The report alone, to print or save; it carries no script, and the policy says so."""
    document, media_type = reports.compliance_report(backend, name, version, fmt="html")
    return Response(document, media_type=media_type, headers={
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    })


@router.get(VERSION + "/report.pdf", dependencies=[READ])
def report_pdf(name: str, version: int, backend: BackendDep) -> Response:
    """The report as a PDF file, to file or send on."""
    document, media_type = reports.compliance_report(backend, name, version, fmt="pdf")
    return Response(document, media_type=media_type, headers={
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{reports.file_name(name, version)}.pdf"',
    })
