"""Signed checkpoints of the chain's head in the artifact store: written after anchored commits
(never for rolled-back ones), periodically and on demand; a plain verify checks the newest one."""

from __future__ import annotations

import base64
import dataclasses
import shutil
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.testclient import TestClient

from modelward.api.app import create_app
from modelward.domain.audit import GENESIS_HASH, Anchor, Checkpoint, event_hash, verify_chain
from modelward.services import audit, checkpoints, registry
from modelward.services.backend import Backend
from modelward.settings import Settings
from modelward.store import audit as audit_store
from tests.audit.helpers import append_events, sql
from tests.cli.conftest import Cli
from tests.registry.helpers import ALICE, BOB, run_with_model


def _seqs(backend: Backend) -> list[int]:
    return checkpoints.object_seqs(backend.artifacts)


def _latest(backend: Backend) -> Checkpoint:
    latest = checkpoints.read_latest(backend.artifacts)
    assert latest is not None
    return latest


def _record(backend: Backend, action: str, actor: str = "alice") -> None:
    with backend.write() as session:
        audit.record(session, actor, action, subject_type="run", subject_id="r1")


def _rehash_from(backend: Backend, seq: int, actor: str = "mallory") -> None:
    """A consistent forgery: change one event's actor, recompute every hash from there on."""
    with backend.read() as session:
        events = list(audit_store.iter_events(session))
    prev = GENESIS_HASH
    for event in events:
        fields = event.model_dump(exclude={"hash"})
        if event.seq >= seq:
            fields.update(prev_hash=prev, actor=actor if event.seq == seq else event.actor)
            new_hash = event_hash(**fields)
            sql(backend, "UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s",
                a=fields["actor"], p=prev, h=new_hash, s=event.seq)
            prev = new_hash
        else:
            prev = event.hash


def _checkpoint_dir(backend: Backend) -> Path:
    return Path(backend.artifacts._root) / checkpoints.CHECKPOINT_DIR  # local store in these tests


def test_an_approval_commit_writes_a_signed_checkpoint_that_verifies(backend: Backend) -> None:
    append_events(backend, 3)  # three model_version.approved commits
    assert _seqs(backend) == [1, 2, 3]
    latest = _latest(backend)
    with backend.read() as session:
        head = audit_store.last(session)
    assert head is not None and (latest.seq, latest.hash, latest.number) == (3, head.hash, 3)
    assert latest.previous is not None and (latest.previous.number, latest.previous.seq) == (2, 2)
    assert backend.audit_signing_key is not None
    assert stat.S_IMODE(backend.audit_signing_key.stat().st_mode) == 0o600
    # anyone can check the signature with the public key published beside the checkpoints
    public = serialization.load_pem_public_key(backend.artifacts.get_record(f"audit/keys/{latest.key_id}.pem"))
    assert isinstance(public, Ed25519PublicKey)
    public.verify(base64.b64decode(latest.signature), latest.signed_bytes())
    report = audit.verify(backend)
    assert report.ok and report.checkpoint is not None and report.checkpoint.seq == 3
    assert report.checkpoint_problems == [] and report.warnings == []
    _record(backend, "run.deleted")  # not an anchored action: no checkpoint, and none is owed
    assert _seqs(backend) == [1, 2, 3] and audit.verify(backend).ok and audit.verify(backend).warnings == []


def test_a_real_alias_move_is_anchored(backend: Backend) -> None:
    run_id = run_with_model(backend)
    registry.register_version(backend, ALICE, "credit", run_id=run_id)
    before = _seqs(backend)
    registry.set_alias(backend, BOB, "credit", "champion", 1)
    with backend.read() as session:
        head = audit_store.last(session)
    assert head is not None and head.action == "alias.moved"
    assert _seqs(backend) == [*before, head.seq] and _latest(backend).hash == head.hash
    assert audit.verify(backend).ok


def test_a_rolled_back_transaction_writes_no_checkpoint(backend: Backend) -> None:
    append_events(backend, 1)
    with pytest.raises(RuntimeError), backend.write() as session:
        audit.record(session, "bob", "policy.changed", subject_type="policy", subject_id="p")
        raise RuntimeError("the change failed")
    assert _seqs(backend) == [1] and _latest(backend).seq == 1
    _record(backend, "policy.changed", actor="carol")  # takes seq 2, which the rolled-back event had
    with backend.read() as session:
        committed = audit_store.last(session)
    assert committed is not None and committed.actor == "carol"
    assert _seqs(backend) == [1, 2] and _latest(backend).hash == committed.hash
    assert audit.verify(backend).ok


def test_a_consistent_rewrite_of_the_whole_table_fails_a_plain_verify(backend: Backend) -> None:
    append_events(backend, 5)
    _rehash_from(backend, 2)
    with backend.read() as session:
        assert verify_chain(audit_store.iter_events(session)).ok  # the chain alone cannot tell
    report = audit.verify(backend)
    assert not report.ok and report.problem is None
    assert report.checkpoint_problems[0].startswith("the table was rewritten since checkpoint 5 at ")
    assert "the event at seq 5 carries hash" in report.checkpoint_problems[0]


def test_truncating_the_tail_fails_a_plain_verify(backend: Backend) -> None:
    append_events(backend, 5)
    sql(backend, "DELETE FROM audit_events WHERE seq >= 4")
    report = audit.verify(backend)
    assert not report.ok and report.problem is None
    assert report.checkpoint_problems[0].startswith(
        "rows were removed: the chain ends at seq 3 but checkpoint 5 names seq 5 (signed at "
    )


