from __future__ import annotations

import pytest

from modelward.domain.actors import Role
from modelward.domain.policy import (
    ChampionGate,
    FairnessGate,
    MetricGate,
    Policy,
    ReviewRequirement,
    RiskTier,
    TechnicalGate,
    merge_policies,
    parse_policy_yaml,
)
from modelward.errors import InvalidInput

SKETCH = """\
model: credit-risk
risk_tier: high
gates:
  - {metric: roc_auc, min: 0.75}
  - {compare_to: champion, metric: roc_auc, max_regression: 0.01}
  - {fairness: demographic_parity_difference, sensitive_feature: sex, max: 0.10}
  - {technical: p95_latency_ms, max: 50}
review: {approvals: 2, roles: [risk, compliance], four_eyes: true}
release: {strategy: canary, steps: [10, 50, 100]}
"""


def test_design_sketch_parses_into_typed_gates() -> None:
    policy = parse_policy_yaml(SKETCH)
    assert policy.scope == "model" and policy.risk_tier is RiskTier.HIGH
    assert [type(g) for g in policy.gates] == [MetricGate, ChampionGate, FairnessGate, TechnicalGate]
    champion = policy.gates[1]
    assert isinstance(champion, ChampionGate) and champion.confidence == 0.95 and champion.bootstrap == 1000
    assert policy.review.roles == [Role.RISK, Role.COMPLIANCE] and policy.review.approvals == 2
    assert policy.release.steps == [10, 50, 100]
    assert [a.alias for a in policy.protected_aliases] == ["champion", "production"]


def _error(text: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_policy_yaml(text)
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SKETCH.replace("max_regression: 0.01", "max_regression: lots"),
         "line 5, gates[1].max_regression: Input should be a valid number"),
        (SKETCH.replace("four_eyes", "for_eyes"), "line 8, review.for_eyes: unknown key"),
        (SKETCH.replace("metric: roc_auc, max_regression", "max_regression"), "line 5, gates[1].metric: Field required"),
        (SKETCH.replace("risk_tier: high", "risk_tier: extreme"), "line 2, risk_tier: Input should be 'low'"),
        (SKETCH.replace("{technical: p95_latency_ms, max: 50}", "{speed: 1}"), "line 7, gates[3]: a gate needs one of"),
        ("gates:\n  - metric: accuracy\n    min: [1]\n", "line 3, gates[0].min: Input should be a valid number"),
        ("gates:\n  - {metric: accuracy, min: 0.5}\n  - {metric: rmse, max: 1}\n", "line 3, gates[1]: metric 'rmse'"),
        ("review:\n  roles: [risk, cfo]\n", "line 2, review.roles[1]: Input should be"),
        ("gates:\n  - {technical: signature_present, max: 1}\n", "line 2, gates[0]: signature_present is a yes/no check"),
        ("release:\n  strategy: canary\n", "line 1, release: a canary release needs steps"),
        ("colour: red\n", "line 1, colour: unknown key"),
        ("gates: [\n", "line 2"),
        ("- 1\n- 2\n", "line 1: a policy must be a YAML mapping"),
        ("task: regression\ntask: classification\n", "line 2, task: duplicate key"),
    ],
)
def test_errors_name_line_and_field(text: str, expected: str) -> None:
    assert expected in _error(text)


def test_every_problem_is_reported_once() -> None:
    message = _error("risk_tier: extreme\nreview:\n  approvals: many\n")
    assert "line 1, risk_tier" in message and "line 3, review.approvals" in message


