"""Explanations of a loaded model on a table: pure computation, no store, no services.

Global (``global_explanation``): permutation importance (scikit-learn, seeded), partial
dependence of the top features (scikit-learn's ``partial_dependence`` when the model is a
fitted scikit-learn estimator, else the same brute-force average computed here), and, when
``shap`` is importable, the mean absolute SHAP value per feature.

Local (``local_explanation``): attributions of one row that sum to its prediction minus the base
value, and the nearest reference rows by Euclidean distance on standardised numeric features.

Which attribution method (``attribution_method``):

* with shap: ``TreeExplainer`` for a scikit-learn tree ensemble (output: the probability of the
  explained class, or the regression value), ``LinearExplainer`` for a linear model (output: the
  decision function, log-odds for a logistic regression), otherwise ``PermutationExplainer``
  over a bounded background sample (output: the probability or the value);
* without shap, or for a model taking text columns (shap's maskers take numbers only):
  interventional Shapley values by permutation sampling against a fixed
  background sample (``_sampled_shapley``). Each permutation walks from a background row to the
  explained row one feature at a time, so its contributions telescope to f(x) - f(b) exactly:
  the sum of the attributions equals the prediction minus the mean over the background.

The model is what ``services.model_files.open_model`` returns (a data-only LoadedModel or an
isolated worker's proxy): predictions go through its ``predict``/``predict_proba``; the scikit-
learn object (``.raw``) is only read for its type, its classes, and by TreeExplainer/LinearExplainer.
"""

from __future__ import annotations

from typing import Any

MAX_BACKGROUND = 50
MAX_SHAP_ROWS = 200
MAX_AGNOSTIC_ROWS = 40  # the model-agnostic explainer calls the model ~10 x features times a row
SHAPLEY_PERMUTATIONS = 12
PD_GRID = 20
SAMPLED_SHAPLEY = "sampled interventional shapley (modelward)"
DISTANCE = "euclidean on numeric features standardised by the reference data's mean and standard deviation"


# -- what is explained ------------------------------------------------------------------------------


class Target:
    """The number explained for each row: the probability of ``explained_class`` for a classifier
    with predict_proba, else ``predict`` as a float."""

    def __init__(self, model: Any, *, classification: bool, positive_label: Any = None) -> None:
        self.model = model
        self.raw = getattr(model, "raw", model)
        self.classes = _classes(model)
        self.use_proba = classification and hasattr(model, "predict_proba") and self.classes is not None
        self.class_index = _class_index(self.classes, positive_label) if self.use_proba else None
        self.explained_class = _plain(self.classes[self.class_index]) if self.class_index is not None else None
        self.output = f"probability of class {self.explained_class!r}" if self.use_proba else "prediction"

    def __call__(self, frame: Any) -> Any:
        import numpy as np

        if self.use_proba:
            return np.asarray(self.model.predict_proba(frame), dtype=float)[:, self.class_index]
        return np.asarray(self.model.predict(frame), dtype=float).reshape(len(frame))


def _classes(model: Any) -> list[Any] | None:
    found = getattr(model, "classes_", None)
    if found is None:
        found = getattr(getattr(model, "raw", None), "classes_", None)
    return list(found) if found is not None else None


def _class_index(classes: list[Any], positive_label: Any) -> int:
    if positive_label is not None:
        for index, value in enumerate(classes):
            if _plain(value) == positive_label or str(_plain(value)) == str(positive_label):
                return index
    return len(classes) - 1  # the larger label, as the metrics choose it


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# -- global ---------------------------------------------------------------------------------------


