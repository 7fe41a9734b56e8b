"""/api/v1/models/{name}/versions/{version}/fairness: per-group fairness of a version on the policy's
evaluation dataset or a named one (``services.fairness``), computed on request and not stored.
The service loads scikit-learn and pandas, so it is imported at first use."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from modelward.api.decoding import FreeJSON, JsonRoute
from modelward.api.deps import READ, BackendDep

router = APIRouter(route_class=JsonRoute, tags=["fairness"])
VERSION = "/api/v1/models/{name}/versions/{version}/fairness"

Column = Annotated[str, Field(min_length=1, max_length=200)]


class DatasetBody(BaseModel):
    run_id: str = Field(min_length=1)
    path: str = Field(min_length=1)


class FairnessBody(BaseModel):
    features: list[Column | list[Column]] = Field(
        min_length=1, max_length=10,
        description='sensitive columns: "sex", or ["sex", "age_band"] (or "sex & age_band") for an intersection')
    dataset: DatasetBody | None = Field(default=None, description="default: the policy's evaluation_dataset")
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    bootstrap: int = Field(default=200, ge=0, le=5000, description="resamples for the intervals (0: none)")
    min_group_size: int = Field(default=30, ge=1, le=1_000_000, description="groups with fewer rows are flagged small")


@router.post(VERSION, dependencies=[READ])
def fairness_of_version(name: str, version: int, body: FairnessBody, backend: BackendDep) -> FreeJSON:
    """Per group: counts, performance, selection rate and error rates with bootstrap intervals; the
    demographic parity and equalized odds differences and ratios, per feature or intersection."""
    from modelward.services import fairness

    dataset = body.dataset.model_dump() if body.dataset else None
    return fairness.for_version(backend, name, version, features=list(body.features), dataset=dataset,  # type: ignore[no-any-return]
                                seed=body.seed, bootstrap=body.bootstrap, min_group_size=body.min_group_size)
