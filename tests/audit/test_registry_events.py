"""Registry changes (create, register, alias moves, stages, archive, delete) write audit events
in the same transaction as the change; a refused change writes none."""

from __future__ import annotations

import pytest

from modelward.domain.actors import Actor, Role
from modelward.domain.governance import UNARCHIVABLE, VersionState, check_archivable
from modelward.errors import Conflict, InvalidInput, InvalidTransition, PolicyViolation
from modelward.services import audit, policies, registry
from modelward.services.backend import Backend
from tests.audit.conftest import bearer
from tests.registry.helpers import ALICE, BOB, run_with_model


def _events(backend: Backend, model: str) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    return [(e.action, e.actor, e.details) for e in audit.list_(backend, model=model, newest_first=False, limit=1000)]


def test_the_life_of_a_registered_model_is_on_record(backend: Backend) -> None:
    run_id = run_with_model(backend)
    registry.register_version(backend, ALICE, "credit", run_id=run_id)
    registry.register_version(backend, ALICE, "credit", run_id=run_id)
    registry.set_alias(backend, BOB, "credit", "champion", 1, reason="first good one")
    registry.set_alias(backend, BOB, "credit", "champion", 2)
    registry.delete_alias(backend, BOB, "credit", "champion", reason="paused")
    registry.set_stage(backend, BOB, "credit", 2, "Staging")
    registry.archive_version(backend, BOB, "credit", 1, reason="superseded")
    registry.delete_version(backend, BOB, "credit", 1, reason="cleanup")
    registry.update_model(backend, BOB, "credit", new_name="credit-risk")

    events = _events(backend, "credit")
    assert [(action, actor) for action, actor, _ in events] == [
        ("model.created", "alice"), ("model_version.registered", "alice"), ("model_version.registered", "alice"),
        ("alias.moved", "bob"), ("alias.moved", "bob"), ("alias.deleted", "bob"),
        ("model_version.stage_changed", "bob"), ("model_version.archived", "bob"), ("model_version.deleted", "bob"),
    ]
    registered = events[1][2]
    assert registered["run_id"] == run_id and registered["source"] == f"runs:/{run_id}/model"
    assert registered["artifact_digest"] == registry.get_version(backend, "credit-risk", 2).artifact_digest
    assert [e[2]["from_version"] for e in events[3:6]] == [None, 1, 2]
    assert events[4][2]["to_version"] == 2 and events[5][2]["alias"] == "champion"
    assert events[6][2] == {"from": "None", "to": "Staging", "archived_versions": []}
    assert events[7][2] == {"from": "candidate", "to": "archived"}
    assert events[8][2]["status"] == "archived"
    reasons = {e.action: e.reason for e in audit.list_(backend, model="credit", limit=100)}
    assert reasons["model_version.deleted"] == "cleanup" and reasons["model_version.archived"] == "superseded"

    registry.delete_model(backend, ALICE, "credit-risk", reason="replaced")
    renamed, deleted = _events(backend, "credit-risk")
    assert renamed[0] == "model.renamed" and renamed[2] == {"from": "credit", "to": "credit-risk"}
    assert deleted[0] == "model.deleted" and deleted[1] == "alice"
    assert set(deleted[2]["versions"]) == {"2"}  # what was deleted stays on record
    assert audit.verify(backend).ok


def test_a_refused_change_leaves_no_event(backend: Backend) -> None:
    run_id = run_with_model(backend)
    registry.register_version(backend, ALICE, "held", run_id=run_id)
    registry.set_alias(backend, ALICE, "held", "champion", 1)
    policies.set_policy(backend, Actor(name="root"), "model: held\ngates: []\n")  # protects champion, production
    before = len(_events(backend, "held"))
    with pytest.raises(Conflict, match="'champion'"):
        registry.delete_version(backend, ALICE, "held", 1)
    with pytest.raises(PolicyViolation, match="alias 'production'"):
        registry.set_stage(backend, ALICE, "held", 1, "Production")
    assert len(_events(backend, "held")) == before
    assert registry.get_version(backend, "held", 1).tags.get("mlflow.current_stage") is None


def test_stage_is_set_only_through_set_stage_and_archive_existing_moves_the_rest(backend: Backend) -> None:
    run_id = run_with_model(backend)
    for _ in range(3):
        registry.register_version(backend, ALICE, "staged", run_id=run_id)
    registry.set_stage(backend, ALICE, "staged", 1, "Staging")
    registry.set_stage(backend, ALICE, "staged", 2, "Staging")
    moved = registry.set_stage(backend, ALICE, "staged", 3, "Staging", archive_existing=True)
    assert moved.tags["mlflow.current_stage"] == "Staging"
    stages = {v: registry.get_version(backend, "staged", v).tags["mlflow.current_stage"] for v in (1, 2)}
    assert stages == {1: "Archived", 2: "Archived"}
    assert audit.list_(backend, model="staged", limit=1)[0].details["archived_versions"] == [1, 2]
    with pytest.raises(InvalidInput, match="transition-stage"):
        registry.set_version_tags(backend, BOB, "staged", 1, {"mlflow.current_stage": "Production"})
    with pytest.raises(InvalidInput, match="'Live' is not one of"):
        registry.set_stage(backend, ALICE, "staged", 1, "Live")


@pytest.mark.parametrize("state", list(VersionState))
def test_archiving_may_not_cut_the_life_cycle_short(state: VersionState) -> None:
    if state in UNARCHIVABLE:
        with pytest.raises(InvalidTransition, match=f"state '{state.value}' cannot be archived"):
            check_archivable(state.value)
    else:
        check_archivable(state.value)


def test_rest_records_the_authenticated_user_and_refuses_a_status_assignment(secured) -> None:  # type: ignore[no-untyped-def]
    http, backend = secured
    dana = bearer(backend, "dana", Role.CONTRIBUTOR)
    registry.register_version(backend, ALICE, "rest", run_id=run_with_model(backend))
    url = "/api/v1/models/rest/versions/1"
    refused = http.patch(url, json={"status": "approved"}, headers=dana)
    assert refused.status_code in (400, 422) and "status" in refused.text
    assert registry.get_version(backend, "rest", 1).status == "candidate"
    assert http.post(f"{url}/archive", params={"reason": "old"}, headers=dana).json()["status"] == "archived"
    assert http.delete(url, params={"reason": "gone"}, headers=dana).status_code == 204
    events = audit.list_(backend, model="rest", actor="dana", newest_first=False)
    assert [(e.action, e.reason) for e in events] == [("model_version.archived", "old"), ("model_version.deleted", "gone")]
