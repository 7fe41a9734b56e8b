"""/api/v1/lineage: record, walk (upstream, downstream, path), reproduce, diff, OpenLineage."""

from __future__ import annotations

import zlib
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from modelward.api.decoding import JsonRoute, decode_json
from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.api.schemas import OPENLINEAGE_BODY
from modelward.api.streams import RequestBodyReader
from modelward.domain.lineage import (
    EXPORTERS,
    ArtifactSpec,
    ContextSpec,
    ExecutionSpec,
    LineageArtifact,
    LineageExecution,
    LineageGraph,
    LineageRecord,
    Origin,
    ReproSpec,
    RunDiff,
)
from modelward.errors import InvalidInput, PayloadTooLarge
from modelward.services import lineage as service
from modelward.services import openlineage, reproduce

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/lineage", tags=["lineage"])

Depth = Query(None, ge=0, le=service.MAX_DEPTH, description="how many edges to follow")
Format = Query("json", pattern="^(json|dot|mermaid)$", description="json (the graph), dot or mermaid (text)")


class RecordBody(BaseModel):
    execution: ExecutionSpec
    inputs: list[ArtifactSpec] = Field(default_factory=list, max_length=10_000)
    outputs: list[ArtifactSpec] = Field(default_factory=list, max_length=10_000)
    contexts: list[ContextSpec] = Field(default_factory=list, max_length=100)


class ArtifactList(BaseModel):
    artifacts: list[LineageArtifact]


class ExecutionList(BaseModel):
    executions: list[LineageExecution]


def _graph_response(graph: LineageGraph, format: str) -> Any:
    if format == "json":
        return graph
    return PlainTextResponse(EXPORTERS[format](graph))


@router.post("/record", status_code=201, dependencies=[WRITE])
def record(body: RecordBody, backend: BackendDep, actor: ActorDep) -> LineageRecord:
    return service.record(backend, execution=body.execution, inputs=body.inputs, outputs=body.outputs,
                          contexts=body.contexts, actor=actor)


@router.get("/upstream", dependencies=[READ], response_model=None)
def upstream(backend: BackendDep, ref: str, depth: int | None = Depth, format: str = Format) -> Any:
    return _graph_response(service.upstream(backend, ref, max_depth=depth), format)


@router.get("/downstream", dependencies=[READ], response_model=None)
def downstream(backend: BackendDep, ref: str, depth: int | None = Depth, format: str = Format) -> Any:
    return _graph_response(service.downstream(backend, ref, max_depth=depth), format)


@router.get("/path", dependencies=[READ], response_model=None)
def path(backend: BackendDep, source: str, target: str, depth: int | None = Depth, format: str = Format) -> Any:
    return _graph_response(service.path(backend, source, target, max_depth=depth), format)


@router.get("/origin", dependencies=[READ])
def origin(backend: BackendDep, ref: str) -> Origin:
    """The runs that produced ``ref`` (through a registration, for a model version), with their
    params, metrics, code version and data."""
    return service.origin(backend, ref)


@router.get("/evaluations", dependencies=[READ])
def evaluations(backend: BackendDep, ref: str) -> ArtifactList:
    return ArtifactList(artifacts=service.evaluations(backend, ref))


@router.get("/artifacts/{artifact_id}", dependencies=[READ])
def get_artifact(artifact_id: str, backend: BackendDep) -> LineageArtifact:
    return service.get_artifact(backend, artifact_id)


@router.get("/pipelines/{pipeline_run_id}", dependencies=[READ])
def pipeline(pipeline_run_id: str, backend: BackendDep) -> ExecutionList:
    return ExecutionList(executions=service.pipeline(backend, pipeline_run_id))


@router.get("/runs/diff", dependencies=[READ])
def diff_runs(backend: BackendDep, a: str, b: str) -> RunDiff:
    return reproduce.diff(backend, a, b)


@router.get("/runs/{run_id}", dependencies=[READ])
def run_record(run_id: str, backend: BackendDep) -> LineageRecord:
    return service.run_record(backend, run_id)


@router.get("/runs/{run_id}/reproduce", dependencies=[READ])
def reproduce_run(run_id: str, backend: BackendDep) -> ReproSpec:
    return reproduce.spec(backend, run_id)


@router.post("/openlineage", status_code=201, dependencies=[WRITE], openapi_extra=OPENLINEAGE_BODY)
async def openlineage_event(request: Request, backend: BackendDep, actor: ActorDep) -> Response:
    """An OpenLineage run event (JSON, optionally gzip-compressed), as the OpenLineage HTTP transport sends it."""
    event = _decode(await _body(request), request.headers.get("content-encoding", ""),
                    request.app.state.settings.max_request_bytes)
    record = await run_in_threadpool(openlineage.ingest, backend, event, actor=actor)
    return Response(record.model_dump_json(), status_code=201, media_type="application/json")


async def _body(request: Request) -> bytes:
    body = await RequestBodyReader.read(request)
    try:
        return body.read()
    finally:
        body.close()


def _decode(raw: bytes, encoding: str, limit: int) -> Any:
    if encoding.strip().lower() == "gzip":
        try:
            decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            raw = decompressor.decompress(raw, limit + 1)
        except zlib.error as exc:
            raise InvalidInput(f"invalid OpenLineage event: the gzip body cannot be decompressed ({exc})") from None
        if len(raw) > limit:
            raise PayloadTooLarge(f"the decompressed OpenLineage event is larger than {limit} bytes")
    return decode_json(raw, what="invalid OpenLineage event: the body")

