"""The same governance calls through the SDK (embedded SQLite/PostgreSQL and a real server),
and the protected-alias rule through the real mlflow client."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward import models
from modelward.errors import PermissionDenied, PolicyViolation
from modelward.sdk.client import Client
from modelward.domain.actors import Role
from modelward.domain.governance import RISK_CATEGORIES
from modelward.services import users
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.governance.helpers import cancer_frame, fair_model

FRAME = cancer_frame()
MODEL = fair_model(FRAME)
POLICY = """\
model: {name}
gates:
  - {{metric: roc_auc, min: 0.9}}
  - {{fairness: demographic_parity_difference, sensitive_feature: sex, max: 0.2}}
review: {{approvals: 2, compliance_checklist: [documented]}}
"""


def _add_users(client: Client, request: pytest.FixtureRequest, roles: dict[str, set[Role]]) -> None:
    """Store users in the client's store (a remote client's is the live server's), as
    ``modelward auth add-user`` does: acting as someone takes a user the store knows."""
    if client.http.embedded:
        settings = client.settings
    else:
        settings = Settings(home=request.getfixturevalue("live_server").home)
    backend = Backend.from_settings(settings)
    try:
        for name, granted in roles.items():
            users.ensure_user(backend, name, frozenset(granted))
    finally:
        backend.close()


def _other(client: Client, user: str) -> Client:
    if client.http.embedded:
        return Client(settings=client.settings, user=user)
    return Client(client.settings.tracking_uri, user=user)


def _register(client: Client, name: str, tmp_path: Path) -> tuple[int, dict[str, str]]:
    folder = models.save(MODEL, tmp_path / "model", input_example=FRAME.drop(columns=["target", "sex"]).head())
    version = client.models.register(name, local_path=folder).version
    experiment = client.experiments.get_or_create("governance-data")
    run = client.runs.create(experiment_id=experiment.id)
    (tmp_path / "eval.parquet").write_bytes(FRAME.to_parquet())
    client.artifacts.upload(run.id, tmp_path / "eval.parquet", "data")
    return version, {"run_id": run.id, "path": "data/eval.parquet"}


def test_review_flow_through_the_sdk(client: Client, unique: str, tmp_path: Path,
                                    request: pytest.FixtureRequest) -> None:
    name = f"gov-{unique}"
    _add_users(client, request, {"author": {Role.ADMIN}, "bob": {Role.APPROVER, Role.CONTRIBUTOR},
                                 "carol": {Role.APPROVER}})
    with _other(client, "author") as author, _other(client, "bob") as bob, _other(client, "carol") as carol:
        author.policies.set(POLICY.format(name=name))
        assert [p.version for p in author.policies.history(f"model:{name}")] == [1]
        version, data = _register(author, name, tmp_path)
        with pytest.raises(PolicyViolation, match="protected"):
            author.models.set_alias(name, "champion", version)
        author.policies.set(POLICY.format(name=name)  # the admin names the data that counts
                            + f"evaluation_dataset: {{run_id: {data['run_id']}, path: {data['path']}}}\n")
        evaluation = author.governance.evaluate(name, version)
        assert evaluation.passed and author.governance.state(name, version).state == "in_review"
        assert any(i["model_name"] == name for i in bob.governance.queue())
        assert not any(i["model_name"] == name for i in author.governance.queue())
        with pytest.raises(PermissionDenied, match="four-eyes"):
            author.governance.approve(name, version)
        with pytest.raises(PolicyViolation, match="risk assessment"):
            bob.governance.approve(name, version)
        for category in RISK_CATEGORIES:
            bob.governance.set_risk(name, version, category, rating="medium", rationale="reviewed")
        bob.governance.check_item(name, version, "documented", evidence="card v1")
        assert carol.governance.missing(name, version) == ["approvals: 1 of 2 (distinct people, not the author)"]
        bob.governance.approve(name, version, comment="fine")
        carol.governance.approve(name, version)
        assert carol.governance.state(name, version).state == "approved"
        assert bob.models.set_alias(name, "champion", version).version == version
        report = bob.governance.report(name, version, format="html")
        assert "Compliance report" in report and "<svg" in report
        assert author.audit.verify().ok


def test_mlflow_client_cannot_move_a_protected_alias_to_an_unapproved_version(live_server, unique: str,
                                                                              tmp_path: Path) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    name = f"mlf-{unique}"
    with Client(live_server.url) as client:
        client.policies.set(f"model: {name}\n")  # the default protected aliases: champion, production
        folder = models.save(MODEL, tmp_path / "model", input_example=FRAME.drop(columns=["target", "sex"]).head())
        version = client.models.register(name, local_path=folder).version
    mlflow_client = MlflowClient(tracking_uri=live_server.url, registry_uri=live_server.url)
    with pytest.raises(MlflowException) as refused:
        mlflow_client.set_registered_model_alias(name, "champion", str(version))
    assert "protected" in str(refused.value) and "approved" in str(refused.value)
    mlflow_client.set_registered_model_alias(name, "staging", str(version))  # unprotected aliases still move
    with pytest.raises(MlflowException) as staged:  # the Production stage is the 'production' alias by another name
        mlflow_client.transition_model_version_stage(name, str(version), "Production")
    assert "alias 'production'" in str(staged.value) and "approved" in str(staged.value)
    assert mlflow_client.transition_model_version_stage(name, str(version), "Staging").current_stage == "Staging"
    with Client(live_server.url) as client:
        moves = [(e.action, e.details.get("to")) for e in client.audit.list(model=name, newest_first=False)]
    assert ("model_version.stage_changed", "Staging") in moves and ("model_version.stage_changed", "Production") not in moves
    with Client(live_server.url) as client:
        client.models.register(f"free-{unique}", local_path=folder)  # no policy applies: no protection
    mlflow_client.set_registered_model_alias(f"free-{unique}", "champion", "1")
    assert mlflow_client.get_model_version_by_alias(name, "staging").version == str(version)
