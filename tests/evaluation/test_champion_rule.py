"""The champion gate's rule: ``decide_on: interval`` (default, "not significantly worse") or
``point``, with the improvement signed by the metric's direction."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelward.domain.policy import Policy
from modelward.evaluation import compare_models, evaluate_gates


class Lookup:
    """Answers fixed predictions by row id (column ``row``)."""

    def __init__(self, predictions: Any) -> None:
        self.predictions = np.asarray(predictions)

    def predict(self, frame: pd.DataFrame) -> Any:
        return self.predictions[frame["row"].to_numpy()]


def _policy(decide_on: str | None, metric: str = "accuracy", task: str = "classification") -> Policy:
    gate: dict[str, Any] = {"compare_to": "champion", "metric": metric, "max_regression": 0.01, "bootstrap": 2000}
    if decide_on:
        gate["decide_on"] = decide_on
    return Policy.model_validate({"task": task, "gates": [gate]})


def _slightly_worse() -> tuple[pd.DataFrame, Lookup, Lookup]:
    """50 rows; the challenger is wrong on 2 rows the champion gets right: 4 points worse, not significantly."""
    y = np.array([0, 1] * 25)
    champion = y.copy()
    champion[:10] = 1 - champion[:10]  # 80% accurate
    challenger = champion.copy()
    challenger[10:12] = 1 - challenger[10:12]  # 76%
    return pd.DataFrame({"row": np.arange(50), "label": y}), Lookup(champion), Lookup(challenger)


@pytest.mark.parametrize("decide_on", [None, "interval"])
def test_interval_rule_passes_a_challenger_not_significantly_worse(decide_on: str | None) -> None:
    frame, champion, challenger = _slightly_worse()
    result = evaluate_gates(_policy(decide_on), challenger=challenger, champion=champion, data=frame,
                            feature_columns=["row"])
    gate = result.gates[0]
    assert gate.passed and "(interval rule)" in gate.reason and "not significantly worse" in gate.reason
    assert gate.evidence["improvement"] == pytest.approx(-0.04)
    assert gate.evidence["improvement_ci_high"] >= -0.01 > gate.evidence["improvement_ci_low"]


def test_point_rule_fails_the_same_challenger() -> None:
    frame, champion, challenger = _slightly_worse()
    result = evaluate_gates(_policy("point"), challenger=challenger, champion=champion, data=frame,
                            feature_columns=["row"])
    assert not result.passed
    assert "regresses by 0.04, more than the allowed 0.01 (point rule)" in result.failures[0]


def test_interval_rule_fails_a_significantly_worse_challenger() -> None:
    y = np.array([0, 1] * 100)
    champion, challenger = y.copy(), y.copy()
    challenger[:60] = 1 - challenger[:60]  # 30 points worse
    frame = pd.DataFrame({"row": np.arange(200), "label": y})
    result = evaluate_gates(_policy("interval"), challenger=Lookup(challenger), champion=Lookup(champion), data=frame,
                            feature_columns=["row"])
    assert not result.passed and "significantly worse than the allowed regression (interval rule)" in result.failures[0]


def test_lower_is_better_metrics_sign_the_improvement_and_its_interval() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=300)
    champion = y + rng.normal(scale=0.1, size=300)
    challenger = y + rng.normal(scale=1.0, size=300)  # far larger errors: rmse clearly worse
    found = compare_models("regression", y, champion, challenger, metrics=["rmse"], n_bootstrap=500)["metrics"]["rmse"]
    assert found["difference"] > 0 and found["improvement"] < 0  # higher rmse = worse
    assert found["improvement_ci_low"] == pytest.approx(-found["ci_high"])
    assert found["improvement_ci_high"] == pytest.approx(-found["ci_low"]) and found["improvement_ci_high"] < 0
    frame = pd.DataFrame({"row": np.arange(300), "label": y})
    for decide_on in ("interval", "point"):
        result = evaluate_gates(_policy(decide_on, "rmse", "regression"), challenger=Lookup(challenger),
                                champion=Lookup(champion), data=frame, feature_columns=["row"])
        assert not result.passed, decide_on
        swapped = evaluate_gates(_policy(decide_on, "rmse", "regression"), challenger=Lookup(champion),
                                 champion=Lookup(challenger), data=frame, feature_columns=["row"])
        assert swapped.passed, decide_on
