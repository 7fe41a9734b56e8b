"""``client.evidence``: everything that made an answer, as one ``Evidence`` document (or its PDF)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelward.domain.evidence import Evidence
from modelward.errors import InvalidInput
from modelward.sdk._http import HttpSession

BASE = "/api/v1/evidence"


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def _iso(moment: datetime | str, what: str) -> str:
    if isinstance(moment, datetime):
        return moment.isoformat()
    if isinstance(moment, str) and moment.strip():
        return moment
    raise InvalidInput(f"{what} must be a datetime or ISO 8601 text, got {moment!r}")


class EvidenceClient:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def for_request(self, request_id: str, mode: str = "live", explain: bool = False) -> Evidence:
        """The evidence of the answer logged for ``request_id`` (``mode='shadow'``: its shadow copy;
        ``explain``: with the answer's local explanation, which takes longer)."""
        params: dict[str, Any] = {"mode": mode, "explain": "true" if explain else "false"}
        data = self._http.call("GET", f"{BASE}/requests/{_segment(request_id, 'request_id')}", params=params)
        return Evidence.model_validate(data)

    def for_moment(self, endpoint: str, at: datetime | str) -> Evidence:
        """What ``endpoint`` served at ``at``: its state then and the live version(s)."""
        data = self._http.call("GET", f"{BASE}/endpoints/{_segment(endpoint, 'endpoint')}",
                               params={"at": _iso(at, "at")})
        return Evidence.model_validate(data)

    def for_version(self, model: str, version: int, at: datetime | str | None = None) -> Evidence:
        """A model version's evidence up to ``at`` (default now)."""
        params = {} if at is None else {"at": _iso(at, "at")}
        data = self._http.call("GET", f"{BASE}/models/{_segment(model, 'model')}/versions/{int(version)}",
                               params=params)
        return Evidence.model_validate(data)

    def pdf(self, request_id: str, path: str | Path | None = None, mode: str = "live") -> bytes:
        """A request's evidence as a PDF for an auditor; also written to ``path`` when given."""
        response = self._http._send("GET", f"{BASE}/requests/{_segment(request_id, 'request_id')}",
                                    params={"mode": mode, "format": "pdf"})
        if path is not None:
            Path(path).write_bytes(response.content)
        return response.content
