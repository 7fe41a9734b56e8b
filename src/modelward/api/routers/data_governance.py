"""/api/v1/datasets/{dataset}/governance: a dataset's purpose, consent and retention
(``services.data_governance``); ``dataset`` is an id or a digest.

PUT replaces the declaration, PATCH changes only the fields it names. The route asks only for an
authenticated reader: who may set a declaration is the policy's rule (``data.governance_roles``),
decided in the service, so a compliance officer without write access to runs can set it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, ActorDep, BackendDep
from modelward.domain.data_governance import DataGovernance, DatasetGovernance
from modelward.services import data_governance as service

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/datasets", tags=["datasets"])

DECLARATION = Body(..., description="purposes, excluded_purposes, consent (given | withdrawn | not_required | "
                   "unknown), legal_basis (GDPR Art. 6(1)), retention_until (YYYY-MM-DD), notes")
# The body is validated by the service (the same message for every door); the schema documents it.
DOCUMENTED = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": DataGovernance.model_json_schema()}}}}


@router.get("/{dataset}/governance", dependencies=[READ])
def dataset_governance(dataset: str, backend: BackendDep) -> DatasetGovernance:
    return service.get(backend, dataset)


@router.put("/{dataset}/governance", dependencies=[READ], openapi_extra=DOCUMENTED)
def set_dataset_governance(dataset: str, backend: BackendDep, actor: ActorDep,
                           body: Any = DECLARATION) -> DatasetGovernance:
    return service.set_governance(backend, actor, dataset, body)


@router.patch("/{dataset}/governance", dependencies=[READ], openapi_extra=DOCUMENTED)
def update_dataset_governance(dataset: str, backend: BackendDep, actor: ActorDep,
                              body: Any = DECLARATION) -> DatasetGovernance:
    return service.set_governance(backend, actor, dataset, body, merge=True)