def global_explanation(model: Any, features: Any, y: Any, *, classification: bool, positive_label: Any = None,
                       seed: int = 0, top: int = 10, n_repeats: int = 5) -> dict[str, Any]:
    """Permutation importance of every feature, partial dependence of the ``top`` ones, and the
    mean |SHAP| per feature when shap is installed (else None)."""
    target = Target(model, classification=classification, positive_label=positive_label)
    importance = permutation_importances(model, features, y, classification=classification, seed=seed,
                                         n_repeats=n_repeats)
    leaders = [item["feature"] for item in importance[:top]]
    return {
        "output": target.output,
        "explained_class": target.explained_class,
        "scoring": "accuracy" if classification else "r2",
        "permutation_importance": importance,
        "partial_dependence": [partial_dependence_of(target, features, name) for name in leaders],
        "shap": shap_summary(target, features, seed=seed),
    }


def permutation_importances(model: Any, features: Any, y: Any, *, classification: bool, seed: int,
                            n_repeats: int) -> list[dict[str, Any]]:
    """Mean and standard deviation of the score's drop when one feature is shuffled, best first."""
    import numpy as np
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import accuracy_score, r2_score

    def score(_: Any, frame: Any, truth: Any) -> float:  # noqa: ANN401
        predicted = np.asarray(model.predict(frame)).reshape(len(frame))
        return float(accuracy_score(truth, predicted) if classification else r2_score(truth, predicted))

    found = permutation_importance(_Fitted(model), features, y, scoring=score, n_repeats=n_repeats,
                                   random_state=seed)
    rows = [{"feature": str(name), "importance_mean": float(mean), "importance_std": float(std)}
            for name, mean, std in zip(features.columns, found.importances_mean, found.importances_std, strict=True)]
    return sorted(rows, key=lambda row: (-row["importance_mean"], row["feature"]))


class _Fitted:
    """scikit-learn's parameter check wants an estimator with ``fit``; the scorer above only
    predicts with the loaded model, and nothing is ever refitted."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, *_: Any) -> _Fitted:
        raise TypeError("a registered version is explained as it is, never refitted")


def partial_dependence_of(target: Target, features: Any, name: str) -> dict[str, Any]:
    """The average explained output as feature ``name`` takes each value of a grid (brute force)."""
    import numpy as np
    import pandas as pd

    column = features[name]
    if not pd.api.types.is_numeric_dtype(column):
        grid = list(pd.unique(column))[:PD_GRID]
    else:
        grid = list(np.unique(np.quantile(column.to_numpy(dtype=float), np.linspace(0.05, 0.95, PD_GRID))))
    sklearn_estimator = _sklearn_estimator(target.raw) and target.raw is not target.model
    if sklearn_estimator and pd.api.types.is_numeric_dtype(column):
        averaged = _sklearn_partial_dependence(target, features, name, grid)
        if averaged is not None:
            return {"feature": name, "grid": [_plain(v) for v in grid], "average": averaged, "method": "sklearn"}
    sample = features.sample(min(len(features), 200), random_state=0)
    averages = []
    for value in grid:
        changed = sample.copy()
        changed[name] = value
        averages.append(float(np.mean(target(changed))))
    return {"feature": name, "grid": [_plain(v) for v in grid], "average": averages, "method": "brute"}


def _sklearn_partial_dependence(target: Target, features: Any, name: str, grid: list[Any]) -> list[float] | None:
    import numpy as np
    from sklearn.inspection import partial_dependence

    response = "predict_proba" if target.use_proba else "auto"
    try:
        found = partial_dependence(target.raw, features, [name], custom_values={name: np.asarray(grid)},
                                   kind="average", response_method=response, method="brute")
    except (ValueError, TypeError):
        return None
    averages = np.asarray(found["average"])
    if target.use_proba and averages.shape[0] > 1:
        averages = averages[target.class_index]
    elif target.use_proba and target.class_index == 0:
        averages = 1.0 - averages[0]  # binary: scikit-learn gives the positive (second) class
    else:
        averages = averages[0]
    return [float(v) for v in averages]


def _sklearn_estimator(obj: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, BaseEstimator)


def shap_summary(target: Target, features: Any, *, seed: int) -> dict[str, Any] | None:
    """Mean |SHAP value| per feature on at most MAX_SHAP_ROWS rows (and the values themselves for
    a beeswarm chart); None when shap is not installed."""
    if not shap_available():
        return None
    import numpy as np

    method = attribution_method(target, features)
    limit = MAX_SHAP_ROWS if method in ("shap.TreeExplainer", "shap.LinearExplainer") else MAX_AGNOSTIC_ROWS
    rows = features.sample(min(len(features), limit), random_state=seed)
    explained = attributions(target, rows, background(features, seed), seed=seed)
    mean_abs = np.abs(explained["values"]).mean(axis=0)
    ranked = sorted(zip(features.columns, mean_abs, strict=True), key=lambda item: -item[1])
    return {
        "method": explained["method"], "output": explained["output"], "rows": len(rows),
        "mean_abs": [{"feature": str(name), "value": float(value)} for name, value in ranked],
        "base_value": float(explained["base_value"]),
    }


# -- local ----------------------------------------------------------------------------------------


def shap_available() -> bool:
    try:
        import shap  # noqa: F401
    except ImportError:
        return False
    return True


def background(reference: Any, seed: int) -> Any:
    """A bounded, seeded sample of the reference rows: the fixed baseline of the attributions."""
    return reference.sample(min(len(reference), MAX_BACKGROUND), random_state=seed).reset_index(drop=True)


def attribution_method(target: Target, rows: Any = None) -> str:
    """Which explainer attributes ``target`` on ``rows`` (see the module docstring). shap's
    model-agnostic explainer masks with numbers only, so a model taking text columns (a pipeline
    that encodes them) is explained by modelward's own sampling, which passes rows as they are."""
    if not shap_available():
        return SAMPLED_SHAPLEY
    if _is_tree(target.raw) and target.raw is not target.model:
        return "shap.TreeExplainer"
    if _is_linear(target.raw) and target.raw is not target.model:
        return "shap.LinearExplainer"
    if rows is not None and not all(_is_numeric(rows[name]) for name in rows.columns):
        return SAMPLED_SHAPLEY
    return "shap.PermutationExplainer"


