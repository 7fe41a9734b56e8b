"""Alert states and events. Functions over a Session; never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelward.domain.alerts import AlertEvent, AlertState
from modelward.store.dialect import aware, insert_ignoring_conflict
from modelward.store.rows import AlertEventRow, AlertStateRow

MAX_EVENTS = 10_000


def _maybe(moment: datetime | None) -> datetime | None:
    return aware(moment) if moment is not None else None


def state_row(session: Session, endpoint: str, rule: str, *, lock: bool = False) -> AlertStateRow | None:
    stmt = select(AlertStateRow).where(AlertStateRow.endpoint == endpoint, AlertStateRow.rule == rule)
    return session.scalar(stmt.with_for_update() if lock else stmt)


def locked_state_row(session: Session, endpoint: str, rule: str, *, model_name: str) -> AlertStateRow:
    """The rule's row, created inactive the first time, locked until the transaction ends."""
    statement = insert_ignoring_conflict(session, AlertStateRow, keys=["endpoint", "rule"])
    session.connection().execute(statement, [{
        "endpoint": endpoint, "rule": rule, "model_name": model_name, "state": AlertState.INACTIVE.value,
        "since": None, "value": None, "version": None, "evaluated_at": None,
        "fired_at": None, "resolved_at": None, "details": None}])
    found = state_row(session, endpoint, rule, lock=True)
    assert found is not None
    return found


def state_rows(session: Session, endpoint: str | None = None) -> list[AlertStateRow]:
    stmt = select(AlertStateRow).order_by(AlertStateRow.endpoint, AlertStateRow.rule)
    if endpoint is not None:
        stmt = stmt.where(AlertStateRow.endpoint == endpoint)
    return list(session.scalars(stmt))


def state_values(row: AlertStateRow) -> dict[str, Any]:
    return {"state": AlertState(row.state), "since": _maybe(row.since), "value": row.value, "version": row.version,
            "evaluated_at": _maybe(row.evaluated_at),
            "fired_at": _maybe(row.fired_at), "resolved_at": _maybe(row.resolved_at), "details": row.details or {}}


def add_event(session: Session, **values: Any) -> AlertEvent:
    row = AlertEventRow(actions=[], **values)
    session.add(row)
    session.flush()
    return event_of(row)


def add_actions(session: Session, event_id: int, actions: list[dict[str, Any]]) -> None:
    found = session.get(AlertEventRow, event_id)
    if found is not None:
        found.actions = [*found.actions, *actions]
        session.flush()


def event_of(row: AlertEventRow) -> AlertEvent:
    return AlertEvent(
        id=row.id, endpoint=row.endpoint, rule=row.rule, model_name=row.model_name, metric=row.metric,
        from_state=AlertState(row.from_state), to_state=AlertState(row.to_state), value=row.value,
        threshold=row.threshold, comparison=row.comparison, version=row.version, severity=row.severity,
        at=aware(row.at), details=row.details or {}, actions=list(row.actions or []))


def events(session: Session, *, endpoint: str | None = None, rule: str | None = None, since: datetime | None = None,
           until: datetime | None = None, limit: int = 1000) -> list[AlertEvent]:
    """Newest first."""
    stmt = select(AlertEventRow).order_by(AlertEventRow.at.desc(), AlertEventRow.id.desc()).limit(limit)
    if endpoint is not None:
        stmt = stmt.where(AlertEventRow.endpoint == endpoint)
    if rule is not None:
        stmt = stmt.where(AlertEventRow.rule == rule)
    if since is not None:
        stmt = stmt.where(AlertEventRow.at >= since)
    if until is not None:
        stmt = stmt.where(AlertEventRow.at < until)
    return [event_of(row) for row in session.scalars(stmt)]


def forget_rules(session: Session, endpoint: str, keep: set[str]) -> None:
    """Drop the states of rules the policy no longer has (their history stays)."""
    stmt = delete(AlertStateRow).where(AlertStateRow.endpoint == endpoint)
    if keep:
        stmt = stmt.where(AlertStateRow.rule.not_in(sorted(keep)))
    session.execute(stmt)
