"""Quality per time window, realised and estimated, and the test that says when it changed.

Everything here works on whole columns at once: ``groups`` holds each row's window number
(0..n_groups-1) and every figure comes out as one array entry per window, computed with
``np.bincount`` and sorts, never a Python loop over rows. The definitions are those of
``modelward.evaluation.metrics`` (what the governance gates compute): binary figures are of the
positive class, multiclass ones macro averages over the classes, precision/recall/F1 0 where
undefined, log loss on probabilities clipped to [eps, 1-eps], ROC AUC one-vs-rest.

Confidence-based performance estimation (CBPE, as NannyML defines it): with calibrated class
probabilities ``p``, a row predicted as class k is a true positive of k with probability p_k and
a false positive with 1 - p_k; summing these expectations gives an expected confusion matrix, and
from it the expected accuracy, precision, recall, specificity and F1. The expected ROC AUC is the
area under the curve of expected true- and false-positive rates as the threshold falls.
Calibration is isotonic regression on a reference set with labels (scikit-learn's, fitted per
class; multiclass rows renormalised); without one the probabilities are taken as calibrated.

Decay: Page-Hinkley or two-sided CUSUM over a series of window figures standardised by its first
(reference) windows; ``decay`` gives the first window where the statistic crosses its threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ECE_BINS = 10
# In reference standard deviations. With drift k = 0.5, h = 8 gives an in-control run length of
# about 9,500 windows for the two-sided CUSUM (Siegmund's approximation; h = 5 gives about 470,
# a false alarm a month of hourly windows), and still finds a 3-sd step within about 4 windows.
DEFAULT_THRESHOLD = 8.0
DEFAULT_DRIFT = 0.5  # allowance per window, in reference standard deviations (k = 0.5)


# -- confusion-matrix figures --------------------------------------------------------------------

def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (sklearn's zero_division=0)."""
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _rates(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray, positive: int | None) -> dict[str, np.ndarray]:
    """Precision, recall, specificity, F1 per window from per-(window, class) counts of shape (G, K):
    of class ``positive`` (binary) or the macro average over classes."""
    figures = {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
               "specificity": _ratio(tn, tn + fp), "f1": _ratio(2 * tp, 2 * tp + fp + fn)}
    if positive is not None:
        return {name: value[:, positive] for name, value in figures.items()}
    return {name: value.mean(axis=1) for name, value in figures.items()}


