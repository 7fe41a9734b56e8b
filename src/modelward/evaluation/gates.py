"""Run a policy's gates against a challenger on an evaluation dataset: pure computation.

``evaluate_gates`` computes what the gates need (metrics, champion comparison, fairness,
technical checks, KPIs), then decides every gate with a human reason and its evidence.
The governance service stores the result as an Evaluation and moves the version to
``rejected`` (any gate failed) or ``in_review`` (``result.outcome``).

Which rows and columns:

* the label column is ``policy.label``, else ``label``, else ``target``;
* a model's inputs are ``feature_columns`` when given, else its signature's columns, else
  a scikit-learn estimator's ``feature_names_in_``, else every column except the label and
  the policy's sensitive features.

Gates whose evidence cannot be computed: a champion gate with no champion (the first
version of a model) passes with ``skipped: true`` and the reason "no champion to compare
against". Every other gate fails when its evidence is missing (a metric the model cannot
produce, a sensitive column absent from the data, a KPI not supplied, a technical check
without the model folder): a declared control that cannot be verified must not pass.

A model's outputs are checked before anything is computed from them: predict must return
one number or label per row, predict_proba one row of finite probabilities per row;
anything else (a dict, a string, None, the wrong length, an exception) is InvalidInput
naming the problem. KPIs are supplied by the caller: their gates say "self-reported" and
the result records who reported them (``kpis_reported_by``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from modelward.domain.policy import (
    NUMERIC_TECHNICAL,
    AttributionStabilityGate,
    ChampionGate,
    DataExpectationsGate,
    ExplanationGate,
    FairnessGate,
    KpiGate,
    MetricGate,
    Policy,
    Task,
    TechnicalGate,
)
from modelward.errors import InvalidInput, ModelwardError
from modelward.evaluation import technical
from modelward.evaluation.compare import compare_models
from modelward.evaluation.fairness import disparity, fairness_report, feature_name
from modelward.evaluation.metrics import (
    classification_metrics,
    jsonable,
    positive_class,
    regression_metrics,
)

LATENCY_SAMPLE_ROWS = 100


class GateResult(BaseModel):
    gate: dict[str, Any]
    kind: str
    passed: bool
    skipped: bool = False
    observed: Any = None
    threshold: dict[str, Any] = Field(default_factory=dict)
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class EvaluationResult(BaseModel):
    task: str
    label: str
    n_rows: int
    metrics: dict[str, Any]
    comparison: dict[str, Any] | None = None
    fairness: dict[str, Any] = Field(default_factory=dict)
    technical: dict[str, Any] = Field(default_factory=dict)
    kpis: dict[str, Any] = Field(default_factory=dict)
    kpis_reported_by: str | None = None
    attributions: dict[str, Any] = Field(default_factory=dict)
    # the challenger's global explanation an explanation gate asked for: the service keeps it
    # as an explanation revision of the version, not inside the evaluation
    explanation: dict[str, Any] | None = Field(default=None, exclude=True)
    gates: list[GateResult] = Field(default_factory=list)
    passed: bool
    failures: list[str] = Field(default_factory=list)

    @property
    def outcome(self) -> Literal["rejected", "in_review"]:
        return "in_review" if self.passed else "rejected"


def evaluate_gates(
    policy: Policy,
    *,
    challenger: Any,
    champion: Any = None,
    data: Any,
    kpis: dict[str, Any] | None = None,
    model_dir: Any = None,
    feature_columns: list[str] | None = None,
    seed: int = 0,
    kpis_reported_by: str | None = None,
    data_checks: list[dict[str, Any]] | None = None,
    data_references: Mapping[int, Any] | None = None,
) -> EvaluationResult:
    """Evaluate ``challenger`` (anything with ``.predict``, optionally ``.predict_proba``) under ``policy``.

    ``champion`` is the model to compare against, or a mapping alias -> model when gates
    compare to different aliases. ``model_dir`` is the challenger's saved folder, needed for
    the size, clean-load and (without metadata) dependency checks. ``kpis_reported_by``
    names who supplied ``kpis`` (they are self-reported, and the KPI gates say so).
    ``data_checks`` is the latest check of each training dataset (``services.data_checks.of_version``)
    for ``data_expectations: training`` gates; ``data_references`` maps the index of each
    ``data_expectations: evaluation`` gate to its reference data ({column: values}), or to the
    text of why it could not be read.
    """
    run = _Run(policy, data, challenger, feature_columns, seed)
    comparison = _comparisons(run, policy, champion)
    fairness = _fairness(run, policy)
    checks = _technical(run, policy, challenger, model_dir)
    explained = _Explained(run, policy, challenger, champion)
    supplied = jsonable(dict(kpis or {}))
    reporter = (kpis_reported_by or "the caller") if supplied else None
    gates = [explained.decide(gate) if isinstance(gate, AttributionStabilityGate | ExplanationGate)
             else _data_gate(gate, run, data_checks, (data_references or {}).get(index))
             if isinstance(gate, DataExpectationsGate)
             else _decide(gate, run, comparison, fairness, checks, supplied, reporter)
             for index, gate in enumerate(policy.gates)]
    failures = [g.reason for g in gates if not g.passed]
    return EvaluationResult(
        task=policy.task.value, label=run.label, n_rows=len(run.y), metrics=run.report,
        comparison=comparison.get("default"), fairness=fairness, technical=checks, kpis=supplied,
        kpis_reported_by=reporter, attributions=explained.attributions, explanation=explained.document,
        gates=gates, passed=not failures, failures=failures,
    )


class _Run:
    """The evaluation data split into label and features, and the challenger's outputs on it."""

    def __init__(self, policy: Policy, data: Any, model: Any, feature_columns: list[str] | None, seed: int) -> None:
        import pandas as pd

        if not isinstance(data, pd.DataFrame) or data.empty:
            raise InvalidInput("the evaluation data must be a non-empty table (pandas DataFrame)")
        self.policy, self.data, self.seed, self.feature_columns = policy, data, seed, feature_columns
        self.label = _label_column(policy, data)
        self.y = data[self.label].to_numpy()
        self.classification = policy.task is Task.CLASSIFICATION
        self.features = self.inputs_for(model)
        self.pred, self.proba, self.classes = self.outputs(model)
        if self.classification:
            self.report = classification_metrics(self.y, self.pred, proba=self.proba, classes=self.classes,
                                                 positive_label=policy.positive_label)
            self.positive = positive_class(self.report["confusion_matrix"]["labels"], policy.positive_label)
        else:
            self.report = regression_metrics(self.y, self.pred)
            self.positive = None

    def inputs_for(self, model: Any) -> Any:
        signature = getattr(model, "signature", None)
        if self.feature_columns is not None:
            columns = list(self.feature_columns)
        elif signature is not None and signature.input_kind == "dataframe":
            columns = list(signature.column_names)
        elif getattr(model, "feature_names_in_", None) is not None:  # a scikit-learn estimator fitted on a frame
            columns = [str(c) for c in model.feature_names_in_]
        else:
            dropped = {self.label, *self.policy.sensitive_features}
            columns = [c for c in self.data.columns if c not in dropped]
        missing = [c for c in columns if c not in self.data.columns]
        if missing:
            raise InvalidInput(f"the evaluation data lacks the model's input column(s) {', '.join(map(str, missing))}")
        return self.data[columns]

    def outputs(self, model: Any) -> tuple[Any, Any, list[Any] | None]:
        features = self.inputs_for(model)
        pred = _predictions(_call(model, "predict", features), len(features))
        proba = None
        if self.classification and hasattr(model, "predict_proba"):
            proba = _probabilities(_call(model, "predict_proba", features), len(features))
        classes = getattr(model, "classes_", None)
        if classes is None:  # a modelward LoadedModel keeps the estimator in .raw
            classes = getattr(getattr(model, "raw", None), "classes_", None)
        return pred, proba, (list(classes) if classes is not None and self.classification else None)


