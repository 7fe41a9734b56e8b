"""Every door around review, approval and protected aliases, tried as the users themselves would:
a real ``modelward server`` with auth on, one token per person, the SDK and the real mlflow client.

The store holds one model, ``credit``, whose version 1 went through the whole path (evaluated on
the policy's data, reviewed by risk and compliance, approved, champion). Each test tries one way
around that as a plain contributor, and checks the refusal and that nothing changed.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from modelward import models
from modelward.domain.governance import RISK_CATEGORIES
from modelward.errors import Conflict, InvalidInput, InvalidTransition, PermissionDenied, PolicyViolation
from modelward.sdk.client import Client
from modelward.settings import Settings
from tests.fixtures.people import People, environ_without_settings
from tests.fixtures.servers import ServerProcess, start_server, stop_server
from tests.governance.helpers import cancer_frame, fair_model

FRAME = cancer_frame()
FEATURES = FRAME.drop(columns=["target", "sex"])
PEOPLE = {"admin": ["admin"], "alice": ["contributor"], "bob": ["contributor"], "rita": ["risk"],
          "carl": ["compliance"], "ava": ["approver"], "vic": ["viewer"], "rex": ["contributor", "risk"]}
POLICY = """\
model: {name}
label: target
gates:
  - {{metric: roc_auc, min: 0.9}}
review:
  approvals: 2
  roles: [risk, compliance]
  compliance_checklist: [documented]
