"""Compliance reports of a model version, as Markdown, HTML (Jinja2, autoescaped) or PDF.

Sections: model card, lineage, evaluations with every gate and its evidence, fairness across
groups (tables and an inline SVG bar chart per sensitive feature), risk assessment, business
impact, compliance checklist, reviews and approvals, deployments, and the audit events.
In HTML the card's Markdown fields are rendered and sanitised (``documents.markdown_html``)
and the gates are a table; the PDF is that HTML printed by WeasyPrint.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from modelward.errors import InvalidInput, ModelwardError
from modelward.services import audit, documents, evaluations, governance, lineage, model_cards
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
