"""/api/v1/runs: each endpoint is one service call."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.api.schemas import (
    lifecycle_of,
    BATCH_BODY_SCHEMA,
    parse_body,
    LogAppend,
    LogBatch,
    LogRead,
    MetricHistory,
    NoteBody,
    NoteList,
    RunCreate,
    RunEnd,
    RunIds,
    RunSearch,
    RunUpdate,
)
from modelward.domain.tracking import Note, Run, RunPage, RunStatus
from modelward.services import runs as service

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/runs", tags=["runs"])


class RunBatchCreate(BaseModel):
    """``POST /api/v1/runs/batch``: up to ``MAX_RUNS_PER_BATCH`` runs, created in one transaction."""

    runs: list[service.NewRun]


class Heartbeat(BaseModel):
    run_id: str
    status: RunStatus


class RunWriters(BaseModel):
    """Everyone who wrote into the run (its creator included): user -> kinds, in order."""

    run_id: str
    writers: dict[str, list[str]]


@router.post("", status_code=201, dependencies=[WRITE])
def create_run(body: RunCreate, backend: BackendDep, actor: ActorDep) -> Run:
    return service.start(
        backend, actor, experiment_id=body.experiment_id, name=body.name,
        parent_run_id=body.parent_run_id, tags=body.tags, process=body.process,
        environment=body.environment, start_time=body.start_time,
    )


@router.post("/batch", status_code=201, dependencies=[WRITE])
def create_runs(body: RunBatchCreate, backend: BackendDep, actor: ActorDep) -> RunPage:
    return RunPage(runs=service.create_many(backend, actor, body.runs))


@router.post("/search", dependencies=[READ])
def search_runs(body: RunSearch, backend: BackendDep) -> RunPage:
    return service.search(
        backend, experiment_ids=body.experiment_ids, filter=body.filter, order_by=body.order_by,
        lifecycle=None if body.lifecycle in (None, "all") else lifecycle_of(body.lifecycle),
        max_results=body.max_results, page_token=body.page_token,
    )


@router.post("/get-many", dependencies=[READ])
def get_runs(body: RunIds, backend: BackendDep) -> RunPage:
    return RunPage(runs=service.get_many(backend, body.run_ids))


@router.get("/{run_id}", dependencies=[READ])
def get_run(run_id: str, backend: BackendDep) -> Run:
    return service.get(backend, run_id)


@router.get("/{run_id}/writers", dependencies=[READ])
def get_run_writers(run_id: str, backend: BackendDep) -> RunWriters:
    return RunWriters(run_id=run_id, writers=service.writers(backend, run_id))


@router.patch("/{run_id}", dependencies=[WRITE])
def update_run(run_id: str, body: RunUpdate, backend: BackendDep, actor: ActorDep) -> Run:
    return service.rename(backend, run_id, body.name, actor=actor)


@router.post("/{run_id}/end", dependencies=[WRITE])
def end_run(run_id: str, body: RunEnd, backend: BackendDep, actor: ActorDep) -> Run:
    return service.end(
        backend, run_id, actor=actor, status=body.status, error_message=body.error_message,
        error_traceback=body.error_traceback, end_time=body.end_time,
    )


@router.post("/{run_id}/heartbeat", dependencies=[WRITE])
def heartbeat(run_id: str, backend: BackendDep) -> Heartbeat:
    return Heartbeat(run_id=run_id, status=service.heartbeat(backend, run_id))


@router.post("/{run_id}/batch", status_code=204, dependencies=[WRITE], openapi_extra=BATCH_BODY_SCHEMA)
async def log_batch(run_id: str, request: Request, backend: BackendDep, actor: ActorDep) -> Response:
    # The ingestion hot path: pydantic parses the raw JSON in one pass (several times
    # faster than json.loads and then validating the Python objects).
    body = parse_body(LogBatch, await request.body())
    metrics = body.metrics
    await run_in_threadpool(
        service.log_batch, backend, run_id, actor=actor,
        metric_keys=metrics.keys if metrics else (),
        metric_values=metrics.values if metrics else (),
        metric_steps=metrics.steps if metrics else None,
        metric_timestamps_ms=metrics.timestamps_ms if metrics else None,
        params=body.params, tags=body.tags,
    )
    return Response(status_code=204)


@router.delete("/{run_id}/tags/{key:path}", status_code=204, dependencies=[WRITE])
def delete_run_tag(run_id: str, key: str, backend: BackendDep, actor: ActorDep) -> Response:
    service.delete_tag(backend, run_id, key, actor=actor)
    return Response(status_code=204)


@router.get("/{run_id}/metrics/{key:path}", dependencies=[READ])
def get_metric_history(run_id: str, key: str, backend: BackendDep) -> MetricHistory:
    return MetricHistory(metrics=service.metric_history(backend, run_id, key))


@router.delete("/{run_id}", status_code=204, dependencies=[WRITE])
def delete_run(run_id: str, backend: BackendDep, actor: ActorDep, permanent: bool = False) -> Response:
    service.delete(backend, run_id, permanent=permanent, actor=actor)
    return Response(status_code=204)


@router.post("/{run_id}/restore", dependencies=[WRITE])
def restore_run(run_id: str, backend: BackendDep, actor: ActorDep) -> Run:
    return service.restore(backend, run_id, actor=actor)


@router.post("/{run_id}/notes", status_code=201, dependencies=[READ])
def add_note(run_id: str, body: NoteBody, backend: BackendDep, actor: ActorDep) -> Note:
    return service.add_note(backend, actor, run_id, body.text)


@router.patch("/{run_id}/notes/{note_id}", dependencies=[READ])
def update_note(run_id: str, note_id: int, body: NoteBody, backend: BackendDep, actor: ActorDep) -> Note:
    return service.update_note(backend, actor, run_id, note_id, body.text)


@router.get("/{run_id}/notes", dependencies=[READ])
def list_notes(run_id: str, backend: BackendDep) -> NoteList:
    return NoteList(notes=service.notes(backend, run_id))


@router.post("/{run_id}/logs", dependencies=[WRITE])
def append_logs(run_id: str, body: LogAppend, backend: BackendDep, actor: ActorDep) -> dict[str, int]:
    return {"last_seq": service.append_logs(backend, run_id, body.chunks, actor=actor)}


@router.get("/{run_id}/logs", dependencies=[READ])
def read_logs(
    run_id: str, backend: BackendDep, after_seq: int = Query(0, ge=0), limit: int = Query(1000, ge=1, le=10_000)
) -> LogRead:
    chunks = service.read_logs(backend, run_id, after_seq=after_seq, limit=limit)
    return LogRead(chunks=chunks, last_seq=chunks[-1].seq if chunks else after_seq)
