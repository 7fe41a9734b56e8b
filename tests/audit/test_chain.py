"""The hash chain: appends verify on both databases; tampering in SQL is caught at the first broken seq."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from itertools import pairwise

from sqlalchemy import text

from modelward.domain.audit import GENESIS_HASH, AuditEvent, event_hash, hash_of, verify_chain
from modelward.services import audit
from modelward.services.backend import Backend
from modelward.store import audit as audit_store
from tests.audit.helpers import append_events, sql


def _event(seq: int, prev_hash: str, **overrides: object) -> AuditEvent:
    fields: dict = {
        "seq": seq, "at": datetime(2025, 1, 31, 12, 0, 0, seq, tzinfo=UTC), "actor": "alice",
        "action": "alias.moved", "subject_type": "model", "subject_id": "credit", "model_name": "credit",
        "reason": None, "details": {"alias": "champion", "to": seq}, "prev_hash": prev_hash,
    }
    fields.update(overrides)
    return AuditEvent(**fields, hash=event_hash(**fields))


def _chain(length: int) -> list[AuditEvent]:
    events, prev = [], GENESIS_HASH
    for seq in range(1, length + 1):
        events.append(_event(seq, prev))
        prev = events[-1].hash
    return events


def test_hash_is_canonical_over_every_field() -> None:
    event = _event(1, GENESIS_HASH)
    same_moment_other_zone = event.at.astimezone(datetime.now().astimezone().tzinfo)
    assert hash_of(event.model_copy(update={"at": same_moment_other_zone})) == event.hash
    assert hash_of(event.model_copy(update={"details": {"to": 1, "alias": "champion"}})) == event.hash
    for field, value in [("actor", "bob"), ("reason", "x"), ("model_name", None), ("seq", 2),
                         ("at", event.at.replace(microsecond=2)), ("prev_hash", "f" * 64)]:
        assert hash_of(event.model_copy(update={field: value})) != event.hash, field


def test_pure_verify_names_the_first_broken_event() -> None:
    events = _chain(5)
    assert verify_chain(events).ok and verify_chain(events).checked == 5
    edited = events[:2] + [events[2].model_copy(update={"reason": "sneaky"})] + events[3:]
    report = verify_chain(edited)
    assert (report.ok, report.first_broken_seq, report.checked) == (False, 3, 2)
    assert "edited" in (report.problem or "")
    assert verify_chain(events[:2] + events[3:]).first_broken_seq == 4
    assert verify_chain(events[1:]).first_broken_seq == 2  # the first event deleted
    inserted = events[:2] + [_event(3, events[1].hash, actor="mallory")] + [
        e.model_copy(update={"seq": e.seq + 1}) for e in events[2:]
    ]
    assert verify_chain(inserted).first_broken_seq == 4


def test_appends_chain_and_verify_on_both_databases(backend: Backend) -> None:
    assert audit.verify(backend).ok and audit.verify(backend).checked == 0
    append_events(backend, 5)
    report = audit.verify(backend)
    assert report.ok and report.checked == 5 and report.summary() == "chain intact: 5 events"
    with backend.read() as session:
        events = list(audit_store.iter_events(session))
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(events))
    assert all(hash_of(e) == e.hash for e in events)  # stored values read back exactly as hashed
    assert events[2].details == {"version": 3, "score": 0.52}


def test_a_rolled_back_change_leaves_no_event_and_no_gap(backend: Backend) -> None:
    append_events(backend, 1)
    try:
        with backend.write() as session:
            audit.record(session, "bob", "policy.changed", subject_type="policy", subject_id="p")
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    append_events(backend, 1)
    report = audit.verify(backend)
    assert report.ok and report.checked == 2
    assert [e.actor for e in audit.list_(backend, newest_first=False)] == ["alice", "alice"]


def test_edited_row_is_reported_at_its_seq(backend: Backend) -> None:
    append_events(backend, 6)
    sql(backend, "UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3")
    report = audit.verify(backend)
    assert not report.ok and report.first_broken_seq == 3 and report.checked == 2
    assert "edited" in (report.problem or "")


def test_edited_row_with_its_hash_recomputed_breaks_the_next_link(backend: Backend) -> None:
    append_events(backend, 6)
    with backend.read() as session:
        third = next(e for e in audit_store.iter_events(session) if e.seq == 3)
    forged = third.model_copy(update={"actor": "mallory"})
    sql(backend, "UPDATE audit_events SET actor = 'mallory', hash = :h WHERE seq = 3", h=hash_of(forged))
    report = audit.verify(backend)
    assert report.first_broken_seq == 4 and "prev_hash" in (report.problem or "")


def test_deleted_middle_row_is_reported(backend: Backend) -> None:
    append_events(backend, 6)
    sql(backend, "DELETE FROM audit_events WHERE seq = 4")
    report = audit.verify(backend)
    assert not report.ok and report.first_broken_seq == 5 and report.checked == 3
    assert "seq 4 missing" in (report.problem or "")


def test_swapped_rows_are_reported(backend: Backend) -> None:
    append_events(backend, 6)
    sql(backend, "UPDATE audit_events SET seq = -1 WHERE seq = 2")
    sql(backend, "UPDATE audit_events SET seq = 2 WHERE seq = 3")
    sql(backend, "UPDATE audit_events SET seq = 3 WHERE seq = -1")
    report = audit.verify(backend)
    assert not report.ok and report.first_broken_seq == 2 and report.checked == 1


def _rewrite_whole_table(backend: Backend) -> None:
    """Delete everything and write a forged history with valid hashes: the chain alone can't tell."""
    with backend.read() as session:
        genuine = list(audit_store.iter_events(session))
    sql(backend, "DELETE FROM audit_events")
    prev = GENESIS_HASH
    for event in genuine:
        fields = event.model_dump(exclude={"hash"})
        fields.update(prev_hash=prev, actor="mallory" if event.seq == 2 else event.actor)
        forged = event_hash(**fields)
        sql(
            backend,
            "INSERT INTO audit_events (seq, at, actor, action, subject_type, subject_id, model_name,"
            " reason, details, prev_hash, hash) VALUES (:seq, :at, :actor, :action, :subject_type,"
            " :subject_id, :model_name, :reason, :details, :prev_hash, :hash)",
            **{**fields, "at": _stored_time(backend, fields["at"]), "details": _json(fields["details"]),
               "hash": forged},
        )
        prev = forged


