"""/api/v1/evidence: everything that made an answer, as one document (``services.evidence``).

For a logged request, for an endpoint at a moment, or for a model version (at a moment, default
now); ``format=json`` (the default) is the ``Evidence`` document, ``html`` and ``pdf`` the same
content printed for people (``services.evidence_report``), its items linking to the UI's pages.
The service reads the registry, lineage and audit chain, so it is imported at first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, BackendDep
from modelward.api.routers.monitoring import moment
from modelward.domain.evidence import Evidence
from modelward.errors import InvalidInput

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/evidence", tags=["evidence"])
FORMATS = ("json", "html", "pdf")
FORMAT = Query("json", alias="format", description="json, html or pdf")
AT = Query(None, description="ISO 8601 (naive means UTC)")
DOCUMENT = {200: {"description": "the evidence as JSON, or printed as HTML or PDF",
                  "content": {"text/html": {"schema": {"type": "string"}},
                              "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}


def _checked_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInput(f"format '{fmt}' is not one of {', '.join(FORMATS)}")
    return fmt


def _answer(request: Request, fmt: str, build: Callable[[Any], Evidence], backend: Any) -> Evidence | Response:
    """The document in ``fmt``; the format is checked before anything is read."""
    _checked_format(fmt)
    found = build(backend)
    if fmt == "json":
        return found
    from modelward.services import evidence_report
    from modelward.ui.evidence_pages import links

    content, media_type = evidence_report.render(found, fmt, links=links(str(request.base_url).rstrip("/")))
    disposition = "attachment" if fmt == "pdf" else "inline"
    return Response(content=content, media_type=media_type,
                    headers={"content-disposition": f'{disposition}; filename="{evidence_report.file_name(found)}.{fmt}"'})


def _logged(request: Request) -> None:
    """Write what the gateway's prediction log holds, so the newest answers can be cited."""
    prediction_log = getattr(getattr(request.app.state, "gateway", None), "predictions", None)
    if prediction_log is not None:
        prediction_log.flush()


@router.get("/requests/{request_id}", dependencies=[READ], response_model=Evidence, responses=DOCUMENT)
def for_request(request_id: str, request: Request, backend: BackendDep,
                mode: str = Query("live", description="live (the answer returned) or shadow"),
                explain: bool = Query(False, description="add the answer's local explanation (slower)"),
                fmt: str = FORMAT) -> Any:
    """The evidence of the answer logged for ``request_id``."""
    from modelward.services import evidence

    _logged(request)
    return _answer(request, fmt, lambda b: evidence.for_request(b, request_id, mode=mode, explain=explain), backend)


@router.get("/endpoints/{name}", dependencies=[READ], response_model=Evidence, responses=DOCUMENT)
def for_moment(name: str, request: Request, backend: BackendDep, at: str | None = AT, fmt: str = FORMAT) -> Any:
    """The evidence of what ``name`` served at ``at``: its state then and the live version(s)."""
    from modelward.services import evidence

    when = moment(at, "at")
    if when is None:
        raise InvalidInput("query parameter 'at' is required: the moment, ISO 8601")
    _logged(request)
    return _answer(request, fmt, lambda b: evidence.for_moment(b, name, when), backend)


@router.get("/models/{name}/versions/{version}", dependencies=[READ], response_model=Evidence, responses=DOCUMENT)
def for_version(name: str, version: int, request: Request, backend: BackendDep, at: str | None = AT,
                fmt: str = FORMAT) -> Any:
    """A model version's evidence (artifact, training, governance, audit) up to ``at`` (default now)."""
    from modelward.services import evidence

    when = moment(at, "at")
    return _answer(request, fmt, lambda b: evidence.for_version(b, name, version, when), backend)


def request_path(request_id: str, fmt: str = "json") -> str:
    """The URL path of a request's evidence, for pages that link to it."""
    suffix = "" if fmt == "json" else f"?format={fmt}"
    return f"/api/v1/evidence/requests/{quote(request_id, safe='')}{suffix}"