def _call(model: Any, method: str, features: Any) -> Any:
    try:
        return getattr(model, method)(features)
    except ModelwardError:
        raise
    except Exception as exc:  # noqa: BLE001 -- the model's own failure on the evaluation data
        raise InvalidInput(f"the model's {method} failed on the evaluation data: {type(exc).__name__}: {exc}") from None


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _predictions(value: Any, rows: int) -> Any:
    """One number or label per row, as a 1-D numpy array; InvalidInput for anything else."""
    import numpy as np
    import pandas as pd

    if not isinstance(value, np.ndarray | pd.Series | pd.DataFrame | list | tuple):
        raise InvalidInput(f"the model's predict returned a {_kind(value)}, not an array with one prediction per row")
    array = np.asarray(value)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or len(array) != rows:
        raise InvalidInput(f"the model's predict returned shape {array.shape} for {rows} rows: "
                           "it must return one prediction per row")
    if array.dtype == object and not all(v is None or isinstance(v, str | int | float | bool | np.generic) for v in array):
        raise InvalidInput("the model's predict returned values that are not numbers or labels")
    return array


def _probabilities(value: Any, rows: int) -> Any:
    import numpy as np
    import pandas as pd

    if not isinstance(value, np.ndarray | pd.DataFrame | list | tuple):
        raise InvalidInput(f"the model's predict_proba returned a {_kind(value)}, not a table of probabilities")
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInput("the model's predict_proba returned values that are not probabilities") from None
    if array.ndim != 2 or len(array) != rows or array.shape[1] < 1 or not np.isfinite(array).all():
        raise InvalidInput(f"the model's predict_proba returned shape {array.shape} for {rows} rows: it must "
                           "return one row of finite probabilities per row")
    return array


