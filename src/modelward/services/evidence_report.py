"""The evidence document (``services.evidence``) printed for people: an HTML page or a PDF.

One template (``report_templates/evidence.html``, autoescaped, no scripts, no external URLs)
prints every section. ``fragment`` gives the sections alone, for the UI's page to place inside
its own layout; ``render`` gives a whole document (HTML) or its PDF, printed by
``services.documents`` like the other reports. Where an item has a page of its own, ``links``
(given by the interface: the UI knows its URLs, this module does not) names it; without it the
items are plain text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from markupsafe import Markup

from modelward.domain.evidence import Evidence
from modelward.errors import InvalidInput
from modelward.services import documents

FORMATS = {"html": "text/html; charset=utf-8", "pdf": documents.PDF_MEDIA_TYPE}
TEMPLATE = "evidence.html"
MAX_INLINE_JSON = 4000  # inputs and outputs longer than this are cut in the printed document

# kind ("version", "run", "lineage", "review", "deployment", "audit_event", "dataset") and its ids -> URL
Links = Callable[..., str | None]


def _no_links(kind: str, **ids: Any) -> None:
    return None


def _compact(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_INLINE_JSON else text[:MAX_INLINE_JSON] + " …"


def _context(evidence: Evidence, links: Links | None, standalone: bool) -> dict[str, Any]:
    return {"ev": evidence, "link": links or _no_links, "standalone": standalone, "compact": _compact,
            "title": title(evidence)}


def title(evidence: Evidence) -> str:
    if evidence.kind == "request":
        return f"Evidence for request {evidence.request_id}"
    if evidence.kind == "moment":
        return f"Evidence for endpoint {evidence.endpoint} at {evidence.at.isoformat()}"
    return f"Evidence for {evidence.model_name} version {', '.join(map(str, evidence.versions))}"


def fragment(evidence: Evidence, links: Links | None = None) -> Markup:
    """The sections as HTML to place inside a page (already escaped: safe to insert)."""
    html = documents.environment().get_template(TEMPLATE).render(**_context(evidence, links, False))
    return Markup(html)  # noqa: S704 - the template is autoescaped


def render(evidence: Evidence, fmt: str = "html", links: Links | None = None) -> tuple[bytes, str]:
    """(document, media type): a whole HTML document, or its PDF."""
    if fmt not in FORMATS:
        raise InvalidInput(f"evidence format '{fmt}' is not one of json, {', '.join(FORMATS)}")
    html = documents.environment().get_template(TEMPLATE).render(**_context(evidence, links, True))
    return (documents.pdf(html) if fmt == "pdf" else html.encode("utf-8")), FORMATS[fmt]


def file_name(evidence: Evidence) -> str:
    """An ASCII file name for a downloaded document."""
    versions = "-".join(f"v{v}" for v in evidence.versions)
    subject = evidence.request_id or evidence.endpoint or f"{evidence.model_name}-{versions}"
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "-" for c in str(subject)).strip(".-")
    return f"evidence-{safe or 'document'}"
