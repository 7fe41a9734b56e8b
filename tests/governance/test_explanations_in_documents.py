"""Explanations and fairness in the documents a reviewer reads: the model card (JSON, Markdown,
HTML, PDF), the compliance report (HTML, Markdown) and the review page.

One store for the module: ``credit`` is a random forest on breast cancer, evaluated for real on
registration (its policy's dataset, a fairness gate on ``sex``) and explained for real through
``services.explanations.global_``. ``rich`` carries a client-reported (advisory) result in the
extended fairness format (per-group intervals and small-group flags, an intersection, a feature
that could not be assessed); ``legacy`` one in the format stored before those keys existed.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sklearn.ensemble import RandomForestClassifier
from starlette.testclient import TestClient

from modelward.api.app import create_app
from modelward.services import evaluations, explanations, model_cards, reports
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.conftest import require_service
from tests.governance.helpers import (
    ADMIN,
    AUTHOR,
    cancer_frame,
    dataset,
    register_model,
    set_model_policy,
)

FRAME = cancer_frame()
NEW_GROUP_KEYS = ("precision", "recall", "f1", "small", "intervals")
NEW_REPORT_KEYS = ("features", "intervals", "small_groups", "worst_groups", "parameters",
                   "min_group_size", "confidence", "bootstrap")


@dataclass
class Store:
    backend: Backend
    settings: Settings
    version: int  # of credit
    explanation: dict[str, Any]
    evaluation: Any  # credit's governing evaluation
    rich: int
    legacy: int

    @property
    def top(self) -> str:
        return str(self.explanation["permutation_importance"][0]["feature"])


def _model() -> Any:
    features = FRAME.drop(columns=["target", "sex"])
    return RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(features, FRAME["target"])


def _rich_result(real: dict[str, Any]) -> dict[str, Any]:
    """``real`` with fairness in the extended format: intervals, small groups, an intersection and
    a feature that could not be assessed."""
    result = copy.deepcopy(real)
    sex = result["fairness"]["sex"]
    for values in sex["by_group"].values():
        rate = values["selection_rate"]
        values.update(precision=0.9, recall=0.8, f1=0.85, small=False,
                      intervals={"selection_rate": [rate - 0.05, rate + 0.05], "true_positive_rate": [0.7, 0.99]})
    sex.update(intervals={"demographic_parity_difference": [0.01, 0.12]}, small_groups=[], min_group_size=30,
               confidence=0.95, bootstrap=200, worst_groups={"selection_rate": "F"})
    result["fairness"]["sex & age_band"] = {
        "feature": "sex & age_band", "positive_label": 1,
        "by_group": {"F, under-30": {"count": 12, "accuracy": 0.75, "selection_rate": 0.5, "true_positive_rate": 0.6,
                                      "false_positive_rate": 0.2, "small": True,
                                      "intervals": {"selection_rate": [0.21, 0.79]}},
                     "M & 30+": {"count": 250, "accuracy": 0.93, "selection_rate": 0.62, "true_positive_rate": 0.95,
                                 "false_positive_rate": 0.08, "small": False,
                                 "intervals": {"selection_rate": [0.56, 0.68]}}},
        "overall": {"count": 262, "selection_rate": 0.61},
        "demographic_parity_difference": 0.12, "equalized_odds_difference": 0.35,
        "intervals": {"demographic_parity_difference": [0.02, 0.41]},
        "small_groups": ["F, under-30"],
        "parameters": {"min_group_size": 30, "bootstrap": 200, "confidence": 0.95, "seed": 0,
                       "resampling": "stratified by group"},
    }
    result["fairness"]["income"] = {"error": "the evaluation data has no column 'income'"}
    return result


def _legacy_result(real: dict[str, Any]) -> dict[str, Any]:
    """``real`` with fairness as stored before intervals and small-group flags existed."""
    result = copy.deepcopy(real)
    for report in result["fairness"].values():
        for key in NEW_REPORT_KEYS:
            report.pop(key, None)
        for values in (report.get("by_group") or {}).values():
            for key in NEW_GROUP_KEYS:
                values.pop(key, None)
    return result


def _client_reported(backend: Backend, name: str, result: dict[str, Any]) -> int:
    """A version of ``name`` (no evaluation dataset in its policy, so none runs on registration)
    whose only evaluation is ``result``, recorded as a client's."""
    set_model_policy(backend, name)
    version = register_model(backend, name, _model(), FRAME)
    evaluations.record_client_result(backend, AUTHOR, name, version, result)
    return version


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    settings = Settings(home=tmp_path_factory.mktemp("explained-documents"))
    backend = Backend.from_settings(settings)
    set_model_policy(backend, "credit", data=dataset(backend, FRAME))
    version = register_model(backend, "credit", _model(), FRAME)  # evaluated on registration
    [evaluation] = evaluations.list_(backend, "credit", version)
    explanation = explanations.global_(backend, ADMIN, "credit", version, top=5)
    rich = _client_reported(backend, "rich", _rich_result(evaluation.result))
    legacy = _client_reported(backend, "legacy", _legacy_result(evaluation.result))
    yield Store(backend, settings, version, explanation, evaluation, rich, legacy)
    backend.close()


