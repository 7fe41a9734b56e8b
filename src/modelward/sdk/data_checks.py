"""``client.data_checks``: check a logged dataset against expectations on the server, and read its checks.

The server reads the dataset's stored snapshot (verified against its digest); a declaration is a
mapping, an ``Expectations``, or JSON/YAML text (docs/data.md), checked here before it is sent."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelward.domain.datasets import Dataset
from modelward.domain.expectations import DataCheck, Expectations, parse_expectations
from modelward.errors import InvalidInput
from modelward.sdk._http import HttpSession


def _path(dataset: Dataset | str) -> str:
    key = dataset.id if isinstance(dataset, Dataset) else dataset
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput("dataset must be a Dataset, a dataset id or a digest")
    return f"/api/v1/datasets/{quote(key.strip(), safe='')}/checks"


def declaration(expectations: dict[str, Any] | Expectations | str) -> dict[str, Any]:
    """The declaration as it is sent: validated, defaults left out."""
    return parse_expectations(expectations).document()


class DataChecks:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def check(self, dataset: Dataset | str, expectations: dict[str, Any] | Expectations | str | None = None) -> DataCheck:
        """Check the dataset (a Dataset, an id or a digest) against ``expectations``, or the ones
        attached to it when it was logged; the result is stored with the dataset and returned."""
        body = {"expectations": declaration(expectations) if expectations is not None else None}
        return DataCheck.model_validate(self._http.call("POST", _path(dataset), json=body))

    def list(self, dataset: Dataset | str, *, limit: int = 100) -> list[DataCheck]:
        """Every stored check of the dataset, newest first."""
        data = self._http.call("GET", _path(dataset), params={"limit": limit})
        return [DataCheck.model_validate(item) for item in data["checks"]]

    def latest(self, dataset: Dataset | str) -> DataCheck | None:
        found = self.list(dataset, limit=1)
        return found[0] if found else None
