"""HTML page for one logged dataset: what it is (digest, URI, schema, statistics, snapshot), the
runs that read or wrote it, its expectations and every check, every personal-data scan, and its
purposes, consent and retention when they are governed. Read through
``services.dataset_overview``; no rule lives here."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, BackendDep
from modelward.services import dataset_overview
from modelward.ui.rendering import add_globals, render

router = APIRouter(route_class=JsonRoute, prefix="/ui", include_in_schema=False)


def dataset_url(dataset_id: str) -> str:
    return f"/ui/datasets/{quote(dataset_id, safe='')}"


add_globals(dataset_url=dataset_url)


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse, dependencies=[READ])
def dataset_page(request: Request, dataset_id: str, backend: BackendDep) -> HTMLResponse:
    from modelward.ui.lineage_pages import lineage_url  # it links here: imported at use, not in a cycle

    found = dataset_overview.overview(backend, dataset_id)
    dataset = found["dataset"]
    snapshot = dataset.snapshot
    return render(request, "dataset.html", section="lineage", **found,
                  lineage_href=lineage_url(f"artifact:{dataset.id}"),
                  parent_href=dataset_url(dataset.parent_id) if dataset.parent_id else None,
                  snapshot_href=(f"/ui/runs/{snapshot.run_id}/artifacts/{snapshot.path}" if snapshot else None))
