"""Compliance reports and model cards as finished documents: Markdown rendered and sanitised,
gates and results as tables, and PDF (WeasyPrint) read back with poppler's tools."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelward.sdk.client import Client
from modelward.services import model_cards, reports
from tests.cli.conftest import Cli, store  # noqa: F401  (fixtures)
from tests.conftest import require_service
from tests.governance.helpers import AUTHOR, cancer_frame, dataset, fair_model, register_model, set_model_policy

FRAME = cancer_frame()
MODEL = fair_model(FRAME)
DESCRIPTION = """\
# Scoring approach

Logistic regression on **30 features**.

<script>alert("card")</script>

- calibrated
- monitored weekly

| segment | note |
|---|---|
| retail | primary |
"""


class Outline(HTMLParser):
    """The headings, table header rows and tags of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.headings: list[str] = []
        self.header_rows: list[list[str]] = []
        self._in: str | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._in, self.headings = tag, [*self.headings, ""]
        elif tag == "tr":
            self._row = []
        elif tag == "th" and self._row is not None:
            self._in = "th"
            self._row.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row:
            self.header_rows.append(self._row)
            self._row = None
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "th" and self._row is not None:
            self._row[-1] += data.strip()
        elif self._in:
            self.headings[-1] += data


def outline(html: str) -> Outline:
    parsed = Outline()
    parsed.feed(html)
    return parsed


@pytest.fixture
def reviewed(backend):  # type: ignore[no-untyped-def]
    """A version in review (evaluated on registration) whose card has Markdown with a script in it."""
    set_model_policy(backend, "credit", data=dataset(backend, FRAME))
    version = register_model(backend, "credit", MODEL, FRAME)
    model_cards.update(backend, AUTHOR, "credit", version, edits={
        "model_details.description": DESCRIPTION,
        "ethical_considerations": "Check the `<script>` tag in inputs; *never* decline on sex alone.",
    })
    return backend, version


def _no_script(html: str) -> None:
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert" not in html and 'alert("card")' not in html  # dropped, not shown escaped


def test_html_report_renders_the_card_markdown_and_the_gates_as_tables(reviewed) -> None:  # type: ignore[no-untyped-def]
    backend, version = reviewed
    html, media_type = reports.compliance_report(backend, "credit", version, fmt="html")
    assert media_type.startswith("text/html")
    assert "<pre>" not in html  # the card is no longer pasted as raw Markdown
    _no_script(html)
    found = outline(html)
    assert "Scoring approach" in [h.strip() for h in found.headings]  # a heading from the card's Markdown
    assert ["Gate", "Kind", "Threshold", "Value", "Passed", "Evidence"] in found.header_rows
    assert ["segment", "note"] in found.header_rows  # a Markdown table stays a table
    gates = html.split('class="grid gates"', 1)[1].split("</table>", 1)[0]
    assert "roc_auc" in gates and "demographic_parity_difference (sex)" in gates and "≥ 0.9" in gates
    assert '{"metric"' not in html and '"min": 0.9' not in html  # no raw JSON for gates
    assert "<strong>30 features</strong>" in html and "<li>calibrated</li>" in html
    assert "<code>&lt;script&gt;</code>" in html  # written as code: shown as code, inert
    group_headers = [row for row in found.header_rows if row[:2] == ["Sensitive feature", "Group"]]
    assert group_headers and "selection rate" in group_headers[0]
    assert "group=F" not in html and "sensitive_feature=" not in html  # no key=value bullets


def test_card_html_is_a_sanitised_document_with_result_tables(reviewed) -> None:  # type: ignore[no-untyped-def]
    backend, version = reviewed
    media_type, html = model_cards.render(model_cards.get(backend, "credit", version), "html")
    assert media_type.startswith("text/html") and html.startswith("<!doctype html>")
    _no_script(html)
    found = outline(html)
    assert found.headings[0].startswith("Model card: credit")
    assert {"Model details", "Quantitative analyses", "Scoring approach"} <= {h.strip() for h in found.headings}
    assert any(row and row[0] == "Measure" for row in found.header_rows)  # evaluations side by side
    evaluations = html.split('id="card-evaluations"', 1)[1].split("</table>", 1)[0]
    assert ">roc auc</th>" in evaluations and ">passed</th>" in evaluations
    summary = html.split('id="card-fairness-summary"', 1)[1].split("</table>", 1)[0]
    assert "demographic parity difference" in summary
    assert "Intersectional results" not in html  # the group table stands in for an empty field
    markdown = model_cards.render(model_cards.get(backend, "credit", version), "markdown")[1]
    assert "# Scoring approach" in markdown  # Markdown output keeps the author's Markdown


