"""/api/v1/experiments: each endpoint is one service call."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.api.schemas import ExperimentCreate, ExperimentList, ExperimentUpdate, TagsBody, lifecycle_of
from modelward.domain.tracking import Experiment, Lifecycle
from modelward.services import experiments as service

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/experiments", tags=["experiments"])


def _lifecycle(value: str) -> Lifecycle | None:
    return None if value == "all" else lifecycle_of(value)


@router.post("", status_code=201, dependencies=[WRITE])
def create_experiment(body: ExperimentCreate, backend: BackendDep) -> Experiment:
    return service.create(backend, body.name, description=body.description, tags=body.tags)


@router.get("", dependencies=[READ])
def list_experiments(
    backend: BackendDep,
    prefix: str | None = None,
    lifecycle: str = "active",
    name_like: str | None = None,
    limit: int = Query(1000, ge=1, le=50_000),
    offset: int = Query(0, ge=0),
) -> ExperimentList:
    found = service.list_(
        backend, prefix=prefix, lifecycle=_lifecycle(lifecycle), name_like=name_like,
        limit=limit, offset=offset,
    )
    return ExperimentList(experiments=found)


@router.get("/by-name", dependencies=[READ])
def get_experiment_by_name(name: str, backend: BackendDep) -> Experiment:
    return service.get_by_name(backend, name)


# Experiment names hold '/' (team/churn/baseline), and so may what a client puts where an id
# goes: every route takes the whole rest of the path (``:path``), so such a value reaches the
# service and answers "experiment '…' does not exist" instead of "no endpoint". The routes
# with a suffix (/tags, /restore) come first: a path route matches greedily.


@router.put("/{experiment_id:path}/tags", dependencies=[WRITE])
def set_experiment_tags(experiment_id: str, body: TagsBody, backend: BackendDep) -> Experiment:
    return service.set_tags(backend, experiment_id, body.tags)


@router.post("/{experiment_id:path}/restore", dependencies=[WRITE])
def restore_experiment(experiment_id: str, backend: BackendDep, actor: ActorDep) -> Experiment:
    return service.restore(backend, experiment_id, actor=actor)


@router.get("/{experiment_id:path}", dependencies=[READ])
def get_experiment(experiment_id: str, backend: BackendDep) -> Experiment:
    """By id; a value with '/' is never an id, so it is read as the experiment's name."""
    if "/" in experiment_id:
        return service.get_by_name(backend, experiment_id)
    return service.get(backend, experiment_id)


@router.patch("/{experiment_id:path}", dependencies=[WRITE])
def update_experiment(experiment_id: str, body: ExperimentUpdate, backend: BackendDep) -> Experiment:
    return service.update(backend, experiment_id, name=body.name, description=body.description)


@router.delete("/{experiment_id:path}", status_code=204, dependencies=[WRITE])
def delete_experiment(
    experiment_id: str, backend: BackendDep, actor: ActorDep, permanent: bool = False
) -> Response:
    service.delete(backend, experiment_id, permanent=permanent, actor=actor)
    return Response(status_code=204)