def _label_column(policy: Policy, data: Any) -> str:
    candidates = [policy.label] if policy.label else ["label", "target"]
    for name in candidates:
        if name in data.columns:
            return name
    raise InvalidInput(f"the evaluation data has no label column ({' or '.join(candidates)})")


# -- evidence ----------------------------------------------------------------------------------------


def _champion_for(champion: Any, alias: str) -> Any:
    if isinstance(champion, Mapping):
        return champion.get(alias)
    return champion


def _comparisons(run: _Run, policy: Policy, champion: Any) -> dict[str, Any]:
    """Keyed by "default" (every metric, 1000 resamples, 95%) and by each champion gate's settings."""
    found: dict[str, Any] = {}
    default_model = _champion_for(champion, "champion") if isinstance(champion, Mapping) else champion
    if default_model is not None:
        found["default"] = _compare(run, default_model, None, 0.95, 1000)
    for gate in policy.gates:
        if isinstance(gate, ChampionGate) and (model := _champion_for(champion, gate.compare_to)) is not None:
            found[_gate_key(gate)] = _compare(run, model, [gate.metric], gate.confidence, gate.bootstrap,
                                              tolerance={gate.metric: gate.max_regression})
    return found


def _gate_key(gate: ChampionGate) -> str:
    return f"{gate.compare_to}:{gate.metric}:{gate.confidence}:{gate.bootstrap}:{gate.max_regression}"


def _compare(run: _Run, model: Any, metrics: list[str] | None, confidence: float, n_bootstrap: int,
             tolerance: dict[str, float] | None = None) -> dict[str, Any]:
    pred, proba, classes = run.outputs(model)
    if run.classes is not None and classes is not None and list(classes) != list(run.classes):
        raise InvalidInput(f"champion classes {classes} differ from the challenger's {run.classes}")
    return compare_models(
        run.policy.task.value, run.y, pred, run.pred, champion_proba=proba, challenger_proba=run.proba,
        classes=run.classes, positive_label=run.policy.positive_label, metrics=metrics, tolerance=tolerance,
        confidence=confidence, n_bootstrap=n_bootstrap, seed=run.seed,
    )


def _fairness(run: _Run, policy: Policy) -> dict[str, Any]:
    if not run.classification:
        return {}
    # one report per sensitive feature of the policy and per gate's feature or intersection, keyed
    # "sex" or "sex & age_band"
    wanted = [(f,) for f in policy.sensitive_features]
    wanted += [tuple(g.features) for g in policy.gates if isinstance(g, FairnessGate)]
    reports: dict[str, Any] = {}
    for columns in dict.fromkeys(wanted):
        key = feature_name(list(columns))
        missing = [c for c in columns if c not in run.data.columns]
        if missing:
            reports[key] = {"error": f"the evaluation data has no column {', '.join(map(repr, missing))}"}
        elif len(run.report["confusion_matrix"]["labels"]) > 2 and policy.positive_label is None:
            reports[key] = {"error": "fairness on a multiclass task needs the policy's positive_label"}
        else:
            sensitive = run.data[columns[0]] if len(columns) == 1 else run.data[list(columns)]
            reports[key] = fairness_report(run.y, run.pred, sensitive, positive_label=run.positive, feature=key,
                                           seed=run.seed)
    return reports


