"""/api/v1/models/{name}/versions/{version}/explanations and /api/v1/explanations: global
explanations computed and stored as evidence, local ones of sent inputs or of a logged request
(``services.explanations``). The service loads scikit-learn and pandas, so it is imported at first use."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from modelward.api.decoding import FreeJSON, JsonRoute
from modelward.api.deps import READ, WRITE, ActorDep, BackendDep

router = APIRouter(route_class=JsonRoute, tags=["explanations"])
VERSION = "/api/v1/models/{name}/versions/{version}/explanations"


class DatasetBody(BaseModel):
    run_id: str = Field(min_length=1)
    path: str = Field(min_length=1)


class GlobalBody(BaseModel):
    dataset: DatasetBody | None = Field(default=None, description="default: the policy's evaluation_dataset")
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    top: int = Field(default=10, ge=1, le=50)


class LocalBody(BaseModel):
    inputs: list[FreeJSON] = Field(min_length=1, max_length=20, description="rows: [{feature: value}, ...]")
    dataset: DatasetBody | None = None
    seed: int = Field(default=0, ge=0, le=2**32 - 1)


MAX_EVALUATIONS = 20_000  # model rows one counterfactual search may score through this route


class CounterfactualBody(BaseModel):
    inputs: FreeJSON = Field(description="one row: {feature: value}")
    constraints: FreeJSON | None = Field(default=None, description="immutable, ranges, monotone, choices; default: "
                                         "the version's tag modelward.counterfactual_constraints")
    target: FreeJSON | None = Field(default=None, description="a class, or {threshold, direction} for regression; "
                                    "default: any other class")
    count: int = Field(default=3, ge=1, le=10)
    max_evaluations: int = Field(default=2000, ge=50, le=MAX_EVALUATIONS)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)


class RequestCounterfactualBody(BaseModel):
    row: int = Field(default=0, ge=0, description="which row of the logged request")
    constraints: FreeJSON | None = None
    target: FreeJSON | None = None
    count: int = Field(default=3, ge=1, le=10)
    max_evaluations: int = Field(default=2000, ge=50, le=MAX_EVALUATIONS)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)


def _counterfactuals() -> Any:
    from modelward.services import counterfactuals

    return counterfactuals


def _service() -> Any:
    from modelward.services import explanations

    return explanations


@router.post(VERSION, dependencies=[WRITE])
def compute_global(name: str, version: int, body: GlobalBody, backend: BackendDep, actor: ActorDep) -> FreeJSON:
    dataset = body.dataset.model_dump() if body.dataset else None
    return _service().global_(backend, actor, name, version, dataset=dataset, seed=body.seed, top=body.top)


@router.get(VERSION + "/latest", dependencies=[READ])
def latest_global(name: str, version: int, backend: BackendDep) -> FreeJSON:
    return _service().latest_global(backend, name, version)


@router.post(VERSION + "/local", dependencies=[READ])
def explain_local(name: str, version: int, body: LocalBody, backend: BackendDep) -> FreeJSON:
    dataset = body.dataset.model_dump() if body.dataset else None
    return _service().local(backend, name, version, list(body.inputs), dataset=dataset, seed=body.seed)


@router.get("/api/v1/explanations/requests/{request_id}", dependencies=[READ])
def explain_request(request_id: str, backend: BackendDep) -> FreeJSON:
    return _service().local_for_request(backend, request_id)


@router.post("/api/v1/models/{name}/versions/{version}/counterfactuals", dependencies=[READ])
def counterfactuals_of_version(name: str, version: int, body: CounterfactualBody, backend: BackendDep) -> FreeJSON:
    """The smallest changes to actionable features that change the answer, each checked by the model."""
    found = _counterfactuals().for_version(
        backend, name, version, body.inputs, constraints=body.constraints, target=body.target, count=body.count,
        max_evaluations=body.max_evaluations, seed=body.seed)
    return found.model_dump(mode="json")


@router.post("/api/v1/counterfactuals/requests/{request_id}", dependencies=[READ])
def counterfactuals_of_request(request_id: str, body: RequestCounterfactualBody, backend: BackendDep) -> FreeJSON:
    """Counterfactuals of a logged prediction: its inputs as logged, the version that answered."""
    found = _counterfactuals().for_request(
        backend, request_id, row=body.row, constraints=body.constraints, target=body.target, count=body.count,
        max_evaluations=body.max_evaluations, seed=body.seed)
    return found.model_dump(mode="json")