@pytest.fixture(scope="module")
def http(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store.settings, backend=store.backend)) as client:
        yield client


# -- the model card ---------------------------------------------------------------------------------


def test_card_carries_the_latest_explanation_and_the_protected_group_analysis(store: Store) -> None:
    card = model_cards.generate(store.backend, AUTHOR, "credit", store.version)
    explained = card.explainability
    document = store.explanation
    assert explained.revision == document["revision"] and explained.seed == 0 and explained.rows == len(FRAME)
    assert explained.dataset_digest == document["dataset"]["digest"] and explained.dataset_digest
    assert explained.created_by == ADMIN.name and explained.created_at == document["created_at"]
    assert [f.feature for f in explained.top_features] == [i["feature"] for i in document["permutation_importance"][:10]]
    assert explained.top_features[0].importance_mean == pytest.approx(document["permutation_importance"][0]["importance_mean"])
    assert "permutation importance" in explained.methods
    if document["shap"] is not None:  # the explain extra is installed
        assert "SHAP" in explained.methods and explained.shap_method == document["shap"]["method"]
        shap_of_top = {i["feature"]: i["value"] for i in document["shap"]["mean_abs"]}[store.top]
        assert explained.top_features[0].mean_abs_shap == pytest.approx(shap_of_top)
    analysis = card.quantitative_analyses.protected_group_analysis
    assert analysis.evaluation == store.evaluation.id and not analysis.advisory
    [sex] = analysis.features
    by_group = store.evaluation.result["fairness"]["sex"]["by_group"]
    assert {g.group: g.count for g in sex.groups} == {g: v["count"] for g, v in by_group.items()}
    assert sex.summary["demographic_parity_difference"] == pytest.approx(
        store.evaluation.result["fairness"]["sex"]["demographic_parity_difference"])
    [gate] = analysis.gates
    assert gate.gate == "demographic_parity_difference (sex)" and gate.sensitive_feature == "sex"
    assert gate.passed in ("yes", "no") and "demographic_parity_difference" in gate.reason

    exported = json.loads(model_cards.render(card, "json")[1])
    assert exported["explainability"]["top_features"][0]["feature"] == store.top
    assert exported["quantitative_analyses"]["protected_group_analysis"]["features"][0]["feature"] == "sex"


def test_card_markdown_and_html_show_both(store: Store) -> None:
    card = model_cards.get(store.backend, "credit", store.version)
    count_f = store.evaluation.result["fairness"]["sex"]["by_group"]["F"]["count"]
    markdown = model_cards.render(card, "markdown")[1]
    explainability = markdown.split("\n## Explainability\n", 1)[1].split("\n## ", 1)[0]
    assert f"| {store.top} | " in explainability and f"Revision {store.explanation['revision']}, {len(FRAME)} rows" in explainability
    assert store.explanation["dataset"]["digest"] in explainability
    protected = markdown.split("\n### Protected-group analysis\n", 1)[1].split("\n## ", 1)[0]
    assert f"| sex | F | {count_f} |" in protected
    assert "| Sensitive feature | Measure | Value | Interval |" in protected
    assert "| demographic_parity_difference (sex) | sex |" in protected  # the gate and its reason
    html = model_cards.render(card, "html")[1]
    section = html.split('id="card-explainability"', 1)[1].split("</section>", 1)[0]
    assert f'<th scope="row">{store.top}</th>' in section and "Mean |SHAP|" in section
    groups = html.split('id="card-groups"', 1)[1].split("</table>", 1)[0]
    assert f'<th scope="row">F</th><td class="num">{count_f}</td>' in groups
    assert "Gates that judged fairness" in html.split('id="card-fairness-gates"', 1)[1]


