"""Policies as code: every change is a new version, audited with its diff; the effective policy merges."""

from __future__ import annotations

import pytest

from modelward.errors import InvalidInput, NotFound
from modelward.services import audit, policies, registry
from tests.governance.helpers import ADMIN


def test_each_change_is_a_new_version_with_an_audited_diff(backend) -> None:  # type: ignore[no-untyped-def]
    first = policies.set_policy(backend, ADMIN, "gates:\n  - {metric: roc_auc, min: 0.7}\n")
    second = policies.set_policy(backend, ADMIN, "gates:\n  - {metric: roc_auc, min: 0.8}\n", scope="global")
    assert (first.version, second.version) == (1, 2)
    history = policies.history(backend, "global")
    assert [p.version for p in history] == [1, 2] and [p.active for p in history] == [False, True]
    assert policies.get(backend, "global").yaml.endswith("0.8}\n")
    assert "0.7" in policies.get(backend, "global", version=1).yaml
    event = audit.list_(backend, action="policy.changed")[0]
    assert event.subject_id == "global" and event.details["version"] == 2
    assert "-  - {metric: roc_auc, min: 0.7}" in event.details["diff"] and event.details["added_lines"] == 1
    assert audit.verify(backend).ok


def test_invalid_yaml_names_the_line_and_scope_must_match(backend) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=r"line 3, gates\[1\].max_regression"):
        policies.set_policy(backend, ADMIN, "gates:\n  - {metric: f1, min: 0.5}\n  - {compare_to: champion, metric: f1, max_regression: lots}\n")
    with pytest.raises(InvalidInput, match="does not match"):
        policies.set_policy(backend, ADMIN, "model: churn\n", scope="global")
    with pytest.raises(NotFound):
        policies.history(backend, "model:nothing")


def test_effective_policy_merges_global_tier_and_model(backend) -> None:  # type: ignore[no-untyped-def]
    policies.set_policy(backend, ADMIN, "gates:\n  - {metric: roc_auc, min: 0.7}\n")
    policies.set_policy(backend, ADMIN, "risk_tier: high\nreview: {approvals: 2, roles: [risk]}\n")
    policies.set_policy(backend, ADMIN, "model: churn\nrisk_tier: high\nreview: {roles: [compliance]}\n")
    merged = policies.effective_policy(backend, "churn")
    assert merged.review.approvals == 2 and {r.value for r in merged.review.roles} == {"risk", "compliance"}
    assert len(merged.gates) == 1
    registry.create_model(backend, ADMIN, "tagged", tags={"risk_tier": "high"})
    assert policies.effective_policy(backend, "tagged").review.approvals == 2
    assert policies.effective_policy(backend, "untiered").review.approvals == 1
