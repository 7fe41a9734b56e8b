"""HTML pages for tracking: experiments, runs table, a run, artifacts, comparison, sign-in.

Each page reads through the services, like the API; no rule lives here.
"""

from __future__ import annotations

import csv
import io
import mimetypes
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, SESSION_COOKIE, ActorDep, BackendDep
from modelward.domain.tracking import Run
from modelward.errors import InvalidInput, ModelwardError
from modelward.services import access
from modelward.services import artifacts as artifact_service
from modelward.services import datasets as dataset_service
from modelward.services import experiments as experiment_service
from modelward.services import runs as run_service
from modelward.ui.rendering import render

router = APIRouter(route_class=JsonRoute, prefix="/ui", include_in_schema=False)
PAGE_SIZE = 50
PREVIEW_BYTES = 256 * 1024
DEFAULT_COLUMNS = 6


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/ui/") -> HTMLResponse:
    return render(request, "login.html", next=_local_path(next), message=None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: str = Form(...), next: str = Form("/ui/")) -> Response:
    try:
        access.authenticate(request.app.state.backend, f"Bearer {token.strip()}")
    except ModelwardError as exc:
        return render(request, "login.html", status_code=401, next=_local_path(next), message=str(exc))
    response = RedirectResponse(_local_path(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token.strip(), httponly=True, samesite="strict",
        secure=request.url.scheme == "https", max_age=12 * 3600,
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    from modelward.services import oidc

    oidc.end_ui_session(request.app.state.backend, request.cookies.get(SESSION_COOKIE))  # a single sign-on's session
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _local_path(target: str) -> str:
    """Only redirect within this site (no open redirect through ?next=)."""
    return target if target.startswith("/") and not target.startswith("//") else "/ui/"


@router.get("/", response_class=HTMLResponse, dependencies=[READ])
def experiments_page(request: Request, backend: BackendDep) -> HTMLResponse:
    experiments = experiment_service.list_(backend)
    counts = run_service.count_by_experiment(backend, [e.id for e in experiments])
    return render(request, "experiments.html", section="experiments", experiments=experiments, counts=counts)


def _available_columns(runs: list[Run]) -> dict[str, list[str]]:
    return {
        "params": sorted({k for r in runs for k in r.params}),
        "metrics": sorted({k for r in runs for k in r.metrics}),
        "tags": sorted({k for r in runs for k in r.tags if not k.startswith("mlflow.")}),
    }


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse, dependencies=[READ])
def runs_page(
    request: Request,
    experiment_id: str,
    backend: BackendDep,
    filter: str | None = None,
    order: str | None = None,
    cols: str | None = None,
    offset: int = 0,
) -> HTMLResponse:
    experiment = experiment_service.get(backend, experiment_id)
    chosen = [c for c in (request.query_params.getlist("col") or (cols or "").split(",")) if c]
    error = None
    try:
        page = run_service.search(
            backend, experiment_ids=[experiment.id], filter=filter, order_by=[order] if order else [],
            max_results=PAGE_SIZE, page_token=run_service.page_token_for(max(offset, 0)),
        )
        runs, has_more = page.runs, page.next_page_token is not None
    except InvalidInput as exc:
        runs, has_more, error = [], False, str(exc)
    available = _available_columns(runs)
    if not chosen:
        chosen = [f"metrics.{k}" for k in available["metrics"]][:DEFAULT_COLUMNS]
        chosen += [f"params.{k}" for k in available["params"]][: DEFAULT_COLUMNS - len(chosen) + 2]

    def url(**changes: Any) -> str:
        query = {"filter": filter or "", "order": order or "", "cols": ",".join(chosen), "offset": offset}
        query.update(changes)
        return f"/ui/experiments/{experiment.id}?{urlencode({k: v for k, v in query.items() if v not in ('', None)})}"

    def sort_url(column: str) -> str:
        descending = order == f"{column} ASC"
        return url(order=f"{column} {'DESC' if descending else 'ASC'}", offset=0)

    return render(
        request, "runs.html", section="experiments", experiment=experiment, runs=runs, rows=run_tree(runs),
        has_more=has_more,
        filter=filter, order=order, cols=chosen, available=available, error=error, offset=max(offset, 0),
        page_size=PAGE_SIZE, sort_url=sort_url, page_url=lambda value: url(offset=max(value, 0)),
    )


def run_tree(runs: list[Run]) -> list[dict[str, Any]]:
    """The page's runs in tree order: each child right under its parent, indented by ``depth``.

    A run whose parent is not on this page stays at the top level and says whose child it is
    (``orphan_of``); the order among siblings is the page's order (the chosen sort).
    """
    on_page = {run.id for run in runs}
    children: dict[str, list[Run]] = {}
    roots: list[Run] = []
    for run in runs:
        parent = run.parent_run_id
        if parent and parent in on_page and parent != run.id:
            children.setdefault(parent, []).append(run)
        else:
            roots.append(run)
    rows: list[dict[str, Any]] = []
    placed: set[str] = set()

    def place(run: Run, depth: int, ancestors: list[str]) -> None:
        if run.id in placed:  # a cycle in bad data: show each run once
            return
        placed.add(run.id)
        kids = children.get(run.id, [])
        rows.append({"run": run, "depth": depth, "ancestors": ancestors, "children": len(kids),
                     "orphan_of": run.parent_run_id if depth == 0 and run.parent_run_id else None})
        for kid in kids:
            place(kid, depth + 1, [*ancestors, run.id])

    for run in roots:
        place(run, 0, [])
    for run in runs:  # runs caught in a parent cycle have no root: still list them
        place(run, 0, [])
    return rows


@router.get("/runs/{run_id}", response_class=HTMLResponse, dependencies=[READ])
def run_page(request: Request, run_id: str, backend: BackendDep) -> HTMLResponse:
    run = run_service.get(backend, run_id)
    histories = {
        key: [[m.step, m.value] for m in run_service.metric_history(backend, run_id, key)]
        for key in sorted(run.metrics)
    }
    histories = {key: points for key, points in histories.items() if len(points) > 1}
    return render(
        request, "run.html", section="experiments", run=run,
        experiment=experiment_service.get(backend, run.experiment_id),
        histories=histories, notes=run_service.notes(backend, run_id),
        artifacts=artifact_service.list_(backend, run_id),
        datasets={"read": dataset_service.of_run(backend, run_id, "input"),
                  "wrote": dataset_service.of_run(backend, run_id, "output")},
    )


@router.post("/runs/{run_id}/notes", dependencies=[READ])
def add_note(run_id: str, backend: BackendDep, actor: ActorDep, text: str = Form(...)) -> Response:
    run_service.add_note(backend, actor, run_id, text)
    return RedirectResponse(f"/ui/runs/{run_id}#new-note", status_code=303)


@router.post("/runs/{run_id}/notes/{note_id}", dependencies=[READ])
def edit_note(run_id: str, note_id: int, backend: BackendDep, actor: ActorDep, text: str = Form(...)) -> Response:
    run_service.update_note(backend, actor, run_id, note_id, text)
    return RedirectResponse(f"/ui/runs/{run_id}#note-{note_id}", status_code=303)


@router.get("/runs/{run_id}/artifacts/{path:path}", dependencies=[READ])
def artifact_file(run_id: str, path: str, backend: BackendDep) -> StreamingResponse:
    info, chunks = artifact_service.open_chunks(backend, run_id, path)
    media_type = mimetypes.guess_type(info.path)[0] or "application/octet-stream"
    if media_type in ("text/html", "image/svg+xml", "application/javascript"):
        media_type = "text/plain"  # never let an artifact run script in our origin
    return StreamingResponse(chunks, media_type=media_type, headers={
        "Content-Length": str(info.size), "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
    })


@router.get("/runs/{run_id}/preview/{path:path}", response_class=HTMLResponse, dependencies=[READ])
def artifact_preview(request: Request, run_id: str, path: str, backend: BackendDep) -> HTMLResponse:
    run = run_service.get(backend, run_id)
    info = artifact_service.stat(backend, run_id, path)
    suffix = info.path.rsplit(".", 1)[-1].lower()
    context: dict[str, Any] = {"run": run, "path": info.path, "truncated": info.size > PREVIEW_BYTES}
    if suffix in ("png", "jpg", "jpeg", "gif"):
        return render(request, "preview.html", kind="image", **context)
    data = _head(backend, run_id, info.path)
    text = data.decode("utf-8", errors="replace")
    if suffix == "csv":
        rows = list(csv.reader(io.StringIO(text)))[:201]
        return render(request, "preview.html", kind="table", table=rows or [[]], **context)
    if suffix == "json" and not context["truncated"]:
        import json

        try:
            text = json.dumps(json.loads(text), indent=2)
        except ValueError:
            pass
    return render(request, "preview.html", kind="text", text=text, **context)


def _head(backend: BackendDep, run_id: str, path: str) -> bytes:
    if artifact_service.stat(backend, run_id, path).size > PREVIEW_BYTES:
        data = b""
        _, chunks = artifact_service.open_chunks(backend, run_id, path)
        for chunk in chunks:
            data += chunk
            if len(data) >= PREVIEW_BYTES:
                break
        return data[:PREVIEW_BYTES]
    return artifact_service.read_bytes(backend, run_id, path)


@router.get("/compare", response_class=HTMLResponse, dependencies=[READ])
def compare_page(request: Request, backend: BackendDep) -> HTMLResponse:
    from modelward.tables import differing_columns, runs_frame
    run_ids = list(dict.fromkeys(request.query_params.getlist("run")))[:20]
    runs = run_service.get_many(backend, run_ids) if run_ids else []
    frame = runs_frame(runs)
    changed = set(differing_columns(frame)) if len(runs) > 1 else set()
    fields = [c for c in frame.columns if c.startswith(("params.", "metrics.", "tags.")) or c in ("status", "duration_s")]
    rows = [
        {"field": f, "cells": list(frame[f].astype(object).where(frame[f].notna(), None)), "differs": f in changed}
        for f in fields
    ]
    rows.sort(key=lambda row: (not row["differs"], row["field"]))
    keys = sorted({k for r in runs for k in r.metrics})
    histories = {
        r.id: {k: [[m.step, m.value] for m in run_service.metric_history(backend, r.id, k)] for k in keys}
        for r in runs
    }
    # Metrics logged over many steps first: they are the ones worth overlaying.
    longest = {k: max(len(h.get(k, [])) for h in histories.values()) for k in keys}
    metric_keys = sorted(keys, key=lambda k: (-longest[k], k))
    chart_data = {
        "runs": [{"id": r.id, "name": r.name or r.id[:8], "params": r.params, "metrics": r.metrics} for r in runs],
        "histories": histories,
    }
    return render(request, "compare.html", section="experiments", runs=runs, rows=rows,
                  metric_keys=metric_keys, chart_data=chart_data)
