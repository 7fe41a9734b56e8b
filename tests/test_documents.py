"""Markdown to safe HTML, gate wording, and PDF rendering's closed door (services.documents)."""

from __future__ import annotations

import sys

import pytest

from modelward.errors import ServiceUnavailable
from modelward.services import documents


@pytest.mark.parametrize("attack", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "<a href='javascript:alert(1)'>x</a>",
    "<style>body{display:none}</style>",
    "<iframe src='https://example.org'></iframe>",
    '<p onclick="alert(1)">text</p>',
    "<svg><script>alert(1)</script></svg>",
])
def test_markdown_html_drops_active_content(attack: str) -> None:
    html = str(documents.markdown_html(f"Intro\n\n{attack}\n\nOutro"))
    lowered = html.lower()
    for needle in ("<script", "onerror", "onclick", 'href="javascript', "<style", "<iframe", "<img"):
        assert needle not in lowered, (attack, html)
    if attack.startswith(("<script", "<svg", "<style")):
        assert "alert(1)" not in html and "display:none" not in html  # the element's content goes with it
    assert "<p>Intro</p>" in html and "Outro" in html


def test_markdown_html_keeps_formatting_and_shifts_headings() -> None:
    html = str(documents.markdown_html("# Title\n\n## Part\n\n**bold** `<b>` [doc](https://example.org)\n\n"
                                       "| a | b |\n|---|---|\n| 1 | 2 |\n", top=3))
    assert "<h3>Title</h3>" in html and "<h4>Part</h4>" in html
    assert "<strong>bold</strong>" in html and "<code>&lt;b&gt;</code>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">doc</a>' in html
    assert "<table>" in html and "<td>2</td>" in html
    assert documents.markdown_html("") == "" and documents.markdown_html(None) == ""


def test_a_typed_angle_bracket_word_is_shown_as_typed() -> None:
    assert str(documents.markdown_html("Retrain <monthly>")) == "<p>Retrain &lt;monthly&gt;</p>\n"
    html = str(documents.markdown_html('<div onclick="x()">kept <em>text</em></div>'))
    assert html.startswith("<div>") and "onclick" not in html and "<em>text</em>" in html


def test_gate_names_and_thresholds_read_as_words() -> None:
    assert documents.gate_name({"metric": "roc_auc", "min": 0.9}) == "roc_auc"
    assert documents.gate_name({"fairness": "demographic_parity_difference", "sensitive_feature": "sex"}) == \
        "demographic_parity_difference (sex)"
    assert documents.gate_name({"compare_to": "champion", "metric": "f1", "max_regression": 0.01}) == "f1 vs champion"
    assert documents.threshold_text({"min": 0.9, "max": 1.0}) == "≥ 0.9, ≤ 1"
    assert documents.threshold_text({"max_regression": 0.01, "decide_on": "interval"}) == \
        "max regression 0.01, decide on interval"
    assert documents.threshold_text({"required": True}) == "required"
    evidence = documents.evidence_items({"n_rows": 569, "by_group": {"F": {"count": 3}}, "ratio": 0.5})
    assert evidence == [("n rows", "569"), ("ratio", "0.5")]  # nested tables are left to their own table


def test_pdf_never_fetches_files_or_the_network() -> None:
    pdf = documents.pdf('<h1>Report</h1><img src="file:///etc/passwd"><link rel="stylesheet" '
                        'href="http://127.0.0.1:9/x.css"><img src="data:image/gif;base64,'
                        'R0lGODlhAQABAAAAACw=">')
    assert pdf.startswith(b"%PDF-") and b"root:" not in pdf


def test_pdf_without_weasyprint_is_a_503_naming_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as on a machine without the package
    with pytest.raises(ServiceUnavailable, match="libpango"):
        documents.pdf("<p>x</p>")
