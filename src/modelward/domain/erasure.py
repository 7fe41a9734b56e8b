"""Deletion requests: what a data subject's key (or a dataset) reaches, and what erasing it did.

A request names the subject by a key, ``{column: value}`` (every column must match), and may
narrow the search to one dataset and to some endpoints; a request with a dataset and no key
erases that dataset's stored rows whole. The key's values are never stored or reported: only its
columns and ``key_hash``, a SHA-256 of the key in one spelling.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelward.errors import InvalidInput

MAX_KEY_COLUMNS = 8
MAX_VALUE_CHARS = 1024
MAX_ENDPOINTS = 100
MAX_REASON_CHARS = 2000
DECISIONS = ("retrain", "keep")
KeyValue = str | int | float | bool


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: dict[str, KeyValue] | None = Field(
        default=None, description="the data subject: {column: value}; a row matches when every column does")
    dataset: str | None = Field(default=None, description="only this dataset (an id or a digest)")
    endpoints: list[str] | None = Field(default=None, description="only these endpoints' prediction logs "
                                        "(default: every endpoint's)")

    def check(self) -> None:
        if self.key is None and self.dataset is None:
            raise InvalidInput("a deletion request needs a 'key' ({column: value}) or a 'dataset'")
        if self.key is not None:
            if not self.key:
                raise InvalidInput("'key' must name at least one column")
            if len(self.key) > MAX_KEY_COLUMNS:
                raise InvalidInput(f"'key' names {len(self.key)} columns; the limit is {MAX_KEY_COLUMNS}")
            for column, value in self.key.items():
                if not column.strip():
                    raise InvalidInput("'key' has an empty column name")
                if isinstance(value, float) and not math.isfinite(value):
                    raise InvalidInput(f"key column '{column}': the value must be finite")
                if len(str(value)) > MAX_VALUE_CHARS or not str(value).strip():
                    raise InvalidInput(f"key column '{column}': the value must be 1 to {MAX_VALUE_CHARS} characters")
        if self.dataset is not None and not self.dataset.strip():
            raise InvalidInput("'dataset' must be a dataset id or digest")
        if self.endpoints is not None and (len(self.endpoints) > MAX_ENDPOINTS
                                           or any(not e.strip() for e in self.endpoints)):
            raise InvalidInput(f"'endpoints' must be 1 to {MAX_ENDPOINTS} endpoint names")

    def key_columns(self) -> list[str]:
        return sorted(self.key) if self.key else []

    def key_hash(self) -> str | None:
        return key_hash(self.key) if self.key else None


def key_hash(key: dict[str, KeyValue]) -> str:
    """SHA-256 of the key as sorted JSON with its values as text: one key, one hash, whichever
    client sent it (``{"id": 7}`` and ``{"id": "7"}`` are one subject)."""
    text = json.dumps({column: str(value) for column, value in key.items()}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def same_value(cell: Any, wanted: KeyValue) -> bool:
    """Does a stored value equal the key's: numbers by value (7, 7.0 and "7"), anything else by its text."""
    if cell is None or isinstance(cell, float) and math.isnan(cell):
        return False
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        try:
            return float(cell) == float(wanted)
        except (TypeError, ValueError, OverflowError):
            return False
    return str(cell) == str(wanted)


def input_rows(inputs: Any) -> Iterator[dict[str, Any]] | None:
    """The rows of logged inputs as {column: value}: a list of records, one record, or columns of
    equal length; None for a shape without column names (a list of lists, a scalar)."""
    if isinstance(inputs, list):
        if not all(isinstance(row, dict) for row in inputs):
            return None
        return iter(inputs)
    if isinstance(inputs, dict):
        values = list(inputs.values())
        if values and all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1:
            columns = list(inputs)
            return (dict(zip(columns, row)) for row in zip(*values))
        return iter([inputs])
    return None


