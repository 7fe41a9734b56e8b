"""/api/v1: what an endpoint's versions did (windows, decay, input drift, fairness, business
KPIs, a performance report) and the alerts judged on them.

Each deployment route answers 404 for an unknown deployment before it reads anything. A time
range defaults to the last 24 hours; ``every`` is minute, hour or day, or ``all`` for one window
over the whole range. The services behind these routes load numpy, pandas and DuckDB, so they
are imported on first use: the server starts without them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.api.routers.deployments import instant
from modelward.domain.alerts import Alert, AlertEvent
from modelward.domain.kpis import KpiWindow
from modelward.domain.windows import Window
from modelward.errors import InvalidInput
from modelward.services import alerts as alert_service
from modelward.services import deployments
from modelward.services import kpis as kpi_service
from modelward.services.backend import Backend

router = APIRouter(route_class=JsonRoute, prefix="/api/v1", tags=["monitoring"])
DEPLOYMENT = "/deployments/{name}"
DEFAULT_RANGE = timedelta(hours=24)
WHOLE_RANGE = "all"  # every=all: one window over [since, until)
REPORT_MEDIA = {"html": "text/html", "pdf": "application/pdf", "md": "text/markdown"}

SINCE = Query(None, description="ISO 8601 (naive means UTC); default: 24 hours before until")
UNTIL = Query(None, description="ISO 8601 (naive means UTC); default: now")
EVERY = Query("hour", description="minute, hour, day, or all for one window over the range")
VERSION = Query(None, ge=1, description="only this model version")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KpiBody(_Body):
    """Either ``values`` (with optional ``at``, ``version``, ``request_id``) or ``items``."""

    values: dict[str, Any] | None = Field(default=None, description='KPI name -> number, e.g. {"revenue": 12.5}')
    at: str | None = Field(default=None, description="ISO 8601 (naive means UTC); default: now")
    version: int | None = None
    request_id: str | None = None
    items: list[dict[str, Any]] | None = Field(
        default=None, description="a batch, all or nothing: each {name, value} or {values}, with optional "
                                  "at, version and request_id")


class EvaluateBody(_Body):
    endpoint: str | None = None
    at: str | None = Field(default=None, description="ISO 8601; only an admin may choose the moment")


class WindowList(BaseModel):
    windows: list[Window]


class DecayReport(BaseModel):
    metric: str
    versions: list[dict[str, Any]] = Field(description="one trend per version: version, points, slopes, change")


class DriftList(BaseModel):
    windows: list[dict[str, Any]] = Field(description="DriftWindow: start, end, version, rows, reference, report")


class KpiWindowList(BaseModel):
    windows: list[KpiWindow]


class KpisWritten(BaseModel):
    written: int


class AlertList(BaseModel):
    alerts: list[Alert]


class AlertEventList(BaseModel):
    events: list[AlertEvent]


def moment(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 query or body field as a UTC instant, or a 400 naming it."""
    found = instant(value, field)
    try:
        return found.astimezone(UTC) if found is not None else None
    except OverflowError:
        raise InvalidInput(f"{field} {value!r} is out of the range of dates") from None


def time_range(since: str | None, until: str | None) -> tuple[datetime, datetime]:
    end = moment(until, "until") or datetime.now(UTC)
    start = moment(since, "since")
    if start is None:
        if end - datetime.min.replace(tzinfo=UTC) < DEFAULT_RANGE:
            raise InvalidInput(f"until ({end.isoformat()}) is too early for the default range: give since too")
        start = end - DEFAULT_RANGE
    return start, end


def every_of(every: str) -> str | None:
    return None if every == WHOLE_RANGE else every


def _known(backend: Backend, name: str) -> None:
    deployments.get(backend, name)  # an unknown deployment is a 404, not an empty answer


def _logged(request: Request) -> None:
    """Write what the gateway's prediction log holds, so a read sees every answer given so far."""
    prediction_log = getattr(getattr(request.app.state, "gateway", None), "predictions", None)
    if prediction_log is not None:
        prediction_log.flush()


# -- model quality and operations ---------------------------------------------------------------


@router.get(DEPLOYMENT + "/windows", dependencies=[READ])
def windows(name: str, backend: BackendDep, request: Request, since: str | None = SINCE, until: str | None = UNTIL,
            every: str = EVERY, version: int | None = VERSION, mode: str = "live") -> WindowList:
    """Per window and version: requests, errors, latency, realised and estimated quality."""
    from modelward.services import monitoring

    _known(backend, name)
    _logged(request)
    start, end = time_range(since, until)
    return WindowList(windows=monitoring.windows(backend, name, since=start, until=end, every=every_of(every),
                                                 version=version, mode=mode))


@router.get(DEPLOYMENT + "/decay", dependencies=[READ])
def decay(name: str, backend: BackendDep, request: Request,
          metric: str = Query(description="accuracy, estimated.accuracy, latency_p95_ms, error_rate, ..."),
          since: str | None = SINCE, until: str | None = UNTIL, every: str = EVERY, version: int | None = VERSION,
          mode: str = "live") -> DecayReport:
    """The trend of ``metric`` over the windows of each version, and where it first changed."""
    from modelward.services import monitoring

    _known(backend, name)
    _logged(request)
    start, end = time_range(since, until)
    found = monitoring.windows(backend, name, since=start, until=end, every=every_of(every), version=version,
                               mode=mode)
    by_version: dict[int, list[Window]] = {}
    for window in found:
        by_version.setdefault(window.version, []).append(window)
    reports = [{"version": number, **monitoring.decay_report(chosen, metric)}
               for number, chosen in sorted(by_version.items())]
    return DecayReport(metric=metric, versions=reports)


