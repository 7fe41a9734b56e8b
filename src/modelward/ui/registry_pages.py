"""HTML pages for the model registry: models, a model (versions, aliases and their history),
a version (files, metrics, rendered model card), and versions side by side.

Each page reads through the services, like the API; no rule lives here.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, ActorDep, BackendDep
from modelward.errors import InvalidInput, ModelwardError
from modelward.services import deployments, governance, lineage, model_cards, policies, registry
from modelward.ui.rendering import add_globals, render

router = APIRouter(route_class=JsonRoute, prefix="/ui", include_in_schema=False)
PAGE_SIZE = 50
MAX_COMPARED = 6
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)


def model_url(name: str) -> str:
    return f"/ui/models/{quote(name, safe='')}"


def version_url(name: str, version: int) -> str:
    return f"{model_url(name)}/versions/{version}"


add_globals(model_url=model_url, version_url=version_url)


@router.get("/models", response_class=HTMLResponse, dependencies=[READ])
def models_page(request: Request, backend: BackendDep, filter: str | None = None, offset: int = 0) -> HTMLResponse:
    error, models, has_more = None, [], False
    offset = max(offset, 0)
    try:
        page = registry.search_models(backend, filter=filter or None, max_results=PAGE_SIZE,
                                      page_token=_token(offset))
        models, has_more = page.models, page.next_page_token is not None
    except InvalidInput as exc:
        error = str(exc)

    def page_url(value: int) -> str:
        return "/ui/models?" + urlencode({k: v for k, v in {"filter": filter or "", "offset": max(value, 0)}.items() if v})

    return render(request, "models.html", section="models", models=models, filter=filter, error=error,
                  has_more=has_more, offset=offset, page_size=PAGE_SIZE, page_url=page_url)


def _token(offset: int) -> str | None:
    # The registry's page tokens are opaque to callers; the UI pages by offset, so it builds them.
    import base64

    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode() if offset else None


@router.get("/models/{name}", response_class=HTMLResponse, dependencies=[READ])
def model_page(request: Request, name: str, backend: BackendDep, offset: int = 0) -> HTMLResponse:
    model = registry.get_model(backend, name)
    offset = max(offset, 0)
    page = registry.search_versions(backend, model_name=name, max_results=PAGE_SIZE, page_token=_token(offset))
    return render(
        request, "model.html", section="models", model=model, versions=page.versions,
        has_more=page.next_page_token is not None, offset=offset, page_size=PAGE_SIZE,
        history=registry.alias_history(backend, name),
    )


@router.get("/models/{name}/versions/{version}", response_class=HTMLResponse, dependencies=[READ])
def version_page(request: Request, name: str, version: int, backend: BackendDep, actor: ActorDep) -> HTMLResponse:
    found = registry.get_version(backend, name, version)
    card_error = None
    try:
        card_html = card_body(model_cards.render_html(model_cards.get(backend, name, version)))
    except ModelwardError as exc:
        card_html, card_error = Markup(""), str(exc)
    summary = lineage.summary_for_version(backend, name, version)
    return render(
        request, "version.html", section="models", version=found, card_html=card_html, card_error=card_error,
        status=governance.status(backend, name, version),  # what stands now, not counting the viewer
        approvals_needed=policies.effective_policy(backend, name).review.approvals,
        evaluation=summary["evaluations"][0] if summary["evaluations"] else None,
        history=registry.alias_history(backend, name),
        serving=deployments.of_version(backend, name, version),
    )


def card_body(document: str) -> Markup:
    """The body of the card's HTML document, to embed in our page.

    Safe to mark up: it is the output of our own model-card template, autoescaped, with
    people's Markdown rendered and sanitised (services.documents). Its heading levels are
    shifted down one so the page keeps a single h1.
    """
    match = _BODY.search(document)
    body = match.group(1) if match else document
    for level in (5, 4, 3, 2, 1):
        body = re.sub(rf"<(/?)h{level}\b", rf"<\1h{level + 1}", body)
    return Markup(body)


@router.get("/models/{name}/compare", response_class=HTMLResponse, dependencies=[READ])
def compare_page(request: Request, name: str, backend: BackendDep) -> HTMLResponse:
    model = registry.get_model(backend, name)
    chosen = _version_numbers(request.query_params.getlist("v"))
    comparison, error, lineages = None, None, {}
    try:
        comparison = registry.compare(backend, name, chosen)
        lineages = {str(v): lineage.summary_for_version(backend, name, v) for v in comparison.versions}
    except (InvalidInput, ModelwardError) as exc:
        error = str(exc)
    return render(request, "model_compare.html", section="models", model=model, comparison=comparison,
                  error=error, chosen=chosen, **_side_by_side(lineages))


def _side_by_side(lineages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per version (keyed by number as text): its training datasets and its latest evaluation's
    metrics, as rows of the comparison table; a row differs when its cells do."""
    latest = {key: (s["evaluations"][0] if s["evaluations"] else None) for key, s in lineages.items()}
    metric_keys = sorted({k for e in latest.values() if e for k in e["metrics"]})
    evaluation_rows = [
        {"key": k, "cells": {v: (e["metrics"].get(k) if e else None) for v, e in latest.items()}}
        for k in metric_keys
    ]
    datasets = {key: [d for d in s["datasets"] if d["role"] in ("training", "upstream")] for key, s in lineages.items()}
    evaluation_data = {key: [d for d in s["datasets"] if d["role"] == "evaluation"] for key, s in lineages.items()}
    for row in evaluation_rows:
        row["differs"] = len({repr(c) for c in row["cells"].values()}) > 1
    return {"latest_evaluations": latest, "evaluation_rows": evaluation_rows, "training_data": datasets,
            "evaluation_data": evaluation_data}


def _version_numbers(values: list[str]) -> list[int]:
    numbers: list[int] = []
    for value in values:
        try:
            number = int(value)
        except ValueError:
            raise InvalidInput(f"version {value!r} is not a number") from None
        if number not in numbers:
            numbers.append(number)
    return numbers[:MAX_COMPARED]
