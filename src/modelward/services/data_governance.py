"""Purpose, consent and retention of datasets: set and read a dataset's declaration, and the
approval rule it imposes on the versions trained on it.

The declaration is the dataset artifact's property ``data_governance`` (with ``set_by`` and
``set_at``); every change writes a ``dataset.governance_set`` audit event holding the declaration
before and after, so the audit chain is its history. Who may set it: the roles the global policy
names in ``data.governance_roles`` (else the default policy's; else compliance), and admins.

``refusals`` is what ``services.governance`` adds to a version's missing items and refuses
its approval on, for every door (REST, SDK, CLI, UI, MLflow API): a dataset its source run read,
or the dataset that one was split from, whose purposes do not allow the policy's ``data.use``,
whose retention has passed, or whose consent was withdrawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError

from modelward.domain.actors import Actor, Role
from modelward.domain.data_governance import (
    DEFAULT_GOVERNANCE_ROLES,
    GOVERNANCE_PROPERTY,
    DataGovernance,
    DataGovernanceRecord,
    DatasetGovernance,
    TrainingDataset,
    problems,
)
from modelward.domain.lineage import LineageArtifact
from modelward.domain.policy import Policy, parse_policy_yaml
from modelward.errors import InvalidInput, NotFound, PermissionDenied
from modelward.services import audit, data_checks
from modelward.services.backend import Backend
from modelward.store import governance as policy_store
from modelward.store import datasets as dataset_store
from modelward.store import lineage as lineage_store

MAX_ANCESTORS = 10  # splits of splits: how far up ``parent_id`` the rule looks


def _today() -> date:
    return datetime.now(UTC).date()


# -- the declaration ---------------------------------------------------------------------------------


def parse(document: Any) -> DataGovernance:
    """A declaration from a mapping, or InvalidInput naming each bad field."""
    if not isinstance(document, Mapping):
        raise InvalidInput("a data governance declaration must be a mapping of purposes, excluded_purposes, "
                           "consent, legal_basis, retention_until, notes")
    try:
        return DataGovernance.model_validate(dict(document))
    except ValidationError as exc:
        raise InvalidInput("invalid data governance: " + "; ".join(_problem(e) for e in exc.errors())) from None


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "declaration"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "string_pattern_mismatch":
        message = f"{error['input']!r} is not a purpose name (lower-case letters, digits and _, e.g. credit_scoring)"
    elif error["loc"][:1] == ("retention_until",) and error["type"].startswith("date"):
        message = f"{error['input']!r} is not a date: give YYYY-MM-DD"
    return f"{where}: {message}"


def _record_of(properties: dict[str, Any]) -> DataGovernanceRecord | None:
    stored = properties.get(GOVERNANCE_PROPERTY)
    return DataGovernanceRecord.model_validate(stored) if stored else None


def get(backend: Backend, dataset: str) -> DatasetGovernance:
    """The dataset (by id or digest) with its declaration (None when none was set)."""
    found = data_checks.resolve(backend, dataset)
    with backend.read() as session:
        record = _record_of(lineage_store.get_artifact(session, found.id).properties)
    return DatasetGovernance(dataset_id=found.id, dataset=found.name, governance=record)


def setter_roles(session: Any) -> list[Role]:
    """Who may set dataset governance (admins aside): the global policy's data.governance_roles,
    else the default policy's, else the built-in default."""
    from modelward.services.policies import DEFAULT, GLOBAL

    for scope in (GLOBAL, DEFAULT):
        row = policy_store.active_policy_row(session, scope)
        if row is None:
            continue
        section = parse_policy_yaml(row.yaml).data
        if "governance_roles" in section.model_fields_set:
            return list(section.governance_roles)
    return list(DEFAULT_GOVERNANCE_ROLES)


