"""MLflow 3 "logged models" as modelward keeps them. No I/O here.

A logged model is translation-level data: only the MLflow-compatible API needs it. Its
files are ordinary artifacts of its owning run under ``logged-models/<model_id>/``.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime

from pydantic import BaseModel, Field

from modelward.errors import InvalidInput

ARTIFACT_FOLDER = "logged-models"
_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")


class LoggedModelStatus(str, enum.Enum):
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"


class LoggedModelMetric(BaseModel):
    key: str
    value: float
    timestamp_ms: int
    step: int = 0
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LoggedModel(BaseModel):
    id: str
    experiment_id: str
    run_id: str
    name: str
    model_type: str | None = None
    status: LoggedModelStatus = LoggedModelStatus.PENDING
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: list[LoggedModelMetric] = Field(default_factory=list)
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @property
    def artifact_prefix(self) -> str:
        """Where the model's files live among its run's artifacts."""
        return artifact_prefix(self.id)


def artifact_prefix(model_id: str) -> str:
    return f"{ARTIFACT_FOLDER}/{model_id}"


def validate_model_id(model_id: str) -> str:
    if not _MODEL_ID.match(model_id):
        raise InvalidInput(f"Invalid logged model id {model_id!r}: expected 'm-' followed by 32 hex digits.")
    return model_id


def is_model_id(text: str) -> bool:
    return bool(_MODEL_ID.match(text))
