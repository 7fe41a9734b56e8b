"""Champion vs challenger on the same rows: the difference per metric and a paired bootstrap.

Each bootstrap resample draws row indices with replacement (a seeded numpy Generator);
both models are scored on the same resample, so the interval reflects the *paired*
difference. A resample is represented by how many times it draws each row (a weight
vector), which turns every metric into matrix products over all resamples at once:
1000 resamples of 5,000 rows take well under a second.

Per metric the result holds::

    {"champion": 0.91, "challenger": 0.93, "difference": 0.02,     # challenger - champion
     "improvement": 0.02,            # difference signed so that > 0 means the challenger is better
     "higher_is_better": true, "ci_low": 0.005, "ci_high": 0.035,  # interval of the difference
     "improvement_ci_low": 0.005, "improvement_ci_high": 0.035,  # the same interval, of the improvement
     "confidence": 0.95, "n_bootstrap": 1000,
     "probability_challenger_better": 0.99,  # share of resamples where the challenger is better
     "within_tolerance": true, "tolerance": 0.01}                # only when a tolerance is given
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from modelward.domain.policy import LOWER_IS_BETTER
from modelward.evaluation.metrics import (
    class_labels,
    classification_metrics,
    jsonable,
    positive_class,
    regression_metrics,
)

_CELLS_PER_CHUNK = 4_000_000  # resamples x rows held in memory at once
_EPS = 1e-15


def compare_models(
    task: str,
    y_true: Any,
    champion_pred: Any,
    challenger_pred: Any,
    *,
    champion_proba: Any = None,
    challenger_proba: Any = None,
    classes: list[Any] | None = None,
    positive_label: Any = None,
    metrics: list[str] | None = None,
    tolerance: dict[str, float] | None = None,
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-metric comparison of two models' outputs on the same rows (see the module docstring)."""
    y_true = np.asarray(y_true)
    champion = _Outputs(task, y_true, champion_pred, champion_proba, classes, positive_label)
    challenger = _Outputs(task, y_true, challenger_pred, challenger_proba, classes, positive_label)
    names = [m for m in (metrics or list(challenger.point)) if m in challenger.point and m in champion.point]
    draws: dict[str, list[np.ndarray]] = {m: [] for m in names}
    for weights in _resample_weights(len(y_true), n_bootstrap, seed):
        for name in names:
            draws[name].append(challenger.weighted(name, weights) - champion.weighted(name, weights))
    result = {}
    for name in names:
        result[name] = _summary(name, champion.point[name], challenger.point[name], np.concatenate(draws[name]),
                                confidence, (tolerance or {}).get(name))
    skipped = {m: "not computable for both models" for m in (metrics or []) if m not in names}
    return jsonable({"metrics": result, "skipped": skipped, "n_rows": len(y_true), "seed": seed})


def _summary(
    name: str, champion: float, challenger: float, diffs: np.ndarray, confidence: float, tolerance: float | None
) -> dict[str, Any]:
    higher = name not in LOWER_IS_BETTER
    sign = 1.0 if higher else -1.0
    valid = diffs[np.isfinite(diffs)]
    alpha = (1 - confidence) / 2
    low, high = (np.quantile(valid, [alpha, 1 - alpha]) if valid.size else (np.nan, np.nan))
    better = (sign * valid > 0).mean() + 0.5 * (valid == 0).mean() if valid.size else np.nan
    summary: dict[str, Any] = {
        "champion": champion, "challenger": challenger, "difference": challenger - champion,
        "improvement": sign * (challenger - champion), "higher_is_better": higher,
        "ci_low": low, "ci_high": high,
        # the interval of the improvement: for lower-is-better metrics the difference's, negated and swapped
        "improvement_ci_low": low if higher else -high, "improvement_ci_high": high if higher else -low,
        "confidence": confidence, "n_bootstrap": int(diffs.size),
        "undefined_resamples": int(diffs.size - valid.size), "probability_challenger_better": better,
    }
    if tolerance is not None:
        summary["tolerance"] = tolerance
        summary["within_tolerance"] = bool(sign * (challenger - champion) >= -tolerance)
    return summary


