"""Listing and exporting the trail, filtered by model, user and time, through the SDK and REST."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from modelward.domain.audit import GENESIS_HASH, AuditEvent, verify_chain
from modelward.errors import InvalidInput
from modelward.sdk.client import Client
from modelward.services import audit
from modelward.services.backend import Backend
from tests.audit.helpers import append_events


def test_export_jsonl_is_verifiable_offline(backend: Backend) -> None:
    append_events(backend, 4)
    lines = "".join(audit.export(backend, "jsonl")).splitlines()
    events = [AuditEvent.model_validate_json(line) for line in lines]
    assert [e.seq for e in events] == [1, 2, 3, 4] and events[0].prev_hash == GENESIS_HASH
    assert verify_chain(events).ok


def test_export_filters_by_model_user_and_time(backend: Backend) -> None:
    append_events(backend, 3, actor="alice", model="credit")
    append_events(backend, 2, actor="bob", model="fraud")
    append_events(backend, 1, actor="alice", model="fraud")
    by_model = [json.loads(line) for line in audit.export(backend, "jsonl", model="fraud")]
    assert [e["seq"] for e in by_model] == [4, 5, 6]
    by_user = [json.loads(line) for line in audit.export(backend, "jsonl", actor="alice")]
    assert [e["seq"] for e in by_user] == [1, 2, 3, 6]
    both = [json.loads(line) for line in audit.export(backend, "jsonl", actor="alice", model="fraud")]
    assert [e["seq"] for e in both] == [6]
    events = audit.list_(backend, newest_first=False, limit=100)
    since, until = events[2].at, events[4].at  # since inclusive, until exclusive
    window = [json.loads(line)["seq"] for line in audit.export(backend, "jsonl", since=since, until=until)]
    assert window == [3, 4]
    naive_utc = since.replace(tzinfo=None)  # people type naive times: read as UTC
    assert [e.seq for e in audit.list_(backend, since=naive_utc, newest_first=False)] == [3, 4, 5, 6]


def test_export_csv_has_a_header_and_details_as_json(backend: Backend) -> None:
    append_events(backend, 2, model="credit")
    rows = list(csv.DictReader(io.StringIO("".join(audit.export(backend, "csv")))))
    assert [row["seq"] for row in rows] == ["1", "2"]
    assert json.loads(rows[1]["details"]) == {"score": 0.51, "version": 2}
    assert rows[0]["model_name"] == "credit" and rows[0]["reason"] == "reason 0" and len(rows[0]["hash"]) == 64


def test_unknown_export_format_is_refused(backend: Backend) -> None:
    with pytest.raises(InvalidInput, match="xml"):
        audit.export(backend, "xml")


def test_sdk_lists_exports_verifies_and_anchors(client: Client, unique: str) -> None:
    user = f"deleter-{unique}"
    exp = client.experiments.create(f"audit/{unique}")
    client.experiments.delete(exp.id)
    client.experiments.restore(exp.id)
    mine = client.audit.list(action="experiment.restored", limit=1000)
    event = next(e for e in mine if e.subject_id == exp.id)
    assert event.details == {"name": f"audit/{unique}"}
    listed = [e for e in client.audit.list(limit=1000) if e.subject_id == exp.id]
    assert [e.action for e in listed] == ["experiment.restored", "experiment.deleted"]  # newest first
    text = "".join(client.audit.export("jsonl", actor=event.actor, since=event.at - timedelta(seconds=5)))
    exported = [json.loads(line) for line in text.splitlines()]
    assert event.seq in [e["seq"] for e in exported] and user not in text
    rows = list(csv.DictReader(io.StringIO("".join(client.audit.export("csv", since=event.at)))))
    assert str(event.seq) in [row["seq"] for row in rows]
    report = client.audit.verify()
    assert report.ok and report.checked >= 2
    anchor = client.audit.anchor()
    assert anchor is not None and anchor.seq >= event.seq
    assert client.audit.verify(anchor).ok
    forged = anchor.model_copy(update={"hash": "0" * 64})
    bad = client.audit.verify(forged)
    assert not bad.ok and bad.first_broken_seq == anchor.seq
    with pytest.raises(InvalidInput):
        client.audit.list(limit=0)