def attributions(target: Target, rows: Any, base: Any, *, seed: int) -> dict[str, Any]:
    """Additive attributions of ``rows`` against the background ``base``, by ``attribution_method``."""
    if attribution_method(target, rows).startswith("shap."):
        return _shap_attributions(target, rows, base)
    return _sampled_shapley(target, rows, base, seed=seed)


def local_explanation(model: Any, rows: Any, reference: Any, *, classification: bool, positive_label: Any = None,
                      seed: int = 0, nearest: int = 5) -> dict[str, Any]:
    """Attributions of each row (summing to its prediction minus the base value, checked) and its
    ``nearest`` reference rows."""
    import numpy as np

    target = Target(model, classification=classification, positive_label=positive_label)
    base = background(reference, seed)
    explained = attributions(target, rows, base, seed=seed)
    values, predictions = explained["values"], explained["predictions"]
    answers = []
    for index in range(len(rows)):
        total = float(np.sum(values[index]))
        error = abs(explained["base_value"] + total - predictions[index])
        answers.append({
            "inputs": {str(k): _plain(v) for k, v in rows.iloc[index].items()},
            "prediction": float(predictions[index]),
            "attributions": sorted(
                ({"feature": str(name), "value": _plain(rows.iloc[index][name]), "attribution": float(value)}
                 for name, value in zip(rows.columns, values[index], strict=True)),
                key=lambda item: -abs(item["attribution"])),
            "additivity_error": float(error),
            "nearest": nearest_rows(reference, rows.iloc[[index]], nearest),
        })
    return {"method": explained["method"], "output": explained["output"], "explained_class": target.explained_class,
            "base_value": float(explained["base_value"]), "background_rows": len(base), "distance": DISTANCE,
            "rows": answers}