def test_card_pdf_has_both_sections(store: Store, tmp_path: Path) -> None:
    require_service("poppler-utils", shutil.which("pdftotext") is not None, "apt-get install poppler-utils")
    data = model_cards.render(model_cards.get(store.backend, "credit", store.version), "pdf")[1]
    assert isinstance(data, bytes) and data.startswith(b"%PDF-")
    (tmp_path / "card.pdf").write_bytes(data)
    text = subprocess.run(["pdftotext", str(tmp_path / "card.pdf"), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert "Explainability" in text and "Protected-group analysis" in text and store.top in text


def test_regenerating_follows_the_merge_rules(store: Store) -> None:
    """People's interpretation stays; the generated explanation follows the latest revision."""
    model_cards.update(store.backend, AUTHOR, "credit", store.version, edits={
        "explainability.interpretation": "Tumour size and shape drive the score, as clinicians expect.",
        "explainability.revision": 99,  # a generated field: the next generate replaces it
    })
    newer = explanations.global_(store.backend, ADMIN, "credit", store.version, seed=1, top=3)
    before = len(model_cards.revisions(store.backend, "credit", store.version))
    card = model_cards.generate(store.backend, AUTHOR, "credit", store.version)
    assert card.explainability.revision == newer["revision"] == store.explanation["revision"] + 1
    assert card.explainability.seed == 1
    assert card.explainability.interpretation.startswith("Tumour size and shape")
    assert len(model_cards.revisions(store.backend, "credit", store.version)) == before + 1
    assert "Tumour size and shape" in model_cards.render(card, "markdown")[1].split("## Explainability", 1)[1]


def test_card_without_an_explanation_says_so_and_shows_the_extended_fairness(store: Store) -> None:
    card = model_cards.get(store.backend, "rich", store.rich)
    assert card.explainability.revision is None
    markdown = model_cards.render(card, "markdown")[1]
    assert "_No global explanation stored for this version._" in markdown
    analysis = card.quantitative_analyses.protected_group_analysis
    assert analysis.advisory and {f.feature for f in analysis.features} == {"sex", "sex & age_band", "income"}
    protected = markdown.split("\n### Protected-group analysis\n", 1)[1].split("\n## ", 1)[0]
    assert "(advisory: on data the caller chose, no evidence)" in protected
    assert "| sex &amp; age_band | F, under-30 | 12 | 0.5 [0.21, 0.79] |" in protected  # value [interval]
    assert "| yes |" in protected and "| sex &amp; age_band | demographic parity difference | 0.12 | [0.02, 0.41] |" in protected
    assert "small: F, under-30" in protected and "95% intervals by bootstrap (200 resamples, stratified by group, seed 0)" in protected
    assert "worst groups: selection rate: F" in protected
    assert "**income**: not assessed: the evaluation data has no column 'income'" in protected
    assert "precision" in protected.split("\n| Sensitive feature | Group |", 1)[1].split("\n", 1)[0]
    html = model_cards.render(card, "html")[1]
    groups = html.split('id="card-groups"', 1)[1].split("</table>", 1)[0]
    assert 'F, under-30 <span class="small-group">small</span>' in groups and "0.5 [0.21, 0.79]" in groups
    assert "No global explanation stored for this version." in html


def test_old_results_without_the_new_keys_still_render(store: Store) -> None:
    card = model_cards.get(store.backend, "legacy", store.legacy)
    [sex] = card.quantitative_analyses.protected_group_analysis.features
    assert sex.groups and not sex.intervals and not sex.small_groups and all(not g.intervals for g in sex.groups)
    markdown = model_cards.render(card, "markdown")[1]
    count_f = store.evaluation.result["fairness"]["sex"]["by_group"]["F"]["count"]
    assert f"| sex | F | {count_f} |" in markdown and "small group" not in markdown and "[" not in (
        markdown.split("\n### Protected-group analysis\n", 1)[1].split("\n## ", 1)[0].replace("\\[", ""))
    html = model_cards.render(card, "html")[1]
    assert 'id="card-groups"' in html and "small-group" not in html.split("<body>", 1)[1]
    report, _ = reports.compliance_report(store.backend, "legacy", store.legacy, fmt="md")
    assert f"| sex | F | {count_f} |" in report
    html_report, _ = reports.compliance_report(store.backend, "legacy", store.legacy, fmt="html")
    assert 'id="protected-groups-table"' in html_report and "No global explanation stored" in html_report


# -- the compliance report ------------------------------------------------------------------------


def test_report_has_an_explanations_and_a_protected_group_section(store: Store) -> None:
    html, _ = reports.compliance_report(store.backend, "credit", store.version, fmt="html")
    explanations_part = html.split('<h2 id="explanations">', 1)[1].split("<h2 ", 1)[0]
    assert 'aria-label="permutation importance by feature"' in explanations_part  # the SVG chart
    assert f"<title>{store.top}: " in explanations_part
    table = explanations_part.split('id="explanation-features"', 1)[1].split("</table>", 1)[0]
    assert f'<th scope="row">{store.top}</th>' in table
    latest = explanations.latest_global(store.backend, "credit", store.version)
    assert f"<code>{latest['dataset']['digest']}</code>" in explanations_part
    protected = html.split('<h2 id="protected-groups">', 1)[1].split("<h2 ", 1)[0]
    assert 'id="protected-groups-table"' in protected and "<svg" in protected  # the tables and the chart
    assert "demographic_parity_difference (sex)" in protected.split('id="protected-gates"', 1)[1]
    markdown, _ = reports.compliance_report(store.backend, "credit", store.version, fmt="md")
    section = markdown.split("\n## Explanations\n", 1)[1].split("\n## ", 1)[0]
    assert f"| {store.top} | " in section and f"Revision {latest['revision']} ({latest['revision']} stored" in section
    protected_md = markdown.split("\n## Protected-group analysis\n", 1)[1].split("\n## ", 1)[0]
    count_f = store.evaluation.result["fairness"]["sex"]["by_group"]["F"]["count"]
    assert f"| sex | F | {count_f} |" in protected_md and "Gates that judged fairness" in protected_md


def test_report_shows_intervals_small_groups_and_intersections(store: Store) -> None:
    html, _ = reports.compliance_report(store.backend, "rich", store.rich, fmt="html")
    protected = html.split('<h2 id="protected-groups">', 1)[1].split("<h2 ", 1)[0]
    assert '<tr class="small"><td>sex &amp; age_band</td><th scope="row">F, under-30 <span class="small-group">small</span>' in protected
    assert "0.5 [0.21, 0.79]" in protected and "[0.02, 0.41]" in protected
    markdown, _ = reports.compliance_report(store.backend, "rich", store.rich, fmt="md")
    protected_md = markdown.split("\n## Protected-group analysis\n", 1)[1].split("\n## ", 1)[0]
    assert "| sex &amp; age_band | F, under-30 | 12 | 0.5 [0.21, 0.79] |" in protected_md
    assert "No global explanation stored for this version" in markdown.split("\n## Explanations\n", 1)[1]


# -- the review page -------------------------------------------------------------------------------


def test_review_page_shows_the_explanation_beside_the_evaluation(store: Store, http: TestClient) -> None:
    response = http.get(f"/ui/models/credit/versions/{store.version}/review")
    assert response.status_code == 200
    page = response.text
    evaluation = page.split('<h2 id="evaluation">', 1)[1].split('<h2 id="risk">', 1)[0]
    explained = evaluation.split('<h3 id="explanation">', 1)[1]
    assert f'href="/ui/models/credit/versions/{store.version}/explanations"' in explained
    chart = json.loads(explained.split('<script type="application/json" id="importance-data">', 1)[1]
                       .split("</script>", 1)[0])
    latest = explanations.latest_global(store.backend, "credit", store.version)
    assert chart["features"][0] == latest["permutation_importance"][0]["feature"]
    assert f'<th scope="row">{chart["features"][0]}</th>' in explained.split('id="explanation-features"', 1)[1]
    fairness = evaluation.split('aria-label="Fairness by sex"', 1)[1].split("</table>", 1)[0]
    assert fairness.count("<tr") == 3  # the header and the groups F and M


def test_review_page_flags_small_groups_and_shows_intervals(store: Store, http: TestClient) -> None:
    page = http.get(f"/ui/models/rich/versions/{store.rich}/review").text
    intersection = page.split('aria-label="Fairness by sex &amp; age_band"', 1)[1].split("</table>", 1)[0]
    assert 'F, under-30 <span class="status skipped"' in intersection and ">small</span>" in intersection
    assert "0.5 [0.21, 0.79]" in intersection
    assert "demographic parity difference 0.12 [0.02, 0.41]" in page
    assert 'id="no-explanation"' in page and f'href="/ui/models/rich/versions/{store.rich}/explanations"' in page
    legacy = http.get(f"/ui/models/legacy/versions/{store.legacy}/review")
    assert legacy.status_code == 200 and 'aria-label="Fairness by sex"' in legacy.text