def classification_by_window(
    groups: np.ndarray, n_groups: int, true: np.ndarray, predicted: np.ndarray, n_classes: int,
    positive: int | None, proba: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Realised figures per window; classes are indices 0..n_classes-1, ``positive`` the positive
    class of a binary task (None: multiclass, macro averages); ``proba`` (n, n_classes) adds ROC
    AUC, log loss and the expected calibration error."""
    k = n_classes
    matrix = np.bincount((groups * k + true) * k + predicted, minlength=n_groups * k * k).reshape(n_groups, k, k)
    total = matrix.sum(axis=(1, 2))
    tp = np.diagonal(matrix, axis1=1, axis2=2).astype(float)
    fp, fn = matrix.sum(axis=1) - tp, matrix.sum(axis=2) - tp
    tn = total[:, None] - tp - fp - fn
    figures = {"accuracy": _ratio(tp.sum(axis=1), total.astype(float)), **_rates(tp, fp, fn, tn, positive)}
    if proba is not None:
        figures["roc_auc"] = _auc_one_vs_rest(groups, n_groups, proba, np.eye(k, dtype=bool)[true], positive)
        eps = np.finfo(float).eps
        picked = np.clip(proba, eps, 1 - eps)[np.arange(len(true)), true]
        figures["log_loss"] = _ratio(np.bincount(groups, weights=-np.log(picked), minlength=n_groups), total)
        figures["calibration_error"] = expected_calibration_error(groups, n_groups, proba, true)
    figures["rows"] = total
    return figures


def expected_calibration_error(groups: np.ndarray, n_groups: int, proba: np.ndarray, true: np.ndarray) -> np.ndarray:
    """ECE per window: the confidence (top probability) in 10 equal bins, sum over bins of
    (rows in bin / rows) * |accuracy in bin - mean confidence in bin|."""
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == true).astype(float)
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    cell = groups * ECE_BINS + bins
    gap = (np.bincount(cell, weights=correct, minlength=n_groups * ECE_BINS)
           - np.bincount(cell, weights=confidence, minlength=n_groups * ECE_BINS))
    per_window = np.abs(gap).reshape(n_groups, ECE_BINS).sum(axis=1)
    return _ratio(per_window, np.bincount(groups, minlength=n_groups).astype(float))


def _window_order(groups: np.ndarray, n_groups: int, score: np.ndarray) -> np.ndarray:
    """Row order by window, then by score: a quicksort of the scores (the order inside ties does not
    matter, runs of equal scores are treated as one) and a stable (radix) sort of the window numbers."""
    by_score = np.argsort(score)
    small = groups.astype(np.int16 if n_groups < 2**15 else np.int64)
    return by_score[np.argsort(small[by_score], kind="stable")]


def auc_by_window(groups: np.ndarray, n_groups: int, score: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """ROC AUC per window (Mann-Whitney U with average ranks for ties); NaN where a window lacks
    positives or negatives."""
    order = _window_order(groups, n_groups, score)
    g, s, p = groups[order], score[order], positive[order].astype(float)
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    place = np.arange(len(g)) - starts[g]  # 0-based position inside the window
    run_start = np.ones(len(g), dtype=bool)
    run_start[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    run = np.cumsum(run_start) - 1
    run_length = np.bincount(run)
    rank = place[run_start][run] + (run_length[run] - 1) / 2 + 1
    positive_ranks = np.bincount(g, weights=rank * p, minlength=n_groups)
    positives = np.bincount(g, weights=p, minlength=n_groups)
    negatives = counts - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (positive_ranks - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where(positives * negatives > 0, auc, np.nan)


def _auc_one_vs_rest(groups: np.ndarray, n_groups: int, proba: np.ndarray, truth: np.ndarray,
                     positive: int | None, auc: Any = auc_by_window) -> np.ndarray:
    """Binary: AUC of the positive column; multiclass: the macro mean of one-vs-rest AUCs (NaN if
    a class is missing from a window's labels, as scikit-learn refuses it)."""
    if positive is not None:
        return auc(groups, n_groups, proba[:, positive], truth[:, positive])
    return np.mean([auc(groups, n_groups, proba[:, k], truth[:, k]) for k in range(proba.shape[1])], axis=0)


def regression_by_window(groups: np.ndarray, n_groups: int, true: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """MAE, RMSE and R² per window (R² as scikit-learn: 1 for a perfect fit of a constant, 0 for
    an imperfect one; NaN below two rows, as the gates' metrics give)."""
    counts = np.bincount(groups, minlength=n_groups).astype(float)
    error = predicted - true
    squared = np.bincount(groups, weights=error * error, minlength=n_groups)
    mean = _ratio(np.bincount(groups, weights=true, minlength=n_groups), counts)
    spread = np.bincount(groups, weights=(true - mean[groups]) ** 2, minlength=n_groups)
    r2 = np.where(spread > 0, 1 - _ratio(squared, spread), np.where(squared == 0, 1.0, 0.0))
    return {"mae": _ratio(np.bincount(groups, weights=np.abs(error), minlength=n_groups), counts),
            "rmse": np.sqrt(_ratio(squared, counts)), "r2": np.where(counts > 1, r2, np.nan), "rows": counts}


# -- CBPE ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """Isotonic maps per class (or none: the probabilities are taken as calibrated)."""

    maps: tuple[Any, ...] = ()
    rows: int = 0

    @property
    def fitted(self) -> bool:
        return bool(self.maps)

    def apply(self, proba: np.ndarray) -> np.ndarray:
        if not self.maps:
            return proba
        if proba.shape[1] == 2:  # binary: calibrate the second column, the first is its complement
            positive = self.maps[0].predict(proba[:, 1])
            return np.column_stack([1 - positive, positive])
        calibrated = np.column_stack([m.predict(proba[:, k]) for k, m in enumerate(self.maps)])
        sums = calibrated.sum(axis=1, keepdims=True)
        return np.where(sums > 0, calibrated / np.where(sums > 0, sums, 1), 1 / proba.shape[1])


def fit_calibration(proba: np.ndarray, true: np.ndarray) -> Calibration:
    """Isotonic regression of each class's indicator on its predicted probability."""
    from sklearn.isotonic import IsotonicRegression

    columns = [1] if proba.shape[1] == 2 else range(proba.shape[1])
    maps = tuple(IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(proba[:, k], true == k)
                 for k in columns)
    return Calibration(maps, rows=len(true))


def cbpe(
    proba: np.ndarray, *, groups: np.ndarray | None = None, n_groups: int | None = None,
    positive: int | None = 1, calibration: Calibration | None = None,
) -> dict[str, np.ndarray]:
    """Estimated accuracy, precision, recall, specificity, F1 and ROC AUC per window from class
    probabilities (n, K) alone; the prediction is the most probable class. ``positive``: the
    positive column of a binary task, None for macro averages. Without ``groups``, one window."""
    proba = np.asarray(proba, dtype=float)
    n, k = proba.shape
    if groups is None:
        groups, n_groups = np.zeros(n, dtype=np.int64), 1
    assert n_groups is not None
    predicted = proba.argmax(axis=1)
    p = (calibration or Calibration()).apply(proba)
    chosen = np.eye(k, dtype=bool)[predicted]
    cells = groups[:, None] * k + np.arange(k)[None, :]

    def per_class(weights: np.ndarray) -> np.ndarray:
        return np.bincount(cells.ravel(), weights=weights.ravel(), minlength=n_groups * k).reshape(n_groups, k)

    tp, fp = per_class(np.where(chosen, p, 0.0)), per_class(np.where(chosen, 1 - p, 0.0))
    fn, tn = per_class(np.where(chosen, 0.0, p)), per_class(np.where(chosen, 0.0, 1 - p))
    counts = np.bincount(groups, minlength=n_groups).astype(float)
    return {"accuracy": _ratio(tp.sum(axis=1), counts), **_rates(tp, fp, fn, tn, positive if k == 2 else None),
            "roc_auc": _auc_one_vs_rest(groups, n_groups, proba, p, positive if k == 2 else None,
                                        auc=_expected_auc_by_window),
            "rows": counts}


def _expected_auc_by_window(groups: np.ndarray, n_groups: int, score: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """The area under the expected ROC curve: rows by falling ``score``, each adding its calibrated
    ``probability`` to the expected true positives and 1 - it to the false positives (ties as one step)."""
    order = _window_order(groups, n_groups, -score)
    g, s, p = groups[order], score[order], probability[order].astype(float)
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    cum_tp, cum_fp = np.cumsum(p), np.cumsum(1 - p)
    before_tp = np.concatenate(([0.0], cum_tp))[starts[g]]
    before_fp = np.concatenate(([0.0], cum_fp))[starts[g]]
    tp, fp = cum_tp - before_tp, cum_fp - before_fp  # cumulative inside the window
    run_end = np.ones(len(g), dtype=bool)
    run_end[:-1] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    g, tp, fp = g[run_end], tp[run_end], fp[run_end]
    first = np.ones(len(g), dtype=bool)
    first[1:] = g[1:] != g[:-1]
    previous_tp = np.where(first, 0.0, np.concatenate(([0.0], tp[:-1])))
    previous_fp = np.where(first, 0.0, np.concatenate(([0.0], fp[:-1])))
    area = np.bincount(g, weights=(fp - previous_fp) * (tp + previous_tp) / 2, minlength=n_groups)
    total_tp = np.bincount(groups, weights=probability, minlength=n_groups)
    total_fp = counts - total_tp
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = area / (total_tp * total_fp)
    return np.where(total_tp * total_fp > 0, auc, np.nan)


def accuracy_standard_error(proba: np.ndarray) -> float:
    """The standard error of realised accuracy around its CBPE estimate, labels drawn from
    calibrated ``proba``: sqrt(sum q(1-q)) / n with q the top probability of each row."""
    q = np.asarray(proba, dtype=float).max(axis=1)
    return float(np.sqrt(np.sum(q * (1 - q))) / len(q))


# -- decay ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChangePoint:
    """``index``: the first point where the test fired (None: no change); ``statistic``: its value
    there (or the largest value reached), in reference standard deviations; ``direction``: "down"/"up"."""

    index: int | None
    statistic: float
    direction: str | None
    method: str


def decay(series: Any, *, method: str = "page_hinkley", threshold: float = DEFAULT_THRESHOLD,
          drift: float = DEFAULT_DRIFT, reference: int | None = None) -> ChangePoint:
    """The first change of the mean of ``series`` (NaNs skipped), two-sided.

    The series is standardised by the mean and standard deviation of its first ``reference``
    points (default: a quarter, at least 5). ``cusum``: S+ = max(0, S+ + z - drift), S- likewise
    downwards, fires above ``threshold``. ``page_hinkley``: the cumulative deviation from the
    running mean (less ``drift``) against its extreme so far, fires above ``threshold``."""
    if method not in ("page_hinkley", "cusum"):
        raise ValueError(f"method must be page_hinkley or cusum, got {method!r}")
    values = np.asarray(series, dtype=float)
    kept = np.flatnonzero(np.isfinite(values))
    x = values[kept]
    size = reference or max(5, len(x) // 4)
    if len(x) < size + 1:
        return ChangePoint(None, 0.0, None, method)
    base = x[:size]
    scale = base.std(ddof=1) or (np.abs(base.mean()) * 1e-3 or 1.0)
    z = (x - base.mean()) / scale
    up, down = _cusum(z, drift) if method == "cusum" else _page_hinkley(z, drift)
    fired = np.flatnonzero((up > threshold) | (down > threshold))
    if len(fired) == 0:
        return ChangePoint(None, float(max(up.max(), down.max())), None, method)
    at = int(fired[0])
    direction = "up" if up[at] > threshold else "down"
    return ChangePoint(int(kept[at]), float(max(up[at], down[at])), direction, method)


def _cusum(z: np.ndarray, drift: float) -> tuple[np.ndarray, np.ndarray]:
    # A loop over windows (tens to thousands), not rows: the recursion has no closed form.
    up, down = np.zeros(len(z)), np.zeros(len(z))
    high = low = 0.0
    for t, value in enumerate(z):
        high, low = max(0.0, high + value - drift), max(0.0, low - value - drift)
        up[t], down[t] = high, low
    return up, down


def _page_hinkley(z: np.ndarray, drift: float) -> tuple[np.ndarray, np.ndarray]:
    running_mean = np.cumsum(z) / np.arange(1, len(z) + 1)
    rise = np.cumsum(z - running_mean - drift)
    fall = np.cumsum(running_mean - z - drift)
    return rise - np.minimum.accumulate(np.minimum(rise, 0.0)), fall - np.minimum.accumulate(np.minimum(fall, 0.0))


def decay_report(windows: list[Any], metric: str, *, method: str = "page_hinkley", **options: Any) -> dict[str, Any]:
    """The trend of ``metric`` over ``windows`` (ordered by start) and where it changed.

    ``metric`` names a realised figure (``accuracy``), an estimated one (``estimated.accuracy``)
    or a window field (``latency_p95_ms``, ``error_rate``). Slope: least squares, per window and per hour."""
    ordered = sorted(windows, key=lambda w: w.start)
    values = np.array([_figure(w, metric) for w in ordered], dtype=float)
    finite = np.isfinite(values)
    hours = np.array([w.start.timestamp() / 3600 for w in ordered])
    slope_per_window = slope_per_hour = None
    if finite.sum() >= 2:
        slope_per_window = float(np.polyfit(np.flatnonzero(finite), values[finite], 1)[0])
        slope_per_hour = float(np.polyfit(hours[finite] - hours[finite][0], values[finite], 1)[0])
    change = decay(values, method=method, **options)
    return {"metric": metric, "method": method, "points": int(finite.sum()),
            "slope_per_window": slope_per_window, "slope_per_hour": slope_per_hour,
            "changed": change.index is not None, "change_index": change.index,
            "change_start": ordered[change.index].start if change.index is not None else None,
            "direction": change.direction, "statistic": change.statistic}


def _figure(window: Any, metric: str) -> float:
    if metric.startswith("estimated."):
        value = window.estimated.get(metric.removeprefix("estimated."))
    elif metric in window.quality:
        value = window.quality[metric]
    else:
        value = getattr(window, metric, None)
    return float("nan") if value is None else float(value)
