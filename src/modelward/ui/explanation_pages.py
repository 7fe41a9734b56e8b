"""HTML pages for the explanations of a version: the stored global explanation as charts
(permutation importance, mean |SHAP|, partial dependence), with what it was computed on and its
revisions; and a what-if page that explains an edited row through the REST API as it changes.

Each page reads through ``services.explanations``; the charts are drawn and the what-if calls
made by static/explain.js against the REST endpoints (api/routers/explanations.py), so the
numbers on screen are the API's. No rule lives here. The service loads pandas and scikit-learn,
so it is imported at first use, not at the server's start.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, BackendDep
from modelward.errors import InvalidInput, NotFound, PolicyViolation
from modelward.services import registry
from modelward.ui.rendering import add_globals, render
from modelward.ui.registry_pages import version_url

router = APIRouter(route_class=JsonRoute, prefix="/ui", include_in_schema=False)


def explanations_url(name: str, version: int) -> str:
    return f"{version_url(name, version)}/explanations"


def what_if_url(name: str, version: int) -> str:
    return f"{version_url(name, version)}/what-if"


def api_url(name: str, version: int) -> str:
    """The REST base of the version's explanations."""
    return f"/api/v1/models/{quote(name, safe='')}/versions/{version}/explanations"


def revision_json_url(name: str, version: int, revision: int) -> str:
    # The REST API reads the latest revision only; older ones are read here.
    return f"{explanations_url(name, version)}/revisions/{revision}.json"


add_globals(explanations_url=explanations_url, what_if_url=what_if_url)


def _service() -> Any:
    from modelward.services import explanations

    return explanations


def _shown(revisions: list[dict[str, Any]], revision: int | None) -> dict[str, Any] | None:
    """The revision asked for, else the newest (``revisions`` is newest first)."""
    if revision is None:
        return revisions[0] if revisions else None
    for document in revisions:
        if document.get("revision") == revision:
            return document
    raise NotFound(f"no stored global explanation has revision {revision}; there are {len(revisions)}")


def chart_data(document: dict[str, Any]) -> dict[str, Any]:
    """What explain.js draws, as the stored document holds it."""
    return {
        "output": document.get("output"),
        "scoring": document.get("scoring"),
        "importance": document.get("permutation_importance") or [],
        "shap": document.get("shap"),
        "partial_dependence": document.get("partial_dependence") or [],
    }


@router.get("/models/{name}/versions/{version}/explanations", response_class=HTMLResponse, dependencies=[READ])
def explanations_page(request: Request, name: str, version: int, backend: BackendDep,
                      revision: int | None = None) -> HTMLResponse:
    found = registry.get_version(backend, name, version)
    revisions = _service().global_revisions(backend, name, version)
    document = _shown(revisions, revision)
    latest = bool(revisions) and document is revisions[0]
    data_url = (f"{api_url(name, version)}/latest" if latest or document is None
                else revision_json_url(name, version, document["revision"]))
    listed = [{"revision": d.get("revision"), "created_at": d.get("created_at"), "created_by": d.get("created_by"),
               "dataset": d.get("dataset"), "rows": d.get("rows"), "seed": (d.get("parameters") or {}).get("seed"),
               "shap": d.get("shap") is not None, "json": revision_json_url(name, version, d["revision"]),
               "page": f"{explanations_url(name, version)}?revision={d['revision']}"} for d in revisions]
    return render(
        request, "explanations.html", section="models", version=found, document=document, latest=latest,
        revisions=listed, data_url=data_url, compute_url=api_url(name, version),
        chart_data=chart_data(document) if document else None,
    )


@router.get("/models/{name}/versions/{version}/explanations/revisions/{revision}.json", dependencies=[READ])
def revision_json(name: str, version: int, revision: int, backend: BackendDep) -> JSONResponse:
    """One stored revision of the global explanation, as stored."""
    return JSONResponse(_shown(_service().global_revisions(backend, name, version), revision))


@router.get("/models/{name}/versions/{version}/what-if", response_class=HTMLResponse, dependencies=[READ])
def what_if_page(request: Request, name: str, version: int, backend: BackendDep) -> HTMLResponse:
    found = registry.get_version(backend, name, version)
    start, error = None, None
    try:
        start = _service().what_if_start(backend, name, version)
    except (InvalidInput, PolicyViolation) as exc:  # no evaluation data, or a model the server will not open
        error = exc.message
    urls = {"local": f"{api_url(name, version)}/local",
            "counterfactuals": f"/api/v1/models/{quote(name, safe='')}/versions/{version}/counterfactuals"}
    return render(request, "what_if.html", section="models", version=found, start=start, error=error,
                  what_if_data={"start": start, "urls": urls} if start else None)
