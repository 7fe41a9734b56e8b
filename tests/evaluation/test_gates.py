from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelward import models
from modelward.domain.policy import Policy, parse_policy_yaml
from modelward.errors import InvalidInput
from modelward.evaluation import evaluate_gates, fairness_report
from modelward.evaluation.technical import (
    artifact_size_mb,
    check_loads_in_clean_process,
    dependencies_pinned,
    measure_latency,
    signature_check,
)


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    frame["sex"] = np.where(np.random.default_rng(0).random(len(frame)) < 0.5, "F", "M")
    return frame


@pytest.fixture(scope="module")
def saved(cancer: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    features = cancer.drop(columns=["target", "sex"])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, cancer["target"])
    return models.save(model, tmp_path_factory.mktemp("m") / "model", input_example=features.head())


class GroupAOnly:
    """Predicts 1 for group A and 0 for everyone else: maximal demographic disparity."""

    def predict(self, data: pd.DataFrame) -> Any:
        return (data["group"] == "A").astype(int).to_numpy()


def test_known_disparity_gives_parity_difference_one_and_a_failing_gate() -> None:
    frame = pd.DataFrame({"group": ["A", "B"] * 50, "label": [1, 1, 0, 0] * 25})
    report = fairness_report(frame["label"], GroupAOnly().predict(frame), frame["group"], positive_label=1)
    assert report["demographic_parity_difference"] == pytest.approx(1.0)
    assert report["by_group"]["A"]["selection_rate"] == 1.0 and report["by_group"]["B"]["count"] == 50
    policy = parse_policy_yaml("gates:\n  - {fairness: demographic_parity_difference, sensitive_feature: group, max: 0.1}\n")
    result = evaluate_gates(policy, challenger=GroupAOnly(), data=frame, feature_columns=["group"])
    assert not result.passed and result.outcome == "rejected"
    assert "demographic_parity_difference for 'group' 1 is above the maximum 0.1" in result.failures[0]


def test_fairness_gate_on_a_missing_column_fails_clearly() -> None:
    frame = pd.DataFrame({"group": ["A", "B"] * 5, "label": [1, 0] * 5})
    policy = parse_policy_yaml("gates:\n  - {fairness: equalized_odds_ratio, sensitive_feature: sex, min: 0.8}\n")
    result = evaluate_gates(policy, challenger=GroupAOnly(), data=frame, feature_columns=["group"])
    assert not result.passed and "no column 'sex'" in result.failures[0]


def test_technical_checks_on_a_skops_model(saved: Path, cancer: pd.DataFrame) -> None:
    loaded = models.load(saved)
    clean = check_loads_in_clean_process(saved)
    assert clean["passed"] and clean["has_signature"], clean
    broken = check_loads_in_clean_process(saved.parent)
    assert not broken["passed"] and "loading failed" in broken["reason"]
    assert 0 < artifact_size_mb(saved) < 1
    latency = measure_latency(loaded, cancer.drop(columns=["target", "sex"]).head(20), single_rows=10)
    assert latency["single_row_calls"] == 10 and 0 < latency["p50_latency_ms"] <= latency["p95_latency_ms"]
    assert signature_check(loaded.signature, list(cancer.columns), cancer.head())["signature_matches"]
    mismatch = signature_check(loaded.signature, ["mean radius"])
    assert mismatch["signature_present"] and not mismatch["signature_matches"] and "mean texture" in mismatch["reason"]
    assert not signature_check(None, ["a"])["signature_present"]
    assert dependencies_pinned(["numpy==2.0", "# comment", ""])["passed"]
    assert dependencies_pinned(["numpy>=2", "pandas==2.2"])["unpinned"] == ["numpy>=2"]
    assert not dependencies_pinned([])["passed"]


