"""The audit trail: record who did what, when and why; verify the chain; export it.

Other services call ``record`` inside their own ``with backend.write() as session:``
block, so the event commits (or rolls back) together with the change it describes.
Matching webhooks get a delivery row in that same transaction (an outbox), so a
notification is never sent for a change that did not commit, nor lost for one that did.
An event whose action is one of ``ANCHORED_ACTIONS`` also queues a signed checkpoint of
the new head, written to the artifact store once the transaction commits
(``services.checkpoints``). ``verify`` checks the chain, the newest checkpoint, and that
every version's status (and every approval) in the database is what the events say.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.audit import (
    ACTION_PATTERN,
    ANCHORED_ACTIONS,
    Anchor,
    AuditEvent,
    ChainReport,
    Checkpoint,
    StateReplay,
    verify_chain,
)
from modelward.errors import InvalidInput
from modelward.services import checkpoints, webhooks
from modelward.services.backend import Backend
from modelward.store import audit as store
from modelward.store.audit import Session

EXPORT_FORMATS = ("jsonl", "csv")
CSV_COLUMNS = (
    "seq", "at", "actor", "action", "subject_type", "subject_id", "model_name", "reason",
    "details", "prev_hash", "hash",
)
MAX_LIST_LIMIT = 10_000


def record(
    session: Session,
    actor: Actor | str,
    action: str,
    *,
    subject_type: str,
    subject_id: str,
    model_name: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit event to the chain, inside the CALLER's transaction.

    This is the one service function that takes a Session instead of a Backend: an
    audit event must commit atomically with the change it records (a rolled-back
    approval must leave no "approved" event, and a committed one must never lack it),
    so it has to join the unit of work the calling service already opened. Call it
    from within ``with backend.write() as session:``, preferably as the last step: on
    PostgreSQL it takes the audit chain's lock, which is held until that transaction ends.

    ``action`` is a dotted noun.verb (``model_version.approved``); ``details`` is a
    JSON-able dict (datetimes, enums and sets are converted) and must never hold secrets.
    """
    if not ACTION_PATTERN.match(action):
        raise InvalidInput(f"audit action '{action}' must be dotted lower-case, like 'model_version.approved'")
    if not subject_type or not subject_id:
        raise InvalidInput("an audit event needs a subject_type and a subject_id")
    event = store.append(
        session,
        actor=actor.name if isinstance(actor, Actor) else actor,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        model_name=model_name,
        reason=reason,
        details=plain_json(details or {}),
    )
    webhooks.enqueue_for(session, event)
    checkpoints.pending(session, Anchor(seq=event.seq, hash=event.hash, at=event.at),
                        anchored=action in ANCHORED_ACTIONS)
    return event


def plain_json(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` as plain JSON values, so what is stored reads back equal to what was hashed."""
    try:
        text = json.dumps(details, default=_json_default, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"audit details must be JSON: {exc}") from None
    return json.loads(text)  # type: ignore[no-any-return]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(_json_default(item) if isinstance(item, Enum) else item for item in value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def utc(moment: datetime | None) -> datetime | None:
    """Filters arrive naive from people: read those as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def verify(backend: Backend, anchor: Anchor | None = None) -> ChainReport:
    """Recompute the whole chain (streamed once) and check it against the newest signed
    checkpoint, ``anchor`` if given, and the governance state stored in the database."""
    newest = checkpoints.check_newest_checkpoint(backend)  # before the events, so they include its seq
    replay = StateReplay()
    with backend.read() as session:
        stream = _Observed(store.iter_events(session), replay, newest.watched_seqs())
        report = verify_chain(stream, anchor=anchor)
        stream.drain()  # the chain broke early: still look up the checkpoint's seq
        state: list[str] = []
        if report.problem is None:  # after a broken link the replay would only add noise
            state += replay.version_problems(store.version_statuses(session))
            state += replay.approval_problems(store.approval_reviews(session))
    found = newest.against_chain(stream.hashes, stream.last_seq, replay.last_anchored)
    problems = newest.problems + found.problems
    return report.model_copy(update={
        "ok": report.ok and not problems and not state, "checkpoint": newest.checkpoint,
        "checkpoint_problems": problems, "state_problems": state, "warnings": newest.warnings + found.warnings,
    })


class _Observed:
    """Passes events through, feeding the replay and noting the hashes at the watched seqs."""

    def __init__(self, events: Iterator[AuditEvent], replay: StateReplay, watched: set[int]) -> None:
        self._events, self._replay, self._watched = events, replay, watched
        self.hashes: dict[int, str] = {}
        self.last_seq = 0

    def __iter__(self) -> Iterator[AuditEvent]:
        for event in self._events:
            self._replay.apply(event)
            if event.seq in self._watched:
                self.hashes[event.seq] = event.hash
            self.last_seq = max(self.last_seq, event.seq)
            yield event

    def drain(self) -> None:
        for _ in self:
            pass


def anchor(backend: Backend) -> Anchor | None:
    """The newest (seq, hash, at): store or sign it outside the database; None if empty."""
    with backend.read() as session:
        newest = store.last(session)
    return Anchor(seq=newest.seq, hash=newest.hash, at=newest.at) if newest else None


def checkpoint(backend: Backend) -> Checkpoint | None:
    """Sign a checkpoint of the head now if it moved; the newest checkpoint (None if nothing to anchor)."""
    return checkpoints.anchor_now(backend)


def list_(
    backend: Backend,
    *,
    model: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    newest_first: bool = True,
) -> list[AuditEvent]:
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")
    if offset < 0:
        raise InvalidInput(f"offset must not be negative, got {offset}")
    with backend.read() as session:
        return store.list_(
            session, model=model, actor=actor, action=action, since=utc(since), until=utc(until),
            limit=limit, offset=offset, newest_first=newest_first,
        )


def export(
    backend: Backend,
    fmt: str = "jsonl",
    *,
    model: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[str]:
    """Matching events in seq order as JSON Lines or CSV text, one event per chunk.

    Each line carries prev_hash and hash, so an unfiltered export can be verified offline.
    """
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"export format '{fmt}' is not one of {', '.join(EXPORT_FORMATS)}")
    return _export_lines(backend, fmt, model=model, actor=actor, action=action, since=utc(since), until=utc(until))


def _export_lines(backend: Backend, fmt: str, **filters: Any) -> Iterator[str]:
    if fmt == "csv":
        yield _csv_line(list(CSV_COLUMNS))
    with backend.read() as session:
        for event in store.iter_events(session, **filters):
            if fmt == "csv":
                yield _csv_line(_csv_values(event))
            else:
                yield event.model_dump_json() + "\n"


def _csv_values(event: AuditEvent) -> list[str]:
    values = event.model_dump(mode="json")
    values["details"] = json.dumps(event.details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return ["" if values[column] is None else str(values[column]) for column in CSV_COLUMNS]


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