evaluation_dataset: {{run_id: {run_id}, path: data/eval.parquet}}
"""


@dataclass
class World(People):
    server: ServerProcess
    tokens: dict[str, str]
    data_run: str
    folder: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("doors")
    tokens = {}
    env = {**environ_without_settings(), "MODELWARD_HOME": str(home)}
    for user, roles in PEOPLE.items():
        flags = [arg for role in roles for arg in ("--role", role)]
        subprocess.run([sys.executable, "-m", "modelward", "auth", "add-user", user, *flags],
                       env=env, check=True, capture_output=True)
        made = subprocess.run([sys.executable, "-m", "modelward", "auth", "token", "create", user],
                              env=env, check=True, capture_output=True, text=True)
        tokens[user] = made.stdout.strip().splitlines()[-1]
    server = start_server(home, env={"MODELWARD_AUTH": "true", "MODELWARD_WEBHOOKS_ENABLED": "false"})
    folder = models.save(fair_model(FRAME), tmp_path_factory.mktemp("model") / "model", input_example=FEATURES.head())
    eval_file = tmp_path_factory.mktemp("data") / "eval.parquet"
    eval_file.write_bytes(FRAME.to_parquet())
    try:
        with Client(server.url, token=tokens["admin"]) as admin:
            experiment = admin.experiments.get_or_create("governance-data")
            data_run = admin.runs.create(experiment.id, name="evaluation-data").id
            admin.artifacts.upload(data_run, eval_file, "data")
        yield World(server, tokens, data_run, folder)
    finally:
        stop_server(server)


def governed(world: World, *, approve: bool = True, champion: bool = True) -> tuple[str, int]:
    """A fresh model under its own policy with version 1 registered by alice and, by default,
    approved by rita (risk) and carl (compliance) and made champion by ava (approver)."""
    name = f"credit-{uuid.uuid4().hex[:8]}"
    with world.client("admin") as admin:
        admin.policies.set(POLICY.format(name=name, run_id=world.data_run))
    with world.client("alice") as alice:
        version = alice.models.register(name, local_path=world.folder).version
        assert alice.governance.state(name, version).state == "in_review"  # evaluated on registration
    if approve:
        _approve(world, name, version)
    if approve and champion:
        with world.client("ava") as ava:
            ava.models.set_alias(name, "champion", version, reason="first approved")
    return name, version


def _approve(world: World, name: str, version: int) -> None:
    with world.client("rita") as rita, world.client("carl") as carl:
        for category in RISK_CATEGORIES:
            rita.governance.set_risk(name, version, category, rating="low", rationale="reviewed")
        carl.governance.check_item(name, version, "documented", evidence="card")
        rita.governance.approve(name, version, comment="risk ok")
        carl.governance.approve(name, version, comment="compliance ok")
        assert rita.governance.state(name, version).state == "approved"


def _candidate(world: World, name: str) -> int:
    with world.client("alice") as alice:
        return alice.models.register(name, local_path=world.folder).version


def _actions(world: World, name: str) -> list[str]:
    with world.client("admin") as admin:
        return [e.action for e in admin.audit.list(model=name, limit=500)]


# -- rename -----------------------------------------------------------------------------------


def test_a_rename_takes_the_policy_along_and_the_old_name_starts_bare(world: World) -> None:
    name, _ = governed(world, approve=False)
    candidate = _candidate(world, name)
    renamed = name + "-x"
    with world.client("alice") as alice:
        alice.models.update(name, new_name=renamed)  # not governed yet: no approved versions, no aliases
        with pytest.raises((PolicyViolation, PermissionDenied), match="protected"):
            alice.models.set_alias(renamed, "champion", candidate)
        alice.models.create(name)
        effective = alice.policies.effective(name)
    assert effective["gates"] == [] and effective["model"] is None
    with world.client("admin") as admin:
        assert [p.version for p in admin.policies.history(f"model:{renamed}")] == [1]
        assert admin.policies.effective(renamed)["model"] == renamed


def test_renaming_a_governed_model_needs_an_approver_and_a_reason(world: World) -> None:
    name, _ = governed(world)
    with world.client("alice") as alice, pytest.raises(PermissionDenied, match="governed change"):
        alice.models.update(name, new_name=name + "-y", reason="tidy")
    done = world.mlflow("alice", f"c.rename_registered_model({name!r}, {name + '-y'!r})")
    assert done.returncode != 0 and "governed change" in done.stderr
    with world.client("rita") as rita:
        with pytest.raises(InvalidInput, match="reason"):
            rita.models.update(name, new_name=name + "-y")
        assert rita.models.update(name, new_name=name + "-y", reason="naming scheme").name == name + "-y"
    assert "model.renamed" in _actions(world, name + "-y")


# -- risk tier, stage tag, deletion -------------------------------------------------------------


def test_a_contributor_cannot_lower_the_risk_tier(world: World) -> None:
    name, _ = governed(world, approve=False)
    with world.client("admin") as admin:
        admin.models.update(name, tags={"risk_tier": "high"})
    with world.client("alice") as alice, pytest.raises(PermissionDenied, match="risk tier"):
        alice.models.update(name, tags={"risk_tier": "low"})
    done = world.mlflow("alice", f"c.set_registered_model_tag({name!r}, 'risk_tier', 'low')")
    assert done.returncode != 0 and "risk tier" in done.stderr
    done = world.mlflow("alice", f"c.delete_registered_model_tag({name!r}, 'risk_tier')")
    assert done.returncode != 0 and "risk tier" in done.stderr
    with world.client("rita") as rita:
        assert rita.models.get(name).tags["risk_tier"] == "high"
        rita.models.update(name, tags={"risk_tier": "medium"})
    assert {"model.risk_tier_changed", "model.tags_set"} <= set(_actions(world, name))


def test_the_stage_tag_cannot_be_deleted_to_leave_production(world: World) -> None:
    name, version = governed(world)
    done = world.mlflow("ava", f"c.transition_model_version_stage({name!r}, {version}, 'Production')")
    assert done.returncode == 0, done.stderr
    done = world.mlflow("alice", f"c.delete_model_version_tag({name!r}, {version}, 'mlflow.current_stage')")
    assert done.returncode != 0 and "transition-stage" in done.stderr
    with world.http("alice") as http:
        answer = http.delete(f"/api/v1/models/{name}/versions/{version}/tags/mlflow.current_stage")
    assert answer.status_code == 400 and "transition-stage" in answer.json()["message"]
    done = world.mlflow("alice", f"c.transition_model_version_stage({name!r}, {version}, 'None')")
    assert done.returncode != 0 and "protected" in done.stderr
    with world.client("admin") as admin:
        assert admin.models.get_version(name, version).tags["mlflow.current_stage"] == "Production"


def test_deleting_a_governed_model_or_version_needs_an_approver_and_a_reason(world: World) -> None:
    name, version = governed(world)
    with world.client("alice") as alice:
        with pytest.raises(PermissionDenied, match="governed change"):
            alice.models.delete(name, reason="cleanup")
        with pytest.raises(PermissionDenied, match="governed change"):
            alice.models.delete_version(name, version, reason="cleanup")
    done = world.mlflow("alice", f"c.delete_registered_model({name!r})")
    assert done.returncode != 0 and "governed change" in done.stderr
    with world.client("rita") as rita:
        with pytest.raises(InvalidInput, match="reason"):
            rita.models.delete(name)
        assert rita.models.get(name).aliases == {"champion": version}
        rita.models.delete(name, reason="model withdrawn by the risk committee")
    assert "model.deleted" in _actions(world, name)


def test_an_organisation_default_policy_protects_models_without_their_own(world: World) -> None:
    name = f"free-{uuid.uuid4().hex[:8]}"
    with world.client("admin") as admin:
        admin.policies.set("protected_aliases: [{alias: production}]\n", scope="default")
    try:
        with world.client("alice") as alice:
            version = alice.models.register(name, local_path=world.folder).version
            with pytest.raises(PermissionDenied, match="protected"):
                alice.models.set_alias(name, "production", version)
            alice.models.set_alias(name, "staging", version)  # unprotected aliases still move freely
        done = world.mlflow("alice", f"c.set_registered_model_alias({name!r}, 'production', {version})")
        assert done.returncode != 0 and "protected" in done.stderr
    finally:
        with world.client("admin") as admin:
            admin.policies.set("protected_aliases: []\n", scope="default")


# -- four-eyes through provenance ---------------------------------------------------------------


def test_whoever_wrote_into_the_run_cannot_approve_what_it_backs(world: World) -> None:
    name = f"prov-{uuid.uuid4().hex[:8]}"
    with world.client("admin") as admin:
        admin.policies.set(POLICY.format(name=name, run_id=world.data_run))
    with world.client("alice") as alice:
        experiment = alice.experiments.get_or_create("training")
        run = alice.runs.create(experiment.id, name="alice's run").id
    with world.client("rex") as rex:  # rex (contributor and risk officer) slips his model into alice's run
        rex.artifacts.upload(run, world.folder, "model")
    with world.client("alice") as alice:
        version = alice.models.register(name, run_id=run, artifact_path="model").version
        assert alice.governance.state(name, version).state == "in_review"
    with world.client("rita") as rita, world.client("carl") as carl:
        for category in RISK_CATEGORIES:
            rita.governance.set_risk(name, version, category, rating="low", rationale="reviewed")
        carl.governance.check_item(name, version, "documented", evidence="card")
    with world.client("rex") as rex, pytest.raises(PermissionDenied, match="four-eyes"):
        rex.governance.approve(name, version)
    done = world.mlflow("rex", f"c.log_param({run!r}, 'later', 'x')")
    assert done.returncode == 0, done.stderr
    with world.client("rex") as rex:
        assert not any(item["model_name"] == name for item in rex.governance.queue())


def test_the_run_behind_an_approved_version_cannot_be_purged(world: World) -> None:
    name, version = governed(world, champion=False)
    with world.client("alice") as alice:
        run_id = alice.models.get_version(name, version).source_run_id
        assert run_id is not None
        with pytest.raises(Conflict, match="cannot be purged"):
            alice.runs.delete(run_id, permanent=True)
        experiment_id = alice.runs.get(run_id).experiment_id
        with pytest.raises(Conflict, match="cannot be purged"):
            alice.experiments.delete(experiment_id, permanent=True)
        alice.runs.delete(run_id)  # a soft delete (restorable) stays possible
    with world.client("rita") as rita:
        assert "alice" in rita.runs.writers(run_id)


# -- an approval covers exactly what was reviewed -----------------------------------------------


def test_the_card_of_an_approved_version_is_frozen_and_edits_are_audited(world: World) -> None:
    name, version = governed(world, champion=False)
    with world.client("alice") as alice, pytest.raises(InvalidTransition, match="model card"):
        alice.cards.update(name, version, edits={"model_details.description": "now it also does X"})
    other, _ = governed(world, approve=False)
    with world.client("rita") as rita, world.client("carl") as carl, world.client("alice") as alice:
        for category in RISK_CATEGORIES:
            rita.governance.set_risk(other, 1, category, rating="low", rationale="reviewed")
        carl.governance.check_item(other, 1, "documented", evidence="card")
        rita.governance.approve(other, 1)
        alice.cards.update(other, 1, edits={"model_details.description": "changed after rita's approval"})
        assert rita.governance.state(other, 1).approvals == []  # rita saw another card
        carl.governance.approve(other, 1)
        assert carl.governance.state(other, 1).state == "in_review"
    assert "model_card.updated" in _actions(world, other)


def test_a_policy_change_voids_approvals_given_under_the_old_one(world: World) -> None:
    name, version = governed(world, champion=False)
    with world.client("admin") as admin:
        admin.policies.set(POLICY.format(name=name, run_id=world.data_run).replace("min: 0.9", "min: 0.91"))
        assert admin.governance.state(name, version).state == "in_review"
    assert "review.approval_voided" in _actions(world, name)
    with world.client("ava") as ava, pytest.raises(PolicyViolation, match="approved"):
        ava.models.set_alias(name, "champion", version)


def test_evidence_of_an_approved_version_is_frozen(world: World) -> None:
    name, version = governed(world, champion=False)
    with world.client("rita") as rita, pytest.raises(InvalidTransition, match="risk assessment"):
        rita.governance.set_risk(name, version, "legal", rating="high", rationale="new law")
    with world.client("carl") as carl, pytest.raises(InvalidTransition, match="checklist"):
        carl.governance.check_item(name, version, "documented", checked=False)


# -- one role model -----------------------------------------------------------------------------


def test_an_approver_without_write_access_moves_protected_aliases_only(world: World) -> None:
    name, version = governed(world, champion=False)
    with world.client("ava") as ava:
        assert ava.models.set_alias(name, "champion", version).version == version
        with pytest.raises(PermissionDenied, match="write access"):
            ava.models.set_alias(name, "shadow", version)
    with world.client("vic") as vic, pytest.raises(PermissionDenied):
        vic.models.set_alias(name, "champion", version)


def test_who_may_approve_may_reject(world: World) -> None:
    name, _ = governed(world, approve=False)
    with world.client("ava") as ava, pytest.raises(PermissionDenied, match="risk, compliance"):
        ava.governance.reject(name, 1, "approver is not named by this policy")
    with world.client("rita") as rita:
        rita.governance.reject(name, 1, "risk too high")
        assert rita.governance.state(name, 1).state == "rejected"


# -- time travel and queued metrics -------------------------------------------------------------


def test_as_of_with_a_non_utc_offset_compares_instants(tmp_path: Path) -> None:
    with Client(settings=Settings(home=tmp_path / "store")) as client:
        experiment = client.experiments.get_or_create("t")
        run = client.runs.create(experiment.id).id
        client.artifacts.upload(run, Path(__file__), "model/f.py")
        first = client.models.register("tt", run_id=run).version
        second = client.models.register("tt", run_id=run).version
        client.models.set_alias("tt", "champion", first)
        between = datetime.now(UTC)
        client.models.set_alias("tt", "champion", second)
        # The same instant written in UTC+5: wall-clock text five hours later than the move to v2.
        plus_five = between.astimezone(timezone(timedelta(hours=5)))
        assert client.models.get_by_alias("tt", "champion", as_of=plus_five).version == first


def test_a_version_registered_right_after_log_metric_holds_the_metric(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "store")
    with Client(settings=settings) as client:
        experiment = client.experiments.get_or_create("q")
        run = client.runs.create(experiment.id).id
        client.artifacts.upload(run, Path(__file__), "model/f.py")
        client.batcher.add_metric(run, "accuracy", 0.93, 0, int(datetime.now(UTC).timestamp() * 1000))
        version = client.models.register("queued", run_id=run)
    assert version.metrics == {"accuracy": 0.93}
