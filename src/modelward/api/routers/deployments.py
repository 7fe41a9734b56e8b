"""/api/v1/deployments: create, release, split, promote, pause, roll back and retire serving
endpoints; their history, time travel and the prediction log behind them.

Every route asks only READ of the caller: who may change a deployment comes from the model's
policy (``release.environments``), which the service enforces, so an approver (no WRITE) may
deploy and a contributor may not touch production. After a change the embedded gateway is
refreshed before the answer leaves, so this process serves the change at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, ActorDep, BackendDep
from modelward.domain.deployments import Deployment, DeploymentState, Strategy
from modelward.domain.predictions import VersionStats
from modelward.errors import InvalidInput
from modelward.services import deployments as service
from modelward.services import policies, predictions
from modelward.services.backend import Backend

log = logging.getLogger("modelward.api")

router = APIRouter(route_class=JsonRoute, prefix="/api/v1", tags=["deployments"])
DEPLOYMENT = "/deployments/{name}"
DEFAULT_STATS_WINDOW = timedelta(hours=1)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateBody(_Body):
    name: str
    model: str
    environment: str
    version: int = Field(ge=1)
    sticky_key: str | None = Field(default=None, description="header:NAME or field:NAME; routes a key sticky")
    reason: str | None = None


class ReleaseBody(_Body):
    version: int = Field(ge=1)
    strategy: Strategy | None = Field(default=None, description="the policy's release.strategy by default")
    steps: list[int] | None = Field(default=None, description="canary weights, e.g. [5, 25, 50, 100]")
    interval_s: float | None = Field(default=None, gt=0, description="a healthy canary step advances after this")
    reason: str | None = None


VersionNumber = Annotated[int, Field(ge=1)]
Percent = Annotated[int, Field(ge=0, le=100)]


class TrafficBody(_Body):
    weights: dict[VersionNumber, Percent] = Field(
        description='version -> percent of live traffic, e.g. {"1": 90, "2": 10}')
    shadows: list[VersionNumber] = Field(default_factory=list, description="versions that get a copy of each request")
    reason: str | None = None


class ReasonBody(_Body):
    reason: str | None = None


class DeploymentList(BaseModel):
    deployments: list[Deployment]


class RevisionList(BaseModel):
    revisions: list[DeploymentState]


class PredictionList(BaseModel):
    predictions: list[dict[str, Any]]


class DeploymentStats(BaseModel):
    versions: list[VersionStats]
    shadow: dict[str, Any] | None


def instant(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 query parameter as an aware instant (a naive one is UTC), or a 400 naming it."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"query parameter '{field}' {value[:60]!r} is not an ISO 8601 date or time, "
                           "e.g. 2026-12-01T12:00:00+00:00") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _served(request: Request, deployment: Any) -> Any:
    """Have this process's gateway serve the change before the answer goes out, when it serves at
    all (a server process, or an embedded client that has predicted): one that never served loads
    an endpoint at its first request instead. The change is committed whatever happens here; a
    refresh that fails is retried by the gateway's own timer."""
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None and (gateway.refreshed or gateway.known()):
        try:
            gateway.refresh()
        except Exception as exc:  # noqa: BLE001  the committed change must still be answered
            log.warning("gateway refresh after a deployment change failed: %s", exc)
    return deployment


def _probe(request: Request) -> Any:
    gateway = getattr(request.app.state, "gateway", None)
    return gateway.pool.probe if gateway is not None else None


def _logged(request: Request) -> None:
    """Write what the gateway's prediction log holds, so a read sees every answer given so far."""
    gateway = getattr(request.app.state, "gateway", None)
    prediction_log = getattr(gateway, "predictions", None)
    if prediction_log is not None:  # as the gateway's feedback route does
        prediction_log.flush()


def _reason(body: ReasonBody | None) -> str | None:
    return body.reason if body is not None else None


# -- reading ------------------------------------------------------------------------------------


@router.get("/deployments", dependencies=[READ])
def list_deployments(backend: BackendDep, environment: str | None = None, model: str | None = None) -> DeploymentList:
    return DeploymentList(deployments=service.list_(backend, environment=environment, model=model))


@router.get(DEPLOYMENT, dependencies=[READ])
def get_deployment(name: str, backend: BackendDep) -> Deployment:
    return service.get(backend, name)


@router.get(DEPLOYMENT + "/history", dependencies=[READ])
def history(name: str, backend: BackendDep) -> RevisionList:
    return RevisionList(revisions=service.history(backend, name))


@router.get(DEPLOYMENT + "/state", dependencies=[READ])
def state_at(name: str, backend: BackendDep, at: str = Query(description="ISO 8601; naive means UTC")) -> DeploymentState:
    moment = instant(at, "at")
    assert moment is not None
    return service.state_at(backend, name, moment)


# -- changing -----------------------------------------------------------------------------------


