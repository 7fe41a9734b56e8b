"""Errors on the MLflow-compatible routes, in MLflow's own codes and status table.

The native API maps ``modelward.errors`` with ``modelward.api.errors.STATUS_BY_ERROR``
(``AlreadyExists`` is 409 there). MLflow's clients expect MLflow's table instead
(``RESOURCE_ALREADY_EXISTS`` is 400, ``mlflow/exceptions.py``), and they retry 429 and
5xx answers for minutes, so a refusal must never look like a server failure. Routes of
``modelward.api.mlflow`` use :class:`MlflowRoute`, which renders errors with this table.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from modelward import errors
from modelward.api.decoding import JsonRoute
from modelward.api.errors import describe_validation_error, error_body, headers_for

log = logging.getLogger("modelward.api.mlflow")

# MLflow's error code -> HTTP status (the subset we send).
MLFLOW_STATUS: dict[str, int] = {
    "INVALID_PARAMETER_VALUE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "BAD_REQUEST": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_CONFLICT": 409,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "INTERNAL_ERROR": 500,
    "DATA_LOSS": 409,  # MLflow sends 500, which its client retries for minutes; a corrupt blob stays corrupt
    "TEMPORARILY_UNAVAILABLE": 503,
    "RESOURCE_EXHAUSTED": 507,  # MLflow's code; 507, which its client does not retry
}

# modelward error class -> MLflow error code; the first class in the MRO that is listed wins.
MLFLOW_CODE_BY_ERROR: dict[type[errors.ModelwardError], str] = {
    errors.InvalidInput: "INVALID_PARAMETER_VALUE",  # PayloadTooLarge too: 413 is not MLflow's
    errors.Unauthenticated: "UNAUTHENTICATED",
    errors.PermissionDenied: "PERMISSION_DENIED",
    errors.NotFound: "RESOURCE_DOES_NOT_EXIST",
    errors.AlreadyExists: "RESOURCE_ALREADY_EXISTS",
    # A state refusal (deleted run, held alias): MLflow's 409 code, which its client
    # does not retry (MLflow's own server says INVALID_PARAMETER_VALUE for a deleted run).
    errors.Conflict: "RESOURCE_CONFLICT",
    errors.PolicyViolation: "INVALID_PARAMETER_VALUE",
    errors.IntegrityError: "DATA_LOSS",
    errors.ServiceUnavailable: "TEMPORARILY_UNAVAILABLE",
    errors.InsufficientStorage: "RESOURCE_EXHAUSTED",
    errors.ModelwardError: "INTERNAL_ERROR",
}


def mlflow_code_of(exc: errors.ModelwardError) -> str:
    for cls in type(exc).__mro__:
        if cls in MLFLOW_CODE_BY_ERROR:
            return MLFLOW_CODE_BY_ERROR[cls]  # type: ignore[index]
    return "INTERNAL_ERROR"


# Our wording of the commonest refusals -> MLflow's, which scripts and tests match on
# (mlflow/store/tracking/sqlalchemy_store.py, mlflow/store/model_registry/sqlalchemy_store.py).
MLFLOW_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), template) for pattern, template in (
    (r"^run '(?P<id>[^']*)' does not exist$", "Run with id={id} not found"),
    (r"^run '(?P<id>[^']*)' is deleted; restore it before logging to it$",
     "The run {id} must be in the 'active' state. Current state is deleted."),
    (r"^tag '(?P<key>.*)' does not exist on this run$", "No tag with name: {key} in run"),
    (r"^experiment '(?P<id>[^']*)' does not exist$", "No Experiment with id={id} exists"),
    (r"^registered model '(?P<name>.*)' does not exist$", "Registered Model with name={name} not found"),
    (r"^registered model '(?P<name>.*)' already exists$", "Registered Model (name={name}) already exists."),
    (r"^an experiment named '(?P<name>.*)' already exists$", "Experiment(name={name}) already exists."),
    (r"^version (?P<version>\d+) of model '(?P<name>.*)' does not exist$",
     "Model Version (name={name}, version={version}) not found"),
))


def mlflow_message(message: str) -> str:
    for pattern, template in MLFLOW_MESSAGES:
        match = pattern.match(message)
        if match is not None:
            return template.format(**match.groupdict())
    return message


def mlflow_error_response(exc: errors.ModelwardError) -> JSONResponse:
    code = mlflow_code_of(exc)
    status = MLFLOW_STATUS[code]
    return JSONResponse(error_body(code, mlflow_message(exc.message)), status, headers=headers_for(status))


class MlflowRoute(JsonRoute):
    """A route of the shared input layer (:class:`JsonRoute`) whose errors leave in MLflow's
    codes and statuses."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except errors.ModelwardError as exc:
                if MLFLOW_STATUS[mlflow_code_of(exc)] >= 500:
                    log.error("%s %s failed: %s", request.method, request.url.path, exc)
                return mlflow_error_response(exc)
            except RequestValidationError as exc:
                body = error_body("INVALID_PARAMETER_VALUE", describe_validation_error(exc))
                return JSONResponse(body, 400)

        return handle
