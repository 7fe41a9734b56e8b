"""The audit trail: append-only events, each hash-chained to the one before. No I/O.

Every event's ``hash`` is the SHA-256 of a canonical serialisation of all its other
fields, ``prev_hash`` included, so changing, removing, inserting or reordering a stored
row breaks the chain at that row, and ``verify_chain`` names the first broken seq.

What the chain alone cannot show is a rewrite of the whole table with freshly computed
hashes, or the newest rows cut off. For that, export an ``Anchor`` (the latest seq and
hash) now and then, keep or sign it outside the database, and pass it to
``verify_chain``: the event at ``anchor.seq`` must still carry ``anchor.hash``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first event (seq 1)."""

ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class AuditEvent(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str = Field(description="dotted noun.verb, e.g. model_version.approved")
    subject_type: str
    subject_id: str
    model_name: str | None = None
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    hash: str


class Anchor(BaseModel):
    """The head of the chain at some moment: keep it (or sign it) outside the database."""

    seq: int
    hash: str
    at: datetime | None = None


class ChainReport(BaseModel):
    ok: bool
    checked: int = Field(description="events that verified before the first break (all of them if ok)")
    first_broken_seq: int | None = None
    problem: str | None = None
    head: Anchor | None = Field(default=None, description="the newest event seen")

    def summary(self) -> str:
        if self.ok:
            return f"chain intact: {self.checked} events"
        return f"chain broken at seq {self.first_broken_seq}: {self.problem}"


def canonical_time(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds, e.g. 2025-01-31T12:00:00.000001+00:00."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_bytes(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    model_name: str | None,
    reason: str | None,
    details: dict[str, Any],
    prev_hash: str,
) -> bytes:
    """Sorted-key compact JSON of every field except ``hash``: what the hash covers."""
    fields = {
        "seq": seq, "at": canonical_time(at), "actor": actor, "action": action,
        "subject_type": subject_type, "subject_id": subject_id, "model_name": model_name,
        "reason": reason, "details": details, "prev_hash": prev_hash,
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def event_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    model_name: str | None,
    reason: str | None,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    return hashlib.sha256(
        canonical_bytes(
            seq=seq, at=at, actor=actor, action=action, subject_type=subject_type,
            subject_id=subject_id, model_name=model_name, reason=reason, details=details,
            prev_hash=prev_hash,
        )
    ).hexdigest()


def hash_of(event: AuditEvent) -> str:
    """The hash ``event`` should carry, recomputed from its other fields."""
    return event_hash(**event.model_dump(exclude={"hash"}))


def verify_chain(events: Iterable[AuditEvent], *, anchor: Anchor | None = None) -> ChainReport:
    """Walk ``events`` in seq order and report the first link that does not hold.

    Checks, per event: seq is the previous seq + 1 (a gap is a deleted row), prev_hash is
    the previous event's hash (else rows were deleted, inserted or reordered), and hash
    matches the recomputed one (else the row was edited). With ``anchor``, the event at
    ``anchor.seq`` must exist and carry ``anchor.hash`` (else the table was rewritten or
    truncated since the anchor was exported).
    """
    expected_seq, expected_prev = 1, GENESIS_HASH
    checked = 0
    head: Anchor | None = None
    anchor_seen = False
    for event in events:
        problem = _link_problem(event, expected_seq, expected_prev)
        if problem is not None:
            return ChainReport(ok=False, checked=checked, first_broken_seq=event.seq, problem=problem, head=head)
        if anchor is not None and event.seq == anchor.seq:
            anchor_seen = True
            if event.hash != anchor.hash:
                problem = (f"hash differs from the exported anchor ({anchor.hash[:12]}…): "
                           "the table was rewritten since the anchor was taken")
                return ChainReport(ok=False, checked=checked, first_broken_seq=event.seq, problem=problem, head=head)
        checked += 1
        head = Anchor(seq=event.seq, hash=event.hash, at=event.at)
        expected_seq, expected_prev = event.seq + 1, event.hash
    if anchor is not None and not anchor_seen:
        problem = f"the exported anchor names seq {anchor.seq}, but the chain ends at {expected_seq - 1}: rows were removed"
        return ChainReport(ok=False, checked=checked, first_broken_seq=anchor.seq, problem=problem, head=head)
    return ChainReport(ok=True, checked=checked, head=head)


def _link_problem(event: AuditEvent, expected_seq: int, expected_prev: str) -> str | None:
    if event.seq != expected_seq:
        if event.seq > expected_seq:
            missing = f"{expected_seq}" if event.seq == expected_seq + 1 else f"{expected_seq}..{event.seq - 1}"
            return f"seq {missing} missing before seq {event.seq} (rows deleted)"
        return f"seq {event.seq} out of order after seq {expected_seq - 1}"
    if event.prev_hash != expected_prev:
        return "prev_hash does not match the previous event's hash (rows deleted, inserted or reordered)"
    if hash_of(event) != event.hash:
        return "hash does not match the event's content (row edited)"
    return None
