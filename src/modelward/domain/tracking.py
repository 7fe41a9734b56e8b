"""Tracking nouns: experiments, runs and what a run records. No I/O here."""

from __future__ import annotations

import enum
import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelward.errors import InvalidInput


class RunStatus(str, enum.Enum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)

    @classmethod
    def parse(cls, status: RunStatus | str) -> RunStatus:
        """``status`` as a RunStatus (any case), or InvalidInput naming the statuses there are."""
        if isinstance(status, RunStatus):
            return status
        try:
            return cls(str(status).upper())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise InvalidInput(f"run status must be one of {allowed}; got {status!r}") from None


class Lifecycle(str, enum.Enum):
    ACTIVE = "active"
    DELETED = "deleted"


class Experiment(BaseModel):
    id: str
    name: str
    description: str | None = None
    lifecycle: Lifecycle = Lifecycle.ACTIVE
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @property
    def folder(self) -> str:
        """The part of the name before the last '/', e.g. 'team/churn'."""
        return self.name.rpartition("/")[0]


class ProcessInfo(BaseModel):
    """Where a run sits in a pipeline (seed: process information)."""

    pipeline_run_id: str | None = None
    trigger_type: str | None = None
    process_type: str | None = None
    step_name: str | None = None


class Metric(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")
    key: str
    value: float
    step: int = 0
    timestamp_ms: int


class Note(BaseModel):
    id: int
    author: str | None
    text: str
    created_at: datetime
    updated_at: datetime


class Run(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")
    id: str
    experiment_id: str
    name: str | None = None
    status: RunStatus
    lifecycle: Lifecycle = Lifecycle.ACTIVE
    user: str | None = None
    parent_run_id: str | None = None
    start_time: datetime
    end_time: datetime | None = None
    error_message: str | None = None
    error_traceback: str | None = None
    process: ProcessInfo = Field(default_factory=ProcessInfo)
    environment: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict, description="latest value per key")
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


class ArtifactFile(BaseModel):
    path: str
    digest: str
    size: int
    created_at: datetime


class LogChunk(BaseModel):
    seq: int
    stream: str
    text: str
    created_at: datetime


class RunPage(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")
    runs: list[Run]
    next_page_token: str | None = None


def encode_float(value: float) -> float | str:
    """JSON has no NaN or infinity: send those as strings pydantic parses back."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
