"""Group fairness of a binary classifier: per group of one sensitive feature or of an intersection
of several, with the group sizes, small groups flagged and bootstrap intervals.

Labels are binarised on the positive class first, so any two labels work. ``sensitive`` is one
column (a Series or array) or several (a DataFrame): several make intersection groups named by
their values joined by ", " (``"F, 18-30"``) and a feature named by the columns joined by " & "
(``"sex & age_band"``). The report, JSON-safe::

    {"feature": "sex & age_band", "features": ["sex", "age_band"], "positive_label": 1,
     "by_group": {"F, 18-30": {"count": 120, "accuracy": 0.91, "precision": 0.8, "recall": 0.88, "f1": 0.84,
                               "selection_rate": 0.40, "true_positive_rate": 0.88, "false_positive_rate": 0.05,
                               "small": false,
                               "intervals": {"selection_rate": [0.31, 0.49], "accuracy": [...],
                                             "true_positive_rate": [...], "false_positive_rate": [...]}}, ...},
     "overall": {...the same measures, without small and intervals...},
     "demographic_parity_difference": 0.12, "demographic_parity_ratio": 0.70,
     "equalized_odds_difference": 0.08, "equalized_odds_ratio": 0.81,
     "intervals": {"demographic_parity_difference": [0.05, 0.2], ...the four measures},
     "small_groups": ["F, 60+"],
     "worst_groups": {"selection_rate": {"lowest": "F, 60+", "highest": "M, 18-30"}, "accuracy": {...},
                      "true_positive_rate": {...}, "false_positive_rate": {...}},
     "parameters": {"min_group_size": 30, "bootstrap": 200, "confidence": 0.95, "seed": 0,
                    "resampling": "stratified by group"}}

Definitions are fairlearn's (``MetricFrame`` with ``selection_rate``, ``true_positive_rate``,
``false_positive_rate``; ``demographic_parity_*`` and ``equalized_odds_*`` between groups), computed
here with numpy counts so a bootstrap costs one ``bincount`` per batch of resamples (a test checks
the point values against fairlearn). One difference: a rate over an empty set (a group's true
positive rate with no positive labels, its precision with no positive predictions) is None here
where fairlearn says 0, and such a group is left out of the measures built on that rate.
Undefined values are None: a rate over an empty set, a ratio whose largest rate is 0.

Intervals: percentile bootstrap at ``confidence``, resampling rows with replacement *within* each
group (stratified by group), so every resample has every group at its own size; seeded. An
interval no resample defines is None. ``small`` marks a group with fewer than ``min_group_size``
rows; small groups count in the measures like any other (a gate may leave them out: ``disparity``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelward.evaluation.metrics import jsonable

GROUP_MEASURES = ("count", "accuracy", "precision", "recall", "f1", "selection_rate",
                  "true_positive_rate", "false_positive_rate")
INTERVAL_MEASURES = ("selection_rate", "accuracy", "true_positive_rate", "false_positive_rate")
SUMMARY_MEASURES = ("demographic_parity_difference", "demographic_parity_ratio",
                    "equalized_odds_difference", "equalized_odds_ratio")
RATE_OF = {"demographic_parity": ("selection_rate",), "equalized_odds": ("true_positive_rate", "false_positive_rate")}
GROUP_SEPARATOR, FEATURE_SEPARATOR = ", ", " & "
RESAMPLING = "stratified by group"
MAX_CELLS_PER_BATCH = 4_000_000  # rows x resamples drawn at once: bounds the memory of a bootstrap


def feature_name(features: list[str] | tuple[str, ...] | str) -> str:
    """``"sex"`` for one feature, ``"sex & age_band"`` for an intersection."""
    return features if isinstance(features, str) else FEATURE_SEPARATOR.join(features)


def feature_columns(feature: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The columns of a feature as callers name it: ``"sex"``, ``["sex", "age_band"]``, or the
    report's own name ``"sex & age_band"``; ValueError unless 1-3 distinct non-empty names."""
    if isinstance(feature, str) and FEATURE_SEPARATOR in feature:
        columns = tuple(part.strip() for part in feature.split(FEATURE_SEPARATOR.strip()))
    elif isinstance(feature, str):
        columns = (feature,)
    elif isinstance(feature, list | tuple) and all(isinstance(c, str) for c in feature):
        columns = tuple(feature)
    else:
        raise ValueError(f"a sensitive feature is a column name or a list of 2 or 3, got {feature!r}")
    if not 1 <= len(columns) <= 3 or len(set(columns)) != len(columns) or not all(c.strip() for c in columns):
        raise ValueError(f"a sensitive feature is one column or an intersection of 2 or 3 distinct columns, "
                         f"got {feature!r}")
    return columns


