"""Request bodies and envelopes, where they differ from the domain entities."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelward.domain.tracking import ArtifactFile, Experiment, LogChunk, Metric, Note, ProcessInfo, RunStatus
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
    environment: dict[str, Any] = Field(default_factory=dict)
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
    """Validate a raw JSON body; errors become InvalidInput naming the field."""
    try:
        return model.model_validate_json(raw or b"{}")
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
