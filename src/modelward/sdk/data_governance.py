"""``client.data_governance``: a dataset's purpose, consent and retention, which decide whether a
model trained on it may be approved (docs/data.md#purpose-consent-and-retention).

Setting a declaration needs a role the global policy names in ``data.governance_roles``
(compliance by default) or admin; the server refuses others with PermissionDenied."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from modelward.domain.data_governance import DatasetGovernance
from modelward.domain.datasets import Dataset
from modelward.errors import InvalidInput
from modelward.sdk._http import HttpSession


def _path(dataset: Dataset | str) -> str:
    key = dataset.id if isinstance(dataset, Dataset) else dataset
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput("a dataset (id or digest) must be given")
    return f"/api/v1/datasets/{quote(key.strip(), safe='')}/governance"


def _body(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, date) else value for key, value in fields.items()}


class DataGovernanceClient:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def get(self, dataset: Dataset | str) -> DatasetGovernance:
        """The dataset's declaration (``governance`` is None when none was set)."""
        return DatasetGovernance.model_validate(self._http.call("GET", _path(dataset)))

    def set(self, dataset: Dataset | str, **declaration: Any) -> DatasetGovernance:
        """Replace the declaration: ``purposes``, ``excluded_purposes``, ``consent``, ``legal_basis``,
        ``retention_until`` (a date or YYYY-MM-DD), ``notes``."""
        return DatasetGovernance.model_validate(self._http.call("PUT", _path(dataset), json=_body(declaration)))

    def update(self, dataset: Dataset | str, **changes: Any) -> DatasetGovernance:
        """Change only the named fields of the declaration, keeping the others."""
        return DatasetGovernance.model_validate(self._http.call("PATCH", _path(dataset), json=_body(changes)))
