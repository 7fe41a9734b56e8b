"""create_app(settings) -> FastAPI: routers, error handlers, the backend. No globals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.requests import Request

from modelward.version import __version__
from modelward.api import errors, openapi, routing
from modelward.api.deps import READ, declared_permission
from modelward.api.guards import RequestGuards
from modelward.api.routers import artifacts, experiments, maintenance, runs
from modelward.api.routers import models
from modelward.api.routers import model_cards
from modelward.api.routers import audit, webhooks
from modelward.api.routers import governance, policies
from modelward.api.routers import datasets, lineage
from modelward.api.routers import deployments, monitoring
from modelward.api.routers import evidence
from modelward.api.routers import explanations
from modelward.api.routers import fairness
from modelward.api.routers import data_checks
from modelward.api.routers import personal_data
from modelward.api.routers import erasure
from modelward.api.routers import data_governance
from modelward.api import mlflow as mlflow_compat
from modelward.services.backend import Backend
from modelward.settings import Settings
from modelward.ui import assets as ui_assets
from modelward.ui import pages as ui_pages
from modelward.ui import audit_pages, governance_pages, lineage_pages, registry_pages
from modelward.ui import deployment_pages, monitoring_pages
from modelward.ui import evidence_pages
from modelward.ui import explanation_pages
from modelward.ui import dataset_pages
from modelward.ui import sso_pages
from modelward.store.db import HEAD_REVISION, current_revision

ROUTERS = [experiments, runs, artifacts, maintenance, models, model_cards]
ROUTERS += [audit, webhooks]
ROUTERS += [policies, governance]
ROUTERS += [lineage, datasets]
ROUTERS += [deployments, monitoring]
ROUTERS += [evidence]
ROUTERS += [explanations]
ROUTERS += [fairness]
ROUTERS += [data_checks]
ROUTERS += [personal_data]
ROUTERS += [erasure]
ROUTERS += [data_governance]
ROUTERS += [mlflow_compat]  # the MLflow-compatible API
PUBLIC_PATHS = {
    "/", "/health", "/ready", "/version", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
    "/ui/login", "/ui/logout",
} | sso_pages.PUBLIC_PATHS  # single sign-on's start and callback come before any credential


def create_app(settings: Settings | None = None, *, backend: Backend | None = None,
               serving_process: bool = False) -> FastAPI:
    """``serving_process``: a server process (``modelward server``/``serve``) rather than an embedded
    client: its gateway loads every deployment at start and the canary watcher runs."""
    settings = settings or Settings()
    app = FastAPI(
        title="modelward",
        version=__version__,
        description="Model management: tracking, lineage, registry and governance.",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    # A server process (a uvicorn worker) migrates only if migrate_on_start; an embedded client always does.
    app.state.backend = backend or Backend.from_settings(settings, migrate=settings.migrate_on_start
                                                         or not serving_process)
    app.state.serving_process = serving_process
    from modelward.api.gateway import Gateway, serving_app

    app.state.gateway = Gateway(app.state.backend, settings)
    errors.install(app)
    openapi.install(app)
    app.add_middleware(RequestGuards, max_bytes=settings.max_request_bytes, loopback_only=not settings.auth,
                       max_upload_bytes=settings.max_artifact_bytes)
    from modelward.api.metrics import MetricsMiddleware, metrics_response

    app.add_middleware(MetricsMiddleware)  # outermost: it times the guards' refusals too
    for module in ROUTERS:
        app.include_router(module.router)
    app.include_router(ui_pages.router)
    app.include_router(registry_pages.router)
    app.include_router(governance_pages.router)
    app.include_router(audit_pages.router)
    app.include_router(lineage_pages.router)
    app.include_router(deployment_pages.router)
    app.include_router(monitoring_pages.router)
    app.include_router(evidence_pages.router)
    app.include_router(explanation_pages.router)
    app.include_router(dataset_pages.router)
    app.include_router(sso_pages.router)
    ui_assets.mount(app)
    app.mount("/serve", serving_app(app.state.gateway))

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:  # async: no I/O, so no hop to a worker thread
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse, dependencies=[READ])
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus's exposition format: the server's requests and every endpoint's answers."""
        return await metrics_response(request, request.app.state.backend)

    @app.get("/version", tags=["health"], response_class=PlainTextResponse)
    def version() -> str:
        """The server version as plain text, as ``mlflow server`` answers it."""
        return __version__

    @app.get("/ready", tags=["health"])
    def ready() -> JSONResponse:
        try:
            revision = current_revision(app.state.backend.engine)
        except Exception as exc:  # the database is unreachable
            return JSONResponse(errors.error_body("TEMPORARILY_UNAVAILABLE", str(exc)), 503)
        if revision != HEAD_REVISION:
            message = f"database schema is at {revision}, expected {HEAD_REVISION}: run 'modelward db upgrade'"
            return JSONResponse(errors.error_body("TEMPORARILY_UNAVAILABLE", message), 503)
        return JSONResponse({"status": "ready", "schema": revision})

    refuse_undeclared_routes(app)
    routing.install(app)  # last: it sees every route
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The server's background work, each job in a daemon thread while it runs.

    Webhook deliveries (the outbox) are sent every second by every process: each delivery is
    claimed by one conditional UPDATE, so of several processes exactly one sends it. The other
    jobs of a server process run in the one process holding the job's lease (services/leases.py):
    a signed checkpoint of the audit chain's head every ``audit_anchor_interval_s``, runs whose
    heartbeat stopped ``run_heartbeat_timeout_s`` ago marked KILLED, canaries judged, alert rules
    evaluated and abandoned upload temp files removed. An embedded client anchors and sweeps
    too, without leases (both are safe to repeat), and runs none of the others."""
    settings, backend = app.state.settings, app.state.backend
    jobs: list[Any] = []  # each has start() and stop(); stopped in the reverse order
    if settings.webhooks_enabled:
        from modelward.services.webhooks import WebhookDispatcher

        jobs.append(WebhookDispatcher(backend))
    if settings.audit_anchor_interval_s > 0 and backend.audit_signing_key is not None:
        from modelward.services.checkpoints import Anchorer

        jobs.append(Anchorer(backend, interval_s=settings.audit_anchor_interval_s, leased=app.state.serving_process))
    if settings.run_heartbeat_timeout_s > 0:
        from modelward.services.runs import HeartbeatSweeper

        jobs.append(HeartbeatSweeper(backend, timeout_s=settings.run_heartbeat_timeout_s,
                                     leased=app.state.serving_process))
    if app.state.serving_process:
        jobs += _serving_process_jobs(backend, settings)
    app.state.gateway.start(eager=app.state.serving_process)
    for job in jobs:
        job.start()
    try:
        yield
    finally:
        for job in reversed(jobs):
            job.stop()
        app.state.gateway.stop()


def _serving_process_jobs(backend: Backend, settings: Settings) -> list[Any]:
    """The leased jobs only a server process runs (never an embedded client)."""
    jobs: list[Any] = []
    if settings.canary_check_interval_s > 0:  # canaries judged by their guardrails, advanced or rolled back
        from modelward.services.deployments import check_all
        from modelward.services.leases import LeasedPeriodic

        jobs.append(LeasedPeriodic(backend, "canaries", lambda: check_all(backend),
                                   interval_s=settings.canary_check_interval_s))
    if settings.alert_evaluation_interval_s > 0:
        from modelward.services.alerts import AlertScheduler

        jobs.append(AlertScheduler(backend, interval_s=settings.alert_evaluation_interval_s))
    if settings.gc_interval_s > 0:
        from modelward.services.gc import TempFileCollector

        jobs.append(TempFileCollector(backend, interval_s=settings.gc_interval_s,
                                      grace_seconds=settings.gc_temp_grace_s))
    return jobs


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (newer FastAPI keeps them nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from api_routes(nested.routes)


def refuse_undeclared_routes(app: FastAPI) -> None:
    """Deny by default: a route that declares no permission stops the server from starting."""
    for route in api_routes(app.routes):
        if route.path not in PUBLIC_PATHS and declared_permission(route) is None:
            raise RuntimeError(f"route {route.path} declares no permission (dependencies=[READ] ...)")
