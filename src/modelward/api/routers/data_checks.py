"""/api/v1/datasets/{dataset}/checks: check a logged dataset against expectations, and its checks so far.

``dataset`` is a dataset id or its digest."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.domain.expectations import DataCheck
from modelward.services import data_checks as service

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/datasets", tags=["datasets"])


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expectations: dict[str, Any] | None = Field(
        default=None, description="a declaration (docs/data.md); without it, the one attached to the dataset")


class CheckList(BaseModel):
    checks: list[DataCheck]


@router.post("/{dataset}/checks", status_code=201, dependencies=[WRITE])
async def check_dataset(dataset: str, backend: BackendDep, actor: ActorDep, body: CheckRequest | None = None) -> DataCheck:
    expectations = body.expectations if body is not None else None
    return await run_in_threadpool(service.check, backend, dataset, expectations=expectations, actor=actor)


@router.get("/{dataset}/checks", dependencies=[READ])
def dataset_checks(dataset: str, backend: BackendDep, limit: int = Query(100, ge=1, le=1000)) -> CheckList:
    return CheckList(checks=service.checks(backend, dataset, limit=limit))
