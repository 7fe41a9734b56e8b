"""Expectations on data: what a dataset must satisfy, declared with the dataset (or given for
one check), and the stored result of checking it.

The declaration is data (JSON or YAML), validated strictly: an unknown key, a wrong type or an
impossible bound is refused with the path of the bad key (``columns.age.mni: unknown key``).
It is checked by ``modelward.evaluation.expectations`` with pandera; nothing here reads data.

    columns:
      age:     {type: int, min: 0, max: 120, missing_max: 0.01}
      country: {allowed: [DE, FR]}
      id:      {unique: true, missing_max: 0}
    rows: {min: 1000, max: 5000000}
    distribution:
      income: {reference: {dataset: <dataset id>}, max_psi: 0.2}
      age:    {reference: training, max_ks: 0.1}   # the train split of the same parent
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from modelward.errors import InvalidInput

EXPECTATIONS_TAG = "modelward.expectations"  # MLflow dataset-input tag: the declaration as JSON
SNAPSHOT_TAG = "modelward.snapshot"  # MLflow dataset-input tag: a file of the run holding the data
OPENLINEAGE_FACET = "modelwardExpectations"  # OpenLineage dataset facet: {"expectations": {...}}
COLUMN_TYPES = ("int", "float", "number", "str", "bool", "datetime", "category")
CHECK_STATUSES = ("passed", "failed", "unchecked")
TRIGGERS = ("on_demand", "sdk", "mlflow", "openlineage")
TRAINING_REFERENCE = "training"  # distribution reference: the training split of the same parent
TRAINING_SPLITS = ("train", "training")
MAX_ALLOWED_VALUES = 10_000
MAX_DECLARATION_BYTES = 256 * 1024

Number = StrictInt | StrictFloat
Scalar = StrictStr | StrictInt | StrictFloat | StrictBool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnExpectation(_Strict):
    """What one column must hold. Every key is optional; an empty mapping only asks that the column exists."""

    type: Literal["int", "float", "number", "str", "bool", "datetime", "category"] | None = Field(
        default=None, description="the column's kind: int, float, number (int or float), str, bool, datetime, category")
    min: Number | None = Field(default=None, description="every present value >= min")
    max: Number | None = Field(default=None, description="every present value <= max")
    allowed: list[Scalar] | None = Field(default=None, min_length=1, max_length=MAX_ALLOWED_VALUES,
                                         description="every present value is one of these")
    pattern: StrictStr | None = Field(default=None, max_length=1000,
                                      description="every present value matches this regular expression (from its start)")
    unique: StrictBool = Field(default=False, description="no value appears twice")
    missing_max: Number | None = Field(default=None, ge=0, le=1,
                                       description="the share of missing values is at most this (0: none missing)")
    required: StrictBool = Field(default=True, description="the column must exist")

    @model_validator(mode="after")
    def _consistent(self) -> ColumnExpectation:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
        return self


class RowExpectation(_Strict):
    min: StrictInt | None = Field(default=None, ge=0, description="at least this many rows")
    max: StrictInt | None = Field(default=None, ge=0, description="at most this many rows")

    @model_validator(mode="after")
    def _consistent(self) -> RowExpectation:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class DatasetReference(_Strict):
    """Reference data: a logged dataset with a stored snapshot, a table file a run logged, or
    (written ``reference: training``) the training data of the dataset checked."""

    training: StrictBool = Field(default=False, description="written as 'reference: training'")
    dataset: StrictStr | None = Field(default=None, min_length=1, description="a dataset id or digest")
    run_id: StrictStr | None = Field(default=None, min_length=1)
    path: StrictStr | None = Field(default=None, min_length=1, description="a .parquet or .csv artifact of run_id")
    column: StrictStr | None = Field(default=None, min_length=1, description="the reference's column, if named differently")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetReference:
        if self.training:
            if self.dataset is not None or self.run_id is not None or self.path is not None:
                raise ValueError("'training' is a reference of its own: write 'reference: training'")
            return self
        if (self.dataset is None) == (self.run_id is None):
            raise ValueError("give either 'dataset' or 'run_id' with 'path'")
        if (self.run_id is None) != (self.path is None):
            raise ValueError("'run_id' and 'path' go together")
        return self


class DistributionExpectation(_Strict):
    """The column's distribution stays near the reference's: PSI and/or the KS statistic bounded."""

    reference: DatasetReference = Field(
        description="reference data, or 'training': the training split of the same parent (docs/data.md)")
    max_psi: Number | None = Field(default=None, gt=0, description="population stability index at most this")
    max_ks: Number | None = Field(default=None, gt=0, le=1, description="two-sample Kolmogorov-Smirnov statistic at most this")
    bins: StrictInt = Field(default=10, ge=2, le=100, description="PSI bins: quantiles of the reference")

    @field_validator("reference", mode="before")
    @classmethod
    def _named_reference(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value != TRAINING_REFERENCE:
                raise ValueError(f"a reference is '{TRAINING_REFERENCE}' or a mapping with 'dataset', or 'run_id' and "
                                 f"'path'; got {value!r}")
            return {"training": True}
        return value

    @field_serializer("reference")
    def _reference_as_written(self, reference: DatasetReference) -> Any:
        if reference.training:
            return TRAINING_REFERENCE
        return reference.model_dump(mode="json", exclude_defaults=True)

    @model_validator(mode="after")
    def _a_bound(self) -> DistributionExpectation:
        if self.max_psi is None and self.max_ks is None:
            raise ValueError("give 'max_psi', 'max_ks' or both")
        return self


class Expectations(_Strict):
    columns: dict[str, ColumnExpectation] = Field(default_factory=dict)
    rows: RowExpectation | None = None
    distribution: dict[str, DistributionExpectation] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _something(self) -> Expectations:
        if not self.columns and self.rows is None and not self.distribution:
            raise ValueError("expectations need at least one of 'columns', 'rows' or 'distribution'")
        if any(not name.strip() for name in [*self.columns, *self.distribution]):
            raise ValueError("a column name must not be empty")
        return self

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)


def parse_expectations(data: Any) -> Expectations:
    """A declaration (a mapping, or JSON/YAML text), or InvalidInput naming each bad key."""
    if isinstance(data, str | bytes):
        data = _load_text(data)
    if isinstance(data, Expectations):
        return data
    if not isinstance(data, dict):
        raise InvalidInput("invalid expectations: must be a mapping with 'columns', 'rows' or 'distribution'")
    try:
        return Expectations.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput("invalid expectations: " + _problems(exc, data)) from None


def _load_text(text: str | bytes) -> Any:
    if len(text) > MAX_DECLARATION_BYTES:
        raise InvalidInput(f"invalid expectations: larger than {MAX_DECLARATION_BYTES} bytes")
    try:
        return json.loads(text)
    except ValueError:
        pass
    import yaml  # here, not at import: only a declaration written as YAML needs it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"invalid expectations: neither JSON nor YAML ({exc})") from None


def _problems(exc: ValidationError, data: Any) -> str:
    """'path: message' per bad key; the members of a union refusing one value become one line."""
    by_path: dict[str, list[str]] = {}
    for error in exc.errors():
        path = ".".join(str(part) for part in _data_path(tuple(error["loc"]), data)) or "expectations"
        message = "unknown key" if error["type"] == "extra_forbidden" else str(error["msg"]).removeprefix("Value error, ")
        if message not in by_path.setdefault(path, []):
            by_path[path].append(message)
    return "; ".join(f"{path}: {' or '.join(messages)}" for path, messages in by_path.items())


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Pydantic's error location reduced to keys of the document: union members it names ('int',
    'float') are dropped; a key the document lacks (a required one) ends the path."""
    path: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        else:
            if isinstance(node, dict):
                path.append(part)
            break
    return tuple(path)


