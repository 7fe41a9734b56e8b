"""/api/v1/gc: store maintenance."""

from __future__ import annotations

from fastapi import APIRouter, Query

from modelward.api.decoding import JsonRoute
from modelward.api.deps import ADMIN, BackendDep
from modelward.services import gc as service
from modelward.services.gc import GcReport

router = APIRouter(route_class=JsonRoute, prefix="/api/v1", tags=["maintenance"])


@router.post("/gc", dependencies=[ADMIN])
def collect_garbage(
    backend: BackendDep, dry_run: bool = False, grace_seconds: float = Query(3600, ge=0, le=100 * 365 * 86400)
) -> GcReport:
    return service.collect(backend, dry_run=dry_run, grace_seconds=grace_seconds)
