"""verify replays the events that set a version's status and compares with the database: a status
edited in SQL, a version or an approval inserted in SQL, a version deleted in SQL are all named."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from modelward.api.app import create_app
from modelward.domain.audit import STATUS_ACTIONS, AuditEvent, StateReplay
from modelward.sdk.client import Client
from modelward.services import audit, registry
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.audit.helpers import sql
from tests.cli.conftest import Cli
from tests.registry.helpers import ALICE, BOB, run_with_model

EDITED = "version 2 of model 'churn' is 'approved' in the database but 'candidate' by its audit events (edited outside modelward?)"


def _two_versions(backend: Backend, name: str = "churn") -> None:
    run_id = run_with_model(backend)
    registry.register_version(backend, ALICE, name, run_id=run_id)
    registry.register_version(backend, ALICE, name, run_id=run_id)


def _set_status(backend: Backend, version: int, status: str) -> None:
    sql(backend, "UPDATE model_versions SET status = :s WHERE version = :v", s=status, v=version)


def test_a_direct_status_update_is_reported_naming_the_version(backend: Backend) -> None:
    _two_versions(backend)
    assert audit.verify(backend).ok
    _set_status(backend, 2, "approved")
    report = audit.verify(backend)
    assert not report.ok and report.problem is None and report.checkpoint_problems == []
    assert report.state_problems == [EDITED]
    assert report.summary() == EDITED


def test_lifecycle_events_replay_to_the_stored_status(backend: Backend) -> None:
    _two_versions(backend)
    registry.set_stage(backend, BOB, "churn", 1, "Staging")  # MLflow stages are not statuses
    registry.archive_version(backend, BOB, "churn", 1, reason="superseded")
    assert registry.get_version(backend, "churn", 1).status == "archived"
    registry.update_model(backend, BOB, "churn", new_name="churn-v2")
    assert audit.verify(backend).ok
    _set_status(backend, 1, "candidate")  # un-archived in SQL, after the rename
    assert audit.verify(backend).state_problems == [
        ("version 1 of model 'churn-v2' is 'candidate' in the database but 'archived' by its audit events "
        "(edited outside modelward?)"),
    ]
    _set_status(backend, 1, "archived")
    registry.delete_version(backend, BOB, "churn-v2", 1)
    assert audit.verify(backend).ok
    registry.delete_model(backend, ALICE, "churn-v2")
    assert audit.verify(backend).ok


def test_a_version_inserted_or_deleted_in_sql_is_reported(backend: Backend) -> None:
    _two_versions(backend)
    sql(backend, "INSERT INTO model_versions (model_id, version, status, source, artifact_digest, requirements,"
                 " metrics, created_at, updated_at) SELECT model_id, 9, 'approved', source, artifact_digest,"
                 " requirements, metrics, created_at, updated_at FROM model_versions WHERE version = 1")
    sql(backend, "DELETE FROM model_versions WHERE version = 2")
    assert audit.verify(backend).state_problems == [
        "version 9 of model 'churn' has no registration event in the audit trail (created outside modelward?)",
        ("version 2 of model 'churn' is missing from the database, but no audit event deleted it "
        "(deleted outside modelward?)"),
    ]


def _insert_approval(backend: Backend, review_id: str, version: int = 1) -> None:
    sql(backend, "INSERT INTO governance_reviews (id, version_pk, decision, reviewer, roles, artifact_digest,"
                 " created_at) SELECT :id, pk, 'approve', 'mallory', '[\"approver\"]', artifact_digest, created_at"
                 " FROM model_versions WHERE version = :v", id=review_id, v=version)


def test_a_fake_approval_row_is_reported(backend: Backend) -> None:
    _two_versions(backend)
    _insert_approval(backend, "fake0001")
    report = audit.verify(backend)
    assert not report.ok and report.state_problems == [
        ("the approval fake0001 of version 1 of model 'churn' has no review.approval_recorded audit event "
        "(inserted outside modelward?)"),
    ]
    with backend.write() as session:  # what governance.approve records with the review
        audit.record(session, "bob", "review.approval_recorded", subject_type="model_version",
                     subject_id="churn/1", model_name="churn", details={"review_id": "fake0001"})
    assert audit.verify(backend).ok


def test_replay_follows_each_status_action() -> None:
    replay = StateReplay()
    seq = 0

    def apply(action: str, subject: str = "m/1", subject_type: str = "model_version", **details: object) -> None:
        nonlocal seq
        seq += 1
        replay.apply(AuditEvent(seq=seq, at="2025-01-31T12:00:00Z", actor="a", action=action,
                                subject_type=subject_type, subject_id=subject, details=details,
                                prev_hash="0" * 64, hash="0" * 64))

    apply("model_version.registered")
    for action, before, after in [("review.requested", "candidate", "in_review"),
                                  ("model_version.approved", "in_review", "approved"),
                                  ("review.approval_voided", "approved", "in_review"),
                                  ("model_version.approved", "in_review", "approved"),
                                  ("model_version.released", "approved", "released")]:
        assert action in STATUS_ACTIONS
        apply(action, **{"from": before, "to": after})
    apply("model_version.stage_changed", **{"from": "None", "to": "Production"})
    apply("model.renamed", "m", "registered_model", **{"from": "m", "to": "n"})
    assert list(replay.version_problems([("n", 1, "released")])) == []
    (problem,) = replay.version_problems([("n", 1, "approved")])
    assert problem.startswith("version 1 of model 'n' is 'approved' in the database but 'released'")


def test_rest_and_sdk_report_state_problems(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "store", webhooks_enabled=False)
    backend = Backend.from_settings(settings)
    _two_versions(backend)
    _set_status(backend, 2, "approved")
    with TestClient(create_app(settings, backend=backend)) as http:
        body = http.get("/api/v1/audit/verify").json()
        assert body["ok"] is False and body["state_problems"] == [EDITED]
        assert http.post("/api/v1/audit/checkpoints").json()["checkpoint"]["seq"] == body["head"]["seq"]
    with Client(settings=settings) as client:
        report = client.audit.verify()
        assert not report.ok and report.problems() == [EDITED]
        assert client.audit.checkpoint().seq == report.head.seq  # type: ignore[union-attr]
    backend.close()


def test_cli_verify_exits_non_zero_with_one_line_naming_the_version(cli: Cli) -> None:
    backend = Backend.from_settings(Settings())  # ./.modelward, as the CLI uses
    _two_versions(backend)
    assert "chain intact" in cli("audit", "verify").stdout
    _set_status(backend, 2, "approved")
    result = cli("audit", "verify", ok=False)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [EDITED]
    backend.close()
