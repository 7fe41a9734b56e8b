"""Without auth, acting as someone (``--as``, ``Client(user=...)``, ``x-modelward-as``) takes
a user the store knows, with exactly its roles; naming no one is the operator (local admin)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from modelward.domain.actors import Role
from modelward.errors import PermissionDenied
from modelward.sdk.client import Client
from modelward.services import users
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.cli.conftest import Cli, modelward, store  # noqa: F401  (fixtures)
from tests.fixtures.apps import in_process_app
from tests.governance.test_sdk import _register

NAME = "id-model"
POLICY = f"""\
model: {NAME}
gates:
  - {{metric: roc_auc, min: 0.9}}
review: {{approvals: 2, roles: [risk, compliance], risk_assessment_required: false}}
"""


def _in_review(operator: Client, tmp_path: Path) -> int:
    """A version registered and evaluated on the policy's own data, now in review."""
    version, data = _register(operator, NAME, tmp_path)
    operator.policies.set(POLICY + f"evaluation_dataset: {{run_id: {data['run_id']}, path: {data['path']}}}\n")
    assert operator.governance.evaluate(NAME, version).passed
    assert operator.governance.state(NAME, version).state == "in_review"
    return version


def _approval_roles(client: Client, user: str, version: int) -> list[list[str]]:
    return [r.roles for r in client.governance.reviews(NAME, version) if r.decision == "approve" and r.reviewer == user]


# -- embedded, through the CLI and the SDK ------------------------------------------------------


def test_the_implicit_operator_sets_a_policy_and_a_risk_only_user_counts_only_as_risk(
    store: Client, tmp_path: Path,  # noqa: F811
) -> None:
    cli = Cli()
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY)
    assert "version 1" in cli("policy", "set", str(policy_file)).output  # no --as: the operator
    cli("auth", "add-user", "rita", "--role", "risk")
    version = _in_review(store, tmp_path)
    cli("review", "--as", "rita", "approve", NAME, str(version), "-m", "risks fine")
    assert _approval_roles(store, "rita", version) == [["risk"]]
    assert store.governance.state(NAME, version).state == "in_review"  # compliance has not signed
    assert any("compliance" in missing for missing in store.governance.missing(NAME, version))


def test_an_unknown_user_cannot_set_a_policy_one_line_error(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY)
    done = modelward("policy", "--as", "nobody", "set", str(policy_file), cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "unknown" in lines[0] and "modelward auth add-user nobody" in lines[0] and "admin" in lines[0]
    with Client() as operator:
        assert operator.policies.list() == []


def test_an_unknown_user_cannot_approve_but_can_log_a_run(store: Client, tmp_path: Path) -> None:  # noqa: F811
    store.policies.set(POLICY)
    version = _in_review(store, tmp_path)
    cli = Cli()
    refused = cli("review", "--as", "nobody", "approve", NAME, str(version), ok=False)
    assert refused.exit_code != 0
    assert "unknown" in str(refused.exception) and "approve" in str(refused.exception)
    assert _approval_roles(store, "nobody", version) == []
    with Client(settings=store.settings, user="nobody") as nobody:
        experiment = nobody.experiments.get_or_create("by-nobody")
        run = nobody.runs.create(experiment.id)
        nobody.runs.log_metric(run.id, "loss", 0.5)
        nobody.runs.end(run.id)
        assert nobody.runs.get(run.id).user == "nobody"
        with pytest.raises(PermissionDenied, match="unknown"):
            nobody.policies.set(POLICY)


def test_a_viewer_cannot_log_a_run_and_a_disabled_user_is_refused(store: Client) -> None:  # noqa: F811
    backend = Backend.from_settings(store.settings)
    try:
        users.create_user(backend, "vera", frozenset({Role.VIEWER}))
        users.create_user(backend, "gone", frozenset({Role.ADMIN}))
        users.set_disabled(backend, "gone", True)
    finally:
        backend.close()
    experiment = store.experiments.get_or_create("viewed")
    with Client(settings=store.settings, user="vera") as vera:
        assert vera.experiments.get(experiment.id).name == "viewed"  # reading is fine
        with pytest.raises(PermissionDenied, match=r"'vera' \(roles: viewer\) lacks the 'write' permission"):
            vera.runs.create(experiment.id)
    with Client(settings=store.settings, user="gone") as gone, pytest.raises(PermissionDenied, match="disabled"):
        gone.experiments.get(experiment.id)


# -- a server without auth, over HTTP ---------------------------------------------------------------


@pytest.fixture
def open_server(tmp_path: Path) -> Iterator[tuple[TestClient, Backend]]:
    with in_process_app(Settings(home=tmp_path / "server", auth=False)) as app:
        yield app


def _as(user: str) -> dict[str, str]:
    return {"x-modelward-user": user, "x-modelward-as": user}


def test_over_http_explicit_claims_get_the_stored_roles(open_server) -> None:  # type: ignore[no-untyped-def]
    http, backend = open_server
    users.create_user(backend, "rita", frozenset({Role.RISK}))
    users.create_user(backend, "vera", frozenset({Role.VIEWER}))
    # no header at all (the MLflow client): the operator, who may do anything
    assert http.post("/api/2.0/mlflow/experiments/create", json={"name": "mlf"}).status_code == 200
    assert http.put("/api/v1/policies", json={"yaml": POLICY}).status_code == 200
    # the SDK's implicit label names the operator and still grants admin, with no lookup
    labelled = http.put("/api/v1/policies", json={"yaml": POLICY}, headers={"x-modelward-user": "someone"})
    assert labelled.status_code == 200 and labelled.json()["created_by"] == "someone"
    for user in ("nobody", "rita"):
        refused = http.put("/api/v1/policies", json={"yaml": POLICY}, headers=_as(user))
        assert refused.status_code == 403 and "'admin' permission" in refused.json()["message"], refused.json()
    assert "unknown" in http.put("/api/v1/policies", json={"yaml": POLICY}, headers=_as("nobody")).json()["message"]
    experiment = http.post("/api/v1/experiments", json={"name": "x"}).json()
    run = http.post("/api/v1/runs", json={"experiment_id": experiment["id"]}, headers=_as("nobody"))
    assert run.status_code in (200, 201) and run.json()["user"] == "nobody"
    viewer = http.post("/api/v1/runs", json={"experiment_id": experiment["id"]}, headers=_as("vera"))
    assert viewer.status_code == 403 and "'write' permission" in viewer.json()["message"]
    approve = http.post(f"/api/v1/models/{NAME}/versions/1/approve", json={}, headers=_as("nobody"))
    assert approve.status_code == 403 and "unknown" in approve.json()["message"]