def test_a_checkpoint_signed_by_another_key_is_refused(backend: Backend, tmp_path: Path) -> None:
    append_events(backend, 3)
    _rehash_from(backend, 2)
    shutil.rmtree(_checkpoint_dir(backend))  # the attacker replaces the checkpoints with their own
    attacker = dataclasses.replace(backend, audit_signing_key=tmp_path / "mallory.pem")
    with backend.read() as session:
        forged_head = audit_store.last(session)
    assert forged_head is not None
    forged = checkpoints.write(attacker, Anchor(seq=forged_head.seq, hash=forged_head.hash, at=forged_head.at))
    assert forged is not None and forged.hash == forged_head.hash  # consistent with the forged table
    report = audit.verify(backend)
    assert not report.ok
    configured = checkpoints.load_key(backend.audit_signing_key, create=False)  # type: ignore[arg-type]
    assert configured is not None and configured.key_id != forged.key_id
    assert report.checkpoint_problems == [
        (f"{forged.label()} is signed by key {forged.key_id[:16]}…, not by the configured key "
        f"{configured.key_id[:16]}… ({backend.audit_signing_key}): refusing it"),
    ]


def test_an_altered_checkpoint_fails_its_signature(backend: Backend) -> None:
    append_events(backend, 3)
    _rehash_from(backend, 2)
    with backend.read() as session:
        forged_head = audit_store.last(session)
    assert forged_head is not None
    edited = _latest(backend).model_copy(update={"hash": forged_head.hash}).to_bytes()  # signature kept
    backend.artifacts.put_record(checkpoints.object_name(3), edited)
    backend.artifacts.put_record(checkpoints.LATEST, edited)
    report = audit.verify(backend)
    assert not report.ok
    assert report.checkpoint_problems[0] == f"{_latest(backend).label()} has an invalid signature: it was altered or forged"
    assert report.checkpoint_problems[1].startswith("the table was rewritten since checkpoint 2 at ")  # the one before


def test_deleting_checkpoint_objects_is_visible(backend: Backend) -> None:
    append_events(backend, 5)
    (_checkpoint_dir(backend) / "000000000004.json").unlink()  # the one the newest names
    report = audit.verify(backend)
    assert not report.ok and report.checkpoint_problems == [
        (f"{_latest(backend).label()} names checkpoint 4 (seq 4) before it, but that object is missing: "
        "checkpoints were deleted"),
    ]
    (_checkpoint_dir(backend) / "000000000005.json").unlink()  # the newest, while the pointer names it
    problems = audit.verify(backend).checkpoint_problems
    assert f"{_latest(backend).label()} (seq 5), named by audit/checkpoints/latest.json, is missing" in problems[0]


def test_a_failed_checkpoint_write_does_not_fail_the_change(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    append_events(backend, 2)

    def unavailable(name: str, data: bytes) -> None:
        raise OSError("the bucket is unreachable")

    monkeypatch.setattr(backend.artifacts, "put_record", unavailable)
    append_events(backend, 1)  # commits all the same
    assert "could not write the audit checkpoint of seq 3" in caplog.text
    monkeypatch.undo()
    report = audit.verify(backend)
    assert report.ok and report.checked == 3 and report.checkpoint is not None and report.checkpoint.seq == 2
    assert report.warnings == [
        (f"the newest checkpoint ({report.checkpoint.label()}, seq 2) is older than seq 3 "
        "(model_version.approved): a checkpoint write failed; 'modelward audit anchor' writes one now"),
    ]
    assert audit.checkpoint(backend).seq == 3  # type: ignore[union-attr]
    assert audit.verify(backend).warnings == []


def test_no_checkpoint_at_all_is_a_problem_once_something_needed_one(backend: Backend) -> None:
    append_events(backend, 2)
    shutil.rmtree(_checkpoint_dir(backend))
    report = audit.verify(backend)
    assert not report.ok and report.checkpoint_problems[0].startswith(
        "no signed checkpoint exists, although seq 2 (model_version.approved) was to be anchored"
    )


def test_signing_over_a_rewritten_table_is_refused(backend: Backend) -> None:
    append_events(backend, 3)
    _rehash_from(backend, 2)
    _record(backend, "run.deleted")  # the head moves on top of the forgery
    assert audit.checkpoint(backend).seq == 3  # type: ignore[union-attr]  # refused: still the genuine one
    append_events(backend, 1)  # an anchored commit on top of the forgery: refused after commit too
    assert _seqs(backend) == [1, 2, 3]
    assert "rewritten since checkpoint 3" in audit.verify(backend).checkpoint_problems[0]


def test_the_server_anchors_periodically_when_the_head_moved(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "store", webhooks_enabled=False, audit_anchor_interval_s=0.05)
    backend = Backend.from_settings(settings)
    try:
        _record(backend, "run.deleted")  # not anchored on commit
        assert _seqs(backend) == []
        with TestClient(create_app(settings, backend=backend)):
            deadline = time.monotonic() + 10
            while _seqs(backend) != [1] and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _seqs(backend) == [1]
            _record(backend, "run.restored")
            while _seqs(backend) != [1, 2] and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _seqs(backend) == [1, 2]
    finally:
        backend.close()


def test_cli_anchor_signs_and_verify_reports_a_truncation_in_one_line(cli: Cli) -> None:
    backend = Backend.from_settings(Settings())  # ./.modelward, as the CLI uses
    _record(backend, "run.deleted")
    _record(backend, "run.deleted")
    result = cli("audit", "anchor")
    assert '"seq":2' in result.stdout and "checkpoint 1" in result.stderr
    assert _seqs(backend) == [2]
    assert "chain intact: 2 events" in cli("audit", "verify").stdout
    sql(backend, "DELETE FROM audit_events WHERE seq = 2")
    broken = cli("audit", "verify", ok=False)
    assert broken.exit_code == 1
    lines = broken.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "rows were removed: the chain ends at seq 1 but checkpoint 1 names seq 2"
    )
    backend.close()
