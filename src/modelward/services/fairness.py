"""Fairness of a registered version across groups, on the policy's evaluation dataset or a named one.

``for_version`` predicts with the version on the data and gives, per sensitive feature or
intersection of 2 or 3 (``"sex"``, ``["sex", "age_band"]`` or ``"sex & age_band"``), the report
of ``evaluation.fairness.fairness_report``: per group the counts, performance, selection rate and
error rates with bootstrap intervals, small groups flagged, and the demographic parity and
equalized odds differences and ratios with their intervals. The document::

    {"model": "credit", "version": 3, "artifact_digest": "...", "dataset": {run_id, path, digest},
     "rows": 1000, "label": "target", "positive_label": 1,
     "parameters": {"seed": 0, "bootstrap": 200, "min_group_size": 30, "confidence": 0.95},
     "fairness": {"sex": {...report...}, "sex & age_band": {...report...}}}

the same reports an evaluation keeps under ``result["fairness"]``. Nothing is stored. Classification
only; a multiclass task needs the policy's ``positive_label``. The version is opened the one safe
way (``analysis_cache.opened_for_analysis``): data-only formats here, a pyfunc or pickle version only in
the sandboxed worker when its policy says ``evaluation: {code_models: isolated}``.
"""

from __future__ import annotations

from typing import Any

from modelward.domain.governance import DatasetRef
from modelward.domain.policy import Policy, Task
from modelward.errors import InvalidInput, ModelwardError
from modelward.services import analysis_cache, model_files
from modelward.services.backend import Backend

MAX_FEATURES = 10
MAX_BOOTSTRAP = 5000
CONFIDENCE = 0.95


def for_version(backend: Backend, model: str, version: int, *, features: list[str | list[str]],
                dataset: DatasetRef | dict[str, Any] | None = None, seed: int = 0, bootstrap: int = 200,
                min_group_size: int = 30) -> dict[str, Any]:
    """Per-group fairness of the version's predictions on the data, per feature or intersection."""
    import numpy as np

    from modelward.evaluation.fairness import fairness_report, feature_name
    from modelward.evaluation.metrics import jsonable
    from modelward.services import evaluations, explanations

    wanted = _features(features)
    _check_options(seed, bootstrap, min_group_size)
    policy, target = explanations._context(backend, model, version)
    if policy.task is not Task.CLASSIFICATION:
        raise InvalidInput(f"fairness across groups is for classification; the policy of model '{model}' says task "
                           f"{policy.task.value}")
    data, ref = evaluations.load_dataset(backend, _dataset_ref(policy, dataset))
    label = explanations._label_column(policy, data)
    if label is None:
        raise InvalidInput("the data has no label column (the policy's label, or 'label' or 'target'): fairness "
                           "across groups needs the truth")
    missing = list(dict.fromkeys(c for f in wanted for c in f if c not in data.columns))
    if missing:
        raise InvalidInput(f"the data has no column {', '.join(map(repr, missing))} (its columns: "
                           f"{', '.join(map(str, data.columns[:30]))})")
    with _opened(backend, policy, target) as loaded:
        inputs = data[explanations._feature_columns(loaded, policy, data, label)]
        predicted = _predict(loaded, inputs, target)
    truth = data[label].to_numpy()
    positive = _positive(policy, truth, predicted)
    reports = {}
    for columns in wanted:
        key = feature_name(list(columns))
        sensitive = data[columns[0]] if len(columns) == 1 else data[list(columns)]
        reports[key] = fairness_report(truth, predicted, sensitive, positive_label=positive, feature=key,
                                       min_group_size=min_group_size, bootstrap=bootstrap, confidence=CONFIDENCE,
                                       seed=seed)
    return evaluations.finite_json(jsonable({
        "model": model, "version": version, "artifact_digest": target.artifact_digest,
        "dataset": ref.model_dump(mode="json"), "rows": int(len(np.asarray(truth))), "label": label,
        "positive_label": positive,
        "parameters": {"seed": seed, "bootstrap": bootstrap, "min_group_size": min_group_size,
                       "confidence": CONFIDENCE},
        "fairness": reports,
    }))


def _features(features: Any) -> list[tuple[str, ...]]:
    from modelward.evaluation.fairness import feature_columns

    if not isinstance(features, list) or not features:
        raise InvalidInput("features must be a non-empty list of sensitive columns: names (\"sex\") or lists of "
                           "2 or 3 of them for an intersection ([\"sex\", \"age_band\"])")
    if len(features) > MAX_FEATURES:
        raise InvalidInput(f"at most {MAX_FEATURES} features per call, got {len(features)}")
    try:
        return list(dict.fromkeys(feature_columns(f) for f in features))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _check_options(seed: Any, bootstrap: Any, min_group_size: Any) -> None:
    for name, value, low, high in (("seed", seed, 0, 2**32 - 1), ("bootstrap", bootstrap, 0, MAX_BOOTSTRAP),
                                   ("min_group_size", min_group_size, 1, 1_000_000)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(f"{name} must be an integer from {low} to {high}, got {value!r}")


def _dataset_ref(policy: Policy, dataset: DatasetRef | dict[str, Any] | None) -> DatasetRef:
    from modelward.services import explanations

    if dataset is None and policy.evaluation_dataset is None:
        raise InvalidInput("fairness across groups needs data: the policy's evaluation_dataset, or a dataset "
                           "(run_id and path of a Parquet or CSV artifact)")
    return explanations._dataset_ref(policy, dataset)


def _opened(backend: Backend, policy: Policy, version: Any) -> Any:
    return analysis_cache.opened_for_analysis(backend, policy, version, analysis="assess", doing="assesses")


def _predict(model: Any, inputs: Any, version: Any) -> Any:
    import numpy as np

    try:
        predicted = np.asarray(model.predict(inputs))
    except ModelwardError:
        raise
    except Exception as exc:  # noqa: BLE001 -- the model's own failure on the data
        raise InvalidInput(f"{model_files.label(version)} failed to predict on the data: "
                           f"{type(exc).__name__}: {exc}") from None
    if predicted.ndim == 2 and predicted.shape[1] == 1:
        predicted = predicted[:, 0]
    if predicted.ndim != 1 or len(predicted) != len(inputs):
        raise InvalidInput(f"{model_files.label(version)} returned predictions of shape {predicted.shape} for "
                           f"{len(inputs)} rows: fairness needs one label per row")
    return predicted


def _positive(policy: Policy, truth: Any, predicted: Any) -> Any:
    """The policy's positive label, else the larger label of a binary task."""
    from modelward.evaluation.metrics import class_labels, positive_class

    classes = class_labels(truth, predicted)
    if policy.positive_label is None and len(classes) > 2:
        raise InvalidInput(f"fairness on a multiclass task ({len(classes)} classes) needs the policy's positive_label")
    return positive_class(classes, policy.positive_label)


__all__ = ["for_version"]