def _technical(run: _Run, policy: Policy, model: Any, model_dir: Any) -> dict[str, Any]:
    wanted = {g.technical for g in policy.gates if isinstance(g, TechnicalGate)}
    if not wanted and model_dir is None:
        return {}
    checks: dict[str, Any] = {}
    signature = getattr(model, "signature", None)
    checks["signature"] = technical.signature_check(signature, [str(c) for c in run.data.columns],
                                                    run.data.head(LATENCY_SAMPLE_ROWS))
    checks["latency"] = technical.measure_latency(model, run.features.head(LATENCY_SAMPLE_ROWS))
    requirements = technical.requirements_of(model, model_dir)
    checks["dependencies"] = (technical.dependencies_pinned(requirements) if requirements is not None
                              else {"passed": False, "reason": "the model's requirements are unknown (no metadata, no folder)"})
    if model_dir is not None:
        checks["artifact_size_mb"] = technical.artifact_size_mb(model_dir)
        if "loads_in_clean_process" in wanted:
            # a model in the isolated worker was just loaded by a fresh sandboxed process: that is the check;
            # anything else is loaded in a clean process by the data-only loader
            checks["clean_load"] = getattr(model, "clean_load", None) or technical.check_loads_in_clean_process(model_dir)
    return jsonable(checks)


class _Explained:
    """The evidence of the explanation gates: the challenger's global explanation (explanation
    gates) and permutation importances of the challenger and of each compared version (attribution
    stability gates), computed once per setting on the evaluation rows with the run's seed."""

    def __init__(self, run: _Run, policy: Policy, challenger: Any, champion: Any) -> None:
        self.run, self.challenger, self.champion = run, challenger, champion
        self.document: dict[str, Any] | None = None
        self.error: str | None = None
        self.attributions: dict[str, Any] = {}
        self._importances: dict[tuple[int, int], Any] = {}
        wanted = [g for g in policy.gates if isinstance(g, ExplanationGate)]
        if wanted:
            self._explain(max(g.top for g in wanted))

    def _explain(self, top: int) -> None:
        from modelward.evaluation import explain

        try:
            self.document = jsonable(explain.global_explanation(
                self.challenger, self.run.features, self.run.y, classification=self.run.classification,
                positive_label=self.run.policy.positive_label, seed=self.run.seed, top=top))
        except ModelwardError:
            raise
        except Exception as exc:  # noqa: BLE001 -- the model's own failure while being explained
            self.error = f"{type(exc).__name__}: {exc}"
            return
        self._importances[(id(self.challenger), 5)] = self.document["permutation_importance"]

    def importances(self, model: Any, n_repeats: int) -> list[dict[str, Any]]:
        from modelward.evaluation import explain

        key = (id(model), n_repeats)
        if key not in self._importances:
            self._importances[key] = explain.permutation_importances(
                model, self.run.inputs_for(model), self.run.y, classification=self.run.classification,
                seed=self.run.seed, n_repeats=n_repeats)
        return self._importances[key]

    def decide(self, gate: AttributionStabilityGate | ExplanationGate) -> GateResult:
        spec = gate.model_dump(mode="json", exclude_defaults=False)
        if isinstance(gate, ExplanationGate):
            return self._explanation_gate(gate, spec)
        return self._stability_gate(gate, spec)

    def _explanation_gate(self, gate: ExplanationGate, spec: dict[str, Any]) -> GateResult:
        if self.document is None:
            return _failed("explanation", spec, f"a global explanation is required but could not be computed on "
                           f"the evaluation data: {self.error}")
        leaders = [row["feature"] for row in self.document["permutation_importance"][:gate.top]]
        evidence = {"rows": len(self.run.y), "top_features": leaders, "shap": self.document["shap"] is not None,
                    "output": self.document["output"]}
        if gate.shap and self.document["shap"] is None:
            return _failed("explanation", spec, "SHAP values are required but were not computed: install the "
                           "'explain' extra (shap) on the server", evidence)
        methods = "permutation importance" + (" and SHAP" if self.document["shap"] is not None else "")
        return GateResult(gate=spec, kind="explanation", passed=True, observed=leaders[:5], evidence=evidence,
                          reason=f"a global explanation ({methods}) was computed on {len(self.run.y)} rows and is "
                                 f"kept with the version; top features: {', '.join(leaders[:5])}")

    def _stability_gate(self, gate: AttributionStabilityGate, spec: dict[str, Any]) -> GateResult:
        from modelward.evaluation.explain import rank_agreement

        alias = gate.attribution_stability
        other = _champion_for(self.champion, alias)
        if other is None:
            return GateResult(gate=spec, kind="attribution_stability", passed=True, skipped=True,
                              reason=f"no {alias} to compare attributions against")
        try:
            found = rank_agreement(self.importances(self.challenger, gate.n_repeats),
                                   self.importances(other, gate.n_repeats), top_k=gate.top_k, method=gate.method)
        except ModelwardError:
            raise
        except Exception as exc:  # noqa: BLE001 -- either model's own failure on the evaluation data
            return _failed("attribution_stability", spec, f"the attributions of the challenger and the {alias} could "
                           f"not be computed on the evaluation data: {type(exc).__name__}: {exc}")
        self.attributions[f"{alias}:{gate.top_k}:{gate.method}:{gate.n_repeats}"] = found
        value, floor = found["rank_correlation"], gate.min_rank_correlation
        name = f"{'Spearman' if gate.method == 'spearman' else 'Kendall'} rank correlation"
        tops = (f"top {gate.top_k} of the challenger: {', '.join(found['challenger_top'])}; "
                f"of the {alias}: {', '.join(found['other_top'])}")
        if value is None:
            return _failed("attribution_stability", spec, f"the {name} of the importances against the {alias} is "
                           f"undefined (constant importances) ({tops})", found)
        passed = value >= floor
        verdict = "at least" if passed else "below"
        return GateResult(gate=spec, kind="attribution_stability", passed=passed, observed=value,
                          threshold={"min_rank_correlation": floor}, evidence=found,
                          reason=f"attribution stability against the {alias}: {name} {_fmt(value)} of the feature "
                                 f"importances over the union of both top {gate.top_k} is {verdict} the minimum "
                                 f"{_fmt(floor)} ({tops})")


