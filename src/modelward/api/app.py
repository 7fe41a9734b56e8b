"""create_app(settings) -> FastAPI: routers, error handlers, the backend. No globals."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from modelward.version import __version__
from modelward.api import errors
from modelward.api.routers import artifacts, experiments, maintenance, runs
from modelward.services.backend import Backend
from modelward.settings import Settings
from modelward.store.db import current_revision, HEAD_REVISION


def create_app(settings: Settings | None = None, *, backend: Backend | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="modelward",
        version=__version__,
        description="Model management: tracking, lineage, registry and governance.",
    )
    app.state.settings = settings
    app.state.backend = backend or Backend.from_settings(settings)
    errors.install(app)
    for module in (experiments, runs, artifacts, maintenance):
        app.include_router(module.router)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

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

    return app
