"""/api/v1/policies: governance policies as code, versioned. Each endpoint is one service call."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from modelward.api.decoding import JsonRoute
from modelward.api.deps import ADMIN, READ, ActorDep, BackendDep
from modelward.domain.governance import StoredPolicy
from modelward.services import policies as service

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/policies", tags=["governance"])


class PolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    yaml: str
    scope: str | None = None


class Validated(BaseModel):
    valid: bool
    scope: str
    policy: dict


@router.get("", dependencies=[READ])
def list_policies(backend: BackendDep) -> list[StoredPolicy]:
    return service.list_(backend)


@router.put("", dependencies=[ADMIN])
def set_policy(body: PolicyBody, backend: BackendDep, actor: ActorDep) -> StoredPolicy:
    return service.set_policy(backend, actor, body.yaml, scope=body.scope)


@router.post("/validate", dependencies=[READ])
def validate_policy(body: PolicyBody) -> Validated:
    policy = service.validate(body.yaml)
    return Validated(valid=True, scope=service.scope_of(policy), policy=policy.model_dump(mode="json"))


@router.get("/effective/{model}", dependencies=[READ])
def effective_policy(model: str, backend: BackendDep, risk_tier: str | None = None) -> dict:
    return service.effective_policy(backend, model, risk_tier=risk_tier).model_dump(mode="json")


@router.get("/{scope}/history", dependencies=[READ])
def policy_history(scope: str, backend: BackendDep) -> list[StoredPolicy]:
    return service.history(backend, scope)


@router.get("/{scope}", dependencies=[READ])
def get_policy(scope: str, backend: BackendDep, version: int | None = None) -> StoredPolicy:
    return service.get(backend, scope, version=version)