def test_merge_model_over_tier_over_global_with_strictest_review() -> None:
    global_policy = Policy(
        gates=[MetricGate(metric="accuracy", min=0.7)], sensitive_features=["sex"],
        review=ReviewRequirement(approvals=1, roles=[Role.RISK], four_eyes=False, compliance_checklist=["gdpr"]),
    )
    tier = Policy(
        risk_tier=RiskTier.HIGH, label="default", gates=[MetricGate(metric="roc_auc", min=0.75)],
        review=ReviewRequirement(approvals=3, roles=[Role.COMPLIANCE], four_eyes=True, risk_assessment_required=False),
    )
    model = parse_policy_yaml(
        "model: credit-risk\nlabel: defaulted\nsensitive_features: [age]\n"
        "gates:\n  - {metric: accuracy, min: 0.7}\n  - {metric: f1, min: 0.6}\n"
        "review: {approvals: 2, roles: [risk], four_eyes: false, compliance_checklist: [gdpr, fair-lending]}\n"
        "protected_aliases: [{alias: champion, requires_role: admin}]\n"
    )
    merged = merge_policies(global_policy, tier, model)
    assert merged.model == "credit-risk" and merged.risk_tier is RiskTier.HIGH
    assert merged.label == "defaulted"  # the model level wins over the tier's "default"
    assert [g.metric for g in merged.gates] == ["accuracy", "roc_auc", "f1"]  # concatenated, duplicate kept once
    assert merged.sensitive_features == ["sex", "age"]
    assert merged.review.approvals == 3 and merged.review.roles == [Role.RISK, Role.COMPLIANCE]
    assert merged.review.four_eyes is True and merged.review.risk_assessment_required is True
    assert merged.review.compliance_checklist == ["gdpr", "fair-lending"]
    roles = {a.alias: a.requires_role for a in merged.protected_aliases}
    assert roles == {"champion": Role.ADMIN, "production": Role.APPROVER}


def test_merge_unset_fields_fall_back_and_tiers_must_agree() -> None:
    merged = merge_policies(Policy(label="y"), None, Policy(model="m"))
    assert merged.label == "y" and merged.model == "m" and merged.scope == "model"
    assert merge_policies().scope == "global"
    with pytest.raises(InvalidInput, match="different risk tiers"):
        merge_policies(None, Policy(risk_tier=RiskTier.LOW), Policy(model="m", risk_tier=RiskTier.HIGH))


@pytest.mark.parametrize("gate, message", [
    ("{metric: roc_auc, min: 1.7}", "min 1.7 is impossible for roc_auc, whose values are [0, 1]"),
    ("{metric: rmse, max: -1}", "max -1 is impossible for rmse, whose values are >= 0"),
    ("{metric: r2, min: 1.5}", "min 1.5 is impossible for r2, whose values are <= 1"),
    ("{fairness: equalized_odds_ratio, sensitive_feature: sex, min: 1.2}", "equalized_odds_ratio, whose values are [0, 1]"),
    ("{technical: artifact_size_mb, min: 5, max: 1}", "min 5.0 is greater than max 1.0"),
    ("{technical: p95_latency_ms, max: -10}", "max -10 is impossible for p95_latency_ms"),
])
def test_impossible_bounds_are_refused_on_their_line(gate: str, message: str) -> None:
    task = "task: regression\n" if "rmse" in gate or "r2" in gate else ""
    with pytest.raises(InvalidInput) as refused:
        parse_policy_yaml(f"{task}gates:\n  - {gate}\n")
    assert message in str(refused.value) and f"line {2 + bool(task)}, gates[0]" in str(refused.value)


def test_champion_rule_code_models_and_dataset_pin() -> None:
    policy = parse_policy_yaml(
        "gates:\n  - {compare_to: champion, metric: roc_auc, max_regression: 0.01}\n"
        "evaluation_dataset: {run_id: r1, path: data/eval.parquet, digest: " + "a" * 64 + "}\n"
    )
    assert policy.gates[0].decide_on == "interval" and policy.evaluation.code_models == "refuse"
    assert policy.evaluation_dataset is not None and policy.evaluation_dataset.digest == "a" * 64
    with pytest.raises(InvalidInput, match="digest"):
        parse_policy_yaml("evaluation_dataset: {run_id: r1, path: e.parquet, digest: nothex}\n")
    with pytest.raises(InvalidInput, match="code_models"):
        parse_policy_yaml("evaluation: {code_models: trusted}\n")
    model = parse_policy_yaml("model: m\nevaluation: {code_models: isolated}\n")
    assert merge_policies(Policy(), None, model).evaluation.code_models == "isolated"