def _stored_time(backend: Backend, moment: datetime) -> object:
    # SQLite holds the naive UTC text SQLAlchemy writes; PostgreSQL takes the aware datetime.
    if backend.engine.dialect.name == "sqlite":
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return moment


def _json(value: dict) -> str:
    import json

    return json.dumps(value)


def test_wholesale_rewrite_is_caught_by_the_checkpoint_and_an_exported_anchor(backend: Backend) -> None:
    append_events(backend, 5)
    anchor = audit.anchor(backend)
    assert anchor is not None and anchor.seq == 5
    assert audit.verify(backend, anchor).ok
    _rewrite_whole_table(backend)
    plain = audit.verify(backend)  # a consistent forgery: the chain holds, the signed checkpoint does not
    assert not plain.ok and plain.problem is None and "rewritten" in plain.checkpoint_problems[0]
    with backend.read() as session:
        assert [e.actor for e in audit_store.iter_events(session)][1] == "mallory"
    report = audit.verify(backend, anchor)
    assert not report.ok and report.first_broken_seq == 5 and "anchor" in (report.problem or "")


def test_truncating_the_newest_rows_is_caught_with_the_anchor(backend: Backend) -> None:
    append_events(backend, 5)
    anchor = audit.anchor(backend)
    sql(backend, "DELETE FROM audit_events WHERE seq >= 4")
    assert "rows were removed" in audit.verify(backend).checkpoint_problems[0]  # the signed checkpoint too
    report = audit.verify(backend, anchor)
    assert not report.ok and report.first_broken_seq == 5 and "removed" in (report.problem or "")


def test_two_writers_never_chain_to_the_same_event(backend: Backend) -> None:
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            append_events(backend, 50, actor=name)
        except BaseException as exc:  # noqa: BLE001  surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("w1", "w2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = audit.verify(backend)
    assert report.ok and report.checked == 100
    with backend.read() as session:
        count = session.execute(text("SELECT COUNT(DISTINCT prev_hash) FROM audit_events")).scalar()
    assert count == 100
    actors = [e.actor for e in audit.list_(backend, limit=1000)]
    assert actors.count("w1") == 50 and actors.count("w2") == 50
