"""MLflow 3's logged models (``/api/2.0/mlflow/logged-models/...``) and ``runs/outputs``,
translated onto ``modelward.services.mlflow_models``.

A logged model's files are artifacts of its owning run under ``logged-models/<model_id>/``:
its ``artifact_uri`` is ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/logged-models/<model_id>``,
so the client uploads and downloads through the run-artifact proxy (``artifacts.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.api.mlflow import schemas as s
from modelward.api.mlflow.artifacts import children
from modelward.api.mlflow.errors import MlflowRoute
from modelward.api.mlflow.schemas import MlflowJSON, Params
from modelward.api.mlflow.tracking import experiment_id_of, merge_refs, model_refs
from modelward.artifacts import normalize_logical_path
from modelward.domain.mlflow_models import LoggedModel, LoggedModelMetric, LoggedModelStatus
from modelward.errors import InvalidInput
from modelward.services import artifacts
from modelward.services import runs as run_service
from modelward.services import mlflow_models as service

router = APIRouter(route_class=MlflowRoute, tags=["mlflow logged models"])
PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
LM = "/logged-models"

STATUS_NAMES = {
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING",
    LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}
_STATUS_BY_NAME: dict[str, LoggedModelStatus] = {
    **{name: status for status, name in STATUS_NAMES.items()},
    "1": LoggedModelStatus.PENDING, "2": LoggedModelStatus.READY, "3": LoggedModelStatus.FAILED,
}


def endpoint(method: str, path: str, permission: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        for prefix in PREFIXES:
            router.add_api_route(
                prefix + path, func, methods=[method], dependencies=[permission], response_class=MlflowJSON,
                response_model=None, include_in_schema=prefix == PREFIXES[0],
            )
        return func

    return register


# -- translation ------------------------------------------------------------------------------


def artifact_uri(model: LoggedModel) -> str:
    return f"mlflow-artifacts:/{model.experiment_id}/{model.run_id}/artifacts/{model.artifact_prefix}"


def _metric_json(model: LoggedModel, metric: LoggedModelMetric) -> dict[str, Any]:
    body: dict[str, Any] = {"key": metric.key, "value": s.json_float(metric.value), "timestamp": metric.timestamp_ms,
                            "step": metric.step, "model_id": model.id}
    for field in ("run_id", "dataset_name", "dataset_digest"):
        if getattr(metric, field):
            body[field] = getattr(metric, field)
    return body


def model_json(model: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": model.id,
        "experiment_id": model.experiment_id,
        "name": model.name,
        "creation_timestamp_ms": s.ms(model.created_at),
        "last_updated_timestamp_ms": s.ms(model.updated_at),
        "artifact_uri": artifact_uri(model),
        "status": STATUS_NAMES[model.status],
        "source_run_id": model.run_id,
        "tags": s.kv_list(model.tags),
    }
    if model.model_type:
        info["model_type"] = model.model_type
    data = {"params": s.kv_list(model.params), "metrics": [_metric_json(model, m) for m in model.metrics]}
    return {"info": info, "data": data}


def _status(raw: Any) -> LoggedModelStatus:
    status = _STATUS_BY_NAME.get(str(raw).upper())
    if status is None:
        raise InvalidInput(f"Invalid value {raw!r} for parameter 'status': use LOGGED_MODEL_READY or "
                           "LOGGED_MODEL_UPLOAD_FAILED.")
    return status


def _model_id_matches(params: dict[str, Any], model_id: str) -> None:
    body_id = s.optional_str(params, "model_id")
    if body_id is not None and body_id != model_id:
        raise InvalidInput(f"Parameter 'model_id' is '{body_id}' but the URL names '{model_id}'.")


# -- endpoints ---------------------------------------------------------------------------------


@endpoint("POST", f"{LM}/search", READ)
def search_logged_models(params: Params, backend: BackendDep) -> MlflowJSON:
    ids = [experiment_id_of(backend, str(i)) for i in s.as_list(params.get("experiment_ids"), "experiment_ids")]
    if not ids:
        raise InvalidInput("Missing value for required parameter 'experiment_ids'.")
    found, token = service.search(
        backend, ids, filter=s.optional_str(params, "filter"),
        max_results=s.as_int(params.get("max_results") or 100, "max_results"),
        page_token=s.optional_str(params, "page_token"),
        datasets=[_dataset_criterion(d) for d in s.as_list(params.get("datasets"), "datasets")],
        order_by=[_order_item(o) for o in s.as_list(params.get("order_by"), "order_by")],
    )
    answer: dict[str, Any] = {"models": [model_json(m) for m in found]}
    if token:
        answer["next_page_token"] = token
    return MlflowJSON(answer)


def _dataset_criterion(item: Any) -> dict[str, str | None]:
    if not isinstance(item, dict) or not isinstance(item.get("dataset_name"), str) or not item["dataset_name"]:
        raise InvalidInput(f"Each entry of 'datasets' needs a 'dataset_name' string, got {item!r}.")
    digest = item.get("dataset_digest")
    if digest is not None and not isinstance(digest, str):
        raise InvalidInput(f"'dataset_digest' must be a string, got {digest!r}.")
    return {"dataset_name": item["dataset_name"], "dataset_digest": digest}


def _order_item(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("field_name"), str):
        raise InvalidInput(f"Each entry of 'order_by' needs a 'field_name' string, got {item!r}.")
    ascending = item.get("ascending", True)
    if not isinstance(ascending, bool):
        raise InvalidInput(f"'ascending' must be a boolean, got {ascending!r}.")
    return {"field_name": item["field_name"], "ascending": ascending}


@endpoint("POST", LM, WRITE)
def create_logged_model(params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    # Like experiments/create, nothing in the request chooses where the files go.
    model = service.create(
        backend, actor, experiment_id=experiment_id_of(backend, s.required(params, "experiment_id")),
        name=s.optional_str(params, "name"), source_run_id=s.optional_str(params, "source_run_id"),
        model_type=s.optional_str(params, "model_type"),
        params=s.key_values(params.get("params"), "params"), tags=s.key_values(params.get("tags"), "tags"),
    )
    return MlflowJSON({"model": model_json(model)})


@endpoint("GET", f"{LM}/{{model_id}}", READ)
def get_logged_model(model_id: str, params: Params, backend: BackendDep) -> MlflowJSON:
    allow_deleted = str(params.get("allow_deleted") or "false").lower() == "true"
    return MlflowJSON({"model": model_json(service.get(backend, model_id, allow_deleted=allow_deleted))})


@endpoint("PATCH", f"{LM}/{{model_id}}", WRITE)
def finalize_logged_model(model_id: str, params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    _model_id_matches(params, model_id)
    model = service.finalize(backend, model_id, _status(s.required(params, "status")), actor=actor)
    return MlflowJSON({"model": model_json(model)})


@endpoint("DELETE", f"{LM}/{{model_id}}", WRITE)
def delete_logged_model(model_id: str, params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    _model_id_matches(params, model_id)
    service.delete(backend, model_id, actor=actor)
    return MlflowJSON({})


@endpoint("PATCH", f"{LM}/{{model_id}}/tags", WRITE)
def set_logged_model_tags(model_id: str, params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    model = service.set_tags(backend, model_id, s.key_values(params.get("tags"), "tags"), actor=actor)
    return MlflowJSON({"model": model_json(model)})


@endpoint("DELETE", f"{LM}/{{model_id}}/tags/{{tag_key:path}}", WRITE)
def delete_logged_model_tag(model_id: str, tag_key: str, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    service.delete_tag(backend, model_id, tag_key, actor=actor)
    return MlflowJSON({})


@endpoint("POST", f"{LM}/{{model_id}}/params", WRITE)
def log_logged_model_params(model_id: str, params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    _model_id_matches(params, model_id)
    service.log_params(backend, model_id, s.key_values(params.get("params"), "params"), actor=actor)
    return MlflowJSON({})


def _raw_model_path(model: LoggedModel, relative: str) -> str:
    """A path inside the model's folder, percent-encoded for the artifact service, which
    decodes it once and confines it (``relative`` is decoded text)."""
    relative = relative.strip("/")
    return f"{model.artifact_prefix}/{quote(relative, safe='/')}" if relative else model.artifact_prefix


@endpoint("GET", f"{LM}/{{model_id}}/artifacts/directories", READ)
def list_logged_model_artifacts(model_id: str, params: Params, backend: BackendDep) -> MlflowJSON:
    """Immediate children of a folder of the model, paths relative to the model's root."""
    model = service.get(backend, model_id)
    raw = _raw_model_path(model, s.optional_str(params, "artifact_directory_path") or "")
    directory = normalize_logical_path(raw)
    relative = directory[len(model.artifact_prefix) + 1 :]
    files = children(artifacts.list_(backend, model.run_id, raw), directory)
    for entry in files:
        entry["path"] = f"{relative}/{entry['path']}" if relative else entry["path"]
    return MlflowJSON({"root_uri": artifact_uri(model), "files": files})


