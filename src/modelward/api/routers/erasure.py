"""/api/v1/erasure: deletion requests through lineage (``services.erasure``).

* POST /api/v1/erasure/find: what a data subject's key (or a dataset) reaches;
* POST /api/v1/erasure: erase it (``dry_run``: only list), audited, versions flagged;
* GET /api/v1/erasure: past requests, from the audit trail;
* GET|POST /api/v1/erasure/flags/{model}/{version}[/decision]: a version's flags, the team's decision.

Every route needs READ; the service decides who may (admin or compliance; decisions also risk and
approver), so a refusal names the roles."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, ActorDep, BackendDep
from modelward.domain.erasure import (
    ErasureFindings,
    ErasureFlag,
    ErasureRecord,
    ErasureRequest,
    ErasureResult,
)
from modelward.services import erasure as service

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/erasure", tags=["erasure"])


class EraseBody(ErasureRequest):
    reason: str = Field(description="why (the request's reference, the legal ground)")
    dry_run: bool = False


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["retrain", "keep"]
    reason: str
    request_id: str | None = Field(default=None, description="which request's flag (needed if several are open)")


class RecordList(BaseModel):
    requests: list[ErasureRecord]


class FlagList(BaseModel):
    flags: list[ErasureFlag]


@router.post("/find", dependencies=[READ])
async def find(body: ErasureRequest, backend: BackendDep, actor: ActorDep) -> ErasureFindings:
    return await run_in_threadpool(service.find, backend, actor, body)


@router.post("", dependencies=[READ])
async def erase(body: EraseBody, backend: BackendDep, actor: ActorDep) -> ErasureResult:
    request = ErasureRequest(key=body.key, dataset=body.dataset, endpoints=body.endpoints)
    return await run_in_threadpool(service.erase, backend, actor, request, reason=body.reason, dry_run=body.dry_run)


@router.get("", dependencies=[READ])
def past_requests(backend: BackendDep, actor: ActorDep, limit: int = Query(100, ge=1, le=1000)) -> RecordList:
    return RecordList(requests=service.requests(backend, actor, limit=limit))


@router.get("/flags/{model}/{version}", dependencies=[READ])
def flags(model: str, version: int, backend: BackendDep) -> FlagList:
    return FlagList(flags=service.flags(backend, model, version))


@router.post("/flags/{model}/{version}/decision", status_code=201, dependencies=[READ])
def decide(model: str, version: int, body: DecisionBody, backend: BackendDep, actor: ActorDep) -> ErasureFlag:
    return service.decide(backend, actor, model, version, decision=body.decision, reason=body.reason,
                          request_id=body.request_id)
