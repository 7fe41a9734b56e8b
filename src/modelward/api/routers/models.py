"""/api/v1/models: the model registry. Each endpoint is one service call."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.domain.registry import (
    AliasEvent,
    ModelPage,
    ModelVersion,
    RegisteredModel,
    VersionComparison,
    VersionFile,
    VersionPage,
)
from modelward.services import registry as service

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/models", tags=["models"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelCreate(_Body):
    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class ModelUpdate(_Body):
    description: str | None = None
    name: str | None = Field(default=None, description="a new name: renames the model")
    reason: str | None = Field(default=None, description="why: required to rename a governed model")


class TagsBody(_Body):
    tags: dict[str, str]


class Search(_Body):
    filter: str | None = None
    max_results: int = 100
    page_token: str | None = None


class VersionCreate(_Body):
    run_id: str
    artifact_path: str = "model"
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class VersionUpdate(_Body):
    description: str | None = None


class AliasBody(_Body):
    version: int
    reason: str | None = None


class CompareBody(_Body):
    versions: list[int]


class FileList(BaseModel):
    artifact_digest: str
    files: list[VersionFile]


class AliasHistory(BaseModel):
    events: list[AliasEvent]


@router.post("", status_code=201, dependencies=[WRITE])
def create_model(body: ModelCreate, backend: BackendDep, actor: ActorDep) -> RegisteredModel:
    return service.create_model(backend, actor, body.name, description=body.description, tags=body.tags)


@router.get("", dependencies=[READ])
def list_models(
    backend: BackendDep, filter: str | None = None, max_results: int = 100, page_token: str | None = None
) -> ModelPage:
    return service.search_models(backend, filter=filter, max_results=max_results, page_token=page_token)


@router.post("/search", dependencies=[READ])
def search_models(body: Search, backend: BackendDep) -> ModelPage:
    return service.search_models(backend, filter=body.filter, max_results=body.max_results, page_token=body.page_token)


@router.post("/versions/search", dependencies=[READ])
def search_versions(body: Search, backend: BackendDep) -> VersionPage:
    return service.search_versions(
        backend, filter=body.filter, max_results=body.max_results, page_token=body.page_token
    )


@router.get("/{name}", dependencies=[READ])
def get_model(name: str, backend: BackendDep) -> RegisteredModel:
    return service.get_model(backend, name)


# Renaming, deleting and re-tiering a governed model need the policy's approving role, not
# write access: for these routes the registry service decides, so they ask only READ.
@router.patch("/{name}", dependencies=[READ])
def update_model(name: str, body: ModelUpdate, backend: BackendDep, actor: ActorDep) -> RegisteredModel:
    return service.update_model(backend, actor, name, description=body.description, new_name=body.name,
                                reason=body.reason)


@router.delete("/{name}", status_code=204, dependencies=[READ])
def delete_model(name: str, backend: BackendDep, actor: ActorDep, reason: str | None = None) -> Response:
    service.delete_model(backend, actor, name, reason=reason)
    return Response(status_code=204)


@router.put("/{name}/tags", dependencies=[READ])
def set_model_tags(name: str, body: TagsBody, backend: BackendDep, actor: ActorDep) -> RegisteredModel:
    return service.set_model_tags(backend, actor, name, body.tags)


@router.delete("/{name}/tags/{key:path}", status_code=204, dependencies=[READ])
def delete_model_tag(name: str, key: str, backend: BackendDep, actor: ActorDep) -> Response:
    service.delete_model_tag(backend, actor, name, key)
    return Response(status_code=204)


@router.post("/{name}/versions", status_code=201, dependencies=[WRITE])
def register_version(name: str, body: VersionCreate, backend: BackendDep, actor: ActorDep) -> ModelVersion:
    return service.register_version(
        backend, actor, name, run_id=body.run_id, artifact_path=body.artifact_path,
        description=body.description, tags=body.tags,
    )


@router.get("/{name}/versions", dependencies=[READ])
def list_versions(
    name: str, backend: BackendDep, filter: str | None = None, max_results: int = 100,
    page_token: str | None = None,
) -> VersionPage:
    return service.search_versions(
        backend, model_name=name, filter=filter, max_results=max_results, page_token=page_token
    )


@router.post("/{name}/compare", dependencies=[READ])
def compare_versions(name: str, body: CompareBody, backend: BackendDep) -> VersionComparison:
    return service.compare(backend, name, body.versions)


@router.get("/{name}/versions/{version}", dependencies=[READ])
def get_version(name: str, version: int, backend: BackendDep) -> ModelVersion:
    return service.get_version(backend, name, version)


@router.patch("/{name}/versions/{version}", dependencies=[WRITE])
def update_version(name: str, version: int, body: VersionUpdate, backend: BackendDep) -> ModelVersion:
    return service.update_version(backend, name, version, description=body.description)


@router.post("/{name}/versions/{version}/archive", dependencies=[WRITE])
def archive_version(
    name: str, version: int, backend: BackendDep, actor: ActorDep, reason: str | None = None
) -> ModelVersion:
    return service.archive_version(backend, actor, name, version, reason=reason)


@router.delete("/{name}/versions/{version}", status_code=204, dependencies=[READ])
def delete_version(
    name: str, version: int, backend: BackendDep, actor: ActorDep, reason: str | None = None
) -> Response:
    service.delete_version(backend, actor, name, version, reason=reason)
    return Response(status_code=204)


@router.put("/{name}/versions/{version}/tags", dependencies=[WRITE])
def set_version_tags(name: str, version: int, body: TagsBody, backend: BackendDep, actor: ActorDep) -> ModelVersion:
    return service.set_version_tags(backend, actor, name, version, body.tags)


@router.delete("/{name}/versions/{version}/tags/{key:path}", status_code=204, dependencies=[WRITE])
def delete_version_tag(name: str, version: int, key: str, backend: BackendDep, actor: ActorDep) -> Response:
    service.delete_version_tag(backend, actor, name, version, key)
    return Response(status_code=204)


@router.get("/{name}/versions/{version}/files", dependencies=[READ])
def list_files(name: str, version: int, backend: BackendDep) -> FileList:
    found = service.get_version(backend, name, version)
    return FileList(artifact_digest=found.artifact_digest, files=found.files)


@router.get("/{name}/versions/{version}/files/{path:path}", dependencies=[READ])
def download_file(name: str, version: int, path: str, backend: BackendDep) -> StreamingResponse:
    item, chunks = service.open_file(backend, name, version, path)
    return StreamingResponse(
        chunks, media_type="application/octet-stream",
        headers={"Content-Length": str(item.size), "X-Modelward-Digest": item.digest},
    )


# Alias moves need write access, or for a protected alias the policy's role (which an
# approver without write access holds): the registry service decides, so the route asks only READ.
@router.put("/{name}/aliases/{alias}", dependencies=[READ])
def set_alias(name: str, alias: str, body: AliasBody, backend: BackendDep, actor: ActorDep) -> ModelVersion:
    return service.set_alias(backend, actor, name, alias, body.version, reason=body.reason)


@router.delete("/{name}/aliases/{alias}", status_code=204, dependencies=[READ])
def delete_alias(name: str, alias: str, backend: BackendDep, actor: ActorDep, reason: str | None = None) -> Response:
    service.delete_alias(backend, actor, name, alias, reason=reason)
    return Response(status_code=204)


@router.get("/{name}/aliases/{alias}", dependencies=[READ])
def get_by_alias(name: str, alias: str, backend: BackendDep, as_of: datetime | None = None) -> ModelVersion:
    return service.get_by_alias(backend, name, alias, as_of=as_of)


@router.get("/{name}/alias-history", dependencies=[READ])
def alias_history(name: str, backend: BackendDep, alias: str | None = None) -> AliasHistory:
    return AliasHistory(events=service.alias_history(backend, name, alias=alias))
