"""Pages that look finished, in a real headless Chromium against a real server process: the
runs list as a tree with Compare in reach, decisions only while one is possible, approvals
counted one way, metrics in their place, lineage found by name, versions compared on their
data and evaluations, and the compliance report rendered (and downloadable as PDF)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from modelward import models
from modelward.domain.actors import Role
from modelward.domain.governance import RISK_CATEGORIES
from modelward.sdk.client import Client
from modelward.services import users
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.ui.test_governance_pages import FRAME, MODEL, upload_dataset, with_dataset

SCREENSHOTS = os.environ.get("MODELWARD_UI_SCREENSHOTS")  # a folder: keep screenshots there to look at


def screenshot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


# -- the runs list -------------------------------------------------------------------------------


@pytest.fixture
def nested(live_server: Any, unique: str) -> dict[str, Any]:
    """A sweep: one parent with three trials (one with two folds of its own), a lone run, and
    enough long params that the table is wider than the window."""
    wide = {f"param_{i:02d}": f"a-rather-long-value-{i}-" + "x" * 24 for i in range(14)}
    with Client(live_server.url) as client:
        experiment = client.experiments.create(f"tree-{unique}")
        parent = client.runs.create(experiment.id, name="sweep")
        trials = [client.runs.create(experiment.id, name=f"trial-{i}", parent_run_id=parent.id) for i in range(3)]
        folds = [client.runs.create(experiment.id, name=f"fold-{i}", parent_run_id=trials[0].id) for i in range(2)]
        lone = client.runs.create(experiment.id, name="baseline")
        for run in [parent, *trials, *folds, lone]:
            client.runs.log_metric_columns(run.id, ["accuracy"], [0.8], params=wide)
            client.runs.end(run.id)
    return {"url": live_server.url, "experiment": experiment, "parent": parent, "trials": trials,
            "folds": folds, "lone": lone}


def test_runs_list_shows_the_tree_and_keeps_compare_in_reach(page: Any, nested: dict[str, Any]) -> None:
    page.goto(f"{nested['url']}/ui/experiments/{nested['experiment'].id}?cols=" +
              ",".join(f"params.param_{i:02d}" for i in range(14)))
    rows = page.locator("#runs-table tbody tr")
    assert rows.count() == 7
    order = [r.get_attribute("data-run") for r in rows.all()]
    depth = {r.get_attribute("data-run"): int(r.get_attribute("data-depth")) for r in rows.all()}
    parent, trials, folds = nested["parent"].id, nested["trials"], nested["folds"]
    assert depth[parent] == 0 and depth[nested["lone"].id] == 0
    assert all(depth[t.id] == 1 for t in trials) and all(depth[f.id] == 2 for f in folds)
    for child in [*trials, *folds]:  # every child right after its parent's subtree starts
        assert order.index(child.id) > order.index(child.parent_run_id or parent)
    at = order.index(trials[0].id)
    assert set(order[at + 1:at + 3]) == {f.id for f in folds}  # the folds sit right under their trial
    indent = {run_id: page.locator(f"tr[data-run='{run_id}'] td.run-name").evaluate(
        "cell => parseFloat(getComputedStyle(cell).paddingLeft)") for run_id in (parent, trials[0].id, folds[0].id)}
    assert indent[parent] < indent[trials[0].id] < indent[folds[0].id]

    # The page itself never scrolls sideways: the wide table scrolls in its own box.
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1]
    scroller = page.locator(".table-scroll")
    assert scroller.evaluate("box => box.scrollWidth > box.clientWidth")
    screenshot(page, "runs-tree")

    # Compare stays on screen after scrolling down and sideways.
    scroller.evaluate("box => box.scrollLeft = box.scrollWidth")
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    compare = page.get_by_role("button", name="Compare selected")
    box = compare.bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 900 and box["x"] >= 0
    page.locator(f"tr[data-run='{trials[1].id}'] input[name=run]").check()
    page.locator(f"tr[data-run='{trials[2].id}'] input[name=run]").check()
    assert page.locator("#selected-count").inner_text() == "2 runs selected"

    # Collapsing the parent hides its whole subtree; expanding shows it again.
    page.locator(f"button[data-toggle='{parent}']").click()
    hidden = [r.get_attribute("data-run") for r in rows.all() if not r.is_visible()]
    assert set(hidden) == {t.id for t in trials} | {f.id for f in folds}
    page.locator(f"button[data-toggle='{parent}']").click()
    assert all(r.is_visible() for r in rows.all())
    compare.click()
    page.wait_for_url("**/ui/compare?**")
    assert page.url.count("run=") == 2
    assert page.console_errors == []


# -- reviews: decisions and approvals ------------------------------------------------------------

TWO_APPROVALS = """\
model: {name}
gates:
  - {{metric: roc_auc, min: 0.9}}
review:
  approvals: 2
  compliance_checklist: [data privacy review done]
