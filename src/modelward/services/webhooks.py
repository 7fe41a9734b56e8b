"""Webhooks: subscribe URLs to audit actions; deliver signed JSON with retries.

Delivery is an outbox. ``audit.record`` calls ``enqueue_for`` in the transaction of the
change, which writes one pending delivery per matching webhook; ``deliver_due`` (run
every second by the server's ``WebhookDispatcher``) POSTs them afterwards, outside any
database transaction, and retries failures with exponential backoff.

Security: only admins (ADMIN permission) register webhooks, and a URL must be http(s)
with a host. The server does call an address an admin chose, which may be internal:
that is the point of a webhook, so registering one is an admin's decision. Redirects
are not followed, and each request times out after 5 seconds. The secret is stored in
clear (signing needs it) and is shown once, at creation.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelward.domain.actors import LOCAL_USER, Actor
from modelward.domain.audit import AuditEvent, canonical_time
from modelward.domain.names import new_id
from modelward.domain.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    Delivery,
    DeliveryStatus,
    NewWebhook,
    Webhook,
    sign,
    validate_events,
    validate_url,
)
from modelward.errors import InvalidInput
from modelward.services.backend import Backend
from modelward.store import webhooks as store
from modelward.store.audit import Session

if TYPE_CHECKING:
    import httpx  # imported when a delivery is sent: a slow import most servers never need

log = logging.getLogger("modelward.webhooks")

TIMEOUT_S = 5.0
MAX_ATTEMPTS = 6
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0
LEASE_S = 60.0  # longer than one attempt can take, so two dispatchers never send the same one
BATCH = 50
MAX_ERROR_CHARS = 500


def subscribe(
    backend: Backend,
    url: str,
    events: list[str],
    *,
    secret: str | None = None,
    actor: Actor | None = None,
) -> NewWebhook:
    """Register ``url`` for ``events``; the secret (generated unless given) is returned this once."""
    from modelward.services import audit  # audit imports this module for enqueue_for

    url = validate_url(url)
    events = validate_events(events)
    if secret is not None and len(secret) < 16:
        raise InvalidInput("a webhook secret needs at least 16 characters")
    secret = secret or secrets.token_urlsafe(32)
    who = actor or Actor(name=LOCAL_USER)
    with backend.write() as session:
        webhook = store.add(
            session, webhook_id=new_id(), url=url, events=events, secret=secret,
            created_by=who.name, created_at=datetime.now(UTC),
        )
        audit.record(session, who, "webhook.created", subject_type="webhook", subject_id=webhook.id,
                     details={"url": url, "events": events})
    return NewWebhook(webhook=webhook, secret=secret)


def unsubscribe(backend: Backend, webhook_id: str, *, actor: Actor | None = None) -> None:
    from modelward.services import audit

    with backend.write() as session:
        removed = store.remove(session, webhook_id)
        audit.record(session, actor or Actor(name=LOCAL_USER), "webhook.deleted", subject_type="webhook",
                     subject_id=webhook_id, details={"url": removed.url, "events": removed.events})


def list_(backend: Backend) -> list[Webhook]:
    with backend.read() as session:
        return store.list_(session)


def deliveries(
    backend: Backend, *, webhook_id: str | None = None, status: str | None = None,
    limit: int = 100, offset: int = 0,
) -> list[Delivery]:
    try:
        wanted = DeliveryStatus(status) if status else None
    except ValueError:
        raise InvalidInput(f"delivery status '{status}' is not one of pending, delivered, failed") from None
    with backend.read() as session:
        return store.deliveries(session, webhook_id=webhook_id, status=wanted, limit=limit, offset=offset)


def payload_of(event: AuditEvent) -> dict[str, Any]:
    return {
        "event": event.action, "audit_seq": event.seq, "at": canonical_time(event.at),
        "actor": event.actor, "subject_type": event.subject_type, "subject_id": event.subject_id,
        "model_name": event.model_name, "reason": event.reason, "details": event.details,
    }


def enqueue_for(session: Session, event: AuditEvent) -> int:
    """Outbox: one pending delivery per active webhook that wants ``event``, in the caller's transaction."""
    queued = 0
    for webhook in store.list_(session, active_only=True):
        if webhook.wants(event.action):
            store.add_delivery(
                session, delivery_id=new_id(), webhook_id=webhook.id, event=event.action,
                audit_seq=event.seq, payload=payload_of(event), now=event.at,
            )
            queued += 1
    return queued


