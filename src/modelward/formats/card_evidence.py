"""The evidence parts of a model card, pure: the latest global explanation (``Explainability``),
the protected-group analysis of an evaluation (``ProtectedGroupAnalysis``) and the training
data's quality (``DataQualityRow``: latest expectations check, personal-data findings), read from the
stored documents, and both as tables for the renderings (Markdown, HTML, PDF, the review page).

Readers take what is there: fairness reports stored before intervals and small-group flags
existed render too, with those columns and notes left out.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field

from modelward.formatting import number


class DataQualityRow(BaseModel):
    """One training dataset: its latest expectations check and what its latest scan found, in words."""

    dataset: str
    dataset_id: str = ""
    expectations: str = ""  # "passed (check 3)", "failed: age.max (2 rows), ...", "never checked"
    personal_data: str = ""  # "none found", "email (email)", "not scanned"


def data_quality_of(checks: list[dict[str, Any]], scans: list[dict[str, Any]]) -> list[DataQualityRow]:
    """Rows from ``services.data_checks.of_version`` and ``services.personal_data.of_version``."""
    by_id = {s.get("dataset_id"): s for s in scans}
    return [DataQualityRow(dataset=str(c.get("dataset") or ""), dataset_id=str(c.get("dataset_id") or ""),
                           expectations=_check_text(c), personal_data=_scan_text(by_id.get(c.get("dataset_id"))))
            for c in checks]


def _check_text(check: dict[str, Any]) -> str:
    status = check.get("status")
    if status is None:
        return "never checked" + (" (expectations attached)" if check.get("has_expectations") else "")
    if status == "failed":
        failed = [f"{e['column']}.{e['check']}" if e.get("column") else str(e.get("check"))
                  for e in check.get("failed") or []]
        return "failed: " + ", ".join(failed) + f" (check {check.get('check_id')})"
    if status == "unchecked":
        return f"unchecked: {check.get('reason') or 'no stored data'}"
    return f"passed (check {check.get('check_id')})"


def _scan_text(scan: dict[str, Any] | None) -> str:
    if scan is None or scan.get("scan_id") is None:
        return "not scanned"
    columns = scan.get("columns") or []
    if not columns:
        return "none found"
    return ", ".join(f"{c['column']} ({', '.join(c.get('kinds') or [])})" for c in columns)


class GroupResult(BaseModel):
    """One group of a sensitive feature (or of an intersection: ``F, 18-30``)."""

    group: str
    count: int | None = None
    measures: dict[str, float | None] = Field(default_factory=dict)  # selection_rate, true_positive_rate, ...
    intervals: dict[str, list[float]] = Field(default_factory=dict)  # measure -> [low, high]
    small: bool = False


class ProtectedGroups(BaseModel):
    """The fairness report of one sensitive feature or intersection, as the evaluation stored it."""

    feature: str
    positive_label: Any = None
    groups: list[GroupResult] = Field(default_factory=list)
    summary: dict[str, float | None] = Field(default_factory=dict)  # demographic_parity_difference, ...
    intervals: dict[str, list[float]] = Field(default_factory=dict)
    small_groups: list[str] = Field(default_factory=list)
    min_group_size: int | None = None
    confidence: float | None = None
    bootstrap: str = ""  # how the intervals were drawn, in words
    worst_groups: list[str] = Field(default_factory=list)  # "selection rate: F", in words
    error: str = ""


class FairnessGateRow(BaseModel):
    gate: str
    sensitive_feature: str = ""
    threshold: str = ""
    observed: str = ""
    passed: str = ""  # yes, no or skipped
    reason: str = ""


class ProtectedGroupAnalysis(BaseModel):
    """Fairness across groups in the evaluation the card was generated from."""

    evaluation: str = ""  # its id
    evaluated_at: str = ""
    advisory: bool = False  # on data the caller chose: shown, never evidence
    features: list[ProtectedGroups] = Field(default_factory=list)
    gates: list[FairnessGateRow] = Field(default_factory=list)


class FeatureImportance(BaseModel):
    feature: str
    importance_mean: float | None = None  # the score's mean drop when the feature is shuffled
    importance_std: float | None = None
    mean_abs_shap: float | None = None


class Explainability(BaseModel):
    """The latest stored global explanation of the version (``revision`` None: none stored)."""

    revision: int | None = None
    methods: list[str] = Field(default_factory=list)
    output: str = ""  # what is explained: "probability of class 1", "prediction"
    scoring: str = ""  # the score permutation importance drops: accuracy, r2
    shap_method: str = ""
    dataset_digest: str = ""
    dataset_source: str = ""
    rows: int | None = None
    seed: int | None = None
    created_by: str = ""
    created_at: str = ""
    top_features: list[FeatureImportance] = Field(default_factory=list)
    interpretation: str = ""  # written by people: what the explanation means for this model


CARD_TOP_FEATURES = 10


def explanation_of(document: dict[str, Any], top: int = CARD_TOP_FEATURES) -> Explainability:
    """The card's view of a stored global explanation: its methods, its ``top`` features by
    permutation importance (with their mean |SHAP| when SHAP ran) and where it came from."""
    shap = _mapping(document.get("shap"))
    shap_by_feature = {str(item.get("feature")): item.get("value")
                       for item in shap.get("mean_abs") or [] if isinstance(item, dict)}
    ranked = [item for item in document.get("permutation_importance") or [] if isinstance(item, dict)]
    methods = ["permutation importance"] if ranked else []
    if document.get("partial_dependence"):
        methods.append("partial dependence")
    if shap:
        methods.append("SHAP")
    dataset, parameters = _mapping(document.get("dataset")), _mapping(document.get("parameters"))
    return Explainability(
        revision=document.get("revision"), methods=methods, output=str(document.get("output") or ""),
        scoring=str(document.get("scoring") or ""), shap_method=str(shap.get("method") or ""),
        dataset_digest=str(dataset.get("digest") or ""),
        dataset_source=f"runs:/{dataset['run_id']}/{dataset.get('path', '')}" if dataset.get("run_id") else "",
        rows=document.get("rows"), seed=parameters.get("seed"),
        created_by=str(document.get("created_by") or ""), created_at=str(document.get("created_at") or ""),
        top_features=[FeatureImportance(feature=str(item.get("feature")), importance_mean=item.get("importance_mean"),
                                        importance_std=item.get("importance_std"),
                                        mean_abs_shap=shap_by_feature.get(str(item.get("feature"))))
                      for item in ranked[:top]],
    )


# Keys of a fairness report that are not a between-group measure.
_REPORT_FIELDS = frozenset({"feature", "features", "positive_label", "by_group", "overall", "intervals",
                            "small_groups", "min_group_size", "confidence", "bootstrap", "worst_groups", "parameters",
                            "error"})
_GROUP_FIELDS = frozenset({"count", "small", "intervals"})


def protected_groups_of(fairness: dict[str, Any] | None) -> list[ProtectedGroups]:
    """An evaluation's ``result["fairness"]`` (key -> report) as the card's per-key analyses.
    Reads what is there: reports stored before intervals and small-group flags existed render too."""
    found = []
    for key, report in (fairness or {}).items():
        if not isinstance(report, dict):
            continue
        if "error" in report and not report.get("by_group"):
            found.append(ProtectedGroups(feature=str(key), error=str(report["error"])))
            continue
        small = [str(g) for g in report.get("small_groups") or []]
        groups = [_group_result(str(name), values, small) for name, values in (report.get("by_group") or {}).items()
                  if isinstance(values, dict)]
        # how the intervals were drawn: in ``parameters``, or (an earlier shape) at the top level
        drawn = {**report, **_mapping(report.get("parameters"))}
        min_size = drawn.get("min_group_size")
        found.append(ProtectedGroups(
            feature=str(key), positive_label=report.get("positive_label"), groups=groups,
            summary={k: _finite_or_none(v) for k, v in report.items()
                     if k not in _REPORT_FIELDS and (_is_number(v) or v is None)},
            intervals=_intervals(report.get("intervals")), small_groups=small or [g.group for g in groups if g.small],
            min_group_size=min_size if isinstance(min_size, int) and not isinstance(min_size, bool) else None,
            confidence=_finite_or_none(drawn.get("confidence")),
            bootstrap=_bootstrap_text(drawn.get("bootstrap"), drawn.get("resampling"), drawn.get("seed")),
            worst_groups=_worst_text(report.get("worst_groups")),
        ))
    return found


def _group_result(name: str, values: dict[str, Any], small: list[str]) -> GroupResult:
    count = values.get("count")
    return GroupResult(
        group=name, count=int(count) if isinstance(count, int | float) and not isinstance(count, bool) else None,
        measures={k: _finite_or_none(v) for k, v in values.items() if k not in _GROUP_FIELDS and (_is_number(v) or v is None)},
        intervals=_intervals(values.get("intervals")), small=bool(values.get("small")) or name in small,
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite_or_none(value: Any) -> float | None:
    return float(value) if _is_number(value) and math.isfinite(value) else None


def _intervals(value: Any) -> dict[str, list[float]]:
    """measure -> [low, high], the pairs of two finite numbers only."""
    found = {}
    for key, pair in (value or {}).items() if isinstance(value, dict) else []:
        if isinstance(pair, list | tuple) and len(pair) == 2 and all(_finite_or_none(v) is not None for v in pair):
            found[str(key)] = [float(pair[0]), float(pair[1])]
    return found


def _bootstrap_text(value: Any, resampling: Any = None, seed: Any = None) -> str:
    """``200 resamples, stratified by group, seed 0``."""
    if value in (None, "", {}):
        return ""
    if isinstance(value, dict):
        text = ", ".join(f"{str(k).replace('_', ' ')} {number(v)}" for k, v in value.items())
    else:
        text = f"{number(value)} resamples" if _is_number(value) else str(value)
    return ", ".join([text, *([str(resampling)] if resampling else []), *([f"seed {seed}"] if _is_number(seed) else [])])


def _worst_text(value: Any) -> list[str]:
    """``worst_groups`` in words, whatever its shape: {measure: group}, {measure: {group, value}}, a list."""
    if isinstance(value, dict):
        return [f"{str(k).replace('_', ' ')}: {_worst_item(v)}" for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [_worst_item(v) for v in value]
    return [] if value in (None, "") else [str(value)]


def _worst_item(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{str(k).replace('_', ' ')} {number(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(number(v) for v in value)
    return number(value)


# The per-group measures in the order a reviewer reads them; others follow as they appear.
GROUP_MEASURES = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy", "precision",
                  "recall", "f1")


def estimate_text(value: Any, interval: list[float] | None = None) -> str:
    """``0.31 [0.25, 0.37]``: a value with its interval when there is one, both to three
    significant digits (numbers only, so the text is the same in Markdown and HTML)."""
    if interval and _is_number(value):
        return f"{value:.3g} {interval_text(interval)}"
    return number(value)


def interval_text(interval: list[float]) -> str:
    """``[0.25, 0.37]``, to three significant digits: an interval is no more precise than that."""
    return f"[{interval[0]:.3g}, {interval[1]:.3g}]"


def protected_group_view(analysis: ProtectedGroupAnalysis) -> dict[str, Any]:
    """The analysis as tables: one row per (feature, group) with a cell per measure (value and
    interval), the between-group measures with their intervals, the gates, and per feature what a
    reader needs to weigh the numbers (small groups, interval method, worst groups, errors)."""
    reports = [f for f in analysis.features if not f.error]
    present = list(dict.fromkeys(m for f in reports for g in f.groups for m in g.measures))
    measures = [m for m in GROUP_MEASURES if m in present] + [m for m in present if m not in GROUP_MEASURES]
    groups = [{"feature": f.feature, "group": g.group, "count": g.count, "small": g.small,
               "cells": [estimate_text(g.measures.get(m), g.intervals.get(m)) for m in measures]}
              for f in reports for g in f.groups]
    summaries = [{"feature": f.feature, "measure": m.replace("_", " "), "value": number(v),
                  "interval": interval_text(f.intervals[m]) if m in f.intervals else ""}
                 for f in reports for m, v in f.summary.items()]
    notes = [{"feature": f.feature, "text": _report_note(f)} for f in analysis.features if _report_note(f)]
    return {"evaluation": analysis.evaluation, "evaluated_at": analysis.evaluated_at, "advisory": analysis.advisory,
            "features": [f.feature for f in reports], "measures": measures,
            "measure_names": [m.replace("_", " ") for m in measures], "groups": groups, "summaries": summaries,
            "gates": analysis.gates, "notes": notes, "any": bool(analysis.features or analysis.gates),
            "flags_small": any(g["small"] for g in groups) or any(f.min_group_size for f in reports)}


def _report_note(report: ProtectedGroups) -> str:
    if report.error:
        return f"not assessed: {report.error}"
    parts = []
    if report.positive_label is not None:
        parts.append(f"positive label {report.positive_label}")
    if report.confidence is not None:
        parts.append(f"{number(report.confidence * 100 if report.confidence <= 1 else report.confidence)}% intervals"
                     + (f" by bootstrap ({report.bootstrap})" if report.bootstrap else ""))
    if report.min_group_size is not None:
        parts.append(f"groups under {report.min_group_size} rows are flagged small")
    if report.small_groups:
        parts.append("small: " + ", ".join(report.small_groups))
    if report.worst_groups:
        parts.append("worst groups: " + "; ".join(report.worst_groups))
    return "; ".join(parts)


def explanation_view(explainability: Explainability) -> dict[str, Any]:
    """The explanation as a table of the top features (importance ± std, mean |SHAP|, and a bar
    length as a share of the largest importance) and one line of provenance."""
    features = explainability.top_features
    largest = max((abs(f.importance_mean or 0.0) for f in features), default=0.0)
    rows = [{"feature": f.feature, "importance": number(f.importance_mean), "std": number(f.importance_std),
             "shap": number(f.mean_abs_shap),
             "share": round(100 * max(0.0, f.importance_mean or 0.0) / largest, 1) if largest else 0.0}
            for f in features]
    e = explainability
    provenance = [
        f"revision {e.revision}" if e.revision is not None else "",
        f"{e.rows} rows" if e.rows is not None else "",
        f"data digest {e.dataset_digest}" if e.dataset_digest else "",
        f"seed {e.seed}" if e.seed is not None else "",
        f"by {e.created_by}" if e.created_by else "",
        f"at {e.created_at}" if e.created_at else "",
    ]
    return {"stored": e.revision is not None, "rows": rows, "with_shap": any(f.mean_abs_shap is not None for f in features),
            "methods": ", ".join(e.methods), "provenance": ", ".join(p for p in provenance if p)}
