"""The one way a model version's status changes: check the transitions table, write, audit.

Governance, evaluations and policies all move versions through ``transition``, inside the
caller's transaction, so every status change has its audit event beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.governance import VersionState, check_transition
from modelward.errors import Conflict
from modelward.services import audit
from modelward.store import registry as registry_store


def subject_id(name: str, version: int) -> str:
    return f"{name}/{version}"


def transition(
    session: Any, actor: Actor | str, name: str, row: Any, target: VersionState, *, action: str,
    reason: str | None = None, details: dict[str, Any] | None = None,
) -> None:
    """Move ``row`` to ``target`` if the table allows it, and audit who, when and why."""
    previous = row.status
    rule = check_transition(previous, target)
    registry_store.update_version(session, row, datetime.now(UTC), status=target.value)
    audit.record(
        session, actor, action, subject_type="model_version", subject_id=subject_id(name, row.version),
        model_name=name, reason=reason or rule,
        details={"from": previous, "to": target.value, **(details or {})},
    )


EVIDENCE_STATES = (VersionState.IN_REVIEW.value, VersionState.APPROVED.value, VersionState.RELEASED.value)


def refuse_purging_evidence(session: Any, what: str, *, run_id: str | None = None,
                            experiment_id: str | None = None) -> None:
    """A run behind a version under review, approved or released is that version's evidence
    (its authors, params, lineage): it may be deleted (restorable), not purged."""
    backed = registry_store.versions_backed_by(session, EVIDENCE_STATES, run_id=run_id, experiment_id=experiment_id)
    if backed:
        listed = ", ".join(f"version {v} of model '{m}' ({s})" for m, v, s in backed)
        raise Conflict(f"{what} cannot be purged: it backs {listed}; retire or reject those versions first")