def fairness_report(y_true: Any, y_pred: Any, sensitive: Any, *, positive_label: Any = 1, feature: str | None = None,
                    min_group_size: int = 30, bootstrap: int = 200, confidence: float = 0.95,
                    seed: int = 0) -> dict[str, Any]:
    """Per-group measures, disparity measures and their bootstrap intervals (see the module docstring)."""
    truth = (np.asarray(y_true) == positive_label).astype(np.int64)
    predicted = (np.asarray(y_pred) == positive_label).astype(np.int64)
    columns, codes, names = _groups(sensitive)
    if not len(truth) == len(predicted) == len(codes):
        raise ValueError(f"y_true, y_pred and the sensitive values differ in length: "
                         f"{len(truth)}, {len(predicted)}, {len(codes)}")
    if not len(codes):
        raise ValueError("fairness across groups needs at least one row")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    cells = truth * 2 + predicted  # 0 TN, 1 FP, 2 FN, 3 TP
    counts = np.bincount(codes * 4 + cells, minlength=len(names) * 4).reshape(len(names), 4)
    point = _rates(counts)
    by_group = {}
    for index, name in enumerate(names):
        values = {m: point[m][index] for m in GROUP_MEASURES}
        by_group[name] = {**values, "count": int(values["count"]), "small": bool(values["count"] < min_group_size)}
    overall = {m: v[0] for m, v in _rates(counts.sum(axis=0, keepdims=True)).items() if m in GROUP_MEASURES}
    summary = {m: _summary(point, m, np.ones(len(names), dtype=bool)) for m in SUMMARY_MEASURES}
    group_intervals, summary_intervals = _bootstrap(codes, cells, len(names), bootstrap, confidence, seed)
    for index, name in enumerate(names):
        by_group[name]["intervals"] = {m: group_intervals[m][index] for m in INTERVAL_MEASURES}
    return jsonable({
        "feature": feature or feature_name(columns), "features": [feature] if feature and len(columns) == 1 else columns,
        "positive_label": positive_label,
        "by_group": by_group, "overall": {**overall, "count": int(overall["count"])}, **summary,
        "intervals": summary_intervals,
        "small_groups": [name for name in names if by_group[name]["small"]],
        "worst_groups": {m: _extremes(names, point[m], np.ones(len(names), dtype=bool)) for m in INTERVAL_MEASURES},
        "parameters": {"min_group_size": min_group_size, "bootstrap": bootstrap, "confidence": confidence,
                       "seed": seed, "resampling": RESAMPLING},
    })


def selection_report(y_pred: Any, sensitive: Any, *, positive_label: Any = 1, feature: str | None = None,
                     min_group_size: int = 30, bootstrap: int = 200, confidence: float = 0.95,
                     seed: int = 0) -> dict[str, Any]:
    """The part of ``fairness_report`` that needs no ground truth: per group the rows (``count``)
    and the selection rate with its interval, ``small``; demographic parity difference and ratio
    with their intervals, ``small_groups``, ``worst_groups.selection_rate``, ``parameters``."""
    full = fairness_report(y_pred, y_pred, sensitive, positive_label=positive_label, feature=feature,
                           min_group_size=min_group_size, bootstrap=bootstrap, confidence=confidence, seed=seed)
    parity = ("demographic_parity_difference", "demographic_parity_ratio")
    return {
        "feature": full["feature"], "features": full["features"], "positive_label": positive_label,
        "by_group": {g: {"count": v["count"], "selection_rate": v["selection_rate"], "small": v["small"],
                         "intervals": {"selection_rate": v["intervals"]["selection_rate"]}}
                     for g, v in full["by_group"].items()},
        "overall": {"count": full["overall"]["count"], "selection_rate": full["overall"]["selection_rate"]},
        **{m: full[m] for m in parity}, "intervals": {m: full["intervals"][m] for m in parity},
        "small_groups": full["small_groups"], "worst_groups": {"selection_rate": full["worst_groups"]["selection_rate"]},
        "parameters": full["parameters"],
    }


