"""Performance metrics of one model on labelled data, computed with scikit-learn.

Classification: accuracy, precision, recall, specificity, F1 (binary: of the positive
class; multiclass: macro averages), ROC AUC and log loss (need class probabilities;
skipped with a recorded reason otherwise), and the confusion matrix. Regression: RMSE,
MAE, R2. Results are plain JSON-able dicts::

    {"task": "classification", "n_rows": 569,
     "metrics": {"accuracy": 0.95, ..., "roc_auc": 0.99},
     "confusion_matrix": {"labels": [0, 1], "matrix": [[200, 12], [8, 349]]},
     "skipped": {"log_loss": "the model gives no class probabilities"}}
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn import metrics as skm


def jsonable(value: Any) -> Any:
    """Numpy scalars/arrays to Python, NaN and infinities to None, dict keys to strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def class_labels(y_true: Any, y_pred: Any, model_classes: Any = None) -> list[Any]:
    """The classes in order: the model's ``classes_`` when known (it orders predict_proba's columns)."""
    if model_classes is not None:
        return list(model_classes)
    return sorted(set(np.asarray(y_true).tolist()) | set(np.asarray(y_pred).tolist()))


def positive_class(classes: list[Any], positive_label: Any = None) -> Any:
    """The positive class of a binary task: the one given, else the larger of the two labels."""
    if positive_label is not None:
        return positive_label
    return classes[-1] if classes else 1


def classification_metrics(
    y_true: Any, y_pred: Any, *, proba: Any = None, classes: list[Any] | None = None,
    positive_label: Any = None,
) -> dict[str, Any]:
    """Metrics of predicted labels (and, if given, class probabilities with columns in ``classes`` order)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = class_labels(y_true, y_pred, classes)
    binary = len(labels) <= 2
    pos = positive_class(labels, positive_label)
    averaging: dict[str, Any] = {"average": "binary", "pos_label": pos} if binary else {"average": "macro"}
    matrix = skm.confusion_matrix(y_true, y_pred, labels=labels)
    values: dict[str, Any] = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred, labels=labels, zero_division=0, **averaging),
        "recall": skm.recall_score(y_true, y_pred, labels=labels, zero_division=0, **averaging),
        "specificity": _specificity(matrix, labels, pos if binary else None),
        "f1": skm.f1_score(y_true, y_pred, labels=labels, zero_division=0, **averaging),
    }
    skipped: dict[str, str] = {}
    _probability_metrics(y_true, proba, labels, pos, values, skipped)
    return jsonable({
        "task": "classification", "n_rows": len(y_true), "metrics": values,
        "confusion_matrix": {"labels": labels, "matrix": matrix},
        "positive_label": pos if binary else None, "skipped": skipped,
    })


def _specificity(matrix: np.ndarray, labels: list[Any], pos: Any) -> float:
    """TN / (TN + FP) of the positive class (binary) or the macro average over classes."""
    total = matrix.sum()
    per_class = []
    for k in range(len(labels)):
        tp = matrix[k, k]
        fp = matrix[:, k].sum() - tp
        fn = matrix[k, :].sum() - tp
        tn = total - tp - fp - fn
        per_class.append(tn / (tn + fp) if tn + fp else 0.0)
    if pos is not None:
        return float(per_class[labels.index(pos)]) if pos in labels else 0.0
    return float(np.mean(per_class))


def _probability_metrics(
    y_true: np.ndarray, proba: Any, labels: list[Any], pos: Any, values: dict[str, Any], skipped: dict[str, str]
) -> None:
    if proba is None:
        for name in ("roc_auc", "log_loss"):
            skipped[name] = "the model gives no class probabilities (no predict_proba)"
        return
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] != len(labels):
        for name in ("roc_auc", "log_loss"):
            skipped[name] = f"predict_proba gave shape {proba.shape}, expected one column per class {labels}"
        return
    present = set(y_true.tolist())
    try:
        if len(present) < 2:
            skipped["roc_auc"] = f"ROC AUC needs at least two classes in the labels; found only {sorted(present)}"
        elif len(labels) == 2:
            values["roc_auc"] = skm.roc_auc_score(y_true == pos, proba[:, labels.index(pos)])
        elif present == set(labels):
            values["roc_auc"] = skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=labels)
        else:
            skipped["roc_auc"] = f"multiclass ROC AUC needs every class in the labels; missing {sorted(set(labels) - present)}"
        values["log_loss"] = skm.log_loss(y_true, proba, labels=labels)
    except ValueError as exc:  # e.g. probabilities that do not sum to 1
        for name in ("roc_auc", "log_loss"):
            if name not in values:
                skipped.setdefault(name, f"not computable from predict_proba: {exc}")


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, Any]:
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    values = {
        "rmse": math.sqrt(skm.mean_squared_error(y_true, y_pred)),
        "mae": skm.mean_absolute_error(y_true, y_pred),
        "r2": skm.r2_score(y_true, y_pred) if len(y_true) > 1 else float("nan"),
    }
    return jsonable({"task": "regression", "n_rows": len(y_true), "metrics": values, "skipped": {}})


__all__ = ["class_labels", "classification_metrics", "jsonable", "positive_class", "regression_metrics"]
