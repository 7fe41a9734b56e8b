from __future__ import annotations

import math

import numpy as np
import pytest

from modelward.evaluation.compare import compare_models
from modelward.evaluation.metrics import classification_metrics, regression_metrics


def test_binary_metrics_by_hand() -> None:
    # TP=2 (rows 0,1), FN=1 (row 2), FP=1 (row 3), TN=2 (rows 4,5)
    y_true = [1, 1, 1, 0, 0, 0]
    y_pred = [1, 1, 0, 1, 0, 0]
    proba = np.array([[0.1, 0.9], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.9, 0.1], [0.8, 0.2]])
    report = classification_metrics(y_true, y_pred, proba=proba)
    m = report["metrics"]
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(2 / 3) and m["f1"] == pytest.approx(2 / 3)
    # positives score 0.9, 0.8, 0.4; negatives 0.7, 0.1, 0.2: 8 of 9 pairs ordered right
    assert m["roc_auc"] == pytest.approx(8 / 9)
    expected_loss = -np.mean(np.log([0.9, 0.8, 0.4, 0.3, 0.9, 0.8]))
    assert m["log_loss"] == pytest.approx(expected_loss)
    assert report["confusion_matrix"] == {"labels": [0, 1], "matrix": [[2, 1], [1, 2]]}
    assert report["skipped"] == {}


def test_without_probabilities_auc_is_skipped_with_a_reason() -> None:
    report = classification_metrics(["no", "yes", "yes"], ["no", "yes", "no"])
    assert "roc_auc" not in report["metrics"] and "predict_proba" in report["skipped"]["roc_auc"]
    assert report["positive_label"] == "yes" and report["metrics"]["recall"] == pytest.approx(0.5)


def test_multiclass_specificity_is_macro() -> None:
    y_true, y_pred = [0, 1, 2, 2], [0, 2, 2, 1]
    # class0: TN=3 FP=0 -> 1; class1: TN=2 FP=1 -> 2/3; class2: TN=1 FP=1 -> 1/2
    m = classification_metrics(y_true, y_pred)["metrics"]
    assert m["specificity"] == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    assert m["accuracy"] == pytest.approx(0.5)


def test_regression_metrics_by_hand() -> None:
    m = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 4.0, 2.0])["metrics"]
    assert m["rmse"] == pytest.approx(math.sqrt(5 / 4)) and m["mae"] == pytest.approx(3 / 4)
    assert m["r2"] == pytest.approx(1 - 5 / 5)


def _scores(rng: np.random.Generator, y: np.ndarray, signal: float) -> np.ndarray:
    return np.clip(y * signal + rng.random(len(y)) * (1 - signal), 0, 1)


def test_clearly_better_challenger_has_interval_above_zero_in_a_few_vectorised_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every resample is scored, but in matrix passes over chunks of resamples, never one call per
    resample: the work is bounded by the chunk budget (timings live in bench/small_paths.py)."""
    from modelward.evaluation import compare

    calls: list[tuple[str, int]] = []
    real_weighted = compare._Outputs.weighted

    def counted(self: compare._Outputs, name: str, w: np.ndarray) -> np.ndarray:
        calls.append((name, w.shape[0]))
        return real_weighted(self, name, w)

    monkeypatch.setattr(compare._Outputs, "weighted", counted)
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 5000)
    weak, strong = _scores(rng, y, 0.2), _scores(rng, y, 0.5)
    result = compare_models(
        "classification", y, (weak > 0.5).astype(int), (strong > 0.5).astype(int),
        champion_proba=np.c_[1 - weak, weak], challenger_proba=np.c_[1 - strong, strong],
        metrics=["accuracy", "roc_auc"], n_bootstrap=1000,
    )
    for name in ("accuracy", "roc_auc"):
        found = result["metrics"][name]
        assert found["ci_low"] > 0 and found["ci_low"] < found["difference"] < found["ci_high"]
        assert found["probability_challenger_better"] > 0.99 and found["n_bootstrap"] == 1000
    chunks = math.ceil(1000 * 5000 / compare._CELLS_PER_CHUNK)
    assert len(calls) == 2 * 2 * chunks  # two models x two metrics x chunks of resamples
    for name in ("accuracy", "roc_auc"):  # each model saw every resample exactly once
        assert sum(rows for metric, rows in calls if metric == name) == 2 * 1000


def test_identical_models_straddle_zero_and_more_rows_narrow_the_interval() -> None:
    rng = np.random.default_rng(3)
    widths = []
    for n in (200, 5000):
        y = rng.integers(0, 2, n)
        a = (rng.random(n) < 0.8) == y  # ~80% correct, independent errors
        b = (rng.random(n) < 0.8) == y
        found = compare_models("classification", y, a.astype(int) * y + (1 - a) * (1 - y),
                               b.astype(int) * y + (1 - b) * (1 - y), metrics=["accuracy"])["metrics"]["accuracy"]
        assert found["ci_low"] < 0 < found["ci_high"]
        widths.append(found["ci_high"] - found["ci_low"])
    assert widths[1] < widths[0] / 3


def test_same_predictions_give_zero_difference_and_half_probability() -> None:
    y = np.array([0, 1] * 50)
    pred = np.array([0, 1, 1, 0] * 25)
    found = compare_models("classification", y, pred, pred, metrics=["f1"])["metrics"]["f1"]
    assert found["difference"] == 0 and found["ci_low"] == 0 == found["ci_high"]
    assert found["probability_challenger_better"] == pytest.approx(0.5)


def test_resampled_metrics_match_sklearn_on_the_full_sample() -> None:
    """The vectorised per-resample formulas must agree with sklearn when the resample is the data."""
    from modelward.evaluation.compare import _Outputs

    rng = np.random.default_rng(11)
    ones = np.ones((1, 600), dtype=np.float32)
    y3 = rng.integers(0, 3, 600)
    proba = rng.dirichlet([1, 1, 1], 600)
    proba[:50] = [0.2, 0.3, 0.5]  # ties in the scores
    outputs = _Outputs("classification", y3, proba.argmax(axis=1), proba, None, None)
    for name, value in outputs.point.items():
        assert outputs.weighted(name, ones)[0] == pytest.approx(value, rel=1e-5), name
    y = rng.normal(size=600)
    reg = _Outputs("regression", y, y + rng.normal(size=600) * 0.3, None, None, None)
    for name, value in reg.point.items():
        assert reg.weighted(name, ones)[0] == pytest.approx(value, rel=1e-6), name


def test_lower_is_better_metrics_and_tolerance() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(size=400)
    result = compare_models("regression", y, y + rng.normal(size=400), y + rng.normal(size=400) * 0.5,
                            tolerance={"rmse": 0.0})
    rmse = result["metrics"]["rmse"]
    assert rmse["higher_is_better"] is False and rmse["difference"] < 0 < rmse["improvement"]
    assert rmse["within_tolerance"] is True and rmse["ci_high"] < 0
