"""HTML page for the audit log: filter by model, user, action and time; the chain's verification.

Reads through the services, like the API; no rule lives here.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, BackendDep
from modelward.errors import InvalidInput
from modelward.services import audit
from modelward.ui.rendering import render

router = APIRouter(route_class=JsonRoute, prefix="/ui", include_in_schema=False)
PAGE_SIZE = 100


def parse_moment(value: str | None, field: str) -> datetime | None:
    """A time from a form (``2024-05-01``, ``2024-05-01T12:30``), read as UTC by the service."""
    if not value or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{field} '{value}' is not a date or time like 2024-05-01 or 2024-05-01T12:30") from None


@router.get("/audit", response_class=HTMLResponse, dependencies=[READ])
def audit_page(
    request: Request, backend: BackendDep, model: str = "", user: str = "", action: str = "",
    since: str = "", until: str = "", offset: int = 0,
) -> HTMLResponse:
    offset = max(offset, 0)
    filters = {"model": model.strip(), "user": user.strip(), "action": action.strip(), "since": since, "until": until}
    error, events, has_more = None, [], False
    try:
        found = audit.list_(
            backend, model=filters["model"] or None, actor=filters["user"] or None,
            action=filters["action"] or None, since=parse_moment(since, "since"),
            until=parse_moment(until, "until"), limit=PAGE_SIZE + 1, offset=offset,
        )
        events, has_more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    except InvalidInput as exc:
        error = str(exc)

    def page_url(value: int) -> str:
        query = {k: v for k, v in {**filters, "offset": max(value, 0)}.items() if v}
        return "/ui/audit?" + urlencode(query)

    export_query = urlencode({"format": "jsonl", **{k: v for k, v in {
        "model": filters["model"], "actor": filters["user"], "action": filters["action"]}.items() if v}})
    return render(
        request, "audit.html", section="audit", events=events, filters=filters, error=error,
        report=audit.verify(backend), has_more=has_more, offset=offset, page_size=PAGE_SIZE,
        page_url=page_url, export_url=f"/api/v1/audit/export?{export_query}",
    )