def nearest_rows(reference: Any, row: Any, count: int) -> list[dict[str, Any]]:
    """The ``count`` reference rows closest to ``row`` (its index in the reference data, the
    distance, the row's values)."""
    import numpy as np

    numeric = [c for c in reference.columns if _is_numeric(reference[c])]
    if not numeric or count <= 0:
        return []
    table = reference[numeric].to_numpy(dtype=float)
    mean, scale = table.mean(axis=0), table.std(axis=0)
    scale[scale == 0] = 1.0
    point = (row[numeric].to_numpy(dtype=float)[0] - mean) / scale
    distances = np.sqrt((((table - mean) / scale - point) ** 2).sum(axis=1))
    order = np.argsort(distances, kind="stable")[:count]
    return [{"index": _plain(reference.index[i]), "distance": float(distances[i]),
             "row": {str(k): _plain(v) for k, v in reference.iloc[i].items()}} for i in order]


def _is_numeric(column: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(column)) and not pd.api.types.is_bool_dtype(column)


def _is_tree(raw: Any) -> bool:
    from sklearn.ensemble import (
        ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
        RandomForestClassifier, RandomForestRegressor,
    )
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    kinds = (RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor,
             GradientBoostingClassifier, GradientBoostingRegressor, DecisionTreeClassifier, DecisionTreeRegressor)
    return isinstance(raw, kinds)


def _is_linear(raw: Any) -> bool:
    from sklearn.linear_model._base import LinearClassifierMixin, LinearModel

    return isinstance(raw, LinearModel | LinearClassifierMixin)


def _shap_attributions(target: Target, rows: Any, base: Any) -> dict[str, Any]:
    """SHAP values of ``rows`` by the method ``attribution_method`` names: values (rows x
    features), the base value, and the explained output of each row (in the explainer's space)."""
    import numpy as np
    import shap

    method = attribution_method(target, rows)
    if method == "shap.TreeExplainer":
        # interventional against the background: exact, and in the space of predict_proba/predict
        explainer = shap.TreeExplainer(target.raw, data=base, feature_perturbation="interventional",
                                       model_output="raw")
        found = explainer(rows, check_additivity=False)
        values, base_values = np.asarray(found.values), np.asarray(found.base_values)
        if values.ndim == 3:
            values, base_values = values[:, :, target.class_index], base_values[:, target.class_index]
        output = target.output
        predictions = target(rows) if _tree_outputs_target(target) else base_values + values.sum(axis=1)
    elif method == "shap.LinearExplainer":
        explainer = shap.LinearExplainer(target.raw, shap.maskers.Independent(base, max_samples=len(base)))
        found = explainer(rows)
        values, base_values = np.asarray(found.values), np.asarray(found.base_values)
        if values.ndim == 3:
            values, base_values = values[:, :, target.class_index], base_values[:, target.class_index]
        elif target.use_proba and target.class_index == 0:
            values, base_values = -values, -base_values  # binary: shap explains the second class's margin
        output = "decision function (log-odds for a logistic regression)" if target.use_proba else target.output
        predictions = _margin(target, rows)
    else:
        masker = shap.maskers.Independent(base, max_samples=len(base))
        explainer = shap.PermutationExplainer(lambda data: target(_frame_like(data, rows)), masker, seed=0)
        found = explainer(rows, max_evals=2 * rows.shape[1] + 1 + 2 * rows.shape[1] * 4, silent=True)
        values, base_values = np.asarray(found.values), np.asarray(found.base_values)
        output = target.output
        predictions = target(rows)
    base_value = float(np.ravel(base_values)[0]) if np.size(base_values) else 0.0
    return {"values": values, "base_value": base_value, "predictions": np.asarray(predictions, dtype=float),
            "method": method, "output": output}


def _tree_outputs_target(target: Target) -> bool:
    # A forest's raw output is its averaged leaf values: predict_proba for a classifier, predict for
    # a regressor. Gradient boosting classifiers explain the margin instead.
    from sklearn.ensemble import GradientBoostingClassifier

    return not isinstance(target.raw, GradientBoostingClassifier)


