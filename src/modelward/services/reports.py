"""Compliance reports of a model version, as Markdown, HTML (Jinja2, autoescaped) or PDF.

Sections: model card, lineage, evaluations with every gate and its evidence, the protected-group
analysis of the governing evaluation (per sensitive feature and intersection: groups with counts,
rates and their intervals, small groups flagged, between-group measures, the fairness gates and
an inline SVG bar chart per feature), the latest stored global explanation (top features by
permutation importance, with mean |SHAP|, as a table and an inline SVG chart, and where it came
from), risk assessment, business impact, compliance checklist, reviews and approvals,
deployments, and the audit events.
In HTML the card's Markdown fields are rendered and sanitised (``documents.markdown_html``)
and the gates are a table; the PDF is that HTML printed by WeasyPrint.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from modelward.domain.governance import Evaluation
from modelward.errors import InvalidInput, ModelwardError
from modelward.formats.card_evidence import (
    FeatureImportance,
    explanation_of,
    explanation_view,
    protected_group_view,
)
from modelward.formats.cards import table_cell
from modelward.services import (
    audit,
    documents,
    evaluations,
    explanations,
    governance,
    lineage,
    model_cards,
)
from modelward.services.backend import Backend

FORMATS = {"md": "text/markdown; charset=utf-8", "markdown": "text/markdown; charset=utf-8",
           "html": "text/html; charset=utf-8", "pdf": documents.PDF_MEDIA_TYPE}
BAR_WIDTH, BAR_GAP, CHART_HEIGHT = 48, 24, 160


def fairness_chart(feature: str, by_group: dict[str, dict[str, Any]], metric: str = "selection_rate") -> Markup:
    """An inline SVG bar chart of ``metric`` per group (values in 0..1); group names escaped."""
    groups = list(by_group)
    width = len(groups) * (BAR_WIDTH + BAR_GAP) + BAR_GAP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{CHART_HEIGHT + 40}" '
             f'aria-label="{escape(metric)} by {escape(feature)}">']
    for index, group in enumerate(groups):
        value = by_group[group].get(metric)
        share = float(value) if isinstance(value, (int, float)) else 0.0
        height = max(0.0, min(1.0, share)) * CHART_HEIGHT
        x = BAR_GAP + index * (BAR_WIDTH + BAR_GAP)
        parts.append(f'<rect x="{x}" y="{CHART_HEIGHT - height:.1f}" width="{BAR_WIDTH}" height="{height:.1f}" '
                     f'fill="#4a7bd0"><title>{escape(group)}: {share:.3f}</title></rect>')
        parts.append(f'<text x="{x + BAR_WIDTH / 2}" y="{CHART_HEIGHT + 16}" text-anchor="middle" '
                     f'font-size="12">{escape(group)}</text>')
        parts.append(f'<text x="{x + BAR_WIDTH / 2}" y="{CHART_HEIGHT + 32}" text-anchor="middle" '
                     f'font-size="11">{share:.3f}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


IMPORTANCE_LABEL_WIDTH, IMPORTANCE_BAR_WIDTH, IMPORTANCE_ROW = 200, 320, 22


def importance_chart(features: list[FeatureImportance]) -> Markup:
    """An inline SVG of permutation importance per feature, one horizontal bar each, best first;
    bars scale to the largest importance (a negative one draws none); names escaped."""
    largest = max((f.importance_mean or 0.0 for f in features), default=0.0)
    width = IMPORTANCE_LABEL_WIDTH + IMPORTANCE_BAR_WIDTH + 80
    height = len(features) * IMPORTANCE_ROW + 8
    opening = (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
               'aria-label="permutation importance by feature">')
    parts = [opening]
    for index, item in enumerate(features):
        value = item.importance_mean or 0.0
        length = max(0.0, value) / largest * IMPORTANCE_BAR_WIDTH if largest > 0 else 0.0
        y = 4 + index * IMPORTANCE_ROW
        parts.append(f'<text x="{IMPORTANCE_LABEL_WIDTH - 6}" y="{y + 14}" text-anchor="end" '
                     f'font-size="12">{escape(item.feature)}</text>')
        parts.append(f'<rect x="{IMPORTANCE_LABEL_WIDTH}" y="{y + 3}" width="{length:.1f}" height="{IMPORTANCE_ROW - 6}" '
                     f'fill="#4a7bd0"><title>{escape(item.feature)}: {value:.4g}</title></rect>')
        parts.append(f'<text x="{IMPORTANCE_LABEL_WIDTH + length + 6:.1f}" y="{y + 14}" font-size="11">{value:.4g}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _explanation(backend: Backend, name: str, version: int) -> dict[str, Any] | None:
    """The latest stored global explanation as the report shows it, or None when none is stored."""
    stored = explanations.global_revisions(backend, name, version)  # newest first
    if not stored:
        return None
    latest = stored[0]
    summary = explanation_of(latest)
    return {"document": latest, "summary": summary, "view": explanation_view(summary), "revisions": len(stored),
            "chart": importance_chart(summary.top_features),
            "libraries": {k: v for k, v in (latest.get("libraries") or {}).items() if v},
            "partial_dependence": [c.get("feature") for c in latest.get("partial_dependence") or []
                                   if isinstance(c, dict)]}


def _protected(evals: list[Evaluation], charts: dict[str, Markup]) -> dict[str, Any]:
    """The protected-group analysis of the evaluation that governs (``model_cards.shown_evaluation``)."""
    shown = model_cards.shown_evaluation(evals)
    analysis = model_cards.protected_group_analysis(shown)
    return {"evaluation": shown, "view": protected_group_view(analysis),
            "charts": [(f.feature, charts[f"{shown.id}:{f.feature}"]) for f in analysis.features
                       if shown is not None and f"{shown.id}:{f.feature}" in charts]}


def _card(backend: Backend, name: str, version: int) -> dict[str, Any]:
    """The card as Markdown (for the Markdown report) and as data (for the HTML one)."""
    try:
        card = model_cards.get(backend, name, version)
    except ModelwardError as exc:
        return {"error": f"no model card: {exc}", "markdown": f"(no model card: {exc})"}
    return {"card": card, "view": model_cards.card_view(card), "markdown": model_cards.render(card, "md")[1]}


def _lineage(backend: Backend, name: str, version: int) -> dict[str, Any] | None:
    """The version's lineage summary, or None when nothing was recorded for it."""
    summary = lineage.summary_for_version(backend, name, version)
    return summary if summary["recorded"] or summary["datasets"] else None