def _first_page_png(pdf: Path) -> Path:
    require_service("poppler-utils", shutil.which("pdftoppm") is not None, "apt-get install poppler-utils")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(pdf.with_suffix(""))],
                   check=True)
    pages = sorted(pdf.parent.glob(pdf.stem + "*.png"))
    assert pages, "pdftoppm wrote no page"
    return pages[0]


def assert_real_pdf(data: bytes, tmp_path: Path, *, expect: list[str]) -> Path:
    """A PDF whose first page is a plausible, non-blank A4 image and whose text holds ``expect``."""
    assert data.startswith(b"%PDF-")
    pdf = tmp_path / "document.pdf"
    pdf.write_bytes(data)
    from PIL import Image

    png = _first_page_png(pdf)
    with Image.open(png) as image:
        width, height = image.size
        assert 400 < width < 600 and 1.3 < height / width < 1.5  # A4 portrait at 60 dpi: 496 x 702
        grey = image.convert("L")
        dark = sum(grey.histogram()[:128])  # pixels darker than mid-grey
    assert dark > width * height * 0.005, "the first page is (nearly) blank"
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    for word in expect:
        assert word in text, word
    return png


def test_pdf_report_has_a_real_first_page_and_the_text(reviewed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    backend, version = reviewed
    data, media_type = reports.compliance_report(backend, "credit", version, fmt="pdf")
    assert media_type == "application/pdf" and isinstance(data, bytes)
    assert_real_pdf(data, tmp_path, expect=["credit", "roc_auc", "Scoring approach", "Risk assessment"])
    card_pdf = model_cards.render(model_cards.get(backend, "credit", version), "pdf")[1]
    assert isinstance(card_pdf, bytes)
    (tmp_path / "card").mkdir()
    assert_real_pdf(card_pdf, tmp_path / "card", expect=["Model card: credit", "Scoring approach"])


def _register_plain(client: Client, name: str, tmp_path: Path) -> int:
    from modelward import models

    folder = models.save(MODEL, tmp_path / "model", input_example=FRAME.drop(columns=["target", "sex"]).head())
    return client.models.register(name, local_path=folder).version


def test_pdf_through_rest_and_sdk(live_server: Any, unique: str, tmp_path: Path) -> None:
    name = f"pdf-{unique}"
    with Client(live_server.url) as client:
        version = _register_plain(client, name, tmp_path)
        sdk_pdf = client.governance.report(name, version, format="pdf")
        card_pdf = client.cards.render(name, version, format="pdf")
    assert isinstance(sdk_pdf, bytes) and sdk_pdf.startswith(b"%PDF-")
    assert isinstance(card_pdf, bytes) and card_pdf.startswith(b"%PDF-")
    url = f"{live_server.url}/api/v1/models/{name}/versions/{version}/report"
    by_query = httpx.get(url, params={"format": "pdf"}, timeout=120)
    assert by_query.status_code == 200 and by_query.headers["content-type"] == "application/pdf"
    assert f"compliance-report-{name}-v{version}.pdf" in by_query.headers["content-disposition"]
    by_accept = httpx.get(url, headers={"Accept": "application/pdf"}, timeout=120)
    assert by_accept.headers["content-type"] == "application/pdf" and by_accept.content.startswith(b"%PDF-")
    assert httpx.get(url, timeout=60).headers["content-type"].startswith("text/markdown")  # the default stays
    bad = httpx.get(url, params={"format": "docx"}, timeout=60)
    assert bad.status_code == 400 and "docx" in bad.json()["message"]
    assert_real_pdf(by_query.content, tmp_path, expect=[name, "Compliance report"])


def test_pdf_from_the_command_line(store: Client, tmp_path: Path) -> None:  # noqa: F811
    cli = Cli()
    version = _register_plain(store, "cli-pdf", tmp_path)
    out = tmp_path / "report.pdf"
    assert "wrote" in cli("report", "cli-pdf", str(version), "--format", "pdf", "--output", str(out)).output
    assert_real_pdf(out.read_bytes(), tmp_path, expect=["cli-pdf"])
    refused = cli("report", "cli-pdf", str(version), "--format", "pdf", ok=False)
    assert refused.exit_code != 0 and "--output" in str(refused.exception)
    card = tmp_path / "card.pdf"
    cli("card", "cli-pdf", str(version), "--format", "pdf", "--output", str(card))
    assert card.read_bytes().startswith(b"%PDF-")
