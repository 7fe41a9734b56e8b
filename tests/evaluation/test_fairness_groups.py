"""Fairness across groups and their intersections (evaluation.fairness) and the intersection gate,
on a synthetic data set with a planted bias (the model's selection rate depends on sex x age band)
and on scikit-learn's breast cancer; point values checked against fairlearn's MetricFrame."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelward.domain.policy import parse_policy_yaml
from modelward.errors import InvalidInput
from modelward.evaluation import evaluate_gates
from modelward.evaluation.fairness import disparity, fairness_report, feature_columns, selection_report

TOL = 1e-9
BANDS = ["18-30", "30-45", "45-60", "60+"]
# selection probability per (sex, age band): the planted bias, highest for young men, lowest for old women
PLANTED = {("M", "18-30"): 0.75, ("M", "30-45"): 0.55, ("M", "45-60"): 0.5, ("M", "60+"): 0.45,
           ("F", "18-30"): 0.5, ("F", "30-45"): 0.45, ("F", "45-60"): 0.4, ("F", "60+"): 0.1}


def planted_frame(n: int = 3000, seed: int = 0, old_women: int = 12) -> pd.DataFrame:
    """``n`` rows of sex, age_band, a score and a label; only ``old_women`` rows are ('F', '60+')."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    band = rng.choice(BANDS[:3], n)
    band[rng.choice(np.flatnonzero(sex == "M"), n // 10, replace=False)] = "60+"
    band[rng.choice(np.flatnonzero((sex == "F") & (band != "60+")), old_women, replace=False)] = "60+"
    frame = pd.DataFrame({"sex": sex, "age_band": band, "score": rng.random(n)})
    frame["label"] = (rng.random(n) < 0.45).astype(int)
    return frame


class PlantedBias:
    """Selects a row when its score is under its (sex, age band) rate: the selection rate is PLANTED."""

    def predict(self, data: pd.DataFrame) -> Any:
        rate = np.array([PLANTED[(s, b)] for s, b in zip(data["sex"], data["age_band"], strict=True)])
        return (data["score"].to_numpy() < rate).astype(int)


class Fair:
    """Selects half the rows whoever they are."""

    def predict(self, data: pd.DataFrame) -> Any:
        return (data["score"].to_numpy() < 0.5).astype(int)


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return planted_frame()


@pytest.fixture(scope="module")
def report(planted: pd.DataFrame) -> dict[str, Any]:
    return fairness_report(planted["label"], PlantedBias().predict(planted), planted[["sex", "age_band"]])


# -- groups, counts, names -----------------------------------------------------------------------------


def test_intersection_groups_are_named_by_their_values_and_counted(planted: pd.DataFrame,
                                                                   report: dict[str, Any]) -> None:
    assert report["feature"] == "sex & age_band" and report["features"] == ["sex", "age_band"]
    expected = planted.groupby(["sex", "age_band"]).size()
    assert list(report["by_group"]) == [f"{s}, {b}" for s, b in expected.index]  # sorted as MetricFrame sorts
    assert {g: v["count"] for g, v in report["by_group"].items()} == {f"{s}, {b}": int(c)
                                                                      for (s, b), c in expected.items()}
    assert report["by_group"]["F, 60+"]["count"] == 12
    assert report["overall"]["count"] == len(planted)
    assert json.loads(json.dumps(report, allow_nan=False)) == report  # JSON-safe as it is


def test_small_groups_are_flagged_at_the_threshold(planted: pd.DataFrame, report: dict[str, Any]) -> None:
    assert report["small_groups"] == ["F, 60+"]
    assert report["by_group"]["F, 60+"]["small"] is True and report["by_group"]["M, 60+"]["small"] is False
    strict = fairness_report(planted["label"], PlantedBias().predict(planted), planted[["sex", "age_band"]],
                             min_group_size=400, bootstrap=0)
    assert set(strict["small_groups"]) == {g for g, v in strict["by_group"].items() if v["count"] < 400}
    assert strict["parameters"]["min_group_size"] == 400


def test_the_planted_bias_shows_in_the_rates_and_the_worst_groups(report: dict[str, Any]) -> None:
    rates = {g: v["selection_rate"] for g, v in report["by_group"].items()}
    assert report["worst_groups"]["selection_rate"] == {"lowest": "F, 60+", "highest": "M, 18-30"}
    assert rates["M, 18-30"] == pytest.approx(0.75, abs=0.06) and rates["F, 60+"] < 0.35
    assert report["demographic_parity_difference"] == pytest.approx(rates["M, 18-30"] - rates["F, 60+"], abs=TOL)
    assert report["demographic_parity_ratio"] == pytest.approx(rates["F, 60+"] / rates["M, 18-30"], abs=TOL)


# -- fairlearn agreement -------------------------------------------------------------------------------


FAIRLEARN_GROUP = {"count": count, "accuracy": accuracy_score, "precision": precision_score, "recall": recall_score,
                   "f1": f1_score, "selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
                   "false_positive_rate": false_positive_rate}
FAIRLEARN_SUMMARY = {"demographic_parity_difference": demographic_parity_difference,
                     "demographic_parity_ratio": demographic_parity_ratio,
                     "equalized_odds_difference": equalized_odds_difference,
                     "equalized_odds_ratio": equalized_odds_ratio}


def _agrees_with_fairlearn(truth: Any, predicted: Any, sensitive: Any, found: dict[str, Any]) -> None:
    frame = MetricFrame(metrics=FAIRLEARN_GROUP, y_true=truth, y_pred=predicted, sensitive_features=sensitive)
    for key, row in frame.by_group.iterrows():
        group = ", ".join(key) if isinstance(key, tuple) else str(key)
        for measure, value in row.items():
            assert found["by_group"][group][measure] == pytest.approx(value, abs=TOL), (group, measure)
    for measure, value in frame.overall.items():
        assert found["overall"][measure] == pytest.approx(value, abs=TOL), measure
    for measure, fn in FAIRLEARN_SUMMARY.items():
        assert found[measure] == pytest.approx(fn(truth, predicted, sensitive_features=sensitive), abs=TOL), measure


def test_point_values_agree_with_fairlearn_on_an_intersection(planted: pd.DataFrame, report: dict[str, Any]) -> None:
    _agrees_with_fairlearn(planted["label"].to_numpy(), PlantedBias().predict(planted),
                           planted[["sex", "age_band"]], report)


def test_point_values_agree_with_fairlearn_on_breast_cancer() -> None:
    data = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(1)
    data["sex"] = rng.choice(["F", "M"], len(data))
    data["site"] = rng.choice(["north", "south", "west"], len(data))
    features = data.drop(columns=["target", "sex", "site"])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(features, data["target"])
    predicted = model.predict(features)
    single = fairness_report(data["target"], predicted, data["sex"])
    assert single["feature"] == "sex" and list(single["by_group"]) == ["F", "M"]
    _agrees_with_fairlearn(data["target"].to_numpy(), predicted, data["sex"], single)
    both = fairness_report(data["target"], predicted, data[["sex", "site"]], bootstrap=50)
    assert len(both["by_group"]) == 6 and both["feature"] == "sex & site"
    _agrees_with_fairlearn(data["target"].to_numpy(), predicted, data[["sex", "site"]], both)


def test_a_label_other_than_one_is_the_positive_class() -> None:
    truth = np.array(["yes", "no", "yes", "no"] * 10)
    predicted = np.array(["yes", "yes", "no", "no"] * 10)
    groups = np.array(["a"] * 20 + ["b"] * 20)
    found = fairness_report(truth, predicted, groups, positive_label="yes", bootstrap=20)
    assert found["feature"] == "sensitive_feature_0" and found["positive_label"] == "yes"
    _agrees_with_fairlearn((truth == "yes").astype(int), (predicted == "yes").astype(int), groups, found)


def test_an_undefined_rate_is_none_and_left_out_of_equalized_odds() -> None:
    """Group c has no positive labels: its true positive rate is None (fairlearn says 0) and the
    equalized odds difference is taken over the groups where the rate exists."""
    truth = np.array([1, 0, 1, 0] * 10 + [0] * 20)
    predicted = np.array([1, 0, 0, 0] * 10 + [1, 0] * 10)
    groups = np.array(["a"] * 20 + ["b"] * 20 + ["c"] * 20)
    found = fairness_report(truth, predicted, groups, bootstrap=50)
    assert found["by_group"]["c"]["true_positive_rate"] is None and found["by_group"]["c"]["precision"] == 0.0
    assert found["by_group"]["c"]["intervals"]["true_positive_rate"] is None
    # TPR a 0.5, b 0.5 (c undefined); FPR a 0, b 0, c 0.5
    assert found["equalized_odds_difference"] == pytest.approx(0.5)
    assert found["worst_groups"]["true_positive_rate"]["lowest"] in ("a", "b")
    assert json.dumps(found, allow_nan=False)


# -- intervals -----------------------------------------------------------------------------------------


def test_intervals_contain_the_point_values(report: dict[str, Any]) -> None:
    assert report["parameters"] == {"min_group_size": 30, "bootstrap": 200, "confidence": 0.95, "seed": 0,
                                    "resampling": "stratified by group"}
    for group, values in report["by_group"].items():
        assert set(values["intervals"]) == {"selection_rate", "accuracy", "true_positive_rate", "false_positive_rate"}
        for measure, (low, high) in values["intervals"].items():
            assert low <= values[measure] <= high, (group, measure)
    for measure in ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                    "equalized_odds_ratio"):
        low, high = report["intervals"][measure]
        assert low <= report[measure] <= high, measure
    assert all(report["intervals"][m][0] < report["intervals"][m][1]
               for m in ("demographic_parity_difference", "equalized_odds_difference"))
    small, large = report["by_group"]["F, 60+"]["intervals"], report["by_group"]["M, 18-30"]["intervals"]
    assert small["selection_rate"][1] - small["selection_rate"][0] > large["selection_rate"][1] - large["selection_rate"][0]


def test_the_bootstrap_is_seeded(planted: pd.DataFrame, report: dict[str, Any]) -> None:
    args = (planted["label"], PlantedBias().predict(planted), planted[["sex", "age_band"]])
    assert fairness_report(*args)["intervals"] == report["intervals"]
    assert fairness_report(*args, seed=1)["intervals"] != report["intervals"]
    assert fairness_report(*args, bootstrap=0)["intervals"] == {m: None for m in report["intervals"]}


def test_resampling_is_within_groups() -> None:
    """Stratified: a group whose predictions are all alike keeps its selection rate in every resample."""
    truth = np.tile([0, 1], 50)
    predicted = np.array([1] * 50 + [0, 1] * 25)
    groups = np.array(["all selected"] * 50 + ["half"] * 50)
    found = fairness_report(truth, predicted, groups)
    assert found["by_group"]["all selected"]["intervals"]["selection_rate"] == [1.0, 1.0]
    low, high = found["by_group"]["half"]["intervals"]["selection_rate"]
    assert low < 0.5 < high


def test_a_three_feature_intersection_of_ten_thousand_rows() -> None:
    rng = np.random.default_rng(5)
    n = 10_000
    sensitive = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "age_band": rng.choice(BANDS, n),
                              "region": rng.choice(["n", "s", "w"], n)})
    truth, predicted = rng.integers(0, 2, n), rng.integers(0, 2, n)
    found = fairness_report(truth, predicted, sensitive)
    assert len(found["by_group"]) == 24 and found["feature"] == "sex & age_band & region"
    assert sum(v["count"] for v in found["by_group"].values()) == n
    assert "F, 18-30, n" in found["by_group"]
    _agrees_with_fairlearn(truth, predicted, sensitive, found)


