"""Model cards as pure values: built, edited, merged, rendered, diffed."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from modelward.errors import InvalidInput
from modelward.formats.cards import (
    CardGovernance,
    ChecklistRow,
    GateRow,
    ModelCard,
    ReviewRow,
    RiskRow,
    build_card,
    card_diff,
    merge_edits,
    render_html,
    render_markdown,
    set_field,
)

VERSION = {
    "model_name": "churn", "version": 3, "description": "Churn <script>alert(1)</script>",
    "flavor": "sklearn", "created_by": "ada", "source_run_id": "r1", "artifact_digest": "ab" * 32,
    "metrics": {"roc_auc": 0.81}, "requirements": ["scikit-learn==1.9.1"],
    "signature": {"input_kind": "dataframe", "inputs": [{"name": "age", "type": "long"}]},
}


def test_build_card_fills_every_known_section() -> None:
    card = build_card(
        VERSION, params={"C": "1.0"}, metrics={"accuracy": 0.9},
        datasets=[{"name": "train.parquet", "digest": "cd" * 32, "role": "training"},
                  {"name": "holdout.parquet", "role": "evaluation", "rows": 100}],
        evaluations=[{"gate": "roc_auc >= 0.75", "passed": True}],
    )
    assert card.model_details.name == "churn" and card.model_details.version == "3"
    assert card.model_details.parameters == {"C": "1.0"}
    assert card.metrics.performance_measures == {"roc_auc": 0.81, "accuracy": 0.9}
    assert [d.name for d in card.training_data.datasets] == ["train.parquet"]
    assert [d.rows for d in card.evaluation_data.datasets] == [100]
    assert card.quantitative_analyses.evaluations[0]["passed"] is True


def test_markdown_and_html_render_all_sections_and_html_escapes() -> None:
    card = set_field(build_card(VERSION), "ethical_considerations", "Uses <b>age</b> & income")
    markdown, html = render_markdown(card), render_html(card)
    for heading in ("Model details", "Intended use", "Factors", "Metrics", "Evaluation data", "Training data",
                    "Quantitative analyses", "Ethical considerations", "Caveats and recommendations"):
        assert f"## {heading}" in markdown and f"<h2>{heading}</h2>" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in markdown
    assert "Uses &lt;b&gt;age&lt;/b&gt; &amp; income" in html
    assert "| roc_auc | 0.81 |" in markdown


def test_json_export_round_trips() -> None:
    card = build_card(VERSION)
    assert ModelCard.model_validate(json.loads(card.model_dump_json())) == card


def test_set_field_validates_names_and_types() -> None:
    card = build_card(VERSION)
    with pytest.raises(InvalidInput, match="unknown model card field 'intended_use.nope'"):
        set_field(card, "intended_use.nope", "x")
    with pytest.raises(InvalidInput, match="metrics.performance_measures"):
        set_field(card, "metrics.performance_measures", {"auc": "not a number"})


def test_regeneration_keeps_human_edits_and_refreshes_known_facts() -> None:
    edited = set_field(build_card(VERSION), "intended_use.primary_uses", "Retention campaigns")
    regenerated = merge_edits(build_card({**VERSION, "metrics": {"roc_auc": 0.85}}), edited)
    assert regenerated.intended_use.primary_uses == "Retention campaigns"
    assert regenerated.metrics.performance_measures == {"roc_auc": 0.85}


def test_card_diff_names_changed_fields() -> None:
    a = build_card(VERSION)
    b = set_field(a, "caveats_and_recommendations", "Retrain monthly")
    assert card_diff(a, b) == {"caveats_and_recommendations": ("", "Retrain monthly")}
    assert card_diff(a, a) == {}


class Tables(HTMLParser):
    """Every table of an HTML document as rows of cell texts (a ``<br>`` read as a line break),
    and the text of every list item."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.items: list[str] = []
        self._cell: list[str] | None = None
        self._item: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")
        elif tag == "li":
            self._item = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "li" and self._item is not None:
            self.items.append("".join(self._item).strip())
            self._item = None

    def handle_data(self, data: str) -> None:
        for part in (self._cell, self._item):
            if part is not None:
                part.append(data)

    def table(self, *header: str) -> list[list[str]]:
        """The body rows of the table with this header; each row as wide as the header."""
        found = [t for t in self.tables if t and tuple(t[0]) == header]
        assert len(found) == 1, [t[0] for t in self.tables]
        for row in found[0]:
            assert len(row) == len(header), row
        return found[0][1:]