def record_matches(inputs: Any, key: dict[str, KeyValue]) -> bool | None:
    """True if a row of the logged inputs matches every key column; None if the inputs have no columns."""
    rows = input_rows(inputs)
    if rows is None:
        return None
    return any(all(column in row and same_value(row[column], value) for column, value in key.items())
               for row in rows)


# -- what a request reaches -------------------------------------------------------------------


class DatasetMatch(BaseModel):
    id: str
    name: str
    digest: str | None = None
    snapshot_digest: str | None = None
    snapshot_run_id: str | None = None
    rows: int = Field(description="rows in the stored snapshot")
    matching_rows: int


class Unsearched(BaseModel):
    id: str
    name: str
    reason: str


class RunMatch(BaseModel):
    run_id: str
    relation: Literal["read", "wrote"]
    datasets: list[str]


class VersionMatch(BaseModel):
    model: str
    version: int
    state: str
    run_id: str | None = None
    datasets: list[str] = Field(description="the matching datasets it was trained on or descends from")
    frozen: bool = Field(description="approved or released: its evidence stays as it was; the flag tells reviewers")


class DeploymentMatch(BaseModel):
    name: str
    environment: str
    model: str
    versions: list[int] = Field(description="the affected versions it serves or served")
    serving_now: list[int]
    active: bool


class LogPartMatch(BaseModel):
    endpoint: str
    part: str
    records: int
    matching_records: int


class ErasureFindings(BaseModel):
    key_columns: list[str]
    key_hash: str | None = None
    dataset: str | None = None
    datasets: list[DatasetMatch] = Field(default_factory=list)
    unsearched_datasets: list[Unsearched] = Field(default_factory=list)
    runs: list[RunMatch] = Field(default_factory=list)
    versions: list[VersionMatch] = Field(default_factory=list)
    deployments: list[DeploymentMatch] = Field(default_factory=list)
    log_parts: list[LogPartMatch] = Field(default_factory=list)
    log_parts_searched: int = 0
    unsearched_log_records: int = Field(default=0, description="logged records whose inputs have no column names")
    truncated: bool = Field(default=False, description="more datasets than one request searches: narrow it")


class RedactedSnapshot(BaseModel):
    dataset_id: str
    rows_removed: int
    old_digest: str
    new_digest: str
    old_blob_removed: bool
    old_blob_kept_because: str | None = None


class RedactedPart(BaseModel):
    endpoint: str
    part: str
    records_removed: int
    records_kept: int


class ErasureResult(BaseModel):
    request_id: str | None = Field(default=None, description="None for a dry run")
    dry_run: bool
    reason: str
    at: datetime
    by: str
    findings: ErasureFindings
    snapshots: list[RedactedSnapshot] = Field(default_factory=list)
    log_parts: list[RedactedPart] = Field(default_factory=list)
    flagged_versions: list[str] = Field(default_factory=list, description="'model/version'")


class ErasureDecision(BaseModel):
    decision: Literal["retrain", "keep"]
    reason: str
    by: str
    at: datetime


class ErasureFlag(BaseModel):
    """A version reached by a deletion request: reviewers see it until the team decides."""

    request_id: str
    flagged_at: datetime
    flagged_by: str
    reason: str | None = None
    datasets: list[str] = Field(default_factory=list)
    decision: ErasureDecision | None = None


class ErasureRecord(BaseModel):
    """A past request, as its audit event tells it."""

    request_id: str
    at: datetime
    by: str
    reason: str | None = None
    key_columns: list[str]
    key_hash: str | None = None
    dataset: str | None = None
    snapshots: list[dict[str, Any]] = Field(default_factory=list)
    log_parts: list[dict[str, Any]] = Field(default_factory=list)
    flagged_versions: list[str] = Field(default_factory=list)
    audit_seq: int


def check_reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        raise InvalidInput(f"{what} needs a reason")
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidInput(f"a reason is limited to {MAX_REASON_CHARS} characters")
    return reason.strip()