def test_one_column_as_series_frame_or_array_gives_one_report(planted: pd.DataFrame) -> None:
    predicted = PlantedBias().predict(planted)
    as_series = fairness_report(planted["label"], predicted, planted["sex"])
    as_frame = fairness_report(planted["label"], predicted, planted[["sex"]])
    as_array = fairness_report(planted["label"], predicted, planted["sex"].to_numpy(), feature="sex")
    assert as_series == as_frame == as_array and as_series["feature"] == "sex"


def test_selection_report_needs_no_truth(planted: pd.DataFrame, report: dict[str, Any]) -> None:
    found = selection_report(PlantedBias().predict(planted), planted[["sex", "age_band"]])
    assert found["demographic_parity_difference"] == report["demographic_parity_difference"]
    assert found["intervals"]["demographic_parity_difference"] == report["intervals"]["demographic_parity_difference"]
    assert found["by_group"]["F, 60+"] == {"count": 12, "selection_rate": report["by_group"]["F, 60+"]["selection_rate"],
                                           "small": True, "intervals": {
                                               "selection_rate": report["by_group"]["F, 60+"]["intervals"]["selection_rate"]}}


def test_disparity_over_the_large_groups_names_the_groups(report: dict[str, Any]) -> None:
    every = disparity(report, "demographic_parity_difference")
    assert every["value"] == pytest.approx(report["demographic_parity_difference"])
    assert (every["lowest"], every["highest"], every["excluded"]) == ("F, 60+", "M, 18-30", [])
    large = disparity(report, "demographic_parity_difference", min_group_size=30)
    assert large["excluded"] == ["F, 60+"] and large["lowest"] != "F, 60+" and large["groups"] == 7
    assert large["value"] == pytest.approx(large["highest_value"] - large["lowest_value"])
    assert disparity(report, "equalized_odds_ratio")["rate"] in ("true_positive_rate", "false_positive_rate")