def _resample_weights(n_rows: int, n_bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of a (resamples x rows) matrix: how often each resample draws each row."""
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CELLS_PER_CHUNK // max(n_rows, 1))
    done = 0
    while done < n_bootstrap:
        size = min(per_chunk, n_bootstrap - done)
        idx = rng.integers(0, n_rows, size=(size, n_rows))
        flat = (idx + (np.arange(size) * n_rows)[:, None]).ravel()
        yield np.bincount(flat, minlength=size * n_rows).reshape(size, n_rows).astype(np.float32)
        done += size


class _Outputs:
    """One model's outputs with per-row quantities prepared for weighted (resampled) metrics."""

    def __init__(self, task: str, y_true: np.ndarray, pred: Any, proba: Any, classes: list[Any] | None,
                 positive_label: Any) -> None:
        self.task = task
        self.n = len(y_true)
        pred = np.asarray(pred)
        if task == "regression":
            self.point = regression_metrics(y_true, pred)["metrics"]
            self.err = np.asarray(pred, dtype=float) - np.asarray(y_true, dtype=float)
            self.y = np.asarray(y_true, dtype=float)
            return
        report = classification_metrics(y_true, pred, proba=proba, classes=classes, positive_label=positive_label)
        self.point = {k: v for k, v in report["metrics"].items() if v is not None}
        self.labels = class_labels(y_true, pred, classes)
        self.binary = len(self.labels) <= 2
        self.pos = positive_class(self.labels, positive_label)
        kept = self.labels if not self.binary else [self.pos]
        # float32 like the resample weights: sums of whole counts stay exact and nothing is cast per product
        self.true_hot = np.stack([y_true == k for k in kept], axis=1).astype(np.float32)
        self.pred_hot = np.stack([pred == k for k in kept], axis=1).astype(np.float32)
        self.correct = (pred == y_true).astype(np.float32)
        self.proba = np.asarray(proba, dtype=float) if "roc_auc" in self.point or "log_loss" in self.point else None
        if self.proba is not None and "log_loss" in self.point:
            hot = np.stack([y_true == k for k in self.labels], axis=1)
            picked = np.clip((self.proba / self.proba.sum(axis=1, keepdims=True))[hot], _EPS, 1)
            self.row_log_loss = -np.log(picked) if picked.size == self.n else np.full(self.n, np.nan)

    def weighted(self, name: str, w: np.ndarray) -> np.ndarray:
        """The metric on each resample (one row of ``w`` per resample)."""
        if self.task == "regression":
            return _weighted_regression(name, self.err, self.y, w.astype(np.float64), self.n)
        if name == "accuracy":
            return (w @ self.correct).astype(np.float64) / self.n
        if name == "log_loss":
            return w.astype(np.float64) @ self.row_log_loss / self.n
        if name == "roc_auc":
            return self._weighted_auc(w)
        return self._weighted_counts_metric(name, w)

    def _weighted_counts_metric(self, name: str, w: np.ndarray) -> np.ndarray:
        tp = (w @ (self.true_hot * self.pred_hot)).astype(np.float64)
        predicted, actual = (w @ self.pred_hot).astype(np.float64), (w @ self.true_hot).astype(np.float64)
        fp, fn = predicted - tp, actual - tp
        tn = self.n - tp - fp - fn
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(predicted > 0, tp / predicted, 0.0)
            recall = np.where(actual > 0, tp / actual, 0.0)
            per_class = {
                "precision": precision,
                "recall": recall,
                "f1": np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0),
                "specificity": np.where(tn + fp > 0, tn / (tn + fp), 0.0),
            }[name]
        return per_class.mean(axis=1)

    def _weighted_auc(self, w: np.ndarray) -> np.ndarray:
        assert self.proba is not None
        if self.binary:
            return _weighted_binary_auc(self.proba[:, self.labels.index(self.pos)], self.true_hot[:, 0] > 0, w)
        per_class = [_weighted_binary_auc(self.proba[:, k], self.true_hot[:, k] > 0, w) for k in range(len(self.labels))]
        return np.mean(per_class, axis=0)


def _weighted_regression(name: str, err: np.ndarray, y: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    if name == "rmse":
        return np.sqrt(w @ err**2 / n)
    if name == "mae":
        return w @ np.abs(err) / n
    total = w @ y**2 - (w @ y) ** 2 / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 1 - (w @ err**2) / total, np.nan)


def _weighted_binary_auc(scores: np.ndarray, positive: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC per resample: P(score of a positive > score of a negative), ties count half.

    Rows sorted by score; a running sum of negative weights gives, at each positive row, the
    weight of negatives scored below it (ties: below its tie group plus half the group).
    """
    order = np.argsort(scores, kind="mergesort")
    sorted_scores, sorted_positive = scores[order], positive[order]
    w_sorted = w.take(order, axis=1)
    neg_cum = np.cumsum(w_sorted * ~sorted_positive, axis=1, dtype=np.float64)
    at_pos = np.flatnonzero(sorted_positive)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    group = np.searchsorted(starts, at_pos, side="right") - 1
    first, last = starts[group], np.r_[starts[1:], len(scores)][group] - 1
    below = np.where(first > 0, neg_cum[:, np.maximum(first - 1, 0)], 0.0)
    tied = neg_cum[:, last] - below
    total_pos, total_neg = w_sorted[:, at_pos].sum(axis=1), neg_cum[:, -1]
    numerator = np.einsum("ij,ij->i", w_sorted[:, at_pos], below + 0.5 * tied)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = numerator / (total_pos * total_neg)
    return np.where((total_pos > 0) & (total_neg > 0), auc, np.nan)


__all__ = ["compare_models"]