# -- decisions ---------------------------------------------------------------------------------------


def _decide(gate: Any, run: _Run, comparison: dict[str, Any], fairness: dict[str, Any],
            checks: dict[str, Any], kpis: dict[str, Any], reporter: str | None) -> GateResult:
    spec = gate.model_dump(mode="json", exclude_defaults=False)
    if isinstance(gate, MetricGate):
        return _metric_gate(gate, spec, run)
    if isinstance(gate, ChampionGate):
        return _champion_gate(gate, spec, comparison.get(_gate_key(gate)))
    if isinstance(gate, FairnessGate):
        return _fairness_gate(gate, spec, fairness.get(gate.feature_key, {}))
    if isinstance(gate, TechnicalGate):
        return _technical_gate(gate, spec, checks)
    return _kpi_gate(gate, spec, kpis, reporter)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _bounded(kind: str, spec: dict[str, Any], name: str, observed: Any, low: float | None, high: float | None,
             evidence: dict[str, Any], unit: str = "") -> GateResult:
    """Pass/fail of a value against optional min/max, with the sentence a reviewer reads."""
    threshold = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
    if low is not None and observed < low:
        passed, reason = False, f"{name} {_fmt(observed)}{unit} is below the minimum {_fmt(low)}{unit}"
    elif high is not None and observed > high:
        passed, reason = False, f"{name} {_fmt(observed)}{unit} is above the maximum {_fmt(high)}{unit}"
    else:
        bounds = " and ".join(f"{'≥' if k == 'min' else '≤'} {_fmt(v)}{unit}" for k, v in threshold.items())
        passed, reason = True, f"{name} {_fmt(observed)}{unit} is within the limit ({bounds})"
    return GateResult(gate=spec, kind=kind, passed=passed, observed=observed, threshold=threshold,
                      reason=reason, evidence=evidence)


def _failed(kind: str, spec: dict[str, Any], reason: str, evidence: dict[str, Any] | None = None) -> GateResult:
    return GateResult(gate=spec, kind=kind, passed=False, reason=reason, evidence=evidence or {})


