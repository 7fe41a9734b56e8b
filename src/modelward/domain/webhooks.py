"""Webhooks: HTTP callbacks on audit events, signed with a per-webhook secret. No I/O."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from modelward.errors import InvalidInput

REVIEW_EVENTS = (
    "review.requested",
    "review.changes_requested",
    "model_version.approved",
    "model_version.rejected",
)
"""The state changes the issue names; any audit action (or ``*``, or ``noun.*``) may be subscribed."""

_EVENT_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*\.(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*))$")
SIGNATURE_HEADER = "X-Modelward-Signature"
EVENT_HEADER = "X-Modelward-Event"
DELIVERY_HEADER = "X-Modelward-Delivery"


class DeliveryStatus(str, enum.Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Webhook(BaseModel):
    id: str
    url: str
    events: list[str]
    active: bool = True
    created_by: str | None = None
    created_at: datetime
    # Stored in clear because signing needs it; excluded from every serialisation so the
    # API never sends it back (it is shown once, in NewWebhook, at creation).
    secret: str = Field(default="", exclude=True, repr=False)

    def wants(self, action: str) -> bool:
        return self.active and any(event_matches(pattern, action) for pattern in self.events)


class NewWebhook(BaseModel):
    """Returned once, at creation: the only time the signing secret is shown."""

    webhook: Webhook
    secret: str


class Delivery(BaseModel):
    id: str
    webhook_id: str
    event: str
    audit_seq: int
    payload: dict[str, Any]
    attempts: int = 0
    status: DeliveryStatus = DeliveryStatus.PENDING
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    created_at: datetime


def event_matches(pattern: str, action: str) -> bool:
    if pattern == "*" or pattern == action:
        return True
    return pattern.endswith(".*") and action.startswith(pattern[:-1])


def validate_events(events: list[str]) -> list[str]:
    cleaned = sorted({event.strip() for event in events})
    if not cleaned:
        raise InvalidInput("a webhook needs at least one event, e.g. 'model_version.approved' or '*'")
    for event in cleaned:
        if not _EVENT_PATTERN.match(event):
            raise InvalidInput(f"webhook event '{event}' must be '*', 'noun.*' or a dotted action like 'review.requested'")
    return cleaned


def validate_url(url: str) -> str:
    """http(s) with a host, no credentials; admins register webhooks, so private hosts are allowed."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"webhook url '{url}' must start with http:// or https://")
    if not parts.hostname:
        raise InvalidInput(f"webhook url '{url}' has no host")
    if parts.username or parts.password:
        raise InvalidInput("webhook url must not carry credentials; receivers check the signature instead")
    return url.strip()


def sign(secret: str, body: bytes) -> str:
    """The X-Modelward-Signature value: ``sha256=`` + hex HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header)
