"""Model cards as pure values: built, edited, merged, rendered, diffed."""

from __future__ import annotations

import json

import pytest

from modelward.errors import InvalidInput
from modelward.formats.cards import (
    ModelCard,
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
