"""/api/v1/audit: the hash-chained audit trail. Auditors are viewers: everything here is READ."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, BackendDep
from modelward.domain.audit import Anchor, AuditEvent, ChainReport, Checkpoint
from modelward.errors import InvalidInput
from modelward.services import audit as service

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/audit", tags=["audit"])

MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


class AuditEventList(BaseModel):
    events: list[AuditEvent]


class AnchorAnswer(BaseModel):
    anchor: Anchor | None


class CheckpointAnswer(BaseModel):
    checkpoint: Checkpoint | None


@router.get("", dependencies=[READ])
def list_events(
    backend: BackendDep,
    model: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(100, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
    newest_first: bool = True,
) -> AuditEventList:
    events = service.list_(
        backend, model=model, actor=actor, action=action, since=since, until=until,
        limit=limit, offset=offset, newest_first=newest_first,
    )
    return AuditEventList(events=events)


@router.get("/verify", dependencies=[READ])
def verify_chain(
    backend: BackendDep, anchor_seq: int | None = None, anchor_hash: str | None = None
) -> ChainReport:
    if (anchor_seq is None) != (anchor_hash is None):
        raise InvalidInput("give both anchor_seq and anchor_hash, or neither")
    anchor = Anchor(seq=anchor_seq, hash=anchor_hash) if anchor_seq is not None and anchor_hash else None
    return service.verify(backend, anchor)


@router.get("/anchor", dependencies=[READ])
def chain_anchor(backend: BackendDep) -> AnchorAnswer:
    return AnchorAnswer(anchor=service.anchor(backend))


# READ, like the rest: it writes only a signed copy of the server's own head, idempotently
# (nothing if the head has not moved), so auditors may ask for one.
@router.post("/checkpoints", dependencies=[READ])
def write_checkpoint(backend: BackendDep) -> CheckpointAnswer:
    return CheckpointAnswer(checkpoint=service.checkpoint(backend))


@router.get("/export", dependencies=[READ])
def export_events(
    backend: BackendDep,
    format: str = "jsonl",
    model: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StreamingResponse:
    lines = service.export(backend, format, model=model, actor=actor, action=action, since=since, until=until)
    headers = {"content-disposition": f'attachment; filename="audit.{format}"'}
    return StreamingResponse(lines, media_type=MEDIA_TYPES[format], headers=headers)