AWKWARD = "a | b\nsecond line \\| `tick` *star* <b>bold</b>"


def _tables(markdown: str) -> Tables:
    from markdown_it import MarkdownIt

    parsed = Tables()
    parsed.feed(MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown))
    return parsed


def _reviewed_card() -> tuple[ModelCard, CardGovernance]:
    card = build_card(
        {**VERSION, "created_at": "2026-11-30T10:00:00+00:00",
         "signature": {"input_kind": "dataframe", "inputs": [{"name": "age", "type": "long"},
                                                              {"name": "in|come", "type": "double", "nullable": True}]}},
        params={"C": "1.0", "note": AWKWARD}, metrics={"accuracy": 0.9},
        datasets=[{"name": "train|v2.parquet", "digest": "cd" * 32, "role": "training", "rows": 569}],
        evaluations=[{"evaluation": "e" * 32, "created_at": "2026-11-30T11:00:00", "passed": True, "rows": 114,
                      "dataset": "holdout.parquet", "roc_auc": 0.93},
                     {"sensitive_feature": "sex", "group": "F", "count": 50, "selection_rate": 0.31},
                     {"sensitive_feature": "sex", "group": "M|X", "count": 64, "selection_rate": 0.35},
                     {"sensitive_feature": "sex", "group": "(all)", "demographic_parity_difference": 0.04}],
    )
    card = set_field(card, "intended_use.primary_uses", "Retention campaigns.\n\nNever *pricing*.")
    governance = CardGovernance(
        state="in_review", risk_tier="high", evaluation="evaluation eeeeeeee of 2026-11-30 (passed)",
        gates=[GateRow(gate="roc_auc", threshold="≥ 0.9", value="0.93", passed="yes"),
               GateRow(gate="demographic_parity_difference (sex)", threshold="≤ 0.2", value="0.04", passed="yes")],
        risk=[RiskRow(category="legal", rating="medium", notes=AWKWARD), RiskRow(category="privacy", rating="not rated")],
        checklist=[ChecklistRow(item="model documented", checked=True, note="carl, 2026-11-30"),
                   ChecklistRow(item="data privacy review done")],
        reviews=[ReviewRow(reviewer="rita", role="risk", decision="approve", when="2026-11-30T12:00+00:00",
                           comment=AWKWARD)],
        missing=["an approval with role compliance"],
    )
    return card, governance


def test_markdown_card_is_tables_and_prose_that_a_renderer_reads_back() -> None:
    card, governance = _reviewed_card()
    markdown = render_markdown(card, governance)
    assert markdown.startswith("# Model card: churn v3\n\n**State:** in_review · **Risk tier:** high · "
                               "**Owner:** ada · **Created:** 2026-11-30T10:00:00+00:00\n")
    parsed = _tables(markdown)
    assert parsed.table("Metric", "Value") == [["accuracy", "0.9"], ["roc_auc", "0.81"]]
    # a | and a line break stay inside their cell, shown as typed (markup and HTML as text)
    assert parsed.table("Parameter", "Value") == [["C", "1.0"], ["note", AWKWARD]]
    assert parsed.table("Gate", "Threshold", "Value", "Passed") == [
        ["roc_auc", "≥ 0.9", "0.93", "yes"], ["demographic_parity_difference (sex)", "≤ 0.2", "0.04", "yes"]]
    assert parsed.table("Category", "Rating", "Notes") == [["legal", "medium", AWKWARD], ["privacy", "not rated", ""]]
    assert parsed.table("Reviewer", "Role", "Decision", "When", "Comment") == [
        ["rita", "risk", "approve", "2026-11-30T12:00+00:00", AWKWARD]]
    assert parsed.table("Column", "Type", "Optional") == [["age", "long", "no"], ["in|come", "double", "yes"]]
    assert parsed.table("Dataset", "Digest", "Source", "Rows") == [["train|v2.parquet", "cd" * 6, "", "569"]]
    assert parsed.table("Sensitive feature", "Group", "count", "selection rate") == [
        ["sex", "F", "50", "0.31"], ["sex", "M|X", "64", "0.35"]]
    assert parsed.table("Sensitive feature", "Measure", "Value") == [["sex", "demographic parity difference", "0.04"]]
    evaluations = parsed.table("Measure", "eeeeeeee 2026-11-30")
    assert ["passed", "yes"] in evaluations and ["roc auc", "0.93"] in evaluations
    assert "[x] model documented (carl, 2026-11-30)" in parsed.items
    assert "[ ] data privacy review done" in parsed.items
    assert "- [ ] data privacy review done\n" in markdown
    assert "### Primary uses\n\nRetention campaigns.\n\nNever *pricing*.\n" in markdown  # people's Markdown kept
    assert "<b>" not in markdown and "&lt;script&gt;" in markdown