def body_of(delivery: Delivery) -> bytes:
    """The exact bytes sent, and signed."""
    return json.dumps(delivery.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def backoff_s(attempts: int) -> float:
    """Wait after the ``attempts``-th failure: 1, 2, 4, 8, 16 ... seconds, capped."""
    return min(BACKOFF_BASE_S * 2 ** (attempts - 1), BACKOFF_CAP_S)


def deliver_due(
    backend: Backend, *, http_client: httpx.Client | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Send every delivery that is due; counts of delivered, retrying and failed ones."""
    now = now or datetime.now(UTC)
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    with backend.read() as session:
        candidates = store.due_ids(session, now, limit=BATCH)
    if not candidates:
        return counts
    client = http_client or _new_client()
    try:
        for delivery_id in candidates:
            outcome = _attempt(backend, client, delivery_id, now)
            if outcome is not None:
                counts[outcome] += 1
    finally:
        if http_client is None:
            client.close()
    return counts


def _attempt(backend: Backend, client: httpx.Client, delivery_id: str, now: datetime) -> str | None:
    with backend.write() as session:
        if not store.claim(session, delivery_id, now, now + timedelta(seconds=LEASE_S)):
            return None  # another dispatcher took it
        delivery, webhook = store.delivery_with_secret(session, delivery_id)
    error = _post(client, webhook, delivery)
    finished = datetime.now(UTC)
    if error is None:
        status, outcome, next_at, delivered_at = DeliveryStatus.DELIVERED, "delivered", finished, finished
    elif delivery.attempts >= MAX_ATTEMPTS:
        status, outcome, next_at, delivered_at = DeliveryStatus.FAILED, "failed", finished, None
    else:
        retry_at = now + timedelta(seconds=backoff_s(delivery.attempts))
        status, outcome, next_at, delivered_at = DeliveryStatus.PENDING, "retrying", retry_at, None
    with backend.write() as session:
        store.record_attempt(
            session, delivery_id, status=status, error=error, next_attempt_at=next_at, delivered_at=delivered_at
        )
    if error is not None:
        log.warning("webhook %s delivery %s attempt %d: %s", webhook.id, delivery_id, delivery.attempts, error)
    return outcome


def _new_client() -> httpx.Client:
    import httpx

    return httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)


class _ClientOnFirstPost:
    """The dispatcher's one client, made at its first POST rather than at the server's start."""

    def __init__(self) -> None:
        self._client: httpx.Client | None = None

    def post(self, *args: Any, **kwargs: Any) -> httpx.Response:
        if self._client is None:
            self._client = _new_client()
        return self._client.post(*args, **kwargs)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _post(client: httpx.Client, webhook: Webhook, delivery: Delivery) -> str | None:
    """None when the receiver answered 2xx, else what went wrong."""
    import httpx

    body = body_of(delivery)
    headers = {
        "content-type": "application/json",
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: delivery.id,
        SIGNATURE_HEADER: sign(webhook.secret, body),
        "user-agent": "modelward-webhooks",
    }
    try:
        response = client.post(webhook.url, content=body, headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}: {response.text[:200]}"[:MAX_ERROR_CHARS]


class WebhookDispatcher:
    """A daemon thread that runs ``deliver_due`` every ``interval_s`` while the server runs."""

    def __init__(self, backend: Backend, *, interval_s: float = 1.0) -> None:
        self._backend = backend
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="modelward-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_S * 2)

    def _loop(self) -> None:
        client = _ClientOnFirstPost()
        try:
            while not self._stop.wait(self._interval_s):
                try:
                    deliver_due(self._backend, http_client=client)  # type: ignore[arg-type]
                except Exception:  # a bad moment (database restarting ...) must not end the thread
                    log.exception("webhook dispatch failed; trying again in %.0f s", self._interval_s)
        finally:
            client.close()
