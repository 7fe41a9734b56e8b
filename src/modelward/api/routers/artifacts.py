"""/api/v1/runs/{run_id}/artifacts: upload, list and download by logical path."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.api.schemas import OCTET_STREAM_BODY, ArtifactList
from modelward.api.streams import RequestBodyReader
from modelward.domain.tracking import ArtifactFile
from modelward.services import artifacts as service

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/runs/{run_id}/artifacts", tags=["artifacts"])


@router.get("", dependencies=[READ])
def list_artifacts(run_id: str, backend: BackendDep, prefix: str = "") -> ArtifactList:
    return ArtifactList(files=service.list_(backend, run_id, prefix))


@router.put("/{path:path}", status_code=201, dependencies=[WRITE], openapi_extra=OCTET_STREAM_BODY)
async def upload_artifact(run_id: str, path: str, request: Request, backend: BackendDep, actor: ActorDep) -> ArtifactFile:
    body = await RequestBodyReader.read(request)
    try:
        return await run_in_threadpool(service.upload, backend, run_id, path, body, actor=actor)
    finally:
        body.close()


@router.get("/{path:path}", dependencies=[READ])
def download_artifact(run_id: str, path: str, backend: BackendDep) -> StreamingResponse:
    info, chunks = service.open_chunks(backend, run_id, path)
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={"Content-Length": str(info.size), "X-Modelward-Digest": info.digest},
    )
