"""The explanation gates: attribution stability against a compared version, and a required
global explanation (kept with the version) for the models of a risk tier.

Real logistic regressions on a synthetic set whose label depends on s1 > s2 > s3 (planted
weights): a challenger fitted the same way relies on the same features in the same order; one
fitted to a label with the weights reversed relies on s3 first, and its rank correlation
against the baseline is negative. Each is registered through the registry and evaluated by the
governance service on the policy's evaluation dataset, as on a server.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelward.domain.policy import Policy, parse_policy_yaml
from modelward.errors import InvalidInput
from modelward.services import audit, evaluations, explanations, policies, registry
from modelward.services.backend import Backend
from tests.explain.test_explanations import without_shap  # noqa: F401  (a fixture)
from tests.governance.helpers import ADMIN, dataset, register_model, set_model_policy

STABILITY_POLICY = """\
model: {name}
protected_aliases: []
gates:
  - {{attribution_stability: baseline, top_k: 3, min_rank_correlation: 0.5}}
"""


def weighted() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(rng.normal(size=(1000, 6)), columns=["s1", "s2", "s3", "n1", "n2", "n3"])
    frame["target"] = (3 * frame["s1"] + 1.5 * frame["s2"] + 0.75 * frame["s3"] > 0).astype(int)
    return frame


def fitted(frame: pd.DataFrame, label: Any, c: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=c).fit(frame.drop(columns=["target"]), label)


def _register(backend: Backend, name: str, model: Any, frame: pd.DataFrame) -> int:
    return register_model(backend, name, model, frame, with_sex=True)  # every column but the label


def _latest(backend: Backend, name: str, version: int) -> Any:
    return evaluations.list_(backend, name, version)[0]


def _gate(evaluation: Any, kind: str) -> dict[str, Any]:
    return next(g for g in evaluation.result["gates"] if g["kind"] == kind)


# -- the policy language ------------------------------------------------------------------------------


@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("gates:\n  - {attribution_stability: champion}\n", "min_rank_correlation"),
    ("gates:\n  - {attribution_stability: champion, min_rank_correlation: 1.5}\n", "min_rank_correlation"),
    ("gates:\n  - {attribution_stability: champion, min_rank_correlation: 0.5, top_k: 1}\n", "top_k"),
    ("gates:\n  - {attribution_stability: champion, min_rank_correlation: 0.5, method: pearson}\n", "method"),
    ("gates:\n  - {explanation: maybe}\n", "explanation"),
    ("gates:\n  - {explanation: required, colour: red}\n", "colour"),
    ("gates:\n  - {explain: required}\n", "attribution_stability, explanation"),
])
def test_bad_explanation_gates_name_the_field(yaml_text: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy_yaml(yaml_text)
    assert expected in str(caught.value)
    assert "line 2" in str(caught.value)


def test_the_gates_parse_with_their_defaults() -> None:
    policy = parse_policy_yaml("gates:\n  - {attribution_stability: champion, min_rank_correlation: 0.6}\n"
                               "  - {explanation: required, shap: true}\n")
    stability, explanation = policy.gates
    assert (stability.attribution_stability, stability.top_k, stability.method, stability.n_repeats) == (
        "champion", 5, "spearman", 5)
    assert (explanation.explanation, explanation.shap, explanation.top) == ("required", True, 10)
    assert isinstance(policy, Policy)


# -- attribution stability ------------------------------------------------------------------------------


@pytest.fixture
def baseline(backend: Backend) -> tuple[Backend, pd.DataFrame]:
    frame = weighted()
    set_model_policy(backend, "stable", STABILITY_POLICY, dataset(backend, frame))
    first = _register(backend, "stable", fitted(frame, frame["target"]), frame)
    registry.set_alias(backend, ADMIN, "stable", "baseline", first)
    return backend, frame


def test_a_first_version_has_nothing_to_compare_and_passes_skipped(baseline: tuple[Backend, pd.DataFrame]) -> None:
    backend, _ = baseline
    gate = _gate(_latest(backend, "stable", 1), "attribution_stability")
    assert gate["passed"] and gate["skipped"]
    assert gate["reason"] == "no baseline to compare attributions against"


def test_a_challenger_relying_on_the_same_features_passes(baseline: tuple[Backend, pd.DataFrame]) -> None:
    backend, frame = baseline
    version = _register(backend, "stable", fitted(frame, frame["target"], c=0.3), frame)
    evaluation = _latest(backend, "stable", version)
    gate = _gate(evaluation, "attribution_stability")
    assert evaluation.passed, evaluation.failures
    assert gate["evidence"]["challenger_top"] == ["s1", "s2", "s3"] == gate["evidence"]["other_top"]
    assert gate["observed"] == pytest.approx(1.0)
    assert "at least the minimum 0.5" in gate["reason"]
    assert registry.get_version(backend, "stable", version).status == "in_review"


def test_a_challenger_relying_on_other_features_is_rejected_with_both_rankings(
        baseline: tuple[Backend, pd.DataFrame]) -> None:
    backend, frame = baseline
    reversed_label = (0.75 * frame["s1"] + 1.5 * frame["s2"] + 3 * frame["s3"] > 0).astype(int)
    version = _register(backend, "stable", fitted(frame, reversed_label), frame)
    evaluation = _latest(backend, "stable", version)
    gate = _gate(evaluation, "attribution_stability")
    assert not evaluation.passed
    assert gate["evidence"]["challenger_top"][0] == "s3"  # judged against the truth, s1 keeps some weight
    assert gate["observed"] < 0
    assert f"Spearman rank correlation {gate['observed']:.4g} " in gate["reason"]
    assert "below the minimum 0.5" in gate["reason"] and "of the baseline: s1, s2, s3" in gate["reason"]
    assert evaluation.result["attributions"]["baseline:3:spearman:5"]["rank_correlation"] == gate["observed"]
    assert registry.get_version(backend, "stable", version).status == "rejected"


# -- a required explanation for a risk tier -------------------------------------------------------------


def _tiered(backend: Backend, *, tier: str, extra: str = "") -> None:
    policies.set_policy(backend, ADMIN, f"risk_tier: high\ngates:\n  - {{explanation: required{extra}}}\n")
    frame = weighted()
    set_model_policy(backend, f"{tier}-model", f"model: {{name}}\nrisk_tier: {tier}\n", dataset(backend, frame))
    _register(backend, f"{tier}-model", fitted(frame, frame["target"]), frame)


def test_a_high_risk_model_is_explained_by_its_evaluation_and_keeps_the_explanation(backend: Backend) -> None:
    _tiered(backend, tier="high")
    evaluation = _latest(backend, "high-model", 1)
    gate = _gate(evaluation, "explanation")
    assert evaluation.passed and gate["passed"]
    assert gate["evidence"]["top_features"][:3] == ["s1", "s2", "s3"]
    stored = explanations.latest_global(backend, "high-model", 1)
    assert stored["source"] == "evaluation" and stored["revision"] == evaluation.result["explanation"]["revision"]
    assert stored["permutation_importance"][0]["feature"] == "s1"
    assert stored["dataset"]["digest"] == evaluation.dataset.digest
    events = audit.list_(backend, model="high-model", action="model_version.explained")
    assert [e.details["source"] for e in events] == ["evaluation"]


def test_a_model_of_another_tier_is_not_held_to_it(backend: Backend) -> None:
    _tiered(backend, tier="low")
    evaluation = _latest(backend, "low-model", 1)
    assert not [g for g in evaluation.result["gates"] if g["kind"] == "explanation"]
    assert "explanation" not in evaluation.result


@pytest.mark.usefixtures("without_shap")
def test_shap_required_without_the_extra_fails_and_says_how_to_fix_it(backend: Backend) -> None:
    _tiered(backend, tier="high", extra=", shap: true")
    evaluation = _latest(backend, "high-model", 1)
    assert not evaluation.passed
    assert "SHAP values are required but were not computed: install the 'explain' extra" in evaluation.failures[0]
    assert registry.get_version(backend, "high-model", 1).status == "rejected"