"""


def _register(client: Client, name: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save(MODEL, Path(tmp) / "model", input_example=FRAME.drop(columns=["target", "sex"]).head())
        return client.models.register(name, local_path=folder).version


@pytest.fixture
def two_approvals(live_server: Any, unique: str) -> dict[str, Any]:
    """A version by alice, in review with its evidence complete, under a policy of two approvals."""
    backend = Backend.from_settings(Settings(home=live_server.home))
    try:
        users.ensure_user(backend, "bob", frozenset({Role.APPROVER}))
    finally:
        backend.close()
    name = f"two-{unique}"
    with Client(live_server.url) as admin:
        data = upload_dataset(admin, f"eval-{unique}")
        admin.policies.set(with_dataset(TWO_APPROVALS.format(name=name), data))
    with Client(live_server.url, user="alice") as alice:
        version = _register(alice, name)
    with Client(live_server.url) as admin:
        for category in RISK_CATEGORIES:
            admin.governance.set_risk(name, version, category, rating="low", rationale="reviewed")
        admin.governance.check_item(name, version, "data privacy review done", evidence="PRIV-1")
    return {"url": live_server.url, "name": name, "version": version}


def test_approvals_are_counted_one_way_and_buttons_go_once_decided(page: Any, two_approvals: dict[str, Any]) -> None:
    name, version, url = two_approvals["name"], two_approvals["version"], two_approvals["url"]
    review = f"{url}/ui/models/{name}/versions/{version}/review"
    page.goto(review)
    assert page.locator("#approvals-so-far").inner_text() == "0 of 2"
    missing = page.locator("#missing").inner_text()
    assert "approvals: 0 of 2" in missing and "your approval completes it" not in missing.lower()
    with Client(url, user="bob") as bob:
        bob.governance.approve(name, version, comment="fine by me")
    page.goto(review)
    assert page.locator("#approvals-so-far").inner_text().startswith("1 of 2: bob")
    missing = page.locator("#missing").inner_text()
    assert "approvals: 1 of 2" in missing and "Your approval completes it." in missing
    page.goto(f"{url}/ui/models/{name}/versions/{version}")
    assert "Approvals: 1 of 2 (bob)" in page.locator("#approval-count").inner_text()
    assert "approvals: 1 of 2" in page.locator("#gov-heading + p").inner_text()  # the same count in both places

    page.goto(review)
    page.fill("#decision-comment", "second approval")
    page.get_by_role("button", name="Approve").click()
    assert page.locator("#version-state").inner_text() == "approved"
    for button in ("Approve", "Reject", "Request changes"):
        assert page.get_by_role("button", name=button).count() == 0, button
    missing = page.locator("#missing").inner_text()
    assert "completes it" not in missing and "Approved by bob, local" in missing
    assert page.locator("#approvals-so-far").inner_text().startswith("2 of 2")
    assert page.console_errors == []


def test_someone_who_approved_is_not_offered_approve_again(page: Any, two_approvals: dict[str, Any]) -> None:
    name, version, url = two_approvals["name"], two_approvals["version"], two_approvals["url"]
    page.goto(f"{url}/ui/models/{name}/versions/{version}/review")
    page.get_by_role("button", name="Approve").click()  # local (the operator) approves first
    assert page.locator("#version-state").inner_text() == "in review"
    assert page.get_by_role("button", name="Approve").count() == 0
    assert page.get_by_role("button", name="Reject").count() == 1  # rejecting is still a decision open to them
    assert "You approved this version" in page.locator("#missing").inner_text()
    assert page.console_errors == []


# -- the version page and version comparison -----------------------------------------------------


@pytest.fixture
def trained(live_server: Any, unique: str) -> dict[str, Any]:
    """Two versions from runs that read different training data, both evaluated by the policy."""
    name = f"trained-{unique}"
    with Client(live_server.url) as client:
        data = upload_dataset(client, f"eval-{unique}")
        client.policies.set(with_dataset(f"model: {name}\ngates:\n  - {{metric: roc_auc, min: 0.5}}\n", data))
        experiment = client.experiments.get_or_create(f"trained-{unique}")
        digests = []
        for i in range(2):
            run = client.runs.create(experiment.id, name=f"fit-{i}")
            client.runs.log_metric_columns(run.id, ["train_accuracy"], [0.9 + i / 100])
            digest = "sha256:" + hashlib.sha256(f"{unique}-{i}".encode()).hexdigest()
            client.datasets.log(name=f"loans-{unique}", uri=f"s3://bucket/loans-{i}.parquet", digest=digest,
                                run_id=run.id)
            with tempfile.TemporaryDirectory() as tmp:
                folder = models.save(MODEL, Path(tmp) / "model",
                                     input_example=FRAME.drop(columns=["target", "sex"]).head())
                client.artifacts.upload(run.id, folder, "model")
            client.runs.end(run.id)
            client.models.register(name, run_id=run.id)
            digests.append(digest)
    return {"url": live_server.url, "name": name, "digests": digests, "unique": unique}


def test_version_page_shows_evaluation_and_run_metrics_each_in_place(page: Any, trained: dict[str, Any]) -> None:
    page.goto(f"{trained['url']}/ui/models/{trained['name']}/versions/1")
    evaluation = page.locator("#evaluation-metrics").inner_text()
    assert "roc_auc" in evaluation and "Latest evaluation" in evaluation and "passed" in evaluation
    run_metrics = page.locator("#run-metrics").inner_text()
    assert "train_accuracy" in run_metrics and "logged no metrics" not in run_metrics
    assert page.locator("#card-pdf").get_attribute("href").endswith("format=pdf")
    assert page.console_errors == []


def test_a_run_without_metrics_says_so_beside_the_evaluation_metrics(page: Any, two_approvals: dict[str, Any]) -> None:
    page.goto(f"{two_approvals['url']}/ui/models/{two_approvals['name']}/versions/{two_approvals['version']}")
    assert "roc_auc" in page.locator("#evaluation-metrics").inner_text()  # evaluated: its numbers are shown
    assert "logged no metrics" in page.locator("#run-metrics").inner_text()  # and the run's absence, apart
    assert "logged no metrics" not in page.locator("#evaluation-metrics").inner_text()
    assert page.console_errors == []


def test_version_comparison_shows_data_digests_and_evaluation_metrics(page: Any, trained: dict[str, Any]) -> None:
    page.goto(f"{trained['url']}/ui/models/{trained['name']}/compare?v=1&v=2")
    table = page.locator("#version-compare")
    data_row = page.locator("#data-digests-row")
    cells = data_row.locator("td").all_inner_texts()
    assert [d.split(":")[1][:12] in cell for d, cell in zip(trained["digests"], cells, strict=True)] == [True, True]
    assert "differs" in (data_row.get_attribute("class") or "")
    assert "filled once lineage" not in table.inner_text()
    evaluation_rows = table.locator("th", has_text="evaluation.roc_auc")
    assert evaluation_rows.count() == 1
    values = evaluation_rows.locator("xpath=..").locator("td").all_inner_texts()
    assert len(values) == 2 and all(float(v) > 0.5 for v in values)
    assert table.locator("th", has_text="metrics.train_accuracy").count() == 1
    screenshot(page, "version-compare")
    with Client(trained["url"]) as client:  # the API says the same
        comparison = client.models.compare(trained["name"], [1, 2])
    assert all(comparison.data_digests[str(v)] for v in (1, 2))
    assert page.console_errors == []


# -- lineage search ------------------------------------------------------------------------------


def test_lineage_search_lists_runs_models_and_datasets_by_name(page: Any, trained: dict[str, Any]) -> None:
    page.goto(f"{trained['url']}/ui/lineage")
    page.get_by_label("Find a starting point").fill(trained["unique"])
    page.get_by_role("button", name="Search").click()
    matches = page.locator("#lineage-matches tbody tr")
    kinds = {row.locator("td").first.inner_text() for row in matches.all()}
    assert {"model version", "dataset"} <= kinds
    texts = page.locator("#lineage-matches").inner_text()
    assert f"{trained['name']} v2" in texts and f"loans-{trained['unique']}" in texts
    page.get_by_role("link", name=f"{trained['name']} v2").click()
    page.wait_for_selector("#lineage-graph .main-svg")
    assert "trained-" in page.locator("#root-heading").inner_text() or page.locator(".lineage-root").count() == 1
    page.goto(f"{trained['url']}/ui/lineage?q=fit-1")
    assert "fit-1" in page.locator("#lineage-matches").inner_text()
    page.goto(f"{trained['url']}/ui/lineage?q=no-such-thing-{trained['unique']}")
    assert "No run, model or dataset name contains" in page.locator("#lineage-matches").inner_text()
    assert page.console_errors == []


# -- the compliance report -----------------------------------------------------------------------


def test_report_page_shows_tables_and_offers_the_pdf(page: Any, two_approvals: dict[str, Any]) -> None:
    name, version, url = two_approvals["name"], two_approvals["version"], two_approvals["url"]
    with Client(url, user="alice") as alice:
        alice.cards.update(name, version, edits={
            "model_details.description": "# How it scores\n\nA **logistic** model.\n\n<script>alert(1)</script>"})
    page.goto(f"{url}/ui/models/{name}/versions/{version}/report")
    frame = page.frame_locator("iframe.report")
    assert frame.locator("table.gates tbody tr").count() == 1
    assert "roc_auc" in frame.locator("table.gates").inner_text()
    assert frame.locator("h4", has_text="How it scores").count() == 1  # the card's Markdown, rendered
    assert frame.locator("script").count() == 0
    assert "alert(1)" not in frame.locator("body").inner_text()
    screenshot(page, "report")
    pdf = page.request.get(url + page.locator("#report-pdf").get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")
    assert page.console_errors == []
