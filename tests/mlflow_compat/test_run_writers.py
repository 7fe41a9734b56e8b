"""Through the real mlflow client against a server with auth: a colleague's param and upload
into someone else's run make him one of its writers, the upload is audited under his name,
and ``runs/create`` cannot name another user as the creator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelward.domain.actors import Role
from modelward.services import users
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.fixtures.servers import ServerProcess, start_server, stop_server

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    home = tmp_path_factory.mktemp("writers")
    backend = Backend.from_settings(Settings(home=home))
    tokens = {}
    for name in ("alice", "bob"):
        users.create_user(backend, name, frozenset({Role.CONTRIBUTOR}))
        tokens[name] = users.create_token(backend, name).token
    backend.close()
    server = start_server(home, env={"MODELWARD_AUTH": "true"})
    yield server, tokens
    stop_server(server)


@pytest.fixture
def as_user(secured, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``as_user(name)``: an MlflowClient that authenticates as ``name`` (MLFLOW_TRACKING_TOKEN)."""
    server, tokens = secured
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    for variable in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)

    def switch(name: str) -> Any:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", tokens[name])
        return mlflow.MlflowClient(tracking_uri=server.url)

    return switch


def _get(secured, path: str, **params: str) -> Any:  # type: ignore[no-untyped-def]
    server, tokens = secured
    answer = httpx.get(f"{server.url}{path}", params=params, headers={"authorization": f"Bearer {tokens['alice']}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_colleagues_param_and_upload_through_mlflow_are_recorded(secured, as_user, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alice = as_user("alice")
    experiment_id = alice.create_experiment("mlflow-writers")
    run_id = alice.create_run(experiment_id).info.run_id
    alice.log_metric(run_id, "acc", 0.9)

    bob = as_user("bob")
    bob.log_param(run_id, "C", "1.0")
    weights = tmp_path / "model.pkl"
    weights.write_bytes(b"bob's weights")
    bob.log_artifact(run_id, str(weights), artifact_path="model")

    writers = _get(secured, f"/api/v1/runs/{run_id}/writers")["writers"]
    assert writers == {"alice": ["created", "metrics"], "bob": ["params", "artifacts"]}
    events = _get(secured, "/api/v1/audit", action="run.artifact_uploaded")["events"]
    uploads = [e for e in events if e["subject_id"] == run_id]
    assert [(e["actor"], e["details"]["path"], e["details"]["size"]) for e in uploads] == [
        ("bob", "model/model.pkl", len(b"bob's weights"))
    ]


def test_runs_create_records_the_caller_whatever_user_id_says(secured, as_user) -> None:  # type: ignore[no-untyped-def]
    alice = as_user("alice")
    experiment_id = alice.create_experiment("mlflow-claims")
    bob = as_user("bob")
    # The mlflow client sends the ``mlflow.user`` tag as the body's ``user_id``.
    run = bob.create_run(experiment_id, tags={"mlflow.user": "alice"})
    assert run.info.user_id == "bob"
    server, tokens = secured
    raw = httpx.post(f"{server.url}/api/2.0/mlflow/runs/create", json={"experiment_id": experiment_id, "user_id": "alice"},
                     headers={"authorization": f"Bearer {tokens['bob']}"})
    assert raw.status_code == 200 and raw.json()["run"]["info"]["user_id"] == "bob"
    for run_id in (run.info.run_id, raw.json()["run"]["info"]["run_id"]):
        assert _get(secured, f"/api/v1/runs/{run_id}/writers")["writers"] == {"bob": ["created"]}
