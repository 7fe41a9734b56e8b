"""The MLflow-compatible REST API: tracking, the artifact proxy and the model registry.

``router`` combines them; every route renders errors with MLflow's codes and statuses
(:class:`modelward.api.mlflow.errors.MlflowRoute`) and answers under both
``/api/2.0/...`` (the client) and ``/ajax-api/2.0/...`` (MLflow's web UI).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from modelward.api.deps import READ
from modelward.api.errors import error_body
from modelward.api.routing import DeferredRoute

from modelward.api.mlflow import artifacts, logged_models, tracking
from modelward.api.mlflow.errors import MlflowRoute

router = APIRouter(route_class=MlflowRoute)
# Their routes, not the routers: the parts have no prefix or dependencies to add, and an included
# router's routes are analysed over again when the app includes this one (~40 ms of start-up).
for _part in (tracking, artifacts, logged_models):
    router.routes.extend(_part.router.routes)


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

# -- MLflow features modelward declines -------------------------------------------------------
# Each answers 404 ENDPOINT_NOT_FOUND naming the feature, so a client (or its user) learns
# that the feature is not offered here rather than guessing at a bad URL. The reasons are in
# docs/mlflow-compatibility.md ("Declined").

GENAI_TRACES = "MLflow Tracing (traces, spans, assessments)"
GENAI_GATEWAY = "MLflow's AI gateway (endpoints, secrets, model definitions, the gateway proxy)"
GENAI_SCORERS = "MLflow's GenAI scorers"
GENAI_DATASETS = "MLflow's GenAI evaluation datasets"
GENAI_ISSUES = "MLflow's GenAI issues"
GENAI_PROMPTS = "MLflow's prompt optimization"
MLFLOW_UI = "MLflow's web UI routes (GraphQL and ajax-only handlers; modelward serves its own UI at /ui/)"

# (path family under /api/{2.0,3.0}/mlflow and /ajax-api/{2.0,3.0}/mlflow, feature)
DECLINED_FAMILIES: tuple[tuple[str, str], ...] = (
    ("traces", GENAI_TRACES), ("unified-traces", GENAI_TRACES), ("get-online-trace-details", GENAI_TRACES),
    ("get-trace-artifact", GENAI_TRACES), ("gateway", GENAI_GATEWAY), ("gateway-proxy", GENAI_GATEWAY),
    ("scorers", GENAI_SCORERS), ("scorer", GENAI_SCORERS), ("datasets", GENAI_DATASETS),
    ("issues", GENAI_ISSUES), ("prompt-optimization", GENAI_PROMPTS),
    ("jobs", "MLflow's server-side jobs"), ("workspaces", "MLflow's workspaces"),
    ("webhooks", "MLflow's webhook API (modelward has its own: /api/v1/webhooks)"),
)
# exact paths of MLflow's web UI (ajax-only, or outside the API)
DECLINED_PATHS: tuple[tuple[str, str], ...] = (
    ("/graphql", MLFLOW_UI), ("/ajax-api/2.0/mlflow/metrics/get-history-bulk", MLFLOW_UI),
    ("/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", MLFLOW_UI),
    ("/ajax-api/2.0/mlflow/experiments/search-datasets", MLFLOW_UI),
    ("/ajax-api/2.0/mlflow/upload-artifact", MLFLOW_UI), ("/ajax-api/3.0/mlflow/ui-telemetry", MLFLOW_UI),
    ("/get-artifact", MLFLOW_UI), ("/model-versions/get-artifact", MLFLOW_UI),
)
_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


def _declined(feature: str) -> Callable[[Request], JSONResponse]:
    def answer(request: Request) -> JSONResponse:
        message = f"Not offered by modelward: {feature} ({request.method} {request.url.path})."
        return JSONResponse(error_body("ENDPOINT_NOT_FOUND", message), 404)

    return answer


def _add_declined() -> None:
    for family, feature in DECLINED_FAMILIES:
        for prefix in ("/api/2.0/mlflow", "/api/3.0/mlflow", "/ajax-api/2.0/mlflow", "/ajax-api/3.0/mlflow"):
            for path in (f"{prefix}/{family}", f"{prefix}/{family}/{{rest:path}}"):
                router.add_api_route(path, _declined(feature), methods=_METHODS, dependencies=[READ],
                                     include_in_schema=False, route_class_override=DeferredRoute)
    for path, feature in DECLINED_PATHS:
        router.add_api_route(path, _declined(feature), methods=_METHODS, dependencies=[READ],
                             include_in_schema=False, route_class_override=DeferredRoute)


_add_declined()

__all__ = ["DECLINED_FAMILIES", "DECLINED_PATHS", "router"]
