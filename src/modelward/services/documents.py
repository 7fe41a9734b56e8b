"""Documents for people: Markdown to safe HTML, HTML to PDF.

Text that people write (a card's description, its ethical considerations, an attachment) is
Markdown. It is rendered with markdown-it (CommonMark plus tables) and the HTML that comes out
is cleaned with nh3 (ammonia): only formatting tags survive; ``<script>``, ``<style>`` and
their content are dropped, as are event attributes and ``javascript:`` links. Raw HTML is
parsed rather than escaped so that a ``<script>`` vanishes instead of showing as
``&lt;script&gt;`` noise.

PDF comes from WeasyPrint, which needs Debian's pango. Its URL fetcher is closed: a
document can embed ``data:`` images only, so rendering a report never reads a file or the
network on behalf of whoever wrote the text in it.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from modelward.errors import ServiceUnavailable
from modelward.formatting import number

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del", "details",
    "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li", "mark", "ol", "p",
    "pre", "q", "s", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul",
})
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"style"}, "th": {"style"}, "abbr": {"title"}}
PDF_MEDIA_TYPE = "application/pdf"
TEMPLATES = Path(__file__).parent / "report_templates"


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table").enable("strikethrough")


def sanitise(html: str) -> str:
    """``html`` with only formatting tags left (scripts and their content removed)."""
    import nh3

    return nh3.clean(
        html, tags=set(ALLOWED_TAGS), attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )


def markdown_html(text: Any, top: int = 1) -> Markup:
    """Markdown ``text`` as sanitised HTML, safe to place in a page; its ``#`` headings start at
    ``<h{top}>``, so text written inside a section keeps the page's outline."""
    if text is None or str(text).strip() == "":
        return Markup("")
    parser = _parser()
    tokens = parser.parse(str(text))
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + top - 1)}"
        for raw in [token, *(token.children or [])]:
            if raw.type in ("html_block", "html_inline"):
                raw.content = _TAG.sub(_keep_or_show, raw.content)
    return Markup(sanitise(parser.renderer.render(tokens, parser.options, {})))


# Active content nh3 removes together with what it holds; any other tag that is not a
# formatting tag is text someone typed ("retrain <monthly>") and is shown as typed.
DROPPED_TAGS = frozenset({
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math", "img",
    "picture", "video", "audio", "source", "link", "meta", "base", "form", "input", "button", "textarea",
    "select", "option", "noscript", "template", "canvas", "dialog",
})
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9:-]*)\b[^>]*>")


def _keep_or_show(match: re.Match[str]) -> str:
    name = match.group(1).lower()
    if name in ALLOWED_TAGS or name in DROPPED_TAGS:
        return match.group(0)
    return match.group(0).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def pdf(html: str) -> bytes:
    """The PDF of an HTML document (WeasyPrint); ServiceUnavailable when it is not installed."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: the package is there, Debian's pango is not
        raise ServiceUnavailable(
            "PDF output needs WeasyPrint and Debian's pango: pip install 'modelward[pdf]' and "
            f"apt-get install libpango-1.0-0 libpangoft2-1.0-0 ({exc})"
        ) from exc
    from weasyprint.urls import URLFetcher

    closed = URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
    return bytes(HTML(string=html, url_fetcher=closed).write_pdf())


def gate_name(gate: dict[str, Any]) -> str:
    """What a gate checks, in a few words: ``roc_auc``, ``demographic_parity_difference (sex)``."""
    if not isinstance(gate, dict):
        return str(gate)
    if "compare_to" in gate:
        return f"{gate.get('metric')} vs {gate['compare_to']}"
    if "fairness" in gate:
        return f"{gate['fairness']} ({gate.get('sensitive_feature') or ' & '.join(gate.get('sensitive_features') or [])})"
    if "attribution_stability" in gate:
        return f"attribution stability vs {gate['attribution_stability']} (top {gate.get('top_k')})"
    if "explanation" in gate:
        return "explanation required" + (" (with SHAP)" if gate.get("shap") else "")
    if "data_expectations" in gate:
        narrowed = gate.get("required_on") or []
        return f"data expectations of the {gate['data_expectations']} data" + (
            f" ({', '.join(map(str, narrowed))})" if narrowed else "")
    for key in ("technical", "kpi", "metric"):
        if key in gate:
            return str(gate[key])
    return json.dumps(gate, sort_keys=True, default=str)


def threshold_text(threshold: dict[str, Any]) -> str:
    """``≥ 0.9``, ``≤ 0.2``, ``max_regression 0.01``, ``required``."""
    parts = []
    for key, value in (threshold or {}).items():
        if key == "min":
            parts.append(f"≥ {number(value)}")
        elif key == "max":
            parts.append(f"≤ {number(value)}")
        elif key == "required":
            parts.append("required" if value else "optional")
        else:
            parts.append(f"{key.replace('_', ' ')} {number(value)}")
    return ", ".join(parts)


MAX_EVIDENCE_ITEMS = 8


def evidence_items(evidence: Any) -> list[tuple[str, str]]:
    """(name, value) pairs of a gate's scalar evidence, at most eight. Nested tables (a fairness
    report's groups) are left out: the report shows them as tables of their own."""
    if not isinstance(evidence, dict):
        return [] if evidence in (None, "") else [("value", number(evidence))]
    items = []
    for key, value in evidence.items():
        if isinstance(value, dict | list):
            continue
        items.append((str(key).replace("_", " "), number(value)))
    return items[:MAX_EVIDENCE_ITEMS]


@lru_cache(maxsize=1)
def environment() -> Any:
    """Jinja for the report and card templates: HTML autoescaped, Markdown rendered and cleaned."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"], default=False),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(
        markdown=markdown_html, number=number, gate_name=gate_name, threshold=threshold_text,
        evidence_items=evidence_items,
        tojson_compact=lambda v: json.dumps(v, sort_keys=True, default=str),
    )
    return env
