"""The audit trail: append-only events, each hash-chained to the one before. No I/O.

Every event's ``hash`` is the SHA-256 of a canonical serialisation of all its other
fields, ``prev_hash`` included, so changing, removing, inserting or reordering a stored
row breaks the chain at that row, and ``verify_chain`` names the first broken seq.

What the chain alone cannot show is a rewrite of the whole table with freshly computed
hashes, or the newest rows cut off. For that the head is anchored outside the database:
a signed ``Checkpoint`` (seq, hash) is written to the artifact store after every
commit holding one of ``ANCHORED_ACTIONS`` (``services.checkpoints``), and an ``Anchor``
can still be exported and passed by hand. ``StateReplay`` replays the events that set a
version's status, so a status edited in the database without an event shows up too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first event (seq 1)."""

ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

ANCHORED_ACTIONS = frozenset({
    "model_version.approved", "model_version.released", "policy.changed", "alias.moved", "alias.deleted",
    "model.deleted", "model.renamed", "review.approval_voided", "model_version.deleted",
    "deployment.created", "deployment.released", "deployment.release_started", "deployment.promoted",
    "deployment.routed", "deployment.rolled_back", "deployment.retired", "data.erased",
})
"""A commit holding one of these is followed by a signed checkpoint of the new head."""

REGISTERED_ACTION = "model_version.registered"
REGISTERED_STATUS = "candidate"
STATUS_ACTIONS = frozenset({
    REGISTERED_ACTION, "review.requested", "review.changes_requested", "model_version.approved",
    "model_version.rejected", "model_version.released", "model_version.retired", "model_version.archived",
    "review.approval_voided", "model_version.drained",
})
"""The actions that set a version's status: each records ``details.from`` and ``details.to``,
except registration (-> ``candidate``). ``model_version.stage_changed`` is not one: its
from/to are MLflow stages."""

APPROVAL_RECORDED_ACTION = "review.approval_recorded"
CHECKPOINT_FORMAT = "modelward.audit-checkpoint/1"


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


class CheckpointLink(BaseModel):
    """How a checkpoint names the one before it."""

    number: int
    seq: int
    digest: str = Field(description="SHA-256 of the previous checkpoint object's bytes")


class Checkpoint(BaseModel):
    """A signed (seq, hash) of the chain's head, written to the artifact store, never overwritten."""

    format: str = CHECKPOINT_FORMAT
    number: int = Field(description="1 for the first checkpoint, then the previous one's number + 1")
    seq: int
    hash: str
    event_at: datetime | None = Field(default=None, description="when the event at seq was recorded")
    at: datetime = Field(description="when the checkpoint was signed")
    previous: CheckpointLink | None = None
    key_id: str = Field(description="SHA-256 fingerprint of the Ed25519 public key that signed it")
    signature: str = Field(default="", description="base64 Ed25519 signature of signed_bytes()")

    def signed_bytes(self) -> bytes:
        """Sorted-key compact JSON of every field except ``signature``: what is signed."""
        return _compact(self._fields())

    def to_bytes(self) -> bytes:
        """The object as stored; its SHA-256 is the digest the next checkpoint names."""
        return _compact({**self._fields(), "signature": self.signature})

    def link(self) -> CheckpointLink:
        return CheckpointLink(number=self.number, seq=self.seq, digest=hashlib.sha256(self.to_bytes()).hexdigest())

    def _fields(self) -> dict[str, Any]:
        return {
            "format": self.format, "number": self.number, "seq": self.seq, "hash": self.hash,
            "event_at": canonical_time(self.event_at) if self.event_at else None, "at": canonical_time(self.at),
            "previous": self.previous.model_dump() if self.previous else None, "key_id": self.key_id,
        }

    def label(self) -> str:
        return f"checkpoint {self.number} at {canonical_time(self.at)}"


class ChainReport(BaseModel):
    ok: bool
    checked: int = Field(description="events that verified before the first break (all of them if ok)")
    first_broken_seq: int | None = None
    problem: str | None = None
    head: Anchor | None = Field(default=None, description="the newest event seen")
    checkpoint: Checkpoint | None = Field(default=None, description="the newest signed checkpoint, checked")
    checkpoint_problems: list[str] = Field(
        default_factory=list, description="the chain does not match its signed checkpoints"
    )
    state_problems: list[str] = Field(
        default_factory=list, description="governance state in the database differs from what the events say"
    )
    warnings: list[str] = Field(default_factory=list, description="worth a look, but not a failure")

    def problems(self) -> list[str]:
        """One line per problem, the broken link first."""
        chain = [] if self.problem is None else [f"chain broken at seq {self.first_broken_seq}: {self.problem}"]
        return chain + self.checkpoint_problems + self.state_problems

    def summary(self) -> str:
        if self.ok:
            return f"chain intact: {self.checked} events"
        problems = self.problems() or ["verification failed"]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return problems[0] + more


