"""What one model version did on an endpoint in one time window: the unit of continuous evaluation."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Every = Literal["minute", "hour", "day"]
WINDOW_SECONDS: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400}


class Window(BaseModel):
    """Counts and latency cover every answer in [start, end); quality covers the successful ones.

    ``quality`` is realised (answers with ground truth, ``labelled_rows`` of them); ``estimated``
    is confidence-based (CBPE) from the predicted probabilities of every successful row,
    ``estimated_rows`` of them, calibrated as ``estimation_basis`` says."""

    start: datetime
    end: datetime
    version: int
    mode: str
    requests: int
    rows: int
    errors: dict[str, int] = Field(default_factory=dict)  # {"4xx": n, "5xx": n}
    error_classes: dict[str, int] = Field(default_factory=dict)  # normalised error text -> answers
    error_rate: float  # answers with status 400 and above / requests
    server_error_rate: float  # status 500 and above / requests: the version's fault
    seconds: float  # the part of [start, end) inside the queried range
    requests_per_s: float
    rows_per_s: float
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    task: str
    labelled_rows: int = 0
    quality: dict[str, float | None] = Field(default_factory=dict)
    estimated_rows: int = 0
    estimated: dict[str, float | None] = Field(default_factory=dict)
    estimation_basis: str | None = None