def get_logged_model_artifact(model_id: str, request: Request, backend: BackendDep) -> StreamingResponse:
    """One file of the model (MLflow's web UI reads files this way)."""
    relative = request.query_params.get("artifact_file_path") or ""
    if not relative.strip("/"):
        raise InvalidInput("Missing value for required parameter 'artifact_file_path'.")
    model = service.get(backend, model_id)
    info, chunks = artifacts.open_chunks(backend, model.run_id, _raw_model_path(model, relative))
    headers = {"Content-Length": str(info.size), "X-Content-Type-Options": "nosniff",
               "X-Modelward-Digest": info.digest}
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


for _prefix in PREFIXES:
    router.add_api_route(f"{_prefix}{LM}/{{model_id}}/artifacts/files", get_logged_model_artifact, methods=["GET"],
                         dependencies=[READ], response_model=None, include_in_schema=_prefix == PREFIXES[0])


@endpoint("POST", "/runs/outputs", WRITE)
def log_outputs(params: Params, backend: BackendDep, actor: ActorDep) -> MlflowJSON:
    """The run produced these models. A logged model already names its run, so this checks
    that the run and each model exist and records only the caller as a writer of outputs."""
    run_id = s.required(params, "run_id")
    outputs = model_refs(params.get("models"), "models", with_step=True)
    service.log_outputs(backend, run_id, [ref["model_id"] for ref in outputs], actor=actor)
    current = s.stored_list(run_service.get(backend, run_id), s.MODEL_OUTPUTS_TAG)  # echoed by runs/get
    run_service.log_batch(backend, run_id, actor=actor, tags={s.MODEL_OUTPUTS_TAG: merge_refs(current, outputs)})
    return MlflowJSON({})
