"""Personal data found in what the store holds (``services.personal_data``):

* /api/v1/datasets/{dataset}/personal-data: scan a logged dataset's snapshot, and its scans so far
  (``dataset``: an id or a digest);
* /api/v1/deployments/{name}/personal-data: scan an endpoint's logged inputs, and its scans;
* /api/v1/models/{name}/versions/{version}/personal-data: what the datasets its source run read
  were found to hold.

The scanner loads pandas, so the service is imported at first use."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.domain.personal_data import PersonalDataScan

router = APIRouter(route_class=JsonRoute, tags=["personal data"])


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locales: list[str] | None = Field(default=None, description="e.g. [en_US, de_DE]; default: en_US, en_GB, de_DE, fr_FR")
    sample_rows: int = Field(default=10_000, ge=1, le=100_000, description="values read per column (datasets) or "
                             "requests read (prediction logs)")


class LogScanRequest(ScanRequest):
    since: datetime | None = None
    until: datetime | None = None


class ScanList(BaseModel):
    scans: list[PersonalDataScan]


def _service() -> Any:
    from modelward.services import personal_data

    return personal_data


@router.post("/api/v1/datasets/{dataset}/personal-data", status_code=201, dependencies=[WRITE])
async def scan_dataset(dataset: str, backend: BackendDep, actor: ActorDep,
                       body: ScanRequest | None = None) -> PersonalDataScan:
    body = body or ScanRequest()
    return await run_in_threadpool(_service().scan_dataset, backend, actor, dataset, locales=body.locales,
                                   sample_rows=body.sample_rows)


@router.get("/api/v1/datasets/{dataset}/personal-data", dependencies=[READ])
def dataset_scans(dataset: str, backend: BackendDep, limit: int = Query(100, ge=1, le=1000)) -> ScanList:
    return ScanList(scans=_service().dataset_scans(backend, dataset, limit=limit))


@router.post("/api/v1/deployments/{name}/personal-data", status_code=201, dependencies=[WRITE])
async def scan_prediction_log(name: str, backend: BackendDep, actor: ActorDep,
                              body: LogScanRequest | None = None) -> PersonalDataScan:
    body = body or LogScanRequest()
    return await run_in_threadpool(_service().scan_prediction_log, backend, actor, name, since=body.since,
                                   until=body.until, locales=body.locales, sample_rows=body.sample_rows)


@router.get("/api/v1/deployments/{name}/personal-data", dependencies=[READ])
def prediction_log_scans(name: str, backend: BackendDep, limit: int = Query(100, ge=1, le=1000)) -> ScanList:
    return ScanList(scans=_service().prediction_log_scans(backend, name, limit=limit))


@router.get("/api/v1/models/{name}/versions/{version}/personal-data", dependencies=[READ])
def version_personal_data(name: str, version: int, backend: BackendDep) -> dict[str, Any]:
    return {"model": name, "version": version, "datasets": _service().for_version(backend, name, version)}