def disparity(report: dict[str, Any], measure: str, *, min_group_size: int | None = None) -> dict[str, Any]:
    """One summary measure of a report with the groups behind it: over every group, or over the
    groups with at least ``min_group_size`` rows. ``{"value", "rate", "lowest", "highest",
    "lowest_value", "highest_value", "excluded": [groups], "groups": n}``; for equalized odds the
    rate (TPR or FPR) that decides it; ``value`` None when undefined."""
    names = list(report["by_group"])
    keep = np.array([min_group_size is None or report["by_group"][g]["count"] >= min_group_size for g in names],
                    dtype=bool)
    point = {m: np.array([_nan(report["by_group"][g].get(m)) for g in names], dtype=float)
             for m in ("selection_rate", "true_positive_rate", "false_positive_rate")}
    value = _summary(point, measure, keep) if keep.any() else None
    rate = _deciding_rate(point, measure, keep)
    extremes = _extremes(names, point[rate], keep)
    lookup = {g: report["by_group"][g].get(rate) for g in names}
    return jsonable({"value": value, "rate": rate, **extremes,
                     "lowest_value": lookup.get(extremes["lowest"]), "highest_value": lookup.get(extremes["highest"]),
                     "excluded": [g for g, kept in zip(names, keep, strict=True) if not kept], "groups": int(keep.sum())})


# -- groups and counts -------------------------------------------------------------------------------


def _groups(sensitive: Any) -> tuple[list[str], np.ndarray, list[str]]:
    """(column names, a group code per row, the group names in sorted order). Values compare as text."""
    import pandas as pd

    if isinstance(sensitive, pd.DataFrame):
        frame = sensitive.astype(str)
    else:
        series = sensitive if isinstance(sensitive, pd.Series) else pd.Series(np.asarray(sensitive))
        frame = series.astype(str).to_frame(str(series.name) if series.name is not None else "sensitive_feature_0")
    if frame.shape[1] == 0:
        raise ValueError("no sensitive feature given")
    columns = [str(c) for c in frame.columns]
    grouped = frame.groupby(list(frame.columns), sort=True, observed=True)
    codes = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = list(grouped.size().index) if len(frame) else []
    names = [GROUP_SEPARATOR.join(k) if isinstance(k, tuple) else str(k) for k in keys]
    return columns, codes, names


