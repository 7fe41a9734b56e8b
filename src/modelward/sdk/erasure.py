"""``client.erasure``: deletion requests through lineage.

``find`` lists what a data subject's key (``{column: value}``, every column must match) or a
dataset reaches: snapshots, runs, model versions, deployments and prediction-log parts.
``erase`` redacts them (``dry_run=True`` only lists), the server audits it and flags the
versions; ``decide`` records the team's choice for a flagged version. Only an admin or the
compliance role may find or erase."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelward.domain.datasets import Dataset
from modelward.domain.erasure import (
    ErasureFindings,
    ErasureFlag,
    ErasureRecord,
    ErasureRequest,
    ErasureResult,
    KeyValue,
)
from modelward.sdk._http import HttpSession


def _request(key: dict[str, KeyValue] | None, dataset: Dataset | str | None, endpoints: list[str] | None) -> dict[str, Any]:
    request = ErasureRequest(key=key, dataset=dataset.id if isinstance(dataset, Dataset) else dataset,
                             endpoints=list(endpoints) if endpoints is not None else None)
    request.check()  # the same message here as from the server
    return request.model_dump(mode="json", exclude_none=True)


class Erasure:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def find(self, key: dict[str, KeyValue] | None = None, *, dataset: Dataset | str | None = None,
             endpoints: list[str] | None = None) -> ErasureFindings:
        body = _request(key, dataset, endpoints)
        return ErasureFindings.model_validate(self._http.call("POST", "/api/v1/erasure/find", json=body))

    def erase(self, key: dict[str, KeyValue] | None = None, *, reason: str, dataset: Dataset | str | None = None,
              endpoints: list[str] | None = None, dry_run: bool = False) -> ErasureResult:
        body = {**_request(key, dataset, endpoints), "reason": reason, "dry_run": dry_run}
        return ErasureResult.model_validate(self._http.call("POST", "/api/v1/erasure", json=body))

    def requests(self, *, limit: int = 100) -> list[ErasureRecord]:
        """Past deletion requests, newest first (from the audit trail)."""
        found = self._http.call("GET", "/api/v1/erasure", params={"limit": limit})["requests"]
        return [ErasureRecord.model_validate(item) for item in found]

    def flags(self, model: str, version: int) -> list[ErasureFlag]:
        path = f"/api/v1/erasure/flags/{quote(model, safe='')}/{int(version)}"
        return [ErasureFlag.model_validate(item) for item in self._http.call("GET", path)["flags"]]

    def decide(self, model: str, version: int, decision: str, *, reason: str,
               request_id: str | None = None) -> ErasureFlag:
        """``decision``: 'retrain' or 'keep'."""
        path = f"/api/v1/erasure/flags/{quote(model, safe='')}/{int(version)}/decision"
        body: dict[str, Any] = {"decision": decision, "reason": reason}
        if request_id is not None:
            body["request_id"] = request_id
        return ErasureFlag.model_validate(self._http.call("POST", path, json=body))
