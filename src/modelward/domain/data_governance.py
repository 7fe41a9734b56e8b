"""Purpose, consent and retention: governed properties of a dataset, and the rule they impose on
the approval of a model version trained on it.

A dataset's declaration (``DataGovernance``) says what its data may be used for (``purposes``;
none declared: any use), what it must never be used for (``excluded_purposes``), the state of
the data subjects' consent, the GDPR Art. 6(1) legal basis, and the last day it may be kept and
used (``retention_until``). The policy's ``data:`` section (``DataPolicy``) says what a model is
used for (``use``) and who may set declarations (``governance_roles``, read from the global
policy). ``problems`` is the rule: what stands between a version and its approval, one line per
dataset and property. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelward.domain.actors import Role
from modelward.domain.lineage import GOVERNED_PROPERTY

GOVERNANCE_PROPERTY = GOVERNED_PROPERTY  # the dataset artifact's property holding the declaration
PURPOSE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
Purpose = Annotated[str, Field(pattern=PURPOSE_PATTERN, description="a use, e.g. credit_scoring")]
Consent = Literal["given", "withdrawn", "not_required", "unknown"]
CONSENT_STATES = ("given", "withdrawn", "not_required", "unknown")
# GDPR Art. 6(1)(a)-(f): the lawful bases for processing personal data.
LegalBasis = Literal["consent", "contract", "legal_obligation", "vital_interests", "public_task",
                     "legitimate_interests"]
LEGAL_BASES = ("consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests")
DEFAULT_GOVERNANCE_ROLES = (Role.COMPLIANCE,)
MAX_NOTES_CHARS = 5000
MAX_PURPOSES = 100


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataGovernance(_Strict):
    """What a dataset may be used for, on which basis, and until when."""

    purposes: list[Purpose] = Field(default_factory=list, max_length=MAX_PURPOSES,
                                    description="allowed uses; empty: the dataset restricts no use")
    excluded_purposes: list[Purpose] = Field(default_factory=list, max_length=MAX_PURPOSES)
    consent: Consent = "unknown"
    legal_basis: LegalBasis | None = Field(default=None, description="GDPR Art. 6(1)")
    retention_until: date | None = Field(default=None, description="the last day the data may be kept and used")
    notes: str | None = Field(default=None, max_length=MAX_NOTES_CHARS)

    @field_validator("purposes", "excluded_purposes")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed twice")
        return values

    @field_validator("retention_until", mode="before")
    @classmethod
    def _a_date_not_a_time(cls, value: object) -> object:
        if isinstance(value, datetime):
            raise ValueError("give a date (YYYY-MM-DD), not a date and time")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DataGovernance:
        both = sorted(set(self.purposes) & set(self.excluded_purposes))
        if both:
            raise ValueError(f"{', '.join(both)} is both in purposes and in excluded_purposes")
        if self.legal_basis == "consent" and self.consent == "not_required":
            raise ValueError("legal_basis 'consent' contradicts consent 'not_required'")
        return self

    @property
    def restricts_use(self) -> bool:
        return bool(self.purposes or self.excluded_purposes)


class DataGovernanceRecord(DataGovernance):
    """A declaration as stored on the dataset: who set it and when."""

    set_by: str
    set_at: datetime


class DatasetGovernance(BaseModel):
    """A dataset and its declaration (None: none was set, so the dataset restricts no use)."""

    dataset_id: str
    dataset: str
    governance: DataGovernanceRecord | None = None


class DataPolicy(_Strict):
    """The policy's ``data:`` section. ``use``: what the model is used for, which the purposes of
    its training data must allow. ``governance_roles``: who may set dataset declarations (admins
    always); datasets belong to no model, so only the global (or default) policy's list counts."""

    use: Purpose | None = None
    governance_roles: list[Role] = Field(default_factory=lambda: list(DEFAULT_GOVERNANCE_ROLES), min_length=1)


@dataclass(frozen=True)
class TrainingDataset:
    """A dataset a version's source run read (or an ancestor of one: the dataset it was split from)."""

    id: str
    name: str
    declaration: DataGovernance | None
    via: str | None = None  # the name of the dataset read, when this one is its ancestor


def _named(dataset: TrainingDataset) -> str:
    where = f" (the dataset '{dataset.via}' was split from)" if dataset.via else ""
    return f"training data: dataset '{dataset.name}' ({dataset.id}){where}"


def problems(use: str | None, datasets: list[TrainingDataset], today: date) -> list[str]:
    """Why the training data does not allow the approval: one line per dataset and property."""
    found: list[str] = []
    for dataset in datasets:
        declared = dataset.declaration
        if declared is None:
            continue
        name = _named(dataset)
        if declared.restricts_use and use is None:
            found.append(f"{name}: declares purposes/excluded_purposes, but the model's policy declares no "
                         "data.use to check them against")
        elif use is not None and use in declared.excluded_purposes:
            found.append(f"{name}: excluded_purposes includes '{use}', the model's use")
        elif use is not None and declared.purposes and use not in declared.purposes:
            found.append(f"{name}: purposes ({', '.join(declared.purposes)}) do not include '{use}', the model's use")
        if declared.retention_until is not None and declared.retention_until < today:
            found.append(f"{name}: retention_until {declared.retention_until.isoformat()} has passed")
        if declared.consent == "withdrawn":
            found.append(f"{name}: consent is withdrawn")
    return found


__all__ = [
    "CONSENT_STATES",
    "DEFAULT_GOVERNANCE_ROLES",
    "GOVERNANCE_PROPERTY",
    "LEGAL_BASES",
    "DataGovernance",
    "DataGovernanceRecord",
    "DataPolicy",
    "DatasetGovernance",
    "TrainingDataset",
    "problems",
]
