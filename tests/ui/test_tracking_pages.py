"""Tracking pages in a real headless Chromium against a real server process."""

from __future__ import annotations

from typing import Any

import pytest

from modelward.sdk.client import Client


@pytest.fixture
def populated(live_server: Any, unique: str) -> dict[str, Any]:
    with Client(live_server.url) as client:
        experiment = client.experiments.create(f"ui-{unique}/churn")
        runs = []
        for i, model in enumerate(["rf", "lr", "rf", "gb"]):
            run = client.runs.create(experiment.id, name=f"{model}-{i}")
            steps = list(range(6))
            client.runs.log_metric_columns(
                run.id, ["loss"] * 6, [1 / (s + 1 + i) for s in steps], steps, [1000 + s for s in steps],
                params={"model": model, "lr": str(0.1 * (i + 1))},
            )
            client.runs.log_metric_columns(run.id, ["accuracy"], [0.7 + i / 20])
            client.artifacts.upload_bytes(run.id, "report.json", b'{"ok": true}')
            client.runs.end(run.id)
            runs.append(run)
    return {"url": live_server.url, "experiment": experiment, "runs": runs}


def _no_console_errors(page: Any) -> None:
    assert page.console_errors == []


def test_experiments_page_lists_and_links(page: Any, populated: dict[str, Any]) -> None:
    page.goto(populated["url"] + "/ui/")
    # other tests on this server have "churn" experiments too: follow this one's link
    page.locator(f'a[href$="/ui/experiments/{populated["experiment"].id}"]').first.click()
    page.wait_for_selector("#runs-table")
    assert page.locator("#runs-table tbody tr").count() == 4
    _no_console_errors(page)


def test_a_filter_narrows_the_runs_table(page: Any, populated: dict[str, Any]) -> None:
    page.goto(f"{populated['url']}/ui/experiments/{populated['experiment'].id}")
    page.fill("#filter", 'params.model = "rf" and metrics.accuracy > 0.72')
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    names = page.locator("#runs-table tbody tr td:nth-child(2)").all_inner_texts()
    assert names == ["rf-2"]
    page.fill("#filter", "metrics.accuracy >")
    page.get_by_role("button", name="Apply").click()
    assert "Invalid filter at position" in page.locator("[role=alert]").inner_text()
    _no_console_errors(page)


def test_sorting_by_a_metric_column(page: Any, populated: dict[str, Any]) -> None:
    page.goto(f"{populated['url']}/ui/experiments/{populated['experiment'].id}?order=metrics.accuracy+ASC&cols=metrics.accuracy")
    names = page.locator("#runs-table tbody tr td:nth-child(2)").all_inner_texts()
    assert names == ["rf-0", "lr-1", "rf-2", "gb-3"]


def test_compare_draws_its_charts_and_highlights_differences(page: Any, populated: dict[str, Any]) -> None:
    page.goto(f"{populated['url']}/ui/experiments/{populated['experiment'].id}")
    for checkbox in page.locator("#runs-table tbody input[type=checkbox]").all()[:3]:
        checkbox.check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_selector("#overlay-chart .main-svg")
    page.wait_for_selector("#parcoords-chart .main-svg")
    assert page.locator("#overlay-chart .scatterlayer .trace").count() == 3
    differing = page.locator("#diff-table tr.differs th").all_inner_texts()
    assert "params.model" in differing and "params.lr" in differing
    _no_console_errors(page)


def test_run_page_charts_notes_and_artifact_preview(page: Any, populated: dict[str, Any]) -> None:
    run = populated["runs"][0]
    page.goto(f"{populated['url']}/ui/runs/{run.id}")
    page.wait_for_selector("#metric-charts .main-svg")
    page.fill("#new-note", "looks good to me")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_load_state()
    assert page.locator("article.note textarea").first.input_value() == "looks good to me"
    page.get_by_role("link", name="preview").first.click()
    assert '"ok": true' in page.locator("pre.preview").inner_text()
    _no_console_errors(page)


def test_missing_things_are_explained_in_words(page: Any, populated: dict[str, Any]) -> None:
    response = page.goto(populated["url"] + "/ui/runs/does-not-exist")
    assert response.status == 404
    assert "run 'does-not-exist' does not exist" in page.locator("[role=alert]").inner_text()
    assert "Traceback" not in page.content()