class ExpectationResult(BaseModel):
    """One expectation on the data, as checked: ``column`` is None for the row count."""

    column: str | None
    check: str = Field(description="present, type, min, max, allowed, pattern, unique, missing_max, rows_min, "
                                   "rows_max, psi, ks")
    expected: Any = None
    passed: bool
    failure_count: int = Field(0, description="rows that break it (1 for a whole-column or whole-table check)")
    failure_share: float = Field(0.0, description="failure_count / rows")
    examples: list[str] = Field(default_factory=list, description="a few failing values, as text")
    observed: Any = Field(default=None, description="the measured value: missing share, row count, PSI, KS, dtype")


class CheckResult(BaseModel):
    status: Literal["passed", "failed", "unchecked"]
    passed: bool | None
    reason: str | None = Field(default=None, description="why the data could not be checked")
    rows: int | None = None
    columns: int | None = None
    expectations: list[ExpectationResult] = Field(default_factory=list)
    library: dict[str, str] = Field(default_factory=dict, description="{'name': 'pandera', 'version': ...}")
    duration_seconds: float | None = None

    def failed(self) -> list[ExpectationResult]:
        return [item for item in self.expectations if not item.passed]


class DataCheck(BaseModel):
    """A stored check of a dataset: never updated, the dataset's history is every check appended."""

    id: int
    dataset_id: str
    dataset_digest: str | None
    status: Literal["passed", "failed", "unchecked"]
    passed: bool | None
    trigger: str
    declaration: dict[str, Any]
    result: CheckResult
    checked_by: str | None
    checked_at: datetime


def summary(check: DataCheck) -> dict[str, Any]:
    """What the dataset itself carries of its latest check."""
    return {"check_id": check.id, "status": check.status, "checked_at": check.checked_at.isoformat(),
            "failed": [f"{item.column}.{item.check}" if item.column else item.check for item in check.result.failed()]}
