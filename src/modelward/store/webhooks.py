"""Webhooks and the delivery outbox. Functions over a Session; never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelward.domain.webhooks import Delivery, DeliveryStatus, Webhook
from modelward.errors import NotFound
from modelward.store.dialect import aware
from modelward.store.rows import WebhookDeliveryRow, WebhookRow


def _webhook(row: WebhookRow) -> Webhook:
    return Webhook(
        id=row.id, url=row.url, events=list(row.events), active=row.active,
        created_by=row.created_by, created_at=aware(row.created_at), secret=row.secret,
    )


def _delivery(row: WebhookDeliveryRow) -> Delivery:
    return Delivery(
        id=row.id, webhook_id=row.webhook_id, event=row.event, audit_seq=row.audit_seq,
        payload=row.payload, attempts=row.attempts, status=DeliveryStatus(row.status),
        last_error=row.last_error, next_attempt_at=aware(row.next_attempt_at),
        delivered_at=aware(row.delivered_at) if row.delivered_at else None,
        created_at=aware(row.created_at),
    )


def add(
    session: Session, *, webhook_id: str, url: str, events: list[str], secret: str,
    created_by: str | None, created_at: datetime,
) -> Webhook:
    row = WebhookRow(
        id=webhook_id, url=url, events=events, secret=secret, active=True,
        created_by=created_by, created_at=created_at,
    )
    session.add(row)
    session.flush()
    return _webhook(row)


def get(session: Session, webhook_id: str) -> Webhook:
    row = session.get(WebhookRow, webhook_id)
    if row is None:
        raise NotFound(f"webhook '{webhook_id}' does not exist")
    return _webhook(row)


def remove(session: Session, webhook_id: str) -> Webhook:
    """Delete the webhook; its deliveries go with it (ON DELETE CASCADE)."""
    row = session.get(WebhookRow, webhook_id)
    if row is None:
        raise NotFound(f"webhook '{webhook_id}' does not exist")
    removed = _webhook(row)
    session.delete(row)
    session.flush()
    return removed


def list_(session: Session, *, active_only: bool = False) -> list[Webhook]:
    stmt = select(WebhookRow).order_by(WebhookRow.created_at, WebhookRow.id)
    if active_only:
        stmt = stmt.where(WebhookRow.active.is_(True))
    return [_webhook(row) for row in session.scalars(stmt)]


def add_delivery(
    session: Session, *, delivery_id: str, webhook_id: str, event: str, audit_seq: int,
    payload: dict[str, Any], now: datetime,
) -> None:
    session.add(WebhookDeliveryRow(
        id=delivery_id, webhook_id=webhook_id, event=event, audit_seq=audit_seq, payload=payload,
        attempts=0, status=DeliveryStatus.PENDING.value, next_attempt_at=now, created_at=now,
    ))
    session.flush()


def due_ids(session: Session, now: datetime, *, limit: int) -> list[str]:
    stmt = (
        select(WebhookDeliveryRow.id)
        .where(WebhookDeliveryRow.status == DeliveryStatus.PENDING.value)
        .where(WebhookDeliveryRow.next_attempt_at <= now)
        .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def claim(session: Session, delivery_id: str, now: datetime, lease_until: datetime) -> bool:
    """Take one due delivery for an attempt: True for exactly one of several concurrent callers.

    The conditional UPDATE counts the attempt and pushes ``next_attempt_at`` to the end of
    a lease, so other dispatchers skip it, and a dispatcher that dies mid-attempt only
    delays it until the lease runs out.
    """
    result = session.execute(
        update(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.id == delivery_id)
        .where(WebhookDeliveryRow.status == DeliveryStatus.PENDING.value)
        .where(WebhookDeliveryRow.next_attempt_at <= now)
        .values(attempts=WebhookDeliveryRow.attempts + 1, next_attempt_at=lease_until)
    )
    return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]


def delivery_with_secret(session: Session, delivery_id: str) -> tuple[Delivery, Webhook]:
    row = session.get(WebhookDeliveryRow, delivery_id)
    if row is None:
        raise NotFound(f"webhook delivery '{delivery_id}' does not exist")
    return _delivery(row), get(session, row.webhook_id)


def record_attempt(
    session: Session, delivery_id: str, *, status: DeliveryStatus, error: str | None,
    next_attempt_at: datetime, delivered_at: datetime | None,
) -> None:
    row = session.get(WebhookDeliveryRow, delivery_id)
    if row is None:  # the webhook was removed while we were sending
        return
    row.status = status.value
    row.last_error = error
    row.next_attempt_at = next_attempt_at
    row.delivered_at = delivered_at
    session.flush()


def deliveries(
    session: Session, *, webhook_id: str | None = None, status: DeliveryStatus | None = None,
    limit: int = 100, offset: int = 0,
) -> list[Delivery]:
    stmt = select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.created_at.desc(), WebhookDeliveryRow.id)
    if webhook_id is not None:
        stmt = stmt.where(WebhookDeliveryRow.webhook_id == webhook_id)
    if status is not None:
        stmt = stmt.where(WebhookDeliveryRow.status == status.value)
    return [_delivery(row) for row in session.scalars(stmt.limit(limit).offset(offset))]