@router.post("/deployments", status_code=201, dependencies=[READ])
def create(body: CreateBody, backend: BackendDep, actor: ActorDep, request: Request) -> Deployment:
    return _served(request, service.create(backend, actor, body.name, model=body.model, environment=body.environment,
                                           version=body.version, sticky_key=body.sticky_key, reason=body.reason))


@router.post(DEPLOYMENT + "/release", dependencies=[READ])
def release(name: str, body: ReleaseBody, backend: BackendDep, actor: ActorDep, request: Request) -> Deployment:
    strategy = body.strategy.value if body.strategy is not None else None
    return _served(request, service.release(backend, actor, name, body.version, strategy=strategy, steps=body.steps,
                                            interval_s=body.interval_s, reason=body.reason))


@router.post(DEPLOYMENT + "/traffic", dependencies=[READ])
def set_traffic(name: str, body: TrafficBody, backend: BackendDep, actor: ActorDep, request: Request) -> Deployment:
    return _served(request, service.set_traffic(backend, actor, name, body.weights, shadows=body.shadows,
                                                reason=body.reason))


@router.post(DEPLOYMENT + "/promote", dependencies=[READ])
def promote(name: str, backend: BackendDep, actor: ActorDep, request: Request,
            body: ReasonBody | None = None) -> Deployment:
    return _served(request, service.promote(backend, actor, name, reason=_reason(body), probe=_probe(request)))


@router.post(DEPLOYMENT + "/pause", dependencies=[READ])
def pause(name: str, backend: BackendDep, actor: ActorDep, request: Request, body: ReasonBody | None = None) -> Deployment:
    return _served(request, service.pause(backend, actor, name, reason=_reason(body)))


@router.post(DEPLOYMENT + "/resume", dependencies=[READ])
def resume(name: str, backend: BackendDep, actor: ActorDep, request: Request,
           body: ReasonBody | None = None) -> Deployment:
    return _served(request, service.pause(backend, actor, name, reason=_reason(body), paused=False))


@router.post(DEPLOYMENT + "/rollback", dependencies=[READ])
def rollback(name: str, backend: BackendDep, actor: ActorDep, request: Request,
             body: ReasonBody | None = None) -> Deployment:
    return _served(request, service.rollback(backend, actor, name, reason=_reason(body)))


@router.post(DEPLOYMENT + "/retire", dependencies=[READ])
def retire(name: str, backend: BackendDep, actor: ActorDep, request: Request,
           body: ReasonBody | None = None) -> Deployment:
    return _served(request, service.retire(backend, actor, name, reason=_reason(body)))


@router.post(DEPLOYMENT + "/check", dependencies=[READ])
def check(name: str, backend: BackendDep, request: Request) -> dict[str, Any]:
    """Judge the canary's current step by its guardrails: it may roll back or promote."""
    _logged(request)
    return _served(request, service.check(backend, name))  # type: ignore[no-any-return]


# -- the prediction log -------------------------------------------------------------------------


@router.get(DEPLOYMENT + "/predictions", dependencies=[READ])
def list_predictions(
    name: str, backend: BackendDep, request: Request, since: str | None = None, until: str | None = None,
    version: int | None = Query(None, ge=1), mode: str | None = None, limit: int = Query(100, ge=1, le=10_000),
) -> PredictionList:
    service.get(backend, name)  # an unknown deployment is a 404, not an empty log
    _logged(request)
    found = predictions.records(backend, name, since=instant(since, "since"), until=instant(until, "until"),
                                version=version, mode=mode, limit=limit)
    return PredictionList(predictions=found)


@router.get(DEPLOYMENT + "/stats", dependencies=[READ])
def stats(name: str, backend: BackendDep, request: Request, since: str | None = None,
          until: str | None = None) -> DeploymentStats:
    """Per version and mode: requests, errors, latency and quality (default: the last hour);
    ``shadow``: how often the newest shadow version agreed with the live answers (null without one)."""
    deployment = service.get(backend, name)
    _logged(request)
    start = instant(since, "since") or datetime.now(UTC) - DEFAULT_STATS_WINDOW
    end = instant(until, "until")
    return DeploymentStats(versions=predictions.version_stats(backend, name, since=start, until=end,
                                                              task=_task(backend, deployment.model_name)),
                           shadow=_shadow(backend, name, start, end))


def _task(backend: Backend, model_name: str) -> str:
    return policies.effective_policy(backend, model_name).task.value


def _shadow(backend: Backend, name: str, since: datetime, until: datetime | None) -> dict[str, Any] | None:
    agreement = predictions.shadow_agreement(backend, name, since=since, until=until)
    return agreement if agreement.get("shadow_version") is not None else None


@router.get("/predictions/{request_id}", dependencies=[READ])
def get_prediction(request_id: str, backend: BackendDep, request: Request) -> dict[str, Any]:
    """The evidence of one answer: its live and shadow records and the feedback given for it."""
    _logged(request)
    return predictions.get(backend, request_id)
