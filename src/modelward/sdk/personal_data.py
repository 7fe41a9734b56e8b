"""``client.personal_data``: scan logged datasets and prediction logs for personal data on the
server, read the scans, and see what a version's training data holds.

The server scans only data it stores (a dataset's snapshot, an endpoint's logged inputs), locally,
and keeps masked examples only."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from modelward.domain.datasets import Dataset
from modelward.domain.personal_data import PersonalDataScan
from modelward.errors import InvalidInput
from modelward.sdk._http import HttpSession


def _key(value: Dataset | str, what: str) -> str:
    key = value.id if isinstance(value, Dataset) else value
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"{what} must be given")
    return quote(key.strip(), safe="")


def _body(locales: list[str] | None, sample_rows: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"sample_rows": sample_rows, **{k: v for k, v in extra.items() if v is not None}}
    if locales is not None:
        body["locales"] = list(locales)
    return body


class PersonalData:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def scan_dataset(self, dataset: Dataset | str, *, locales: list[str] | None = None,
                     sample_rows: int = 10_000) -> PersonalDataScan:
        """Scan the dataset's stored snapshot (a Dataset, an id or a digest); the findings are kept
        with the dataset and returned."""
        path = f"/api/v1/datasets/{_key(dataset, 'a dataset (id or digest)')}/personal-data"
        return PersonalDataScan.model_validate(self._http.call("POST", path, json=_body(locales, sample_rows)))

    def dataset_scans(self, dataset: Dataset | str, *, limit: int = 100) -> list[PersonalDataScan]:
        path = f"/api/v1/datasets/{_key(dataset, 'a dataset (id or digest)')}/personal-data"
        return [PersonalDataScan.model_validate(s) for s in self._http.call("GET", path, params={"limit": limit})["scans"]]

    def scan_prediction_log(self, endpoint: str, *, since: datetime | None = None, until: datetime | None = None,
                            locales: list[str] | None = None, sample_rows: int = 10_000) -> PersonalDataScan:
        """Scan the inputs the endpoint logged (its newest ``sample_rows`` requests in the window)."""
        path = f"/api/v1/deployments/{_key(endpoint, 'an endpoint')}/personal-data"
        body = _body(locales, sample_rows, since=since.isoformat() if since else None,
                     until=until.isoformat() if until else None)
        return PersonalDataScan.model_validate(self._http.call("POST", path, json=body))

    def prediction_log_scans(self, endpoint: str, *, limit: int = 100) -> list[PersonalDataScan]:
        path = f"/api/v1/deployments/{_key(endpoint, 'an endpoint')}/personal-data"
        return [PersonalDataScan.model_validate(s) for s in self._http.call("GET", path, params={"limit": limit})["scans"]]

    def of_version(self, model: str, version: int) -> list[dict[str, Any]]:
        """The latest scan of each dataset the version's source run read."""
        path = f"/api/v1/models/{_key(model, 'a model name')}/versions/{int(version)}/personal-data"
        return list(self._http.call("GET", path)["datasets"])
