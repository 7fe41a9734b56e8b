"""Request bodies and envelopes, where they differ from the domain entities."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelward.api.decoding import FreeJSON, decode_json
from modelward.domain.tracking import (
    ArtifactFile, Experiment, Lifecycle, LogChunk, Metric, Note, ProcessInfo, RunStatus,
)
from modelward.errors import InvalidInput


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExperimentCreate(Body):
    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class ExperimentUpdate(Body):
    name: str | None = None
    description: str | None = None


class TagsBody(Body):
    tags: dict[str, str]


class ExperimentList(BaseModel):
    experiments: list[Experiment]


class RunCreate(Body):
    experiment_id: str
    name: str | None = None
    parent_run_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    process: ProcessInfo = Field(default_factory=ProcessInfo)
    environment: FreeJSON = Field(default_factory=dict)
    start_time: datetime | None = None


class RunUpdate(Body):
    name: str


class RunEnd(Body):
    status: RunStatus = RunStatus.FINISHED
    error_message: str | None = None
    error_traceback: str | None = None
    end_time: datetime | None = None


class MetricColumns(Body):
    """Metric points as parallel columns: compact on the wire, fast to validate."""

    keys: list[str]
    values: list[float]
    steps: list[int] | None = None
    timestamps_ms: list[int] | None = None


class LogBatch(Body):
    metrics: MetricColumns | None = None
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


BATCH_BODY_SCHEMA = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": LogBatch.model_json_schema()}}}
}

BodyT = TypeVar("BodyT", bound=BaseModel)


def parse_body(model: type[BodyT], raw: bytes) -> BodyT:
    """Validate a raw JSON body (through the shared decoder); errors become InvalidInput naming the field."""
    try:
        return model.model_validate(decode_json(raw) if raw.strip() else {})
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(part) for part in error.get("loc", ()))
            problems.append(f"{where or 'body'}: {error.get('msg')}")
        raise InvalidInput("; ".join(problems)) from None


class RunSearch(Body):
    experiment_ids: list[str] | None = None
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    lifecycle: str | None = "active"
    max_results: int = 1000
    page_token: str | None = None


def lifecycle_of(value: str) -> Lifecycle:
    """A lifecycle named in a request, or InvalidInput listing the choices."""
    try:
        return Lifecycle(value)
    except ValueError:
        choices = ", ".join(item.value for item in Lifecycle)
        raise InvalidInput(f"lifecycle must be one of {choices} or all, not {value!r}") from None


class RunIds(Body):
    run_ids: list[str]


class MetricHistory(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")
    metrics: list[Metric]


class NoteBody(Body):
    text: str


class NoteList(BaseModel):
    notes: list[Note]


class LogAppend(Body):
    chunks: list[tuple[str, str]]


class LogRead(BaseModel):
    chunks: list[LogChunk]
    last_seq: int


class ArtifactList(BaseModel):
    files: list[ArtifactFile]


class ErrorBody(BaseModel):
    """Every error the server sends, on every route (the shape MLflow's clients parse)."""

    error_code: str = Field(description="a stable code, e.g. INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST")
    message: str = Field(description="what went wrong, naming the field or the resource")


# The bodies of the routes that read raw bytes rather than a pydantic model, for the OpenAPI schema.
OCTET_STREAM_BODY = {
    "requestBody": {
        "required": True,
        "description": "the file's bytes",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
_OPENLINEAGE_REF = {"type": "object", "required": ["namespace", "name"], "additionalProperties": True,
                    "properties": {"namespace": {"type": "string"}, "name": {"type": "string"},
                                   "facets": {"type": "object"}}}
OPENLINEAGE_BODY = {
    "requestBody": {
        "required": True,
        "description": "an OpenLineage run event (https://openlineage.io/spec), optionally sent with "
                       "Content-Encoding: gzip",
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["eventTime", "run", "job"],
            "additionalProperties": True,
            "properties": {
                "eventType": {"type": "string", "enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
                "eventTime": {"type": "string", "format": "date-time"},
                "run": {"type": "object", "required": ["runId"], "additionalProperties": True,
                        "properties": {"runId": {"type": "string"}, "facets": {"type": "object"}}},
                "job": _OPENLINEAGE_REF,
                "inputs": {"type": "array", "items": _OPENLINEAGE_REF},
                "outputs": {"type": "array", "items": _OPENLINEAGE_REF},
                "producer": {"type": "string"},
                "schemaURL": {"type": "string"},
            },
        }}},
    }
}
