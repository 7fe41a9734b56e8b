"""Deleting, restoring and administering write audit events naming the actor; secrets never do."""

from __future__ import annotations

from modelward.domain.actors import Actor, Role
from modelward.services import audit, experiments, runs, users
from modelward.services.backend import Backend
from tests.audit.conftest import bearer


def _actions(backend: Backend) -> list[tuple[str, str, str]]:
    return [(e.action, e.actor, e.subject_id) for e in audit.list_(backend, newest_first=False, limit=1000)]


def test_experiment_and_run_deletes_restores_and_purges_are_recorded(backend: Backend) -> None:
    carol = Actor(name="carol")
    exp = experiments.create(backend, "audited")
    run = runs.start(backend, carol, experiment_id=exp.id)
    runs.delete(backend, run.id, actor=carol)
    runs.restore(backend, run.id, actor=carol)
    runs.delete(backend, run.id, permanent=True, actor=carol)
    experiments.delete(backend, exp.id, actor=carol)
    experiments.restore(backend, exp.id)
    experiments.delete(backend, exp.id, permanent=True, actor=carol)
    assert _actions(backend) == [
        ("run.deleted", "carol", run.id), ("run.restored", "carol", run.id), ("run.purged", "carol", run.id),
        ("experiment.deleted", "carol", exp.id), ("experiment.restored", "local", exp.id),
        ("experiment.purged", "carol", exp.id),
    ]
    assert audit.list_(backend, limit=1)[0].details == {"name": "audited"}  # kept after the purge
    assert audit.verify(backend).ok


def test_user_and_token_administration_is_recorded_without_the_secret(backend: Backend) -> None:
    admin = Actor(name="root")
    users.create_user(backend, "erin", frozenset({Role.VIEWER}), actor=admin)
    users.set_roles(backend, "erin", frozenset({Role.REVIEWER}), actor=admin)
    new = users.create_token(backend, "erin", name="ci", actor=admin)
    users.revoke_token(backend, new.info.id, actor=admin)
    users.set_disabled(backend, "erin", True, actor=admin)
    assert [a for a, _, _ in _actions(backend)] == [
        "user.created", "user.roles_changed", "token.created", "token.revoked", "user.disabled",
    ]
    exported = "".join(audit.export(backend, "jsonl"))
    assert new.token not in exported and new.token[3:] not in exported
    changed = audit.list_(backend, action="user.roles_changed")[0]
    assert changed.details == {"from": ["viewer"], "to": ["reviewer"]} and changed.actor == "root"


def test_deleting_an_experiment_over_rest_records_the_authenticated_user(secured) -> None:  # type: ignore[no-untyped-def]
    http, backend = secured
    dana = bearer(backend, "dana", Role.CONTRIBUTOR)
    exp_id = http.post("/api/v1/experiments", json={"name": "x"}, headers=dana).json()["id"]
    assert http.delete(f"/api/v1/experiments/{exp_id}", headers=dana).status_code == 204
    viewer = bearer(backend, "vic", Role.VIEWER)  # auditors are viewers
    events = http.get("/api/v1/audit", params={"action": "experiment.deleted"}, headers=viewer).json()["events"]
    assert [(e["actor"], e["subject_id"]) for e in events] == [("dana", exp_id)]
    assert http.get("/api/v1/audit/verify", headers=viewer).json()["ok"] is True
    assert http.get("/api/v1/audit/export", params={"format": "csv"}, headers=viewer).status_code == 200
    assert http.get("/api/v1/webhooks", headers=viewer).status_code == 403
    assert http.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:1/", "events": ["*"]},
                     headers=dana).status_code == 403
