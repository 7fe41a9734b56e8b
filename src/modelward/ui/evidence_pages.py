"""HTML page of an answer's evidence: ``/ui/evidence/{request_id}`` for a logged request,
``/ui/evidence?endpoint=&at=`` for an endpoint at a moment, ``?model=&version=`` for a version.

The sections are printed by ``services.evidence_report`` (the same content as the REST HTML and
PDF); this module says where each item's own page is (``links``) and frames it in the UI.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, BackendDep
from modelward.errors import InvalidInput, NotFound
from modelward.ui.audit_pages import parse_moment
from modelward.ui.deployment_pages import deployment_url
from modelward.ui.lineage_pages import lineage_url
from modelward.ui.monitoring_pages import monitoring_url
from modelward.ui.registry_pages import version_url
from modelward.ui.rendering import add_globals, render

router = APIRouter(route_class=JsonRoute, prefix="/ui", include_in_schema=False)
_AUDIT_SLACK = timedelta(milliseconds=1)  # the audit page's ``until`` is exclusive


def evidence_url(request_id: str) -> str:
    return f"/ui/evidence/{quote(request_id, safe='')}"


def moment_evidence_url(endpoint: str, at: datetime | str) -> str:
    moment = at.isoformat() if isinstance(at, datetime) else at
    return "/ui/evidence?" + urlencode({"endpoint": endpoint, "at": moment})


add_globals(evidence_url=evidence_url, moment_evidence_url=moment_evidence_url)


def _audit_event_url(action: str, at: datetime, **_: Any) -> str:
    """The audit log narrowed to the event: its action, in the millisecond it happened."""
    at = at.astimezone(UTC) if at.tzinfo else at
    since = at.replace(microsecond=at.microsecond // 1000 * 1000)
    return "/ui/audit?" + urlencode({"action": action, "since": since.replace(tzinfo=None).isoformat(),
                                     "until": (since + _AUDIT_SLACK).replace(tzinfo=None).isoformat()})


_PAGES: dict[str, Any] = {
    "version": lambda model, version: version_url(model, int(version)),
    "review": lambda model, version: version_url(model, int(version)) + "/review",
    "run": lambda run_id: f"/ui/runs/{quote(run_id, safe='')}",
    "lineage": lambda ref: lineage_url(ref),
    "deployment": lambda endpoint: deployment_url(endpoint),
    "alerts": lambda endpoint: monitoring_url(endpoint) + "#alerts-heading",
    "audit_event": _audit_event_url,
}


def links(base: str = "") -> Any:
    """``link(kind, **ids)``: the URL of an item's own page (prefixed with ``base``), or None."""

    def link(kind: str, **ids: Any) -> str | None:
        page = _PAGES.get(kind)
        if page is None or any(value is None for value in ids.values()):
            return None
        return base + page(**ids)

    return link


def _evidence(backend: Any, request_id: str | None, endpoint: str, at: str, model: str, version: str) -> Any:
    from modelward.services import evidence

    if request_id is not None:
        return evidence.for_request(backend, request_id)
    if endpoint.strip():
        moment = parse_moment(at, "at")
        if moment is None:
            raise InvalidInput("give the moment (at) as well as the endpoint, e.g. 2026-12-01T12:30")
        return evidence.for_moment(backend, endpoint.strip(), moment)
    if model.strip():
        if not version.strip().isdigit():
            raise InvalidInput(f"version must be a number, got {version!r}")
        return evidence.for_version(backend, model.strip(), int(version), parse_moment(at, "at"))
    return None


def _pdf_url(found: Any) -> str:
    if found.kind == "request":
        return f"/api/v1/evidence/requests/{quote(found.request_id, safe='')}?format=pdf"
    if found.kind == "moment":
        return (f"/api/v1/evidence/endpoints/{quote(found.endpoint, safe='')}?"
                + urlencode({"at": found.at.isoformat(), "format": "pdf"}))
    return (f"/api/v1/evidence/models/{quote(found.model_name, safe='')}/versions/{found.versions[0]}?"
            + urlencode({"at": found.at.isoformat(), "format": "pdf"}))


def _page(request: Request, backend: Any, request_id: str | None = None, endpoint: str = "", at: str = "",
          model: str = "", version: str = "") -> HTMLResponse:
    from modelward.services import evidence_report

    form = {"request_id": request_id or "", "endpoint": endpoint, "at": at, "model": model, "version": version}
    try:
        found = _evidence(backend, request_id, endpoint, at, model, version)
    except (InvalidInput, NotFound) as exc:
        return render(request, "evidence.html", status_code=404 if isinstance(exc, NotFound) else 400,
                      section="deployments", error=str(exc), form=form, found=None)
    if found is None:
        return render(request, "evidence.html", section="deployments", error=None, form=form, found=None)
    return render(request, "evidence.html", section="deployments", error=None, form=form, found=found,
                  title=evidence_report.title(found), body=evidence_report.fragment(found, links()),
                  pdf_url=_pdf_url(found))


@router.get("/evidence", response_class=HTMLResponse, dependencies=[READ])
def evidence_search_page(request: Request, backend: BackendDep, request_id: str = "", endpoint: str = "",
                         at: str = "", model: str = "", version: str = "") -> HTMLResponse:
    """A form, or the evidence for a moment or a version (a request id given here opens its page)."""
    if request_id.strip():
        return _page(request, backend, request_id=request_id.strip())
    return _page(request, backend, endpoint=endpoint, at=at, model=model, version=version)


@router.get("/evidence/{request_id}", response_class=HTMLResponse, dependencies=[READ])
def evidence_page(request: Request, request_id: str, backend: BackendDep) -> HTMLResponse:
    return _page(request, backend, request_id=request_id)