def test_feature_columns_reads_the_three_spellings() -> None:
    assert feature_columns("sex") == ("sex",)
    assert feature_columns(["sex", "age_band"]) == feature_columns("sex & age_band") == ("sex", "age_band")
    for bad in (["sex", "sex"], ["a", "b", "c", "d"], [], 3):
        with pytest.raises(ValueError):
            feature_columns(bad)  # type: ignore[arg-type]


# -- the gate ------------------------------------------------------------------------------------------


INTERSECTION_GATE = """\
gates:
  - {{fairness: demographic_parity_difference, sensitive_features: [sex, age_band], max: 0.1{extra}}}
"""


def _gate(extra: str = "") -> Any:
    return parse_policy_yaml(INTERSECTION_GATE.format(extra=extra))


def test_an_intersection_gate_fails_on_the_biased_model_naming_the_groups(planted: pd.DataFrame) -> None:
    result = evaluate_gates(_gate(), challenger=PlantedBias(), data=planted, feature_columns=["sex", "age_band", "score"])
    assert not result.passed
    [reason] = result.failures
    assert reason.startswith("demographic_parity_difference for 'sex & age_band' ")
    assert "is above the maximum 0.1: selection rate " in reason
    assert "in group 'F, 60+' vs " in reason and reason.endswith("in 'M, 18-30'")
    assert set(result.fairness) == {"sex & age_band"}
    assert result.fairness["sex & age_band"]["small_groups"] == ["F, 60+"]
    assert result.gates[0].evidence["decision"]["lowest"] == "F, 60+"
    assert json.dumps(result.model_dump(mode="json"), allow_nan=False)


