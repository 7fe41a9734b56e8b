"""The monitoring dashboard in a real headless Chromium against a real server process with auth.

The store is built through the real services before the server starts: an iris model whose
policy names a drift reference (its evaluation set) and an error-rate alert rule; an endpoint
where version 2 ran in shadow beside version 1, then as a canary at 50%, with inputs shifted
(petal length), a burst of failures (the alert fires, then resolves) and a business KPI. Records
go through the real PredictionLog with times in the last hours; ground truth through feedback.

One page load (module-scoped) is read by several tests; the 400 page and the link to the lineage
are separate loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelward.domain.actors import Actor, Role
from modelward.domain.predictions import PredictionRecord
from modelward.services import alerts, deployments, kpis, predictions, users
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from tests.deployments.helpers import DEPLOYER, POLICY, approved_versions, iris
from tests.fixtures.servers import start_server, stop_server
from tests.governance.helpers import dataset
from tests.ui.test_deployment_pages import sign_in

MODEL = "iris-watch"
ENDPOINT = "iris-watch-prod"
QUIET = "iris-watch-new"  # deployed, never asked
FEATURES = ["petal_length", "petal_width", "sepal_length", "sepal_width"]
RULE = "error-burst"
MONITORING = """\
monitoring:
  reference: {{run_id: {run_id}, path: {path}}}
  alerts:
    - {{name: {rule}, metric: error_rate, window: 10m, comparison: ">", threshold: 0.2}}
"""
# Five hours ago, on the hour: v2 in shadow for the first hour, then the canary.
T0 = (datetime.now(UTC) - timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
LABELLER = Actor(name="labeller")
INPUTS = iris()[0].sample(frac=1.0, random_state=0).reset_index(drop=True)  # the reference's rows, shuffled


def traffic(backend: Backend, start: datetime, minutes: int, *, version: int, twin_of: int | None = None,
            failing_share: float = 0.0, shift: float = 0.0, per_minute: int = 4) -> None:
    """``per_minute`` one-row answers a minute (class probabilities, the right class first) from
    ``start``, their inputs iris rows; a share fail (500); ``shift`` moves petal_length. Live
    answers get ground truth 0;
    ``twin_of``: shadow answers, each a copy of that live version's request."""
    mode = "live" if twin_of is None else "shadow"
    records, truth = [], []
    for minute in range(minutes):
        for i in range(per_minute):
            request_id = f"{twin_of or version}-{start.isoformat()}-{minute}-{i}"
            at = start + timedelta(minutes=minute, seconds=i)
            fails = i < failing_share * per_minute
            row = INPUTS.iloc[[(minute * per_minute + i) % len(INPUTS)]].copy()
            row["petal_length"] += shift
            records.append(PredictionRecord(
                request_id=request_id, endpoint=ENDPOINT, model_name=MODEL, version=version, mode=mode, at=at,
                latency_ms=3.0 + version + i, status=500 if fails else 200, error="boom" if fails else None,
                inputs=row, outputs=None if fails else [[0.8, 0.15, 0.05]], rows=1))
            if mode == "live":
                truth.append({"request_id": request_id, "ground_truth": [0]})
    log = PredictionLog(backend, capacity=len(records), batch_size=len(records))
    assert all(log.submit(r) for r in records)
    log.close()
    if truth:
        predictions.add_feedback(backend, LABELLER, ENDPOINT, truth)


