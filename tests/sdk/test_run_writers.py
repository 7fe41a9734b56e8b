"""Who wrote what into a run: every write through the native API records its authenticated
writer, uploads leave an audit event, and nobody creates a run in another user's name."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from modelward.api.app import create_app
from modelward.domain.actors import Role
from modelward.domain.tracking import Metric, RunStatus
from modelward.sdk.client import Client
from modelward.services import users
from modelward.services.backend import Backend
from modelward.settings import Settings
from modelward.store import run_writers
from modelward.store import runs as run_store
from tests.cli.conftest import Cli


class Team:
    """An embedded store with auth on, and one SDK client per user."""

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.settings, self.backend = settings, backend
        self.tokens: dict[str, str] = {}
        self.clients: dict[str, Client] = {}

    def client(self, name: str, role: Role = Role.CONTRIBUTOR) -> Client:
        if name not in self.clients:
            users.create_user(self.backend, name, frozenset({role}))
            self.tokens[name] = users.create_token(self.backend, name).token
            self.clients[name] = Client(settings=self.settings, token=self.tokens[name])
        return self.clients[name]


@pytest.fixture
def team(settings: Settings) -> Iterator[Team]:
    """On SQLite and PostgreSQL (the ``settings`` fixture), with auth on."""
    settings = settings.model_copy(update={"auth": True, "webhooks_enabled": False})
    backend = Backend.from_settings(settings)
    found = Team(settings, backend)
    yield found
    for client in found.clients.values():
        client.close()
    backend.close()


def test_a_colleagues_param_and_upload_make_her_a_writer_of_the_run(team: Team, tmp_path: Path) -> None:
    alice, bob = team.client("alice"), team.client("bob")
    experiment = alice.experiments.create("churn")
    run = alice.runs.create(experiment.id, name="baseline")
    alice.runs.log_metric(run.id, "acc", 0.9)

    bob.runs.log_params(run.id, {"C": "1.0"})
    (tmp_path / "model.pkl").write_bytes(b"bob's weights")
    bob.artifacts.upload(run.id, tmp_path / "model.pkl", "model")

    assert alice.runs.get(run.id).user == "alice"
    assert alice.runs.writers(run.id) == {"alice": ["created", "metrics"], "bob": ["params", "artifacts"]}
    with team.backend.read() as session:
        assert run_writers.users(session, run_store.pk_of(session, run.id)) == {"alice", "bob"}


def test_every_upload_appends_an_audit_event_naming_its_writer(team: Team) -> None:
    alice, bob = team.client("alice"), team.client("bob")
    run = alice.runs.create(alice.experiments.create("churn").id)
    stored = bob.artifacts.upload_bytes(run.id, "model/model.pkl", b"bob's weights")
    alice.artifacts.upload_bytes(run.id, "notes.txt", b"mine")

    events = alice.audit.list(action="run.artifact_uploaded", newest_first=False)
    assert [(e.actor, e.subject_type, e.subject_id) for e in events] == [("bob", "run", run.id), ("alice", "run", run.id)]
    assert events[0].details == {"path": "model/model.pkl", "digest": stored.digest, "size": len(b"bob's weights")}


def test_every_door_into_a_run_records_its_writer(team: Team) -> None:
    alice, carol = team.client("alice"), team.client("carol")
    run = alice.runs.create(alice.experiments.create("churn").id)

    carol.runs.set_tags(run.id, {"stage": "dev"})
    carol.runs.log_batch(run.id, metrics=[Metric(key="loss", value=0.1, step=0, timestamp_ms=1)])
    carol.runs.rename(run.id, "renamed")
    carol.runs.add_note(run.id, "looks fine")
    carol.runs.append_logs(run.id, [("stdout", "epoch 1\n")])
    carol.datasets.log(uri="s3://data/train.parquet", name="train", digest="sha256:" + "ab" * 32, run_id=run.id)
    carol.runs.delete_tag(run.id, "stage")
    carol.runs.end(run.id, RunStatus.FINISHED)

    assert alice.runs.writers(run.id) == {
        "alice": ["created"],
        "carol": ["tags", "metrics", "name", "notes", "logs", "inputs", "status"],
    }


def test_nobody_creates_a_run_in_another_users_name(team: Team) -> None:
    alice, bob = team.client("alice"), team.client("bob")
    experiment = alice.experiments.create("churn")
    with TestClient(create_app(team.settings, backend=team.backend), raise_server_exceptions=False) as http:
        headers = {"authorization": f"Bearer {team.tokens['bob']}", "x-modelward-user": "alice"}
        refused = http.post("/api/v1/runs", json={"experiment_id": experiment.id, "user": "alice"}, headers=headers)
        assert refused.status_code == 400 and "user" in refused.text  # a run has no user field to claim
        created = http.post("/api/v1/runs", json={"experiment_id": experiment.id}, headers=headers)
    assert created.status_code == 201 and created.json()["user"] == "bob"
    assert bob.runs.writers(created.json()["id"]) == {"bob": ["created"]}


def test_writers_needs_read_permission_and_an_existing_run(team: Team) -> None:
    alice = team.client("alice")
    run = alice.runs.create(alice.experiments.create("churn").id)
    viewer = team.client("vera", Role.VIEWER)
    assert viewer.runs.writers(run.id) == {"alice": ["created"]}
    with TestClient(create_app(team.settings, backend=team.backend), raise_server_exceptions=False) as http:
        assert http.get(f"/api/v1/runs/{run.id}/writers").status_code == 401
        assert http.get("/api/v1/runs/nope/writers", headers={"authorization": f"Bearer {team.tokens['vera']}"}
                        ).status_code == 404


def test_a_repeated_write_keeps_one_row_and_its_first_time(team: Team) -> None:
    alice = team.client("alice")
    run = alice.runs.create(alice.experiments.create("churn").id)
    for value in (1.0, 2.0, 3.0):
        alice.runs.log_metric(run.id, "acc", value)
    with team.backend.write() as session:
        run_pk = run_store.pk_of(session, run.id)
        before = run_writers.writers(session, run_pk)
        run_writers.record(session, run_pk, "alice", ["metrics", "metrics", "params"], datetime.now(UTC))
        assert before == {"alice": ["created", "metrics"]}
        assert run_writers.writers(session, run_pk) == {"alice": ["created", "metrics", "params"]}


def test_runs_show_lists_who_wrote_into_the_run() -> None:
    with Client() as mine, Client(user="bob") as bob:
        run = mine.runs.create(mine.experiments.create("shown").id, name="shown")
        bob.runs.log_params(run.id, {"C": "1.0"})
        bob.artifacts.upload_bytes(run.id, "model/model.pkl", b"weights")
        creator = mine.runs.get(run.id).user
    out = Cli()("runs", "show", run.id).output
    assert "Written by" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip() and line.split()[0] in (creator, "bob")}
    assert "created" in lines[creator] and "params, artifacts" in lines["bob"]


def test_a_service_write_without_an_actor_is_a_type_error() -> None:
    from modelward.services import runs

    with pytest.raises(TypeError, match="actor"):
        runs.log_batch(None, "run", params={"a": "b"})  # type: ignore[arg-type,call-arg]