@router.get(DEPLOYMENT + "/drift", dependencies=[READ])
def drift(name: str, backend: BackendDep, request: Request, since: str | None = SINCE, until: str | None = UNTIL,
          every: str = EVERY, version: int | None = VERSION, mode: str = "live") -> DriftList:
    """Input and prediction drift of each window against the model's reference data."""
    from modelward.services import input_drift

    _known(backend, name)
    _logged(request)
    start, end = time_range(since, until)
    found = input_drift.drift(backend, name, since=start, until=end, every=every_of(every), version=version,
                              mode=mode)
    return DriftList(windows=[window.model_dump(mode="json") for window in found])


@router.get(DEPLOYMENT + "/fairness", dependencies=[READ])
def fairness(name: str, backend: BackendDep, request: Request, since: str | None = SINCE, until: str | None = UNTIL,
             version: int | None = VERSION,
             feature: list[str] | None = Query(None, description="a sensitive feature (repeatable); "
                                                                  "default: the policy's")) -> dict[str, Any]:
    """Fairness of the answers given in the range, by the sensitive features."""
    from modelward.services import production_fairness

    _known(backend, name)
    _logged(request)
    start, end = time_range(since, until)
    return production_fairness.fairness(backend, name, since=start, until=end, version=version,  # type: ignore[no-any-return]
                                        sensitive_features=feature or None)


# -- business KPIs ------------------------------------------------------------------------------


@router.get(DEPLOYMENT + "/kpis", dependencies=[READ])
def kpis(name: str, backend: BackendDep, request: Request, since: str | None = SINCE, until: str | None = UNTIL,
         every: str = EVERY, version: int | None = VERSION,
         names: list[str] | None = Query(None, alias="name", description="a KPI name (repeatable); default: all")
         ) -> KpiWindowList:
    """Per window, KPI and version: count, sum, mean, min and max of the values logged."""
    _known(backend, name)
    _logged(request)
    start, end = time_range(since, until)
    return KpiWindowList(windows=kpi_service.windows(backend, name, since=start, until=end, every=every_of(every),
                                                     names=names or None, version=version))


@router.post(DEPLOYMENT + "/kpis", status_code=201, dependencies=[WRITE])
def log_kpis(name: str, body: KpiBody, backend: BackendDep, actor: ActorDep) -> KpisWritten:
    """Log ``values`` at one moment, or a batch of ``items``; all or nothing."""
    if (body.values is None) == (body.items is None):
        raise InvalidInput("the body needs either values ({name: number}) or items (a list), not both")
    if body.items is not None:
        if body.at is not None or body.version is not None or body.request_id is not None:
            raise InvalidInput("with items, give at, version and request_id in each item")
        return KpisWritten(written=kpi_service.record_many(backend, actor, name, body.items))
    return KpisWritten(written=kpi_service.record(backend, actor, name, body.values or {}, at=moment(body.at, "at"),
                                                  version=body.version, request_id=body.request_id))


# -- the performance report ---------------------------------------------------------------------


@router.get(DEPLOYMENT + "/report", dependencies=[READ], response_class=Response,
            responses={200: {"description": "the report as a file",
                             "content": {media: {"schema": {"type": "string", "format": "binary"}}
                                         for media in REPORT_MEDIA.values()}}})
def report(name: str, backend: BackendDep, request: Request, since: str | None = SINCE, until: str | None = UNTIL,
           fmt: str = Query("html", alias="format", description="html, pdf or md")) -> Response:
    """The endpoint's performance over the range as a document to keep or send."""
    from modelward.services import performance_reports

    _known(backend, name)
    _logged(request)
    start, end = time_range(since, until)
    content, media_type = performance_reports.render(backend, name, since=start, until=end, fmt=fmt)
    filename = f"{performance_reports.file_name(name, start, end)}.{fmt}"
    return Response(content=content, media_type=media_type,
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


# -- alerts -------------------------------------------------------------------------------------


@router.get("/alerts", dependencies=[READ])
def list_alerts(backend: BackendDep, endpoint: str | None = None, state: str | None = Query(
        None, description="inactive, pending, firing or resolved")) -> AlertList:
    """Every alert rule of every serving endpoint (or of ``endpoint``) with where it stands."""
    return AlertList(alerts=alert_service.list_(backend, endpoint=endpoint, state=state))


@router.get("/alerts/history", dependencies=[READ])
def alert_history(backend: BackendDep, endpoint: str | None = None, rule: str | None = None,
                  since: str | None = None, until: str | None = None, limit: int = Query(100, ge=1)
                  ) -> AlertEventList:
    """The moves of alerts, newest first."""
    return AlertEventList(events=alert_service.history(backend, endpoint=endpoint, rule=rule,
                                                       since=moment(since, "since"), until=moment(until, "until"),
                                                       limit=limit))


@router.post("/alerts/evaluate", dependencies=[WRITE])
def evaluate_alerts(backend: BackendDep, actor: ActorDep, request: Request,
                    body: EvaluateBody | None = None) -> AlertEventList:
    """Judge the rules (of ``endpoint``, or of every active endpoint) now; the moves made."""
    body = body or EvaluateBody()
    _logged(request)
    return AlertEventList(events=alert_service.evaluate(backend, endpoint=body.endpoint, at=moment(body.at, "at"),
                                                        actor=actor))
