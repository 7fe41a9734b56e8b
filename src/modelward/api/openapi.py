"""The OpenAPI schema as the server behaves: our error answers, no FastAPI 422.

FastAPI documents a 422 ``HTTPValidationError`` on every operation with parameters, but
the server answers a validation error with 400 and the one error body (api/errors.py).
This replaces those with the statuses each operation can really send, all with
:class:`modelward.api.schemas.ErrorBody`; the raw-body routes describe their bodies at the
route (``openapi_extra``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from modelward.api.schemas import ErrorBody

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_DESCRIPTIONS = {
    "400": "Bad input: a malformed body, a wrong type or value, naming the field",
    "401": "No or bad credentials (with authentication on)",
    "403": "Not allowed: the role, the Host or a cross-site Origin",
    "404": "No such resource",
    "409": "Already exists, or the current state forbids the change",
    "413": "The request body is larger than the server's limit",
    "415": "A body of a media type this route does not take",
    "422": "A governance policy refuses the action",
    "503": "The store is unreachable or not migrated",
    "507": "The server is out of storage (disk or database full)",
}
_READ = ("400", "401", "403", "404", "503")
_WRITE = (*_READ, "409", "413", "415", "507")
# MLflow's routes answer in MLflow's table: a refusal of size or media type is its 400.
_MLFLOW_READ = _READ
_MLFLOW_WRITE = (*_READ, "409", "507")
_PUBLIC = {"/health", "/version", "/ready"}
_POLICY_TAG = "governance"
_SAFE_METHODS = {"get", "head", "options"}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            app.openapi_schema = with_error_responses(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_error_responses(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["ErrorBody"] = ErrorBody.model_json_schema()
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if "/mlflow" in path:
                _mlflow_success_is_an_object(responses)
            for status in _statuses(path, method, operation):
                responses.setdefault(status, {"description": _DESCRIPTIONS[status],
                                              "content": {"application/json": {"schema": _ERROR_REF}}})
    return schema


def _mlflow_success_is_an_object(responses: dict[str, Any]) -> None:
    """MLflow's routes answer JSON objects built by hand (``MlflowJSON``), which FastAPI, seeing
    no model, documents as a JSON string."""
    for status, response in responses.items():
        content = response.get("content", {}).get("application/json")
        if status.startswith("2") and content is not None and content.get("schema") == {"type": "string"}:
            content["schema"] = {"type": "object"}


def _statuses(path: str, method: str, operation: dict[str, Any]) -> tuple[str, ...]:
    if path in _PUBLIC:
        return ("503",) if path == "/ready" else ()
    changes = method not in _SAFE_METHODS
    if "/mlflow" in path:
        return _MLFLOW_WRITE if changes else _MLFLOW_READ
    statuses = _WRITE if changes else _READ
    if _POLICY_TAG in operation.get("tags", ()):
        statuses = (*statuses, "422")
    return statuses


__all__ = ["install", "with_error_responses"]
