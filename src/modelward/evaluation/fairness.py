"""Group fairness of a binary classifier with fairlearn, per sensitive feature.

Labels are binarised on the positive class first, so any two labels work. Per feature::

    {"feature": "sex", "positive_label": 1,
     "by_group": {"F": {"count": 120, "accuracy": 0.91, "selection_rate": 0.40,
                        "true_positive_rate": 0.88, "false_positive_rate": 0.05}, "M": {...}},
     "overall": {...same keys...},
     "demographic_parity_difference": 0.12, "demographic_parity_ratio": 0.70,
     "equalized_odds_difference": 0.08, "equalized_odds_ratio": 0.81}

Undefined values (a rate over an empty set, a ratio with a zero denominator) are None.
"""

from __future__ import annotations

from typing import Any

import numpy as np
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
from sklearn.metrics import accuracy_score

from modelward.evaluation.metrics import jsonable

GROUP_METRICS = {
    "count": count,
    "accuracy": accuracy_score,
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
}
SUMMARY_METRICS = {
    "demographic_parity_difference": demographic_parity_difference,
    "demographic_parity_ratio": demographic_parity_ratio,
    "equalized_odds_difference": equalized_odds_difference,
    "equalized_odds_ratio": equalized_odds_ratio,
}


def fairness_report(y_true: Any, y_pred: Any, sensitive: Any, *, positive_label: Any = 1, feature: str | None = None) -> dict[str, Any]:
    """Per-group metrics and disparity measures for one sensitive feature (a column of values per row)."""
    truth = (np.asarray(y_true) == positive_label).astype(int)
    predicted = (np.asarray(y_pred) == positive_label).astype(int)
    groups = np.asarray(sensitive).astype(str)
    frame = MetricFrame(metrics=GROUP_METRICS, y_true=truth, y_pred=predicted, sensitive_features=groups)
    by_group = {str(group): _with_int_count(row.to_dict()) for group, row in frame.by_group.iterrows()}
    summary = {name: fn(truth, predicted, sensitive_features=groups) for name, fn in SUMMARY_METRICS.items()}
    return jsonable({
        "feature": feature or getattr(sensitive, "name", None), "positive_label": positive_label,
        "by_group": by_group, "overall": _with_int_count(frame.overall.to_dict()), **summary,
    })


def _with_int_count(values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "count": int(values["count"])}


__all__ = ["GROUP_METRICS", "SUMMARY_METRICS", "fairness_report"]
