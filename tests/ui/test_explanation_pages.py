"""The explanation pages in a real headless Chromium against a real server process with auth.

The store is built through the real services before the server starts: a random forest on a
synthetic table where one planted feature (``signal``) alone decides the label, registered in
skops format with that table as its policy's evaluation dataset. Version 1 has two stored
global explanations (seeds 0 and 1); version 2 none (the empty state a viewer sees); version 3
none (a contributor computes one with the page's button). A second model's policy names no
evaluation data (the API refuses, and the page says why); a third has a categorical feature (a
select on the what-if form). Every number the pages show is compared with the REST API's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from modelward.domain.actors import Role
from modelward.services import explanations, users
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.fixtures.servers import start_server, stop_server
from tests.governance.helpers import ADMIN, dataset, register_model, set_model_policy
from tests.ui.test_deployment_pages import console_errors_besides_refusals, sign_in

MODEL, NO_DATA, SEGMENTED = "planted", "planted-no-data", "planted-segments"
PLAIN_POLICY = "model: {name}\n"
SEGMENTS = ["north", "south", "west"]


def planted_frame() -> pd.DataFrame:
    """300 rows: five noise features and ``signal``, which alone decides the label."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(300, 5)).round(3), columns=[f"noise_{i}" for i in range(5)])
    frame.insert(2, "signal", rng.normal(size=300).round(3))
    frame["target"] = (frame["signal"] > 0).astype(int)
    return frame


FRAME = planted_frame()


def forest(frame: pd.DataFrame) -> Any:
    return RandomForestClassifier(n_estimators=20, random_state=0).fit(frame.drop(columns=["target"]), frame["target"])


def segmented_model(frame: pd.DataFrame) -> Any:
    encode = make_column_transformer((OneHotEncoder(), ["segment"]), remainder="passthrough")
    model = make_pipeline(encode, RandomForestClassifier(n_estimators=10, random_state=0))
    return model.fit(frame.drop(columns=["target"]), frame["target"])