def build_store(backend: Backend) -> dict[str, Any]:
    features, target = iris()
    reference = dataset(backend, features.assign(target=target))  # the drift reference: iris itself
    monitoring = MONITORING.format(run_id=reference["run_id"], path=reference["path"], rule=RULE)
    escaped = monitoring.replace("{", "{{").replace("}", "}}")  # approved_versions formats the policy
    stable, canary = approved_versions(backend, MODEL, 2, policy=POLICY + escaped)
    deployments.create(backend, DEPLOYER, ENDPOINT, model=MODEL, environment="production", version=stable)
    deployments.create(backend, DEPLOYER, QUIET, model=MODEL, environment="staging", version=stable)
    traffic(backend, T0, 60, version=stable)
    traffic(backend, T0, 60, version=canary, twin_of=stable)
    deployments.release(backend, DEPLOYER, ENDPOINT, canary, strategy="canary", steps=[50, 100])
    for hour in (1, 2, 3):
        start = T0 + timedelta(hours=hour)
        traffic(backend, start, 60, version=stable)
        traffic(backend, start, 60, version=canary, shift=3.0, failing_share=0.5 if hour == 2 else 0.0)
    fired = alerts.evaluate(backend, endpoint=ENDPOINT, at=T0 + timedelta(hours=2, minutes=15))
    resolved = alerts.evaluate(backend, endpoint=ENDPOINT, at=T0 + timedelta(hours=3, minutes=15))
    assert [(m.rule, m.to_state.value) for m in fired + resolved] == [(RULE, "firing"), (RULE, "resolved")]
    kpis.record_many(backend, LABELLER, ENDPOINT, [
        {"name": "revenue", "value": 10.0 + hour + version, "at": T0 + timedelta(hours=hour, minutes=30), "version": version}
        for hour in range(4) for version in (stable, canary)])
    return {"stable": stable, "canary": canary}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("monitoring-ui")
    backend = Backend.from_settings(Settings(home=home))
    try:
        users.create_user(backend, "vera", frozenset({Role.VIEWER}))
        tokens = {"vera": users.create_token(backend, "vera").token}
        versions = build_store(backend)
    finally:
        backend.close()
    # No watcher and no alert schedule: nothing but the store above decides what the page shows.
    server = start_server(home, env={"MODELWARD_AUTH": "true", "MODELWARD_CANARY_CHECK_INTERVAL_S": "0",
                                     "MODELWARD_ALERT_EVALUATION_INTERVAL_S": "0"})
    try:
        yield {"url": server.url, "tokens": tokens, **versions}
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def dashboard(browser: Any, served: dict[str, Any]) -> Iterator[Any]:
    """The dashboard of the last 24 hours, hourly (the default), reached from the deployment page."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors
    sign_in(page, served, "vera", f"/ui/deployments/{ENDPOINT}")
    page.click("#monitoring-link")
    page.wait_for_url(f"**/ui/deployments/{ENDPOINT}/monitoring")
    page.wait_for_selector("#chart-drift .main-svg")
    yield page
    context.close()


def traces(page: Any, chart: str) -> list[dict[str, Any]]:
    """What plotly drew in ``chart``: each trace's name, type and line dash."""
    return page.evaluate("""id => document.getElementById(id).data.map(
        t => ({name: t.name, type: t.type || 'scatter', dash: (t.line || {}).dash || null}))""", chart)


def test_the_charts_draw_one_trace_per_version_with_alerts_marked_on_the_time_axis(
        dashboard: Any, served: dict[str, Any]) -> None:
    stable, canary = served["stable"], served["canary"]
    for chart in ("chart-quality", "chart-latency", "chart-throughput", "chart-errors", "chart-drift"):
        assert dashboard.locator(f"#{chart} svg.main-svg").count() >= 1, chart
    assert [t["name"] for t in traces(dashboard, "chart-throughput")] == [f"v{stable}", f"v{canary}"]
    assert len(traces(dashboard, "chart-errors")) == 2
    assert dashboard.locator("#chart-throughput .scatterlayer .trace").count() == 2
    assert {t["dash"] for t in traces(dashboard, "chart-latency")} == {"dot", "solid", "dash"}
    assert len(traces(dashboard, "chart-latency")) == 6
    quality = {t["name"]: t["dash"] for t in traces(dashboard, "chart-quality")}
    assert quality[f"v{stable} accuracy"] == "solid" and quality[f"v{canary} accuracy (estimated)"] == "dash"
    # the shadow hour: the shadow version dotted beside the live ones
    shadow = [t["name"] for t in traces(dashboard, "chart-shadow-latency")]
    assert shadow == [f"v{stable} live p95", f"v{canary} live p95", f"v{canary} shadow p95"]
    # the alert fired and resolved: a line on the time axis of each chart, and in the list
    lines = dashboard.evaluate("document.getElementById('chart-errors').layout.shapes.map(s => s.line.color)")
    assert lines == ["#b3261e", "#1e7b34"]
    assert dashboard.locator("#chart-errors .shapelayer path").count() == 2
    assert dashboard.locator("#alert-moves li").evaluate_all("items => items.map(i => i.dataset.state)") \
        == ["firing", "resolved"]
    assert dashboard.locator(f"#alerts-table tr[data-rule='{RULE}']").get_attribute("data-state") == "resolved"
    assert len(traces(dashboard, dashboard.locator(".kpi-chart[data-kpi='revenue']").get_attribute("id"))) == 2
    assert dashboard.locator("#fairness-note").count() == 1  # iris has three classes: no group fairness
    assert dashboard.console_errors == []


