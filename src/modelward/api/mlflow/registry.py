"""MLflow's model registry REST API (``/api/2.0/mlflow/registered-models/...`` and
``/model-versions/...``), translated onto ``modelward.services.registry``.

Translation only: MLflow shapes in (query string for GET, JSON body otherwise, both for
DELETE), MLflow shapes out (millisecond timestamps, versions as strings, tags as key/value
lists). Differences from MLflow, on purpose:

* ``source`` is never opened. ``runs:/<run_id>/<path>`` and
  ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>`` name the run's stored
  artifacts; ``models:/m-<id>`` (MLflow 3's logged model, also sent as ``model_id``) names
  the files of its owning run under ``logged-models/m-<id>``. Anything else (a local path,
  s3://, http://, ``models:/<name>/<version>``) is accepted, as by MLflow, but only as an
  UNVERIFIED external reference: kept as given, never opened, read or fetched, and the
  version has no files and the tag ``modelward.source_verified = false``
  (``services.registry.register_external``).
* A source whose run holds no files there is accepted, as by MLflow, as a version with no
  files (the native API refuses it); downloading such a version is refused, naming why.
* Stages are deprecated in MLflow; here a stage is kept as the version tag
  ``mlflow.current_stage``. ``transition-stage`` sets it (and with
  ``archive_existing_versions`` moves other versions of that stage to Archived);
  ``get-latest-versions`` reads it. Staging and Production obey a policy's protected
  aliases ``staging`` and ``production``; the tag cannot be set through ``set-tag``.
* ``latest_versions`` (the newest version per stage) is filled by ``registered-models/get`` and search.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.api.mlflow import params as p
from modelward.api.mlflow.errors import MlflowRoute
from modelward.domain.mlflow_models import is_model_id
from modelward.domain.registry import STAGE_TAG, ModelVersion, RegisteredModel
from modelward.errors import InvalidInput, NotFound
from modelward.services import mlflow_models as logged_model_service
from modelward.services import registry as service
from modelward.services import runs as run_service

router = APIRouter(route_class=MlflowRoute, tags=["mlflow registry"])

RM = "/api/2.0/mlflow/registered-models"
MV = "/api/2.0/mlflow/model-versions"
STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}
_RUNS_SOURCE = re.compile(r"^runs:/(?P<run>[^/]+)(?:/(?P<path>.*))?$")
_LOGGED_MODEL_SOURCE = re.compile(r"^models:/(?P<id>m-[0-9a-f]{32})/?$")
_LOGGED_MODEL_PATH = re.compile(r"^runs:/[^/]+/logged-models/(?P<id>m-[0-9a-f]{32})$")
_PROXY_SOURCE = re.compile(
    r"^mlflow-artifacts:(?://[^/]*)?/(?P<exp>[^/]+)/(?P<run>[^/]+)/artifacts(?:/(?P<path>.*))?$"
)


async def _mlflow_params(request: Request) -> dict[str, Any]:
    """Query parameters merged with the JSON body (MLflow sends DELETE arguments in the body)."""
    return await p.request_params(request, list_keys=("stages",))


Params = Annotated[dict[str, Any], Depends(_mlflow_params)]


def _required(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if value in (None, ""):
        raise InvalidInput(f"Missing value for required parameter '{key}'.")
    return str(value)


def _version_number(params: dict[str, Any]) -> int:
    raw = _required(params, "version")
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidInput(f"Parameter 'version' must be an integer, got '{raw}'.")
    if len(raw.lstrip("0")) > 19:
        raise p.out_of_range("version", raw)
    return p.in_int64("version", int(raw))


def _tags(raw: Any) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in raw or [] if isinstance(t, dict) and "key" in t}


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _int(params: dict[str, Any], key: str, default: int) -> int:
    try:
        return int(params.get(key) or default)
    except (TypeError, ValueError):
        raise InvalidInput(f"Parameter '{key}' must be an integer.") from None


def _stage_of(version: ModelVersion) -> str:
    return version.tags.get(STAGE_TAG, "None")


def version_json(version: ModelVersion) -> dict[str, Any]:
    logged_model = _LOGGED_MODEL_PATH.match(version.source)
    body = {
        "name": version.model_name,
        "version": str(version.version),
        "creation_timestamp": _ms(version.created_at),
        "last_updated_timestamp": _ms(version.updated_at),
        "user_id": version.created_by or "",
        "current_stage": _stage_of(version),
        "description": version.description or "",
        "source": version.source,
        "run_id": version.source_run_id or version.tags.get(service.CLAIMED_RUN_TAG, ""),
        "status": "READY",
        "tags": [{"key": k, "value": v} for k, v in version.tags.items() if k != STAGE_TAG],
        "run_link": "",
        "aliases": list(version.aliases),
    }
    if logged_model is not None:  # registered from MLflow's models:/m-<id>: answer in its terms
        body["source"] = f"models:/{logged_model['id']}"
        body["model_id"] = logged_model["id"]
    return body


def model_json(model: RegisteredModel, latest: list[ModelVersion] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": _ms(model.created_at),
        "last_updated_timestamp": _ms(model.updated_at),
        "user_id": model.created_by or "",
        "description": model.description or "",
        "tags": [{"key": k, "value": v} for k, v in model.tags.items()],
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
    }
    if latest is not None:
        body["latest_versions"] = [version_json(v) for v in latest]
    return body


def _latest_per_stage(backend: Any, name: str, stages: list[str] | None) -> list[ModelVersion]:
    try:
        wanted = sorted({_canonical_stage(s) for s in stages}) if stages else None
    except InvalidInput:
        service.get_model(backend, name)  # a missing model is reported first, as it always was
        raise
    return service.newest_per_stage(backend, name, stages=wanted)[1]


def _canonical_stage(stage: str) -> str:
    canonical = STAGES.get(str(stage).lower())
    if canonical is None:
        raise InvalidInput(f"Invalid Model Version stage: {stage}. Use one of None, Staging, Production, Archived.")
    return canonical


# -- registered models ----------------------------------------------------------------------


@router.post(f"{RM}/create", dependencies=[WRITE])
def create_registered_model(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    model = service.create_model(
        backend, actor, p.required_str(params, "name"), description=p.optional_str(params, "description"),
        tags=_tags(params.get("tags")),
    )
    return {"registered_model": model_json(model, [])}


@router.get(f"{RM}/get", dependencies=[READ])
def get_registered_model(params: Params, backend: BackendDep) -> dict[str, Any]:
    model, latest = service.newest_per_stage(backend, _required(params, "name"), with_model=True)
    assert model is not None
    return {"registered_model": model_json(model, latest)}


# rename, update, delete and the model tags: write access, or for a governed model the policy's
# approving role; the registry service decides (see routers/models.py).
@router.post(f"{RM}/rename", dependencies=[READ])
def rename_registered_model(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    model = service.update_model(backend, actor, _required(params, "name"), new_name=_required(params, "new_name"))
    return {"registered_model": model_json(model)}


@router.patch(f"{RM}/update", dependencies=[READ])
def update_registered_model(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    model = service.update_model(backend, actor, _required(params, "name"), description=params.get("description") or "")
    return {"registered_model": model_json(model)}


@router.delete(f"{RM}/delete", dependencies=[READ])
def delete_registered_model(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    service.delete_model(backend, actor, _required(params, "name"))
    return {}


@router.get(f"{RM}/search", dependencies=[READ])
def search_registered_models(params: Params, backend: BackendDep) -> dict[str, Any]:
    page = service.search_models(
        backend, filter=params.get("filter"), max_results=_int(params, "max_results", 100),
        page_token=params.get("page_token"),
    )
    body: dict[str, Any] = {"registered_models": [model_json(m, _latest(backend, m.name)) for m in page.models]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def _latest(backend: Any, name: str) -> list[ModelVersion]:
    """``latest_versions`` of a search result, as MLflow fills it (the newest per stage)."""
    try:
        return service.newest_per_stage(backend, name)[1]
    except NotFound:  # deleted since the page was read
        return []


@router.post(f"{RM}/get-latest-versions", dependencies=[READ])
@router.get(f"{RM}/get-latest-versions", dependencies=[READ])
def get_latest_versions(params: Params, backend: BackendDep) -> dict[str, Any]:
    name = _required(params, "name")
    stages = params.get("stages")
    stages = [stages] if isinstance(stages, str) else stages
    return {"model_versions": [version_json(v) for v in _latest_per_stage(backend, name, stages or None)]}


@router.post(f"{RM}/set-tag", dependencies=[READ])
def set_registered_model_tag(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    service.set_model_tags(backend, actor, _required(params, "name"),
                           {_required(params, "key"): str(params.get("value", ""))})
    return {}


@router.delete(f"{RM}/delete-tag", dependencies=[READ])
def delete_registered_model_tag(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    service.delete_model_tag(backend, actor, _required(params, "name"), _required(params, "key"))
    return {}


# Write access, or a protected alias's role: decided by the registry service (see routers/models.py).
@router.post(f"{RM}/alias", dependencies=[READ])
def set_registered_model_alias(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    service.point_alias(backend, actor, _required(params, "name"), _required(params, "alias"), _version_number(params))
    return {}


@router.delete(f"{RM}/alias", dependencies=[READ])
def delete_registered_model_alias(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    service.delete_alias(backend, actor, _required(params, "name"), _required(params, "alias"))
    return {}


@router.get(f"{RM}/alias", dependencies=[READ])
def get_model_version_by_alias(params: Params, backend: BackendDep) -> dict[str, Any]:
    version = service.get_by_alias(backend, _required(params, "name"), _required(params, "alias"))
    return {"model_version": version_json(version)}


# -- model versions ---------------------------------------------------------------------------


def _logged_model_run_and_path(backend: Any, source: str, model_id: str, run_id: str | None) -> tuple[str, str]:
    try:
        model = logged_model_service.get(backend, model_id)
    except NotFound:
        raise InvalidInput(f"Model version source '{source}' names logged model '{model_id}', which does not exist.") from None
    if run_id and run_id != model.run_id:
        raise InvalidInput(f"Model version source '{source}' belongs to run '{model.run_id}', but run_id is '{run_id}'.")
    return model.run_id, model.artifact_prefix


def _run_and_path(backend: Any, source: str, run_id: str | None) -> tuple[str, str] | None:
    """The run and artifact path a source names in this store; None for any other source."""
    logged_model = _LOGGED_MODEL_SOURCE.match(source)
    if logged_model is not None:
        return _logged_model_run_and_path(backend, source, logged_model["id"], run_id)
    runs_match, proxy_match = _RUNS_SOURCE.match(source), _PROXY_SOURCE.match(source)
    if runs_match is None and proxy_match is None:
        return None
    match = runs_match or proxy_match
    assert match is not None
    source_run = match["run"]
    try:
        experiment_id = run_service.experiment_of(backend, source_run)
    except NotFound:  # another server's run: an external reference like any other URI
        return None
    if run_id and run_id != source_run:
        raise InvalidInput(f"Model version source '{source}' names run '{source_run}', but run_id is '{run_id}'.")
    if proxy_match is not None and proxy_match["exp"] != experiment_id:
        raise InvalidInput(f"Model version source '{source}': run '{source_run}' is not in that experiment.")
    return source_run, (match["path"] or "").strip("/")


@router.post(f"{MV}/create", dependencies=[WRITE])
def create_model_version(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    name, source = p.required_str(params, "name"), p.required_str(params, "source")
    claimed_run = p.optional_str(params, "run_id")
    description, tags = p.optional_str(params, "description"), _tags(params.get("tags"))
    located = _run_and_path(backend, source, claimed_run)
    if located is None:  # not this store's: recorded as an unverified reference, never opened
        if claimed_run and _is_local_run(backend, claimed_run):
            raise InvalidInput(
                f"Model version source '{source}' is not an artifact of run '{claimed_run}': modelward records "
                f"such a source only as an external reference. Register runs:/{claimed_run}/<path> to attach "
                "the run's files, or leave out run_id."
            )
        version = service.register_external(backend, actor, name, source=source, description=description,
                                            tags=tags, claimed_run_id=claimed_run)
        return {"model_version": version_json(version)}
    run_id, path = located
    # MLflow registers a source whatever it holds; so do we, as a version with no files.
    version = service.register_version(
        backend, actor, name, run_id=run_id, artifact_path=path, description=description,
        tags=tags, create_model=False, allow_empty=True,
    )
    model_id = _logged_model_of(source, p.optional_str(params, "model_id"))
    if model_id is not None:  # MLflow's server lists the version in the logged model's tags
        try:
            logged_model_service.record_model_version(
                backend, model_id, version.model_name, version.version, actor=actor)
        except NotFound:  # a claimed model_id this store does not hold: the version stands alone
            pass
    return {"model_version": version_json(version)}


def _is_local_run(backend: Any, run_id: str) -> bool:
    try:
        run_service.experiment_of(backend, run_id)
    except NotFound:
        return False
    return True


def _logged_model_of(source: str, claimed: str | None) -> str | None:
    match = _LOGGED_MODEL_SOURCE.match(source) or _LOGGED_MODEL_PATH.match(source)
    if match is not None:
        return match["id"]
    return claimed if claimed and is_model_id(claimed) else None


@router.get(f"{MV}/get", dependencies=[READ])
def get_model_version(params: Params, backend: BackendDep) -> dict[str, Any]:
    version = service.get_version(backend, _required(params, "name"), _version_number(params))
    return {"model_version": version_json(version)}


@router.patch(f"{MV}/update", dependencies=[WRITE])
def update_model_version(params: Params, backend: BackendDep) -> dict[str, Any]:
    version = service.update_version(
        backend, _required(params, "name"), _version_number(params), description=params.get("description") or ""
    )
    return {"model_version": version_json(version)}


@router.delete(f"{MV}/delete", dependencies=[READ])  # an approved version: the approving role
def delete_model_version(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    service.delete_version(backend, actor, _required(params, "name"), _version_number(params))
    return {}


@router.get(f"{MV}/search", dependencies=[READ])
def search_model_versions(params: Params, backend: BackendDep) -> dict[str, Any]:
    order_by = params.get("order_by") or []
    page = service.search_versions(
        backend, filter=params.get("filter"), max_results=_int(params, "max_results", 10_000),
        page_token=params.get("page_token"), order_by=order_by if isinstance(order_by, list) else [order_by],
    )
    body: dict[str, Any] = {"model_versions": [version_json(v) for v in page.versions]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


@router.get(f"{MV}/get-download-uri", dependencies=[READ])
def get_model_version_download_uri(params: Params, backend: BackendDep) -> dict[str, Any]:
    version = service.get_version(backend, _required(params, "name"), _version_number(params))
    if not version.files:
        raise InvalidInput(f"{service.no_files_reason(version)}: there is nothing to download.")
    if version.source_run_id is None:
        raise InvalidInput(f"model version {version.version} has no source run to download from")
    run = run_service.get(backend, version.source_run_id)
    prefix = f"runs:/{run.id}"
    path = version.source[len(prefix):].strip("/") if version.source.startswith(prefix) else "model"
    return {"artifact_uri": f"mlflow-artifacts:/{run.experiment_id}/{run.id}/artifacts/{path}".rstrip("/")}


@router.post(f"{MV}/transition-stage", dependencies=[READ])  # Staging/Production: a protected alias's rule
def transition_model_version_stage(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    archive = str(params.get("archive_existing_versions", "false")).lower() == "true"
    version = service.set_stage(
        backend, actor, _required(params, "name"), _version_number(params), _canonical_stage(_required(params, "stage")),
        archive_existing=archive,
    )
    return {"model_version": version_json(version)}


@router.post(f"{MV}/set-tag", dependencies=[WRITE])
def set_model_version_tag(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    service.set_version_tags(
        backend, actor, _required(params, "name"), _version_number(params),
        {_required(params, "key"): str(params.get("value", ""))},
    )
    return {}


@router.delete(f"{MV}/delete-tag", dependencies=[WRITE])
def delete_model_version_tag(params: Params, backend: BackendDep, actor: ActorDep) -> dict[str, Any]:
    service.delete_version_tag(backend, actor, _required(params, "name"), _version_number(params),
                               _required(params, "key"))
    return {}