def test_without_governance_the_card_shows_no_review_sections() -> None:
    card, _ = _reviewed_card()
    markdown = render_markdown(card)
    assert "**State:**" not in markdown and "## Gates" not in markdown and "## Reviews" not in markdown
    assert markdown.startswith("# Model card: churn v3\n\n**Owner:** ada · **Created:** 2026-11-30T10:00:00+00:00\n")
    assert _tables(markdown).table("Parameter", "Value")[1] == ["note", AWKWARD]


def test_card_html_from_markdown_has_the_tables_after_sanitising() -> None:
    from modelward.services.documents import markdown_html

    card, governance = _reviewed_card()
    html = str(markdown_html(render_markdown(card, governance)))
    parsed = Tables()
    parsed.feed(html)
    assert parsed.table("Category", "Rating", "Notes")[0] == ["legal", "medium", AWKWARD]
    assert "<b>bold</b>" not in html and "<script>" not in html


def test_rendered_card_of_a_version_in_review_shows_where_its_review_stands(backend) -> None:  # type: ignore[no-untyped-def]
    from modelward.services import governance, model_cards
    from tests.governance.helpers import (
        COMPLIANCE,
        RISK,
        cancer_frame,
        dataset,
        fair_model,
        register_model,
        set_model_policy,
    )

    frame = cancer_frame()
    set_model_policy(backend, "credit", data=dataset(backend, frame))
    version = register_model(backend, "credit", fair_model(frame), frame)  # evaluated: all gates pass
    governance.set_risk(backend, RISK, "credit", version, "legal", rating="medium", rationale="GDPR | DPIA\ndone")
    governance.check_item(backend, COMPLIANCE, "credit", version, "model documented", evidence="wiki")
    governance.comment(backend, RISK, "credit", version, "looks | fine")
    media_type, markdown = model_cards.rendered(backend, "credit", version, "markdown")
    assert media_type.startswith("text/markdown") and isinstance(markdown, str)
    assert "**State:** in_review · **Risk tier:** not set · **Owner:** alice" in markdown
    parsed = _tables(markdown)
    gates = parsed.table("Gate", "Threshold", "Value", "Passed")
    assert [(gate, threshold, passed) for gate, threshold, _, passed in gates] == [
        ("roc_auc", "≥ 0.9", "yes"), ("demographic_parity_difference (sex)", "≤ 0.2", "yes")]
    risk = {category: rest for category, *rest in parsed.table("Category", "Rating", "Notes")}
    assert len(risk) == 7 and risk["privacy"] == ["not rated", ""]
    assert risk["legal"][0] == "medium" and risk["legal"][1].startswith("GDPR | DPIA\ndone (rita, ")
    [checked] = [item for item in parsed.items if item.startswith("[x] ")]
    assert checked.startswith("[x] model documented (carl, ") and checked.endswith(", wiki)")
    assert "[ ] data privacy review done" in parsed.items
    [review] = parsed.table("Reviewer", "Role", "Decision", "When", "Comment")
    assert review[0] == "rita" and review[2] == "comment" and review[4] == "looks | fine"
    assert "Still missing for approval:" in markdown
    _, html = model_cards.rendered(backend, "credit", version, "html")
    assert "<h2>Model details</h2>" in str(html)  # the HTML card is unchanged: the card's own sections
