"""Run artifacts: upload, list and download by logical path (``/api/v1/runs/{run_id}/artifacts``),
and direct transfer by presigned URLs (``/api/v1/artifact-transfer``, ``.../artifact-uploads``,
``.../artifact-links``; see services/direct_transfer.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.api.schemas import OCTET_STREAM_BODY, ArtifactList
from modelward.api.streams import RequestBodyStream, upload_streamed
from modelward.domain.tracking import ArtifactFile
from modelward.services import artifacts as service
from modelward.services import direct_transfer

router = APIRouter(route_class=JsonRoute, tags=["artifacts"])
_RUN_ARTIFACTS = "/api/v1/runs/{run_id}/artifacts"


@router.get(_RUN_ARTIFACTS, dependencies=[READ])
def list_artifacts(run_id: str, backend: BackendDep, prefix: str = "") -> ArtifactList:
    return ArtifactList(files=service.list_(backend, run_id, prefix))


@router.put(_RUN_ARTIFACTS + "/{path:path}", status_code=201, dependencies=[WRITE], openapi_extra=OCTET_STREAM_BODY)
async def upload_artifact(run_id: str, path: str, request: Request, backend: BackendDep, actor: ActorDep) -> ArtifactFile:
    body = RequestBodyStream(request, request.app.state.settings.max_artifact_bytes)
    return await run_in_threadpool(upload_streamed, body, service.upload, backend, run_id, path, body, actor=actor,
                                  size_hint=body.declared_size)


@router.get(_RUN_ARTIFACTS + "/{path:path}", dependencies=[READ])
def download_artifact(run_id: str, path: str, backend: BackendDep) -> StreamingResponse:
    info, chunks = service.open_chunks(backend, run_id, path)
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={"Content-Length": str(info.size), "X-Modelward-Digest": info.digest},
    )


@router.get("/api/v1/artifact-transfer", dependencies=[READ])
def transfer_capabilities(request: Request, backend: BackendDep) -> direct_transfer.TransferCapabilities:
    """Whether clients may move artifact bytes directly to and from the object store."""
    return direct_transfer.capabilities(backend, request.app.state.settings)


@router.post("/api/v1/runs/{run_id}/artifact-uploads", dependencies=[WRITE])
def begin_direct_upload(run_id: str, body: direct_transfer.UploadRequest, request: Request, backend: BackendDep,
                        actor: ActorDep) -> direct_transfer.UploadGrant:
    """Presigned URLs to stage an upload of ``size`` bytes; then PUT the bytes and complete."""
    return direct_transfer.begin_upload(backend, request.app.state.settings, run_id, body, actor=actor)


@router.post("/api/v1/runs/{run_id}/artifact-uploads/complete", status_code=201, dependencies=[WRITE])
def complete_direct_upload(run_id: str, body: direct_transfer.CompleteRequest, request: Request,
                           backend: BackendDep, actor: ActorDep) -> ArtifactFile:
    """Check the staged bytes against the claimed SHA-256 and size, and record the artifact."""
    return direct_transfer.complete_upload(backend, request.app.state.settings, run_id, body, actor=actor)


@router.get("/api/v1/runs/{run_id}/artifact-links/{path:path}", dependencies=[READ])
def direct_download_link(run_id: str, path: str, request: Request, backend: BackendDep) -> direct_transfer.DownloadLink:
    """A presigned GET of the artifact's bytes, with the digest the client must check them against."""
    return direct_transfer.download_link(backend, request.app.state.settings, run_id, path)