def _metric_gate(gate: MetricGate, spec: dict[str, Any], run: _Run) -> GateResult:
    value = run.report["metrics"].get(gate.metric)
    if value is None:
        why = run.report["skipped"].get(gate.metric, "the metric is undefined on this data")
        return _failed("metric", spec, f"{gate.metric} could not be computed: {why}")
    return _bounded("metric", spec, gate.metric, value, gate.min, gate.max, {"n_rows": run.report["n_rows"]})


def _champion_gate(gate: ChampionGate, spec: dict[str, Any], comparison: dict[str, Any] | None) -> GateResult:
    if comparison is None:
        return GateResult(gate=spec, kind="champion", passed=True, skipped=True,
                          reason=f"no {gate.compare_to} to compare against")
    found = comparison["metrics"].get(gate.metric)
    if found is None:
        return _failed("champion", spec, f"{gate.metric} could not be computed for both the challenger and "
                       f"the {gate.compare_to}", comparison)
    regression = -found["improvement"]
    interval = (f"{gate.confidence:.0%} CI of the difference [{_fmt(found['ci_low'])}, {_fmt(found['ci_high'])}]: "
                f"{_significance(found)}")
    change = (f"{gate.metric} {_fmt(found['challenger'])} vs {gate.compare_to} {_fmt(found['champion'])} "
              f"(difference {found['difference']:+.4g}; {interval})")
    passed, reason = _champion_decision(gate, found, regression, change)
    return GateResult(gate=spec, kind="champion", passed=passed, observed=found["difference"],
                      threshold={"max_regression": gate.max_regression, "decide_on": gate.decide_on},
                      reason=reason, evidence=found)


def _champion_decision(gate: ChampionGate, found: dict[str, Any], regression: float, change: str) -> tuple[bool, str]:
    """``interval``: fail only when the whole interval of the improvement lies below -max_regression
    (significantly worse than allowed); ``point`` (or an undefined interval): the point regression."""
    allowed = _fmt(gate.max_regression)
    low, high = found.get("improvement_ci_low"), found.get("improvement_ci_high")
    if gate.decide_on == "interval" and low is not None and high is not None:
        bounds = f"[{_fmt(low)}, {_fmt(high)}]"
        if high < -gate.max_regression:
            return False, (f"{change}: regresses by {_fmt(regression)}; the upper end of the {gate.confidence:.0%} "
                           f"interval of the improvement {bounds} is below -{allowed}, so the challenger is "
                           f"significantly worse than the allowed regression (interval rule)")
        return True, (f"{change}: not significantly worse than the allowed regression {allowed}: the "
                      f"{gate.confidence:.0%} interval of the improvement {bounds} reaches -{allowed} or above "
                      f"(interval rule)")
    rule = "point rule" if gate.decide_on == "point" else "point rule, the interval being undefined"
    if regression <= gate.max_regression:
        return True, f"{change}: within the allowed regression {allowed} ({rule})"
    return False, f"{change}: regresses by {_fmt(regression)}, more than the allowed {allowed} ({rule})"


def _significance(found: dict[str, Any]) -> str:
    low, high = found["ci_low"], found["ci_high"]
    if low is None or high is None:
        return "interval undefined"
    if low <= 0 <= high:
        return "not a significant difference"
    return "the challenger is significantly better" if found["improvement"] > 0 else "the challenger is significantly worse"