def test_the_drift_heat_map_has_one_row_per_feature_and_marks_the_shifted_one(dashboard: Any) -> None:
    heat = dashboard.evaluate("document.getElementById('chart-drift').data[0]")
    assert heat["type"] == "heatmap" and heat["y"] == FEATURES
    columns = len(heat["z"][0])
    assert len(heat["x"]) == columns + 1 and columns >= 24  # every hour of the range, by its edges
    filled = [col for col in range(columns) if any(row[col] is not None for row in heat["z"])]
    assert len(filled) == 4  # the four hours with inputs; the others are blank cells
    marked = dashboard.evaluate("document.getElementById('chart-drift').data[1]")
    assert "petal_length" in marked["y"] and "sepal_width" not in marked["y"]
    assert dashboard.locator("#drift-reference").inner_text().startswith("runs:/")


def test_the_versions_table_links_to_each_version_and_its_lineage(dashboard: Any, served: dict[str, Any]) -> None:
    links = {int(row.get_attribute("data-version")): row.locator("a.version-link").get_attribute("href")
             for row in dashboard.locator("#versions-table tbody tr[data-mode='live']").all()}
    assert links == {v: f"/ui/models/{MODEL}/versions/{v}" for v in (served["stable"], served["canary"])}
    roles = dashboard.locator(f"#versions-table tr[data-version='{served['canary']}'][data-mode='live'] td").nth(1)
    assert "canary 50%" in roles.inner_text()


def test_a_click_on_a_chart_opens_the_version_and_a_link_its_lineage(page: Any, served: dict[str, Any]) -> None:
    sign_in(page, served, "vera", f"/ui/deployments/{ENDPOINT}/monitoring")
    page.wait_for_selector("#chart-throughput .scatterlayer .trace")
    canary_points = page.locator("#chart-throughput .scatterlayer .trace").nth(1).locator(".points path")
    box = canary_points.first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url(f"**/ui/models/{MODEL}/versions/{served['canary']}")
    page.go_back()
    row = page.locator(f"#versions-table tr[data-version='{served['canary']}'][data-mode='live']")
    row.locator("a.lineage-link").click()
    page.wait_for_url("**/ui/lineage?**")
    assert f"models:/{MODEL}/{served['canary']}" in page.locator(".lineage-root").inner_text()
    assert page.console_errors == []


def test_the_form_chooses_the_range_and_a_range_without_traffic_says_so(page: Any, served: dict[str, Any]) -> None:
    sign_in(page, served, "vera", f"/ui/deployments/{ENDPOINT}/monitoring")
    page.fill("#since", "2020-01-01T00:00")
    page.fill("#until", "2020-01-03T00:00")
    page.select_option("#every", "day")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**every=day")
    assert "2020-01-01 00:00:00 to 2020-01-03 00:00:00 UTC, per day" in page.locator("#span-form").inner_text()
    assert "No live traffic in this range" in page.locator("#no-traffic").inner_text()
    assert page.locator("#drift-none").count() == 1 and page.locator("#kpis-none").count() == 1
    assert page.locator("#versions-table tbody tr").count() == 2  # the routed versions, still linked
    assert page.console_errors == []


def test_an_endpoint_that_never_answered_says_so(page: Any, served: dict[str, Any]) -> None:
    sign_in(page, served, "vera", f"/ui/deployments/{QUIET}/monitoring")
    assert "No traffic yet: the endpoint has not answered a request" in page.locator("#no-traffic").inner_text()
    assert page.locator("#drift-none").count() == 1 and page.locator("#fairness-none").count() == 1
    assert page.locator(f"#versions-table tr[data-version='{served['stable']}']").inner_text().count("no answers") == 1
    assert page.console_errors == []


def test_a_bad_since_is_a_400_page_in_words(page: Any, served: dict[str, Any]) -> None:
    sign_in(page, served, "vera", f"/ui/deployments/{ENDPOINT}")
    response = page.goto(f"{served['url']}/ui/deployments/{ENDPOINT}/monitoring?since=yesterday")
    assert response.status == 400
    assert "since 'yesterday' is not a date and time" in page.locator("[role=alert]").inner_text()