def _require_setter(session: Any, actor: Actor, dataset: str) -> None:
    roles = setter_roles(session)
    if any(actor.has(role) for role in roles):
        return
    named = ", ".join(role.value for role in roles)
    held = ", ".join(sorted(role.value for role in actor.roles)) or "no role"
    raise PermissionDenied(f"setting the purpose, consent and retention of dataset '{dataset}' needs the role "
                           f"{named} (the global policy's data.governance_roles) or admin; '{actor.name}' holds {held}")


def set_governance(backend: Backend, actor: Actor, dataset: str, document: Mapping[str, Any], *,
                   merge: bool = False) -> DatasetGovernance:
    """Set the dataset's declaration: ``document`` replaces it, or with ``merge`` changes only the
    fields it names. Audited with the declaration before and after."""
    if not isinstance(document, Mapping):
        parse(document)  # raises the one message for a non-mapping
    found = data_checks.resolve(backend, dataset)
    with backend.write() as session:
        _require_setter(session, actor, found.name)
        artifact = lineage_store.update_artifact_properties(session, found.id, {})  # read under the row lock
        before = _record_of(artifact.properties)
        base = before.model_dump(mode="json", exclude={"set_by", "set_at"}) if merge and before else {}
        declaration = parse({**base, **document})
        record = DataGovernanceRecord(**declaration.model_dump(), set_by=actor.name, set_at=datetime.now(UTC))
        lineage_store.update_artifact_properties(session, found.id, {GOVERNANCE_PROPERTY: record.model_dump(mode="json")})
        audit.record(session, actor, "dataset.governance_set", subject_type="dataset", subject_id=found.id,
                     details={"dataset": found.name, "digest": found.digest,
                              "before": before.model_dump(mode="json") if before else None,
                              "after": record.model_dump(mode="json")})
    return DatasetGovernance(dataset_id=found.id, dataset=found.name, governance=record)


# -- what a version was trained on --------------------------------------------------------------------


def _declared(artifact: LineageArtifact, via: str | None) -> TrainingDataset:
    record = _record_of(artifact.properties)
    return TrainingDataset(id=artifact.id, name=artifact.name, via=via,
                           declaration=DataGovernance(**record.model_dump(exclude={"set_by", "set_at"}))
                           if record else None)


def _with_ancestors(session: Any, artifact: LineageArtifact) -> list[TrainingDataset]:
    """The dataset read, then the dataset it was split from, and so on: a split inherits its
    parent's restrictions (the parent's declaration governs the rows the split took)."""
    found = [_declared(artifact, None)]
    seen = {artifact.id}
    parent_id = artifact.properties.get("parent_id")
    while parent_id and parent_id not in seen and len(found) <= MAX_ANCESTORS:
        seen.add(parent_id)
        try:
            parent = lineage_store.get_artifact(session, parent_id)
        except NotFound:  # the parent was deleted: nothing of it left to govern
            break
        found.append(_declared(parent, artifact.name))
        parent_id = parent.properties.get("parent_id")
    return found


def training_data(session: Any, name: str, version: int) -> list[TrainingDataset]:
    """Every dataset the version's source run read, with the datasets they were split from."""
    read = dataset_store.trained_on(session, name, version)
    found: dict[str, TrainingDataset] = {}
    for artifact in read:
        for item in _with_ancestors(session, artifact):
            found.setdefault(item.id, item)
    return list(found.values())


def refusals(policy: Policy, trained_on: list[TrainingDataset], *, today: date | None = None) -> list[str]:
    """What the training data's declarations refuse about approving a version (empty: nothing)."""
    return problems(policy.data.use, trained_on, today or _today())


def described(trained_on: list[TrainingDataset]) -> list[dict[str, Any]]:
    """The declaration of each training dataset, for the review:
    [{dataset_id, dataset, via, declaration}] (``declaration`` None when none was set)."""
    return [{"dataset_id": item.id, "dataset": item.name, "via": item.via,
             "declaration": item.declaration.model_dump(mode="json") if item.declaration else None}
            for item in trained_on]


__all__ = ["described", "get", "parse", "refusals", "set_governance", "setter_roles", "training_data"]
