"""The prediction log's records: what a serving endpoint answered, and the truth learnt later."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Mode = Literal["live", "shadow"]
MODES: tuple[str, ...] = ("live", "shadow")
SERVER_ERROR_STATUS = 500  # an answer with this status or above counts as an error of the version


class Rows:
    """A checked input frame as the log keeps it until written: its column names and one numpy
    array. Thousands of queued DataFrames (dozens of objects each) made the collector's work,
    and so every request, slower; this is two objects, and the array is not tracked by it."""

    __slots__ = ("columns", "values")

    def __init__(self, columns: list[str], values: Any) -> None:
        self.columns, self.values = columns, values

    @classmethod
    def of(cls, frame: Any) -> Any:
        """``frame`` as Rows when it is a DataFrame; anything else as it is."""
        if frame is None or not hasattr(frame, "columns") or not hasattr(frame, "to_numpy"):
            return frame
        return cls([str(c) for c in frame.columns], frame.to_numpy())


@dataclass(slots=True)
class PredictionRecord:
    """One answer of one model version. Made on the request path, so a plain slots dataclass:
    no validation here; the writer serialises ``inputs`` and ``outputs`` as JSON off that path."""

    request_id: str
    endpoint: str
    model_name: str
    version: int
    mode: str  # "live" (the answer the client got) or "shadow" (a copy scored by another version)
    at: datetime  # aware, UTC
    latency_ms: float
    status: int  # the HTTP status of the answer
    error: str | None
    inputs: Any
    outputs: Any
    rows: int


class Feedback(BaseModel):
    """Ground truth for a request, attached after the fact: a scalar, or one value per input row."""

    request_id: str = Field(min_length=1, max_length=128)
    ground_truth: Any
    values: dict[str, float] | None = None  # business values (revenue, cost, ...) of the outcome
    at: datetime


class VersionStats(BaseModel):
    """What one model version did on an endpoint in a time window (live or shadow)."""

    version: int
    mode: str
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    quality: dict[str, float] = Field(default_factory=dict)
    feedback_rows: int = 0