def build_store(backend: Backend) -> dict[str, Any]:
    set_model_policy(backend, MODEL, PLAIN_POLICY, dataset(backend, FRAME))
    model = forest(FRAME)
    explained, empty, computed_here = (register_model(backend, MODEL, model, FRAME, with_sex=True) for _ in range(3))
    for seed in (0, 1):
        explanations.global_(backend, ADMIN, MODEL, explained, seed=seed)
    set_model_policy(backend, NO_DATA, PLAIN_POLICY)
    no_data = register_model(backend, NO_DATA, model, FRAME, with_sex=True)
    segmented = FRAME.assign(segment=np.random.default_rng(3).choice(SEGMENTS, size=len(FRAME)))
    set_model_policy(backend, SEGMENTED, PLAIN_POLICY, dataset(backend, segmented))
    with_segments = register_model(backend, SEGMENTED, segmented_model(segmented), segmented, with_sex=True)
    return {"explained": explained, "empty": empty, "computed_here": computed_here, "no_data": no_data,
            "segmented": with_segments, "segment_of_first_row": segmented["segment"].iloc[0]}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("explanations-ui")
    backend = Backend.from_settings(Settings(home=home))
    try:
        tokens = {}
        for person, role in {"cora": Role.CONTRIBUTOR, "vera": Role.VIEWER}.items():
            users.create_user(backend, person, frozenset({role}))
            tokens[person] = users.create_token(backend, person).token
        versions = build_store(backend)
    finally:
        backend.close()
    server = start_server(home, env={"MODELWARD_AUTH": "true", "MODELWARD_CANARY_CHECK_INTERVAL_S": "0",
                                     "MODELWARD_ALERT_EVALUATION_INTERVAL_S": "0"})
    try:
        yield {"url": server.url, "tokens": tokens, **versions}
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def contributor(browser: Any, served: dict[str, Any]) -> Iterator[Any]:
    """One signed-in page of a contributor (who may compute explanations), shared by the tests."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda message: page.console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    sign_in(page, served, "cora", f"/ui/models/{MODEL}/versions/{served['explained']}")
    yield page
    context.close()


@pytest.fixture
def cora(contributor: Any) -> Any:
    contributor.console_errors.clear()
    return contributor


def api(served: dict[str, Any], method: str, path: str, person: str = "vera", **kwargs: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {served['tokens'][person]}"}
    return httpx.request(method, served["url"] + path, headers=headers, timeout=60, **kwargs)


def version_path(name: str, version: int) -> str:
    return f"/models/{name}/versions/{version}"


def drawn(page: Any, chart: str) -> dict[str, Any]:
    """The first trace plotly drew in ``chart``."""
    return page.evaluate("id => { const t = document.getElementById(id).data[0]; "
                         "return {x: t.x, y: t.y, error: t.error_x ? t.error_x.array : null, "
                         "customdata: t.customdata || null}; }", chart)


# -- the global explanation -----------------------------------------------------------------------


def test_the_version_page_links_to_the_explanations_and_the_what_if(cora: Any, served: dict[str, Any]) -> None:
    target = "/ui" + version_path(MODEL, served["explained"])
    cora.goto(served["url"] + target)
    cora.click("#explanations-link")
    cora.wait_for_url(f"**{target}/explanations")
    cora.click("#what-if-link")
    cora.wait_for_url(f"**{target}/what-if")
    assert cora.console_errors == []


def test_the_importance_chart_puts_the_planted_feature_first(cora: Any, served: dict[str, Any]) -> None:
    version = served["explained"]
    latest = api(served, "GET", f"/api/v1{version_path(MODEL, version)}/explanations/latest").json()
    cora.goto(served["url"] + f"/ui{version_path(MODEL, version)}/explanations")
    cora.wait_for_selector("#chart-importance .barlayer .point")
    importance = drawn(cora, "chart-importance")
    assert importance["y"][0] == "signal"
    assert importance["y"] == [item["feature"] for item in latest["permutation_importance"]]
    assert importance["x"] == [item["importance_mean"] for item in latest["permutation_importance"]]
    assert importance["error"] == [item["importance_std"] for item in latest["permutation_importance"]]
    ticks = cora.locator("#chart-importance .ytick text").evaluate_all(
        "labels => labels.map(l => [l.getBoundingClientRect().top, l.textContent])")
    assert min(ticks)[1] == "signal"  # drawn on top
    assert drawn(cora, "chart-shap")["y"][0] == "signal"  # shap is installed here: TreeExplainer
    curves = cora.locator("#pd-charts .pd-chart")
    assert curves.count() == len(latest["partial_dependence"]) >= 1
    cora.wait_for_selector("#chart-pd-0 .scatterlayer .trace")
    assert drawn(cora, "chart-pd-0")["y"] == latest["partial_dependence"][0]["average"]
    computed = cora.locator("#computed-on").inner_text()
    assert f"Revision {latest['revision']} (the latest)" in computed and f"{latest['rows']} rows" in computed
    assert latest["dataset"]["digest"][:16] in computed and "seed 1" in computed and "root" in computed
    assert "scikit-learn " + latest["libraries"]["scikit-learn"] in computed
    revisions = cora.locator("#revisions-table tbody tr")
    assert [r.get_attribute("data-revision") for r in revisions.all()] == ["2", "1"]  # newest first
    assert cora.locator("#compute-explanation").count() == 0  # stored already: the page shows it
    assert cora.console_errors == []


def test_the_json_links_answer_the_stored_json(cora: Any, served: dict[str, Any]) -> None:
    version = served["explained"]
    cora.goto(served["url"] + f"/ui{version_path(MODEL, version)}/explanations")
    link = cora.locator("#importance-json").get_attribute("href")
    assert link == f"/api/v1{version_path(MODEL, version)}/explanations/latest"
    for chart_link in ("#shap-json", "#pd-json"):
        assert cora.locator(chart_link).get_attribute("href") == link
    answer = cora.request.get(served["url"] + link)
    assert answer.status == 200 and answer.headers["content-type"].startswith("application/json")
    assert answer.json()["permutation_importance"][0]["feature"] == "signal" and answer.json()["revision"] == 2
    older = cora.locator("#revisions-table tr[data-revision='1'] a.revision-json").get_attribute("href")
    first = cora.request.get(served["url"] + older)
    assert first.status == 200 and first.headers["content-type"].startswith("application/json")
    assert first.json()["revision"] == 1 and first.json()["parameters"]["seed"] == 0
    cora.click("#revisions-table tr[data-revision='1'] td:first-child a")
    cora.wait_for_selector("#chart-importance .barlayer .point")
    assert "not the latest" in cora.locator("#computed-on").inner_text()
    assert cora.locator("#importance-json").get_attribute("href") == older
    missing = cora.request.get(served["url"] + older.replace("/1.json", "/9.json"))
    assert missing.status == 404 and "no stored global explanation has revision 9" in missing.text()  # a /ui/ page
    assert console_errors_besides_refusals(cora) == []


def test_a_contributor_computes_the_first_explanation_from_the_empty_state(cora: Any, served: dict[str, Any]) -> None:
    version = served["computed_here"]
    cora.goto(served["url"] + f"/ui{version_path(MODEL, version)}/explanations")
    assert cora.locator("#compute-command").inner_text() == f"modelward explain global {MODEL} {version}"
    cora.click("#compute-explanation")
    cora.wait_for_selector("#chart-importance .barlayer .point")
    assert drawn(cora, "chart-importance")["y"][0] == "signal"
    assert [r.get_attribute("data-revision") for r in cora.locator("#revisions-table tbody tr").all()] == ["1"]
    stored = api(served, "GET", f"/api/v1{version_path(MODEL, version)}/explanations/latest").json()
    assert stored["created_by"] == "cora" and stored["revision"] == 1
    assert cora.console_errors == []


def test_a_refused_computation_shows_the_apis_message(cora: Any, served: dict[str, Any]) -> None:
    cora.goto(served["url"] + f"/ui{version_path(NO_DATA, served['no_data'])}/explanations")
    cora.click("#compute-explanation")
    error = cora.locator("#compute-error")
    error.wait_for(state="visible")
    assert "explaining needs data" in error.inner_text() and "evaluation_dataset" in error.inner_text()
    assert cora.locator("#compute-explanation").is_enabled()  # a retry stays possible
    cora.goto(served["url"] + f"/ui{version_path(NO_DATA, served['no_data'])}/what-if")
    assert "explaining needs data" in cora.locator("#what-if-unavailable").inner_text()
    assert console_errors_besides_refusals(cora) == []


def test_a_viewer_sees_the_empty_state_without_a_compute_button(page: Any, served: dict[str, Any]) -> None:
    target = f"/ui{version_path(MODEL, served['empty'])}/explanations"
    sign_in(page, served, "vera", target)
    assert "No global explanation is stored yet" in page.locator("#no-explanation").inner_text()
    assert page.locator("#compute-command").inner_text() == f"modelward explain global {MODEL} {served['empty']}"
    assert page.locator("#compute-explanation").count() == 0
    assert "needs the write permission" in page.locator("#compute-needs-write").inner_text()
    refused = api(served, "POST", f"/api/v1{version_path(MODEL, served['empty'])}/explanations", json={})
    assert refused.status_code == 403 and refused.json()["error_code"]  # and the server refuses anyway
    assert page.console_errors == []


# -- what-if --------------------------------------------------------------------------------------


def _local(served: dict[str, Any], version: int, row: dict[str, Any]) -> dict[str, Any]:
    answer = api(served, "POST", f"/api/v1{version_path(MODEL, version)}/explanations/local", json={"inputs": [row]})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_the_what_if_prediction_and_attributions_follow_an_edit(cora: Any, served: dict[str, Any]) -> None:
    version = served["explained"]
    cora.goto(served["url"] + f"/ui{version_path(MODEL, version)}/what-if")
    cora.wait_for_function("document.getElementById('prediction').dataset.value !== ''")
    row = FRAME.drop(columns=["target"]).iloc[0].to_dict()
    inputs = {cora.locator(f"#feature-{i}").get_attribute("data-feature"): cora.locator(f"#feature-{i}").input_value()
              for i in range(len(row))}
    assert {name: float(value) for name, value in inputs.items()} == row  # the first reference row
    before = _local(served, version, row)
    shown = float(cora.locator("#prediction").get_attribute("data-value"))
    assert shown == before["rows"][0]["prediction"]
    assert cora.locator("#prediction-output").inner_text() == f"({before['output']})" == "(probability of class 1)"
    draws = int(cora.locator("#chart-attributions").get_attribute("data-draws"))
    signal = cora.locator("[data-feature='signal']")
    edited = {**row, "signal": 2.5 if row["signal"] < 0 else -2.5}  # across the planted threshold
    signal.fill(str(edited["signal"]))
    cora.wait_for_function("previous => { const v = document.getElementById('prediction').dataset.value;"
                           " return v !== '' && Number(v) !== previous; }", arg=shown)
    cora.wait_for_function(f"Number(document.getElementById('chart-attributions').dataset.draws) > {draws}")
    after = _local(served, version, edited)
    assert float(cora.locator("#prediction").get_attribute("data-value")) == after["rows"][0]["prediction"] != shown
    chart = drawn(cora, "chart-attributions")
    assert chart["customdata"] == [a["feature"] for a in after["rows"][0]["attributions"]]
    assert chart["x"] == pytest.approx([a["attribution"] for a in after["rows"][0]["attributions"]], rel=1e-9)
    assert chart["customdata"][0] == "signal"  # the edited, planted feature moves the answer most
    assert cora.locator("#what-if-error").is_hidden()
    assert cora.console_errors == []


def test_counterfactuals_of_the_row_on_the_form(cora: Any, served: dict[str, Any]) -> None:
    version = served["explained"]
    cora.goto(served["url"] + f"/ui{version_path(MODEL, version)}/what-if")
    cora.wait_for_function("document.getElementById('prediction').dataset.value !== ''")
    cora.click("#find-counterfactuals")
    cora.wait_for_selector("#counterfactuals-table tbody tr")
    rows = cora.locator("#counterfactuals-table tbody tr")
    assert rows.count() >= 1
    row = FRAME.drop(columns=["target"]).iloc[0].to_dict()
    found = api(served, "POST", f"/api/v1{version_path(MODEL, version)}/counterfactuals", json={"inputs": row}).json()
    assert rows.count() == len(found["counterfactuals"])
    first = rows.first.locator("td")
    change = found["counterfactuals"][0]["changes"][0]
    assert change["feature"] in first.nth(1).inner_text()
    assert first.nth(4).inner_text().startswith("valid")
    assert "signal" in cora.locator("#counterfactuals-table tbody").inner_text()  # what decides the label
    assert cora.console_errors == []


def test_a_categorical_feature_is_a_select_and_the_page_is_never_blank(cora: Any, served: dict[str, Any]) -> None:
    cora.goto(served["url"] + f"/ui{version_path(SEGMENTED, served['segmented'])}/what-if")
    select = cora.locator("select[data-feature='segment']")
    assert sorted(select.locator("option").all_inner_texts()) == SEGMENTS  # the values the reference data holds
    assert select.locator("option:checked").inner_text() == served["segment_of_first_row"]
    # The API answers with a prediction or with its error's message: either shows, nothing stays blank.
    cora.wait_for_function("document.getElementById('prediction').dataset.value !== ''"
                           " || !document.getElementById('what-if-error').hidden")
    if cora.locator("#what-if-error").is_visible():
        assert len(cora.locator("#what-if-error").inner_text().strip()) > 10
    assert console_errors_besides_refusals(cora) == []