def test_the_intersection_gate_passes_on_a_fair_model(planted: pd.DataFrame) -> None:
    result = evaluate_gates(parse_policy_yaml(INTERSECTION_GATE.format(extra="").replace("0.1", "0.2")),
                            challenger=Fair(), data=planted, feature_columns=["score"])
    assert result.passed, result.failures
    assert "is within the limit" in result.gates[0].reason and "in group '" in result.gates[0].reason


def test_min_group_size_leaves_small_groups_out_and_says_so(planted: pd.DataFrame) -> None:
    result = evaluate_gates(_gate(", min_group_size: 30"), challenger=PlantedBias(), data=planted,
                            feature_columns=["sex", "age_band", "score"])
    [gate] = result.gates
    assert not gate.passed  # M, 18-30 against F, 45-60 is still far apart
    assert "'F, 60+' (12)" in gate.reason and "left out, under 30 rows" in gate.reason
    assert "in group 'F, 60+'" not in gate.reason
    assert gate.observed < result.fairness["sex & age_band"]["demographic_parity_difference"]
    everyone_small = evaluate_gates(_gate(", min_group_size: 100000"), challenger=PlantedBias(), data=planted,
                                    feature_columns=["sex", "age_band", "score"])
    assert not everyone_small.passed and "no group has 100000 rows or more" in everyone_small.failures[0]