def _rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Measures per row of confusion counts [TN, FP, FN, TP] (the last axis), NaN where undefined."""
    tn, fp, fn, tp = (counts[..., k].astype(float) for k in range(4))
    n, positives, selected = tn + fp + fn + tp, fn + tp, fp + tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "count": n, "accuracy": np.where(n > 0, (tp + tn) / n, np.nan),
            "precision": np.where(selected > 0, tp / selected, np.nan),
            "recall": np.where(positives > 0, tp / positives, np.nan),
            "f1": np.where(positives + selected > 0, 2 * tp / (positives + selected), np.nan),
            "selection_rate": np.where(n > 0, selected / n, np.nan),
            "true_positive_rate": np.where(positives > 0, tp / positives, np.nan),
            "false_positive_rate": np.where(tn + fp > 0, fp / (tn + fp), np.nan),
        }


def _between(rates: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Difference (max - min) and ratio (min / max) over the kept groups (the last axis), ignoring NaN."""
    chosen = np.where(keep, rates, np.nan)
    defined = ~np.isnan(chosen)
    any_defined = defined.any(axis=-1)
    high = np.where(any_defined, np.max(np.where(defined, chosen, -np.inf), axis=-1), np.nan)
    low = np.where(any_defined, np.min(np.where(defined, chosen, np.inf), axis=-1), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return high - low, np.where(high > 0, low / high, np.nan)


def _summary(rates: dict[str, np.ndarray], measure: str, keep: np.ndarray) -> Any:
    """A summary measure from per-group rates (the last axis), as fairlearn's between-groups aggregation."""
    kind, _, aggregate = measure.rpartition("_")
    parts = [_between(rates[r], keep)[0 if aggregate == "difference" else 1] for r in RATE_OF[kind]]
    stacked = np.stack(parts)
    all_nan = np.isnan(stacked).all(axis=0)
    filled = np.where(np.isnan(stacked), -np.inf if aggregate == "difference" else np.inf, stacked)
    combined = filled.max(axis=0) if aggregate == "difference" else filled.min(axis=0)
    result = np.where(all_nan, np.nan, combined)
    return result if result.ndim else float(result)


def _deciding_rate(rates: dict[str, np.ndarray], measure: str, keep: np.ndarray) -> str:
    """The rate a summary measure is built on: for equalized odds, the one with the larger
    difference (or the smaller ratio)."""
    kind, _, aggregate = measure.rpartition("_")
    candidates = RATE_OF[kind]
    if len(candidates) == 1:
        return candidates[0]
    scored = [(_between(rates[r], keep)[0 if aggregate == "difference" else 1], r) for r in candidates]
    defined = [(float(v), r) for v, r in scored if not np.isnan(v)]
    if not defined:
        return candidates[0]
    return (max(defined) if aggregate == "difference" else min(defined))[1]


def _extremes(names: list[str], values: np.ndarray, keep: np.ndarray) -> dict[str, str | None]:
    defined = [i for i, (v, k) in enumerate(zip(values, keep, strict=True)) if k and not np.isnan(v)]
    if not defined:
        return {"lowest": None, "highest": None}
    lowest = min(defined, key=lambda i: (values[i], i))
    highest = max(defined, key=lambda i: (values[i], -i))
    return {"lowest": names[lowest], "highest": names[highest]}


def _nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


# -- bootstrap ---------------------------------------------------------------------------------------


def _bootstrap(codes: np.ndarray, cells: np.ndarray, n_groups: int, resamples: int, confidence: float,
               seed: int) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Percentile intervals of the per-group rates and the summary measures, resampling rows with
    replacement within each group. The rows are sorted by group once; each resample draws, for
    every slot, a row of the slot's group, and one bincount gives the confusion counts of every
    (resample, group)."""
    if resamples < 1 or not len(codes):
        return {m: [None] * n_groups for m in INTERVAL_MEASURES}, {m: None for m in SUMMARY_MEASURES}
    order = np.argsort(codes, kind="stable")
    slot_group, slot_cells = codes[order], cells[order]
    sizes = np.bincount(slot_group, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    slot_start, slot_size = starts[slot_group], sizes[slot_group]
    rng = np.random.default_rng(seed)
    batch = max(1, MAX_CELLS_PER_BATCH // len(codes))
    counts = []
    for first in range(0, resamples, batch):
        size = min(batch, resamples - first)
        drawn = slot_start + (rng.random((size, len(codes))) * slot_size).astype(np.int64)
        keys = (np.arange(size)[:, None] * n_groups + slot_group) * 4 + slot_cells[drawn]
        counts.append(np.bincount(keys.ravel(), minlength=size * n_groups * 4).reshape(size, n_groups, 4))
    rates = _rates(np.concatenate(counts))  # each: resamples x groups
    keep = np.ones(n_groups, dtype=bool)
    groups = {m: [_interval(rates[m][:, g], confidence) for g in range(n_groups)] for m in INTERVAL_MEASURES}
    summaries = {m: _interval(_summary(rates, m, keep), confidence) for m in SUMMARY_MEASURES}
    return groups, summaries


def _interval(values: np.ndarray, confidence: float) -> list[float] | None:
    defined = values[~np.isnan(values)]
    if not len(defined):
        return None
    tail = (1 - confidence) / 2
    low, high = np.quantile(defined, [tail, 1 - tail])
    return [float(low), float(high)]


__all__ = ["GROUP_MEASURES", "INTERVAL_MEASURES", "SUMMARY_MEASURES", "disparity", "fairness_report", "feature_name",
           "feature_columns", "selection_report"]