def context(backend: Backend, name: str, version: int) -> dict[str, Any]:
    from modelward.services import registry

    evals = evaluations.list_(backend, name, version)
    charts = {
        f"{e.id}:{feature}": fairness_chart(feature, report.get("by_group", {}))
        for e in evals for feature, report in e.result.get("fairness", {}).items() if "by_group" in report
    }
    events = [e for e in audit.list_(backend, model=name, limit=10_000, newest_first=False)
              if e.subject_id in (governance.subject_id(name, version), name) or e.subject_type == "policy"]
    return {
        "version": registry.get_version(backend, name, version),
        "card": _card(backend, name, version),
        "lineage": _lineage(backend, name, version),
        "evaluations": evals,
        "charts": charts,
        "protected": _protected(evals, charts),
        "explanation": _explanation(backend, name, version),
        "cell": table_cell,  # a value in one Markdown table cell
        "status": governance.status(backend, name, version),
        "reviews": governance.reviews(backend, name, version),
        "deployments": [],
        "events": events,
    }


def compliance_report(backend: Backend, name: str, version: int, *, fmt: str = "md") -> tuple[str | bytes, str]:
    """(document, media type) of the report in ``fmt``: md or html (text), pdf (bytes)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"report format '{fmt}' is not one of md, html, pdf")
    template = "report.md" if fmt in ("md", "markdown") else "report.html"
    text = documents.environment().get_template(template).render(**context(backend, name, version))
    return (documents.pdf(text) if fmt == "pdf" else text), FORMATS[fmt]


def format_for_accept(accept: str) -> str:
    """The report format an HTTP Accept header asks for: pdf, html, else md."""
    wanted = accept.lower()
    if "application/pdf" in wanted:
        return "pdf"
    if "text/html" in wanted:
        return "html"
    return "md"


def file_name(name: str, version: int) -> str:
    """A file name for a downloaded report (ASCII, for a Content-Disposition header): the model
    name with anything else replaced."""
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "-" for c in name).strip(".-") or "model"
    return f"compliance-report-{safe}-v{int(version)}"