def _fairness_gate(gate: FairnessGate, spec: dict[str, Any], report: dict[str, Any]) -> GateResult:
    """Decided on the report's measure, or (``min_group_size``) on the measure over the groups with
    enough rows; the reason names the two groups behind it and any group left out."""
    key = gate.feature_key
    if "error" in report or not report:
        why = report.get("error", "no fairness report")
        kind = "feature" if len(gate.features) == 1 else "features"
        return _failed("fairness", spec, f"{gate.fairness} for sensitive {kind} {key!r} could not be computed: {why}")
    found = disparity(report, gate.fairness, min_group_size=gate.min_group_size)
    evidence = {**report, "decision": found}
    name = f"{gate.fairness} for {key!r}"
    left_out = ""
    if found["excluded"]:
        sizes = ", ".join(f"{g!r} ({report['by_group'][g]['count']})" for g in found["excluded"])
        left_out = f"; left out, under {gate.min_group_size} rows: {sizes}"
    if not found["groups"]:
        return _failed("fairness", spec, f"{name} could not be judged: no group has {gate.min_group_size} rows or "
                       f"more{left_out}", evidence)
    value = report.get(gate.fairness) if gate.min_group_size is None else found["value"]
    if value is None:
        return _failed("fairness", spec, f"{name} is undefined (a group has no positive predictions or labels)"
                       f"{left_out}", evidence)
    decided = _bounded("fairness", spec, name, value, gate.min, gate.max, evidence)
    groups = ""
    if found["lowest"] is not None:
        rate = found["rate"].replace("_", " ")
        groups = (f": {rate} {_fmt(found['lowest_value'])} in group {found['lowest']!r} vs "
                  f"{_fmt(found['highest_value'])} in {found['highest']!r}")
    return decided.model_copy(update={"reason": decided.reason + groups + left_out})


def _technical_gate(gate: TechnicalGate, spec: dict[str, Any], checks: dict[str, Any]) -> GateResult:
    name = gate.technical
    if name in NUMERIC_TECHNICAL:
        if name == "p95_latency_ms":
            return _bounded("technical", spec, name, checks["latency"]["p95_latency_ms"], gate.min, gate.max,
                            checks["latency"], unit=" ms")
        if "artifact_size_mb" not in checks:
            return _failed("technical", spec, "artifact_size_mb needs the model folder (model_dir)")
        return _bounded("technical", spec, name, checks["artifact_size_mb"], gate.min, gate.max,
                        {"artifact_size_mb": checks["artifact_size_mb"]}, unit=" MB")
    if name in ("signature_present", "signature_matches"):
        evidence = checks["signature"]
        ok = bool(evidence[name])
    elif name == "dependencies_pinned":
        evidence = checks["dependencies"]
        ok = bool(evidence["passed"])
    elif "clean_load" in checks:
        evidence = checks["clean_load"]
        ok = bool(evidence["passed"])
    else:
        return _failed("technical", spec, "loads_in_clean_process needs the model folder (model_dir)")
    passed = ok or not gate.required
    detail = evidence.get("reason", "")
    reason = f"{name}: {'yes' if ok else 'no'} ({detail})" + ("" if passed or ok else ", which the policy requires")
    return GateResult(gate=spec, kind="technical", passed=passed, observed=ok, threshold={"required": gate.required},
                      reason=reason, evidence=evidence)


def _data_gate(gate: DataExpectationsGate, run: _Run, checks: list[dict[str, Any]] | None,
               references: Any) -> GateResult:
    spec = gate.model_dump(mode="json", exclude_defaults=False, exclude_none=True)
    if gate.data_expectations == "evaluation":
        return _evaluation_data_gate(gate, spec, run, references)
    return _training_data_gate(gate, spec, checks)


_WHOLE_CHECKS = {"present": "present", "type": "of kind", "psi": "at most", "ks": "at most",
                 "rows_min": "at least", "rows_max": "at most"}


def _expectation_text(item: dict[str, Any]) -> str:
    """``age.max (3 rows, 0.06%; e.g. 150, 151)``, or for a whole-column check its observed value."""
    name = f"{item['column']}.{item['check']}" if item.get("column") else str(item["check"])
    if item["check"] in _WHOLE_CHECKS:
        observed = item.get("observed")
        if item["check"] == "present":
            return f"{name} (the column is missing)"
        expected = f"{_WHOLE_CHECKS[item['check']]} {_fmt(item.get('expected'))}"
        return f"{name} ({expected}" + (f", observed {_fmt(observed)})" if observed is not None else ")")
    count = int(item.get("failure_count") or 0)
    examples = ", ".join(map(str, (item.get("examples") or [])[:3]))
    return (f"{name} ({count} row{'s' if count != 1 else ''}, {float(item.get('failure_share') or 0):.2%}"
            + (f"; e.g. {examples})" if examples else ")"))


