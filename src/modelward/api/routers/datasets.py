"""/api/v1/datasets: record client-profiled datasets, find them, a run's datasets."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.domain.datasets import Dataset, DatasetCreate
from modelward.services import datasets as service

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/datasets", tags=["datasets"])


class DatasetList(BaseModel):
    datasets: list[Dataset]


@router.post("", status_code=201, dependencies=[WRITE])
def log_dataset(body: DatasetCreate, backend: BackendDep, actor: ActorDep) -> Dataset:
    return service.log(backend, body, actor=actor)


@router.get("", dependencies=[READ])
def find_datasets(
    backend: BackendDep, name: str | None = None, digest: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> DatasetList:
    return DatasetList(datasets=service.find(backend, name=name, digest=digest, limit=limit))


@router.get("/of-run/{run_id}", dependencies=[READ])
def datasets_of_run(run_id: str, backend: BackendDep, direction: str = "input") -> DatasetList:
    return DatasetList(datasets=service.of_run(backend, run_id, direction))


@router.get("/{dataset_id}", dependencies=[READ])
def get_dataset(dataset_id: str, backend: BackendDep) -> Dataset:
    return service.get(backend, dataset_id)