POLICY = """\
sensitive_features: [sex]
gates:
  - {metric: roc_auc, min: 0.95}
  - {metric: accuracy, min: 0.9}
  - {compare_to: champion, metric: roc_auc, max_regression: 0.01, bootstrap: 200}
  - {fairness: demographic_parity_difference, sensitive_feature: sex, max: 0.2}
  - {technical: p95_latency_ms, max: 5000}
  - {technical: signature_matches}
  - {technical: dependencies_pinned}
  - {technical: artifact_size_mb, max: 10}
  - {technical: loads_in_clean_process}
  - {kpi: expected_revenue_impact, min: 0}
"""


def test_end_to_end_breast_cancer_passes_and_is_json(saved: Path, cancer: pd.DataFrame) -> None:
    policy = parse_policy_yaml(POLICY)
    challenger = models.load(saved)
    champion = DummyClassifier(strategy="most_frequent").fit(cancer.drop(columns=["target", "sex"]), cancer["target"])
    result = evaluate_gates(policy, challenger=challenger, champion=champion, data=cancer,
                            kpis={"expected_revenue_impact": 12000.0}, model_dir=saved)
    assert result.passed, result.failures
    assert result.outcome == "in_review" and len(result.gates) == 10
    assert result.metrics["metrics"]["roc_auc"] > 0.95
    comparison = result.gates[2].evidence
    assert comparison["ci_low"] > 0 and "significantly better" in result.gates[2].reason
    assert result.comparison is not None and "accuracy" in result.comparison["metrics"]
    assert set(result.fairness["sex"]["by_group"]) == {"F", "M"}
    assert result.kpis == {"expected_revenue_impact": 12000.0}
    dumped = result.model_dump(mode="json")
    assert EvaluationRoundTrip.check(dumped)


class EvaluationRoundTrip:
    @staticmethod
    def check(dumped: dict[str, Any]) -> bool:
        import json

        return json.loads(json.dumps(dumped, allow_nan=False)) == dumped


def test_failures_carry_reasons_and_missing_champion_is_skipped(saved: Path, cancer: pd.DataFrame) -> None:
    policy = parse_policy_yaml(
        "gates:\n  - {metric: roc_auc, min: 0.999}\n  - {compare_to: champion, metric: roc_auc, max_regression: 0}\n"
        "  - {kpi: expected_revenue_impact, min: 0}\n  - {technical: p95_latency_ms, max: 0.000001}\n"
    )
    result = evaluate_gates(policy, challenger=models.load(saved), data=cancer)
    champion_gate = result.gates[1]
    assert champion_gate.passed and champion_gate.skipped and champion_gate.reason == "no champion to compare against"
    assert [g.passed for g in result.gates] == [False, True, False, False]
    assert "is below the minimum 0.999" in result.failures[0]
    assert result.failures[1] == "business KPI 'expected_revenue_impact' was not supplied"
    assert "p95_latency_ms" in result.failures[2] and "above the maximum" in result.failures[2]


def test_worse_challenger_fails_the_champion_gate(cancer: pd.DataFrame) -> None:
    features = cancer.drop(columns=["target", "sex"])
    good = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, cancer["target"])
    weak = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features[["mean texture"]], cancer["target"])
    policy = Policy.model_validate({"sensitive_features": ["sex"], "gates": [
        {"compare_to": "champion", "metric": "roc_auc", "max_regression": 0.01, "bootstrap": 200}]})
    result = evaluate_gates(policy, challenger=weak, champion={"champion": good}, data=cancer)
    assert not result.passed
    assert "regresses by" in result.failures[0] and "significantly worse" in result.failures[0]


def test_missing_label_and_roc_auc_without_probabilities(cancer: pd.DataFrame) -> None:
    policy = parse_policy_yaml("gates:\n  - {metric: roc_auc, min: 0.5}\n")
    with pytest.raises(InvalidInput, match="no label column"):
        evaluate_gates(policy, challenger=GroupAOnly(), data=pd.DataFrame({"group": ["A"], "y": [1]}))
    frame = pd.DataFrame({"group": ["A", "B"] * 5, "target": [1, 0] * 5})
    result = evaluate_gates(policy, challenger=GroupAOnly(), data=frame)
    assert not result.passed and "roc_auc could not be computed" in result.failures[0]
    assert result.metrics["metrics"]["accuracy"] == 1.0