def _training_verdict(found: dict[str, Any], required: bool) -> str | None:
    """Why one training dataset fails the gate, or None when it does not."""
    who = f"training dataset '{found['dataset']}' ({found['dataset_id']})"
    if found["status"] == "passed":
        return None
    if found["status"] == "failed":
        failed = found.get("failed") or []
        return (f"{who} failed {len(failed)} expectation(s) in check {found['check_id']}: "
                + "; ".join(_expectation_text(item) for item in failed))
    if not required:
        return None
    if found["status"] == "unchecked":
        return f"{who} could not be checked (check {found['check_id']}): {found.get('reason') or 'no stored data'}"
    if found.get("has_expectations"):
        return f"{who} has expectations attached but was never checked (modelward data check {found['dataset_id']})"
    return f"{who} has no expectations and was never checked: attach expectations and check it"


def _training_data_gate(gate: DataExpectationsGate, spec: dict[str, Any],
                        checks: list[dict[str, Any]] | None) -> GateResult:
    if checks is None:
        return _failed("data_expectations", spec, "the training datasets' checks were not supplied to the evaluation")
    if not checks:
        return _failed("data_expectations", spec, "the version's source run read no logged dataset: nothing shows "
                       "that its training data meets expectations")
    wanted = set(gate.required_on or [])
    absent = sorted(w for w in wanted if not any(w in (c["dataset"], c["dataset_id"]) for c in checks))
    reasons = [f"required dataset '{name}' is not among the datasets the source run read" for name in absent]
    for found in checks:
        required = not wanted or bool({found["dataset"], found["dataset_id"]} & wanted)
        verdict = _training_verdict(found, required)
        if verdict is not None:
            reasons.append(verdict)
    evidence = {"datasets": checks}
    judged = [c for c in checks if not wanted or {c["dataset"], c["dataset_id"]} & wanted]
    observed = {c["dataset"]: c["status"] or "never checked" for c in checks}
    if reasons:
        return GateResult(gate=spec, kind="data_expectations", passed=False, observed=observed, evidence=evidence,
                          reason="data expectations of the training data: " + "; ".join(reasons))
    passed = ", ".join(f"'{c['dataset']}' (check {c['check_id']})" for c in judged if c["status"] == "passed")
    return GateResult(gate=spec, kind="data_expectations", passed=True, observed=observed, evidence=evidence,
                      reason=f"the training data met its expectations: {passed} passed their latest check")


def _evaluation_data_gate(gate: DataExpectationsGate, spec: dict[str, Any], run: _Run, references: Any) -> GateResult:
    from modelward.evaluation.expectations import check_frame

    assert gate.expectations is not None  # the gate's validation requires it
    if isinstance(references, str):
        return _failed("data_expectations", spec, f"the evaluation data could not be checked: {references}")
    try:
        result = check_frame(run.data, gate.expectations, references or {})
    except InvalidInput as exc:
        return _failed("data_expectations", spec, f"the evaluation data could not be checked: {exc}")
    failed = [item.model_dump(mode="json") for item in result.failed()]
    evidence = result.model_dump(mode="json")
    observed = [f"{i['column']}.{i['check']}" if i["column"] else i["check"] for i in failed]
    if failed:
        return GateResult(gate=spec, kind="data_expectations", passed=False, observed=observed, evidence=evidence,
                          reason=f"the evaluation data ({result.rows} rows) failed {len(failed)} expectation(s): "
                                 + "; ".join(_expectation_text(item) for item in failed))
    return GateResult(gate=spec, kind="data_expectations", passed=True, observed=observed, evidence=evidence,
                      reason=f"the evaluation data ({result.rows} rows) met all {len(result.expectations)} "
                             "expectations")


def _kpi_gate(gate: KpiGate, spec: dict[str, Any], kpis: dict[str, Any], reporter: str | None) -> GateResult:
    if gate.kpi not in kpis:
        return _failed("kpi", spec, f"business KPI {gate.kpi!r} was not supplied")
    value = kpis[gate.kpi]
    source = f"self-reported by {reporter}"
    evidence = {gate.kpi: value, "self_reported": True, "reported_by": reporter}
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _failed("kpi", spec, f"business KPI {gate.kpi!r} is {value!r}, not a number ({source})", evidence)
    found = _bounded("kpi", spec, gate.kpi, float(value), gate.min, gate.max, evidence)
    return found.model_copy(update={"reason": f"{found.reason} ({source})"})


__all__ = ["EvaluationResult", "GateResult", "evaluate_gates"]