def _compact(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


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


VersionKey = tuple[str, int]


def version_key(subject_id: str) -> VersionKey | None:
    """``"churn/3"`` -> ``("churn", 3)``; None if the subject does not name a version."""
    model, _, number = subject_id.rpartition("/")
    return (model, int(number)) if model and number.isdigit() else None


class StateReplay:
    """Each version's status, and each approval review, as the audit events tell them.

    Feed every event in seq order to ``apply``, then compare with the database through
    ``version_problems`` and ``approval_problems``.
    """

    def __init__(self) -> None:
        self.statuses: dict[str, dict[int, str]] = {}
        self.registered: dict[str, set[int]] = {}
        self.approvals: dict[str, dict[str, int]] = {}
        self.last_anchored: AuditEvent | None = None
        self._seen: set[VersionKey] = set()

    def apply(self, event: AuditEvent) -> None:
        if event.action in ANCHORED_ACTIONS:
            self.last_anchored = event
        if event.subject_type == "registered_model":
            self._apply_to_model(event)
            return
        key = version_key(event.subject_id) if event.subject_type == "model_version" else None
        if key is None:
            return
        model, version = key
        if event.action == REGISTERED_ACTION:
            self.registered.setdefault(model, set()).add(version)
            self.statuses.setdefault(model, {})[version] = REGISTERED_STATUS
        elif event.action in STATUS_ACTIONS and isinstance(event.details.get("to"), str):
            self.statuses.setdefault(model, {})[version] = event.details["to"]
        elif event.action == APPROVAL_RECORDED_ACTION and isinstance(event.details.get("review_id"), str):
            self.approvals.setdefault(model, {})[event.details["review_id"]] = version
        elif event.action == "model_version.deleted":
            self.statuses.get(model, {}).pop(version, None)
            self.registered.get(model, set()).discard(version)

    def _apply_to_model(self, event: AuditEvent) -> None:
        if event.action == "model.renamed":
            old, new = event.details.get("from"), event.details.get("to")
            if isinstance(old, str) and isinstance(new, str):
                for table in (self.statuses, self.registered, self.approvals):
                    if old in table:
                        table[new] = table.pop(old)  # type: ignore[assignment]
        elif event.action == "model.deleted":
            for table in (self.statuses, self.registered, self.approvals):
                table.pop(event.subject_id, None)

    def version_problems(self, stored: Iterable[tuple[str, int, str]]) -> Iterator[str]:
        """``stored``: (model, version, status) of every version in the database."""
        for model, version, status in stored:
            self._seen.add((model, version))
            if version not in self.registered.get(model, set()):
                yield (f"version {version} of model '{model}' has no registration event in the audit trail "
                       "(created outside modelward?)")
                continue
            replayed = self.statuses[model][version]
            if replayed != status:
                yield (f"version {version} of model '{model}' is '{status}' in the database but '{replayed}' "
                       "by its audit events (edited outside modelward?)")
        for model, versions in sorted(self.registered.items()):
            for version in sorted(versions):
                if (model, version) not in self._seen:
                    yield (f"version {version} of model '{model}' is missing from the database, but no audit "
                           "event deleted it (deleted outside modelward?)")

    def approval_problems(self, stored: Iterable[tuple[str, int, str]]) -> Iterator[str]:
        """``stored``: (model, version, review id) of every approval review in the database."""
        for model, version, review_id in stored:
            recorded = self.approvals.get(model, {}).get(review_id)
            if recorded is None:
                yield (f"the approval {review_id} of version {version} of model '{model}' has no "
                       f"{APPROVAL_RECORDED_ACTION} audit event (inserted outside modelward?)")
            elif recorded != version:
                yield (f"the approval {review_id} of version {version} of model '{model}' is recorded in the "
                       f"audit trail for version {recorded} (moved outside modelward?)")
