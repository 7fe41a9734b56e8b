"""Scans for personal data, as stored: what was scanned, what was found, by whom and when.

The scan itself is ``modelward.evaluation.personal_data``; ``result`` is its ScanResult as JSON
(findings per column with masked examples only, never a raw value).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

SubjectType = Literal["dataset", "endpoint"]


class PersonalDataScan(BaseModel):
    id: int
    subject_type: SubjectType
    subject_id: str  # a dataset's id, or an endpoint's name (its prediction log)
    data_digest: str | None = None
    columns_found: int
    kinds: list[str]
    result: dict[str, Any]
    scanned_by: str | None = None
    scanned_at: datetime

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.result.get("findings", []))

    def columns(self) -> list[str]:
        return list(self.result.get("summary", {}).get("columns_with_personal_data", []))