def test_equalized_odds_reason_names_the_rate(planted: pd.DataFrame) -> None:
    policy = parse_policy_yaml("gates:\n  - {fairness: equalized_odds_difference, sensitive_features: [sex, age_band], "
                               "max: 0.1}\n")
    result = evaluate_gates(policy, challenger=PlantedBias(), data=planted, feature_columns=["sex", "age_band", "score"])
    assert not result.passed
    assert " positive rate " in result.failures[0] and "in group '" in result.failures[0]


def test_a_single_feature_gate_and_the_policy_features_keep_their_reports(planted: pd.DataFrame) -> None:
    policy = parse_policy_yaml("sensitive_features: [sex, age_band]\ngates:\n"
                               "  - {fairness: demographic_parity_difference, sensitive_feature: sex, max: 0.5}\n"
                               "  - {fairness: demographic_parity_ratio, sensitive_features: [age_band, sex], min: 0.8}\n")
    result = evaluate_gates(policy, challenger=PlantedBias(), data=planted, feature_columns=["sex", "age_band", "score"])
    assert list(result.fairness) == ["sex", "age_band", "age_band & sex"]
    assert "60+, F" in result.fairness["age_band & sex"]["by_group"]
    assert result.gates[0].passed and "demographic_parity_difference for 'sex' " in result.gates[0].reason
    assert not result.gates[1].passed and "is below the minimum 0.8" in result.gates[1].reason


def test_a_missing_intersection_column_fails_the_gate_clearly(planted: pd.DataFrame) -> None:
    policy = parse_policy_yaml("gates:\n  - {fairness: demographic_parity_difference, "
                               "sensitive_features: [sex, religion], max: 0.1}\n")
    result = evaluate_gates(policy, challenger=Fair(), data=planted, feature_columns=["score"])
    assert not result.passed
    assert "for sensitive features 'sex & religion' could not be computed" in result.failures[0]
    assert "no column 'religion'" in result.failures[0]


@pytest.mark.parametrize(("gate", "message"), [
    ("sensitive_features: [sex], max: 0.1", "2 or 3 distinct columns (for one, use sensitive_feature)"),
    ("sensitive_features: [sex, sex], max: 0.1", "2 or 3 distinct columns"),
    ("sensitive_features: [a, b, c, d], max: 0.1", "2 or 3 distinct columns"),
    ("max: 0.1", "give exactly one of sensitive_feature"),
    ("sensitive_feature: sex, sensitive_features: [sex, age], max: 0.1", "give exactly one of sensitive_feature"),
    ("sensitive_features: [sex, age], max: 0.1, min_group_size: 0", "min_group_size"),
])
def test_the_gate_is_validated_with_a_clear_message(gate: str, message: str) -> None:
    with pytest.raises(InvalidInput, match="line 3") as raised:
        parse_policy_yaml(f"model: m\ngates:\n  - {{fairness: demographic_parity_difference, {gate}}}\n")
    assert message in str(raised.value)
