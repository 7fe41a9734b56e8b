"""The MLflow-compatible REST API: tracking, the artifact proxy and the model registry.

``router`` combines them; every route renders errors with MLflow's codes and statuses
(:class:`modelward.api.mlflow.errors.MlflowRoute`) and answers under both
``/api/2.0/...`` (the client) and ``/ajax-api/2.0/...`` (MLflow's web UI).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from modelward.api.mlflow import artifacts, logged_models, tracking
from modelward.api.mlflow.errors import MlflowRoute

router = APIRouter(route_class=MlflowRoute)
router.include_router(tracking.router)
router.include_router(artifacts.router)
router.include_router(logged_models.router)


def _add_registry(registry_router: APIRouter) -> None:
    """The registry's routes, re-registered with MLflow errors and the UI's ajax-api copy."""
    for route in registry_router.routes:
        if not isinstance(route, APIRoute):
            continue
        paths = [route.path]
        if route.path.startswith("/api/2.0/"):
            paths.append("/ajax-api/2.0/" + route.path.removeprefix("/api/2.0/"))
        for path in paths:
            router.add_api_route(
                path, route.endpoint, methods=sorted(route.methods or ()), dependencies=route.dependencies,
                response_model=None, tags=route.tags, include_in_schema=path == route.path,
                route_class_override=MlflowRoute,
            )


try:
    from modelward.api.mlflow.registry import router as registry_router
except ImportError:  # the registry routes are built separately; tracking works without them
    pass
else:
    _add_registry(registry_router)

__all__ = ["router"]