def _margin(target: Target, rows: Any) -> Any:
    import numpy as np

    raw = target.raw
    if not target.use_proba:
        return target(rows)
    margin = np.asarray(raw.decision_function(rows), dtype=float)
    if margin.ndim == 2:
        return margin[:, target.class_index]
    return -margin if target.class_index == 0 else margin


def _frame_like(data: Any, rows: Any) -> Any:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    frame = pd.DataFrame(data, columns=rows.columns)
    for name in rows.columns:
        try:
            frame[name] = frame[name].astype(rows[name].dtype)
        except (TypeError, ValueError):
            pass
    return frame


def _sampled_shapley(target: Target, rows: Any, base: Any, *, seed: int) -> dict[str, Any]:
    """Interventional Shapley values by permutation sampling against the background rows ``base``.

    For each permutation and each background row b, the hybrid rows move from b to x one feature
    at a time in the permutation's order; feature j's contribution is f(after j) - f(before j).
    The contributions of one walk sum to f(x) - f(b), so the averages sum to f(x) - mean f(b)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns = list(rows.columns)
    width, count = len(columns), len(base)
    base_value = float(np.mean(target(base)))
    values = np.zeros((len(rows), width))
    for index in range(len(rows)):
        row = rows.iloc[[index]]
        total = np.zeros(width)
        for _ in range(SHAPLEY_PERMUTATIONS):
            order = rng.permutation(width)
            steps = []
            hybrid = base.copy()
            steps.append(hybrid.copy())
            for j in order:
                hybrid[columns[j]] = row[columns[j]].iloc[0]
                steps.append(hybrid.copy())
            outputs = target(pd.concat(steps, ignore_index=True)).reshape(width + 1, count)
            deltas = np.diff(outputs, axis=0).mean(axis=1)  # one per step, in permutation order
            total[order] += deltas
        values[index] = total / SHAPLEY_PERMUTATIONS
    return {"values": values, "base_value": base_value, "predictions": target(rows),
            "method": SAMPLED_SHAPLEY, "output": target.output}


# -- agreement of two explanations -------------------------------------------------------------------


def rank_agreement(first: list[dict[str, Any]], second: list[dict[str, Any]], *, top_k: int,
                   method: str = "spearman") -> dict[str, Any]:
    """How far two models rely on the same features: the rank correlation of their permutation
    importances over the union of each one's ``top_k`` features (a feature one model lacks counts
    as importance 0), and the share of the top ``top_k`` they have in common."""
    import math
    import warnings

    from scipy import stats

    first_top = [row["feature"] for row in first[:top_k]]
    other_top = [row["feature"] for row in second[:top_k]]
    union = sorted(set(first_top) | set(other_top))
    a = {row["feature"]: row["importance_mean"] for row in first}
    b = {row["feature"]: row["importance_mean"] for row in second}
    x, y = [a.get(name, 0.0) for name in union], [b.get(name, 0.0) for name in union]
    measure = stats.spearmanr if method == "spearman" else stats.kendalltau
    with warnings.catch_warnings():  # constant importances: an undefined correlation, said below
        warnings.simplefilter("ignore")
        value = float(measure(x, y).statistic) if len(union) > 1 else math.nan
    return {"method": method, "top_k": top_k, "features": union, "challenger_top": first_top,
            "other_top": other_top, "rank_correlation": value if math.isfinite(value) else None,
            "top_k_overlap": len(set(first_top) & set(other_top)) / top_k,
            "importances": {name: {"challenger": a.get(name, 0.0), "other": b.get(name, 0.0)} for name in union}}


__all__ = ["DISTANCE", "SAMPLED_SHAPLEY", "Target", "attribution_method", "attributions", "background", "global_explanation", "local_explanation",
           "nearest_rows", "partial_dependence_of", "permutation_importances", "rank_agreement", "shap_available",
           "shap_summary"]
