"""A model policy cannot expose a prediction-log column a global or tier policy protects."""

from __future__ import annotations

from modelward.domain.policy import merge_policies, parse_policy_yaml


def test_log_protection_is_the_union_of_the_levels_and_drop_wins() -> None:
    global_policy = parse_policy_yaml("monitoring:\n  log_protect: {email: hash, ssn: drop}\n")
    tier = parse_policy_yaml("risk_tier: high\nmonitoring:\n  log_protect: {name: hash}\n")
    model = parse_policy_yaml("model: churn\nmonitoring:\n  bins: 20\n  log_protect: {email: drop}\n")
    merged = merge_policies(global_policy, tier, model)
    assert merged.monitoring.log_protect == {"email": "drop", "ssn": "drop", "name": "hash"}
    assert merged.monitoring.bins == 20  # the rest of monitoring: still from the most specific level


def test_a_model_monitoring_section_without_protection_keeps_the_global_one() -> None:
    global_policy = parse_policy_yaml("monitoring:\n  log_protect: {email: hash}\n")
    model = parse_policy_yaml("model: churn\nmonitoring:\n  alerts: []\n")
    assert merge_policies(global_policy, None, model).monitoring.log_protect == {"email": "hash"}
    assert merge_policies(None, None, model).monitoring.log_protect == {}
