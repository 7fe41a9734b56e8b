"""A policy binds to its model's identity, pins its dataset, and the organisation default fills
in for models that have no policy of their own (service layer, on SQLite and PostgreSQL)."""

from __future__ import annotations

import io

import pytest

from modelward.domain.actors import Actor, Role
from modelward.errors import InvalidInput, PermissionDenied
from modelward.services import artifacts, audit, experiments, policies, registry, runs
from tests.governance.helpers import ADMIN
from tests.registry.helpers import run_with_model

ALICE = Actor(name="alice", roles=frozenset({Role.CONTRIBUTOR}))
GATE = "model: {name}\ngates:\n  - {{metric: roc_auc, min: 0.8}}\n"


def _gates(backend, name: str) -> list:  # type: ignore[no-untyped-def]
    return policies.effective_policy(backend, name).gates


def test_a_policy_set_before_its_model_binds_when_the_model_is_created(backend) -> None:  # type: ignore[no-untyped-def]
    policies.set_policy(backend, ADMIN, GATE.format(name="churn"))
    registry.create_model(backend, ALICE, "churn")
    registry.update_model(backend, ALICE, "churn", new_name="churn-2024")  # not governed: a contributor may
    assert len(_gates(backend, "churn-2024")) == 1
    assert policies.effective_policy(backend, "churn-2024").model == "churn-2024"
    assert [p.version for p in policies.history(backend, "model:churn-2024")] == [1]
    registry.create_model(backend, ALICE, "churn")  # a new model under the old name starts bare
    assert _gates(backend, "churn") == []
    assert audit.verify(backend).ok


def test_a_deleted_models_policy_does_not_pass_to_a_new_model_of_that_name(backend) -> None:  # type: ignore[no-untyped-def]
    registry.create_model(backend, ALICE, "fraud")
    policies.set_policy(backend, ADMIN, GATE.format(name="fraud"))
    with pytest.raises(PermissionDenied, match="a policy of its own"):  # deleting would shed the policy
        registry.delete_model(backend, ALICE, "fraud", reason="start over")
    registry.delete_model(backend, Actor(name="ava", roles=frozenset({Role.APPROVER})), "fraud",
                          reason="withdrawn by the risk committee")
    registry.create_model(backend, ALICE, "fraud")
    assert _gates(backend, "fraud") == []
    policies.set_policy(backend, ADMIN, GATE.format(name="fraud"))  # the new model can get its own
    assert len(_gates(backend, "fraud")) == 1
    assert [p.version for p in policies.history(backend, "model:fraud")] == [1, 2]


def test_renaming_onto_a_name_that_has_a_waiting_policy_is_refused(backend) -> None:  # type: ignore[no-untyped-def]
    registry.create_model(backend, ALICE, "a")
    policies.set_policy(backend, ADMIN, GATE.format(name="b"))
    with pytest.raises(Exception, match="policy is stored for scope 'model:b'"):
        registry.update_model(backend, ALICE, "a", new_name="b")
    assert registry.get_model(backend, "a").name == "a"


def test_the_default_policy_stands_in_only_for_models_without_their_own(backend) -> None:  # type: ignore[no-untyped-def]
    policies.set_policy(backend, ADMIN, "protected_aliases: [{alias: production}]\n"
                        "gates:\n  - {metric: accuracy, min: 0.6}\n", scope="default")
    policies.set_policy(backend, ADMIN, "gates:\n  - {metric: f1, min: 0.5}\n")  # global: merged everywhere
    policies.set_policy(backend, ADMIN, GATE.format(name="own"))
    assert {g.metric for g in _gates(backend, "anything")} == {"accuracy", "f1"}
    assert {g.metric for g in _gates(backend, "own")} == {"roc_auc", "f1"}
    run_id = run_with_model(backend)
    version = registry.register_version(backend, ALICE, "anything", run_id=run_id).version
    with pytest.raises(PermissionDenied, match="protected"):
        registry.set_alias(backend, ALICE, "anything", "production", version)
    registry.set_alias(backend, ALICE, "anything", "staging", version)
    with pytest.raises(InvalidInput, match="does not match"):
        policies.set_policy(backend, ADMIN, "model: x\n", scope="default")


def test_the_evaluation_dataset_is_pinned_by_digest(backend) -> None:  # type: ignore[no-untyped-def]
    experiment = experiments.create(backend, "data")
    run = runs.start(backend, ADMIN, experiment_id=experiment.id)
    artifacts.upload(backend, run.id, "eval.csv", io.BytesIO(b"label,x\n1,2\n"), actor=ADMIN)
    text = f"model: m\nevaluation_dataset: {{run_id: {run.id}, path: eval.csv}}\n"
    with pytest.raises(InvalidInput, match="does not exist"):
        policies.set_policy(backend, ADMIN, text.replace("eval.csv", "missing.csv"))
    policies.set_policy(backend, ADMIN, text)
    pinned = artifacts.stat(backend, run.id, "eval.csv").digest
    artifacts.upload(backend, run.id, "eval.csv", io.BytesIO(b"label,x\n0,9\n"), actor=ADMIN)  # overwritten later
    assert policies.effective_policy(backend, "m").evaluation_dataset.digest == pinned
    with pytest.raises(InvalidInput, match="states digest"):
        policies.set_policy(backend, ADMIN, text.replace("path: eval.csv", f"path: eval.csv, digest: {'a' * 64}"))


def test_risk_tier_moves_only_by_a_decider_and_is_audited(backend) -> None:  # type: ignore[no-untyped-def]
    policies.set_policy(backend, ADMIN, "risk_tier: high\nreview: {approvals: 2}\n")
    registry.create_model(backend, ALICE, "credit", tags={"risk_tier": "high"})
    with pytest.raises(PermissionDenied, match="risk tier"):
        registry.set_model_tags(backend, ALICE, "credit", {"risk_tier": "low"})
    with pytest.raises(PermissionDenied, match="risk tier"):
        registry.delete_model_tag(backend, ALICE, "credit", "risk_tier")
    approver = Actor(name="ava", roles=frozenset({Role.APPROVER}))
    registry.set_model_tags(backend, approver, "credit", {"risk_tier": "medium"})
    event = audit.list_(backend, action="model.risk_tier_changed")[0]
    assert (event.actor, event.details) == ("ava", {"from": "high", "to": "medium"})
    registry.set_model_tags(backend, ALICE, "credit", {"team": "risk"})  # other tags: write access, audited
    assert audit.list_(backend, action="model.tags_set")[0].details["tags"] == {"team": "risk"}
