"""What a personal-data scan returns: findings per column and a summary, all JSON-able."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal[
    "person_name", "email", "phone", "national_id", "bank_account", "card_number",
    "address", "date_of_birth", "ip_address",
]
Evidence = Literal["name", "type", "content"]
Scheme = Literal["us_ssn", "uk_nino", "de_steuer_id", "fr_nir", "iban"]


class Finding(BaseModel):
    """One kind of personal data found in one column.

    ``evidence`` lists what pointed at it: the column's name, its type (dates) or the content
    of sampled values. ``matched_share`` is the share of the sampled non-null values that the
    content detector of ``kind`` accepted (None when the kind has no content detector, or the
    column's type got no content check). ``examples`` are masked, never raw values.
    """

    model_config = ConfigDict(frozen=True)

    column: str
    kind: Kind
    scheme: Scheme | None = None
    evidence: list[Evidence]
    confidence: float = Field(ge=0.0, le=1.0)
    matched_share: float | None = None
    sample_size: int
    examples: list[str] = []


class ScanSummary(BaseModel):
    columns_with_personal_data: list[str]
    kinds: list[Kind]
    columns_by_kind: dict[str, list[str]]


class ScanResult(BaseModel):
    rows: int
    columns: int
    sample_rows: int
    locales: list[str]
    seed: int
    findings: list[Finding]
    summary: ScanSummary

    def for_column(self, column: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.column == column]

    def kinds_of(self, column: str) -> set[str]:
        return {finding.kind for finding in self.for_column(column)}


def summarise(findings: list[Finding]) -> ScanSummary:
    by_kind: dict[str, list[str]] = {}
    for finding in findings:
        columns = by_kind.setdefault(finding.kind, [])
        if finding.column not in columns:
            columns.append(finding.column)
    columns = list(dict.fromkeys(finding.column for finding in findings))
    return ScanSummary(
        columns_with_personal_data=columns,
        kinds=sorted(by_kind),  # type: ignore[arg-type]
        columns_by_kind={kind: by_kind[kind] for kind in sorted(by_kind)},
    )
