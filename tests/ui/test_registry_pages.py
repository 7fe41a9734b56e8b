"""Registry and lineage pages in a real headless Chromium against a real server process."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from modelward.sdk.client import Client


@pytest.fixture
def registered(live_server: Any, unique: str, tmp_path: Path) -> dict[str, Any]:
    name = f"churn-{unique}"
    with Client(live_server.url, user="alice") as client:
        for accuracy in (0.81, 0.86):
            experiment = client.experiments.get_or_create(f"registry-{unique}")
            run = client.runs.create(experiment.id, name=f"train-{accuracy}")
            client.runs.log_params(run.id, {"C": str(accuracy)})
            client.runs.log_metric_columns(run.id, ["accuracy"], [accuracy])
            client.artifacts.upload_bytes(run.id, "model/weights.txt", f"weights {accuracy}".encode())
            client.runs.end(run.id)
            client.models.register(name, run_id=run.id, description=f"accuracy {accuracy}")
        client.models.set_alias(name, "staging", 1, reason="first candidate")
        client.models.set_alias(name, "staging", 2, reason="better accuracy")
        client.models.set_alias(name, "shadow", 1)
        dataset = client.datasets.log(name=f"train-{unique}", uri=f"s3://bucket/{unique}/train.parquet",
                                      digest="sha256:" + hashlib.sha256(unique.encode()).hexdigest(), run_id=run.id)
        client.lineage.log_output(run.id, {"kind": "model", "run_artifact_path": "model/weights.txt"})
    return {"url": live_server.url, "name": name, "run_id": run.id, "dataset": dataset}


def test_models_page_lists_the_model_with_its_aliases(page: Any, registered: dict[str, Any]) -> None:
    page.goto(f"{registered['url']}/ui/models?filter=name+%3D+%27{registered['name']}%27")
    rows = page.locator("#models-table tbody tr")
    assert rows.count() == 1
    assert "@shadow → v1" in rows.inner_text() and "@staging → v2" in rows.inner_text()
    rows.get_by_role("link", name=registered["name"]).click()
    page.wait_for_selector("#versions-table")
    assert page.console_errors == []


def test_model_page_shows_aliases_and_their_history(page: Any, registered: dict[str, Any]) -> None:
    page.goto(f"{registered['url']}/ui/models/{registered['name']}")
    aliases = page.locator("#aliases").inner_text()
    assert "@staging" in aliases and "version 2" in aliases and "@shadow" in aliases
    history = page.locator("#alias-history-table tbody tr").all_inner_texts()
    assert len(history) == 3 and "better accuracy" in history[1] and "first candidate" in history[2]
    assert page.locator("#versions-table tbody tr").count() == 2
    page.get_by_label("Compare version 1").check()
    page.get_by_label("Compare version 2").check()
    page.get_by_role("button", name="Compare selected").click()
    differing = page.locator("#version-compare tr.differs th").all_inner_texts()
    assert "metrics.accuracy" in differing and "params.C" in differing
    assert page.console_errors == []


def test_version_page_renders_the_model_card(page: Any, registered: dict[str, Any]) -> None:
    page.goto(f"{registered['url']}/ui/models/{registered['name']}/versions/2")
    card = page.locator("#model-card")
    assert "Model details" in card.inner_text() and "accuracy 0.86" in card.inner_text()
    assert page.locator("#model-card script").count() == 0
    assert page.locator("h1").count() == 1  # the card's headings are nested under the page's
    assert "weights.txt" in page.locator("#files-table").inner_text()
    assert "@staging" in page.locator("h1").inner_text()
    assert page.console_errors == []


def test_compare_with_one_version_is_explained(page: Any, registered: dict[str, Any]) -> None:
    page.goto(f"{registered['url']}/ui/models/{registered['name']}/compare?v=1")
    assert "at least two versions" in page.locator("[role=alert]").inner_text()
    page.goto(f"{registered['url']}/ui/models/no-such-model-{registered['name']}")
    assert "no-such-model" in page.locator("[role=alert]").inner_text()


def test_an_unmatched_filter_explains_what_to_do(page: Any, registered: dict[str, Any]) -> None:
    page.goto(f"{registered['url']}/ui/models?filter=name+%3D+%27nothing-{registered['name']}%27")
    assert "No model matches this filter" in page.locator(".empty").inner_text()
    page.goto(f"{registered['url']}/ui/models?filter=name+%3D")
    assert "filter" in page.locator("[role=alert]").inner_text().lower()


def test_lineage_graph_pans_zooms_and_opens_a_node_on_click(page: Any, registered: dict[str, Any]) -> None:
    page.goto(f"{registered['url']}/ui/lineage")
    assert "Pick a starting point" in page.locator(".empty").inner_text()
    page.fill("#ref", f"run:{registered['run_id']}")
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("#lineage-graph .main-svg")
    names = page.locator("#lineage-nodes tbody td:first-child").all_inner_texts()
    # dataset -> run -> model, and since registration records lineage, the registration and version too
    points = page.locator("#lineage-graph .scatterlayer .point").count()
    assert points == len(names) and points >= 3
    assert page.locator("#lineage-graph .modebar-btn[data-val='pan']").count() == 1
    assert f"train-{registered['name'].removeprefix('churn-')}" in names
    dataset_point = page.locator("#lineage-graph .scatterlayer .point").first  # leftmost column: the input
    dataset_point.click(force=True)
    page.wait_for_url("**/ui/lineage?ref=artifact*")
    assert page.locator("#root-heading").inner_text().startswith("train-")
    assert page.console_errors == []


def test_lineage_of_an_unknown_node_says_so(page: Any, registered: dict[str, Any]) -> None:
    page.goto(f"{registered['url']}/ui/lineage?ref=run:not-a-run")
    assert "not-a-run" in page.locator("[role=alert]").inner_text()
