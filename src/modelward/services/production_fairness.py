"""Group fairness of a binary classifier in production, from its prediction log.

``fairness`` reads the successful live answers of [since, until) (frame inputs: a JSON list of
row objects), takes each sensitive feature's value from the logged input rows and the prediction
of each row (the larger probability's class of a predict_proba answer, else the label answered),
and gives per feature and group the rows and the selection rate of the predictions, with
bootstrap intervals, small groups flagged, demographic parity difference and ratio
(``evaluation.fairness.selection_report``). Where feedback (ground truth) exists for a row, the
labelled rows get the gates' own report, ``evaluation.fairness.fairness_report``: per-group
accuracy and rates, demographic parity and equalized odds, with intervals.

A sensitive feature is a column (``"sex"``) or an intersection of 2 or 3 (``["sex", "age_band"]``,
or its report name ``"sex & age_band"``, the form a query parameter takes); intersection groups
are named by their values joined by ", " (``"F, 18-30"``), a missing value being ``<missing>``.
They default to the effective policy's (``sensitive_features`` and the features of its fairness
gates, intersections included). The positive label defaults to the policy's, else the larger
label; for probabilities it is the second column's class. Per feature::

    {"feature": "sex & age_band", "features": ["sex", "age_band"], "rows": 800,
     "by_group": {"F, 18-30": {"rows": 120, "selection_rate": 0.4, "small": false,
                               "intervals": {"selection_rate": [0.31, 0.49]}}, ...},
     "selection_rate": 0.38, "demographic_parity_difference": 0.2, "demographic_parity_ratio": 0.6,
     "intervals": {"demographic_parity_difference": [...], "demographic_parity_ratio": [...]},
     "small_groups": [...], "worst_groups": {"selection_rate": {"lowest": ..., "highest": ...}},
     "parameters": {...}, "labelled_rows": 300, "labelled": {...fairness_report...} or None}
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from modelward.domain.policy import FairnessGate, Policy, Task
from modelward.errors import InvalidInput
from modelward.evaluation.fairness import fairness_report, feature_columns, feature_name, selection_report
from modelward.evaluation.metrics import jsonable
from modelward.services.backend import Backend
from modelward.services.input_drift import _InputLog, _literal, _require_logged
from modelward.services.monitoring import _items, _utc
from modelward.store import predictions as store

MISSING_GROUP = "<missing>"


def fairness(backend: Backend, endpoint: str, *, since: datetime, until: datetime, version: int | None = None,
             sensitive_features: list[str | list[str]] | None = None, positive_label: Any = None,
             min_group_size: int = 30, bootstrap: int = 200, seed: int = 0) -> dict[str, Any]:
    """Per sensitive feature or intersection: rows and selection rate per group of every logged
    prediction, and the gates' fairness report on the rows with ground truth."""
    since, until = _utc(since, "since"), _utc(until, "until")
    if until <= since:
        raise InvalidInput(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    if sensitive_features is not None and (not isinstance(sensitive_features, list) or not all(
            isinstance(f, str | list) and f for f in sensitive_features)):
        raise InvalidInput("sensitive_features must be a list of column names or of lists of 2 or 3 of them")
    options = _options(min_group_size, bootstrap, seed)
    scope = {"since": since, "until": until, "version": version, "mode": "live"}
    with backend.read() as session:
        parts = store.window_parts(session, endpoint, **scope)
        if not parts:
            _require_logged(session, endpoint)
        truth = store.window_feedback(session, endpoint, since=since)
    result: dict[str, Any] = {"endpoint": endpoint, "version": version, "since": since, "until": until,
                              "rows": 0, "labelled_rows": 0, "positive_label": positive_label, "features": {}}
    if not parts:
        return result
    with _InputLog(backend, endpoint, parts, width=0, **scope) as log:
        model_name, _ = log.model_and_newest_version()
        if model_name is None:
            return result
        policy = _policy(backend, model_name)
        features = _features(policy, sensitive_features, model_name)
        columns = list(dict.fromkeys(c for f in features for c in f))
        rows = _rows(log, columns, truth)
    predicted, true, positive = _labels(rows, policy, positive_label)
    labelled = ~pd.isna(true)
    result.update(model=model_name, rows=int(len(predicted)), labelled_rows=int(labelled.sum()),
                  positive_label=positive)
    values = {column: rows[f"s{index}"] for index, column in enumerate(columns)}
    for feature in features:
        key = feature_name(list(feature))
        absent = [c for c in feature if len(values[c]) and pd.isna(values[c]).all()]
        if absent:
            result["features"][key] = {"feature": key, "features": list(feature), "error": "the logged inputs have "
                                       f"no column {', '.join(map(repr, absent))}"}
            continue
        groups = pd.DataFrame({c: np.where(pd.isna(values[c]), MISSING_GROUP, values[c].astype(object)).astype(str)
                               for c in feature})
        result["features"][key] = _feature_report(key, groups, predicted, true, labelled, positive, options)
    return jsonable(result)


def _options(min_group_size: Any, bootstrap: Any, seed: Any) -> dict[str, int]:
    for name, value, low, high in (("min_group_size", min_group_size, 1, 1_000_000),
                                   ("bootstrap", bootstrap, 0, 10_000), ("seed", seed, 0, 2**32 - 1)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return {"min_group_size": min_group_size, "bootstrap": bootstrap, "seed": seed}


def _policy(backend: Backend, model_name: str) -> Policy:
    from modelward.services.policies import effective_policy

    policy = effective_policy(backend, model_name)
    if policy.task is not Task.CLASSIFICATION:
        raise InvalidInput(f"production fairness is for classification; the policy of model {model_name!r} says "
                           f"task {policy.task.value}")
    return policy


def _features(policy: Policy, given: list[str | list[str]] | None, model_name: str) -> list[tuple[str, ...]]:
    if given is not None:
        try:
            features = list(dict.fromkeys(feature_columns(f) for f in given))
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    else:
        features = list(dict.fromkeys([*((f,) for f in policy.sensitive_features),
                                       *(tuple(g.features) for g in policy.gates if isinstance(g, FairnessGate))]))
    if not features:
        raise InvalidInput(f"no sensitive features: name them, or set sensitive_features in the policy of model "
                           f"{model_name!r}")
    return features


def _rows(log: _InputLog, features: list[str], truth: tuple[list[str], list[str]]) -> dict[str, np.ndarray]:
    """One entry per logged input row: each feature's value as text, the prediction as text (a
    predict_proba answer: its largest column's number, ``proba`` true) and the ground truth as text."""
    import pyarrow as pa

    ids, texts = truth
    log.db.register("feedback", pa.table({"request_id": pa.array(ids, pa.string()),
                                          "truth": pa.array(texts, pa.string())}))
    row_type = json.dumps([{name: "VARCHAR" for name in features}])
    fields = ", ".join(f"struct_extract_at(r, {i + 1}) AS s{i}" for i in range(len(features)))
    argmax = "list_transform(from_json(outputs, '[[\"DOUBLE\"]]'), lambda x: (list_position(x, list_max(x)) - 1)::VARCHAR)"
    labels = f"list_transform({_items('outputs')}, lambda x: json_extract_string(x, '$'))"
    table = log.db.sql(f"""
        WITH answer AS (
            SELECT request_id, from_json(inputs, {_literal(row_type)}) AS r, starts_with(outputs, '[[') AS proba,
                   CASE WHEN outputs IS NULL THEN []::VARCHAR[] WHEN starts_with(outputs, '[[') THEN {argmax}
                        ELSE {labels} END AS o
            FROM answers WHERE status < 400 AND starts_with(inputs, '[{{')),
        answer_rows AS (
            SELECT request_id, proba, len(r) AS n, unnest(r) AS r, unnest(o) AS predicted, unnest(range(len(r))) AS pos
            FROM answer),
        truth_rows AS (
            SELECT request_id, len(items) AS n, json_extract_string(unnest(items), '$') AS true_label,
                   unnest(range(len(items))) AS pos
            FROM (SELECT request_id, {_items("truth")} AS items FROM feedback))
        SELECT {fields}, a.predicted, coalesce(a.proba, false) AS proba, t.true_label
        FROM answer_rows a LEFT JOIN truth_rows t ON t.request_id = a.request_id AND t.pos = a.pos AND t.n = a.n
        WHERE a.r IS NOT NULL
    """).to_arrow_table()
    return {name: np.asarray(table[name].to_pylist(), dtype=object) for name in table.column_names}


def _labels(rows: dict[str, np.ndarray], policy: Policy, positive_label: Any) -> tuple[np.ndarray, np.ndarray, Any]:
    """Predictions and truth in one label space (numbers when every label is a number, else text),
    and the positive label; InvalidInput unless there are at most two classes."""
    predicted, true, proba = rows["predicted"], rows["true_label"], rows["proba"].astype(bool)
    true_values = _as_labels(true)
    known_true = sorted({v for v in true_values.tolist() if v is not None and v == v}, key=_order)
    if proba.any():
        indexes = pd.to_numeric(pd.Series(predicted, dtype=object), errors="coerce").to_numpy(dtype=float)
        if np.nanmax(indexes, initial=0) > 1:
            raise InvalidInput("production fairness is for binary classification; the answers hold probabilities "
                               "of more than two classes")
        classes = known_true if len(known_true) == 2 else [0.0, 1.0]
        mapped = np.array([classes[int(i)] if i == i else None for i in indexes], dtype=object)
        predicted_values = np.where(proba, mapped, _as_labels(predicted))
    else:
        predicted_values = _as_labels(predicted)
    numeric = all(isinstance(v, float) for v in [*known_true, *_present(predicted_values)])
    if not numeric:  # some label is text: compare every label as text
        predicted_values = np.array([_text(v) for v in predicted_values], dtype=object)
        true_values = np.array([_text(v) for v in true_values], dtype=object)
    classes_seen = sorted(set(_present(predicted_values)) | set(_present(true_values)), key=_order)
    if len(classes_seen) > 2:
        raise InvalidInput(f"production fairness is for binary classification; the log holds {len(classes_seen)} "
                           f"classes: {', '.join(map(str, classes_seen[:10]))}")
    chosen = positive_label if positive_label is not None else policy.positive_label
    if chosen is None:
        positive = classes_seen[-1] if classes_seen else 1.0
    else:
        positive = float(chosen) if numeric and _is_number(chosen) else _text(chosen)
    return predicted_values, true_values, positive


def _as_labels(texts: np.ndarray) -> np.ndarray:
    """Text labels as floats where every present one is a number (or a boolean), else as text."""
    present = [t for t in texts.tolist() if t is not None]
    lowered = [str(t).lower() for t in present]
    if present and all(t in ("true", "false") for t in lowered):
        return np.array([None if t is None else float(str(t).lower() == "true") for t in texts], dtype=object)
    numbers = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce")
    if numbers.notna().sum() == len(present):
        return np.array([None if t is None else float(n) for t, n in zip(texts, numbers, strict=True)], dtype=object)
    return texts.astype(object)


def _present(values: np.ndarray) -> list[Any]:
    return [v for v in values.tolist() if v is not None and v == v]


def _order(value: Any) -> tuple[bool, Any]:
    return isinstance(value, str), value


def _text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _feature_report(feature: str, groups: pd.DataFrame, predicted: np.ndarray, true: np.ndarray, labelled: np.ndarray,
                    positive: Any, options: dict[str, int]) -> dict[str, Any]:
    answered = np.array([v is not None and v == v for v in predicted.tolist()], dtype=bool)
    selected = np.array([v == positive for v in predicted.tolist()], dtype=int)[answered]
    report: dict[str, Any] = {"feature": feature, "features": [str(c) for c in groups.columns],
                              "rows": int(answered.sum())}
    if answered.any():
        found = selection_report(selected, groups[answered], positive_label=1, feature=feature, **options)
        report["by_group"] = {g: {"rows": v["count"], "selection_rate": v["selection_rate"], "small": v["small"],
                                  "intervals": v["intervals"]} for g, v in found["by_group"].items()}
        report["selection_rate"] = found["overall"]["selection_rate"]
        report.update({k: found[k] for k in ("demographic_parity_difference", "demographic_parity_ratio", "intervals",
                                             "small_groups", "worst_groups", "parameters")})
    else:
        report.update(by_group={}, selection_rate=None, demographic_parity_difference=None,
                      demographic_parity_ratio=None, intervals={}, small_groups=[], worst_groups={})
    chosen = labelled & answered
    report["labelled_rows"] = int(chosen.sum())
    report["labelled"] = (fairness_report(true[chosen], predicted[chosen], groups[chosen], positive_label=positive,
                                          feature=feature, **options) if chosen.any() else None)
    return report


__all__ = ["fairness"]
