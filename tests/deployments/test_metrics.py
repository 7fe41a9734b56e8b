"""/metrics in Prometheus's format, scraped and parsed with prometheus-client's own parser: the
gateway's answers summed over two worker processes, traffic weights, the server's requests by
route template."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelward.services import deployments
from modelward.services.backend import Backend
from modelward.settings import Settings
from modelward.services import alerts, monitoring
from tests.deployments.helpers import APPROVER, POLICY, approved_versions, iris
from tests.fixtures.servers import start_server, stop_server

ROWS = iris()[0].head(3).to_dict("records")
BUSY = POLICY + """\
monitoring:
  alerts: [{{name: busy, metric: request_rate, window: 5m, comparison: ">", threshold: 0.01, severity: info}}]
"""


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _logged_requests(backend: Backend, *, at_least: int, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        now = datetime.now(UTC)
        found = sum(w.requests for w in monitoring.windows(backend, "metered", since=now - timedelta(minutes=5),
                                                            until=now, every=None))
        if found >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[int]]]:
    home = tmp_path_factory.mktemp("metrics")
    backend = Backend.from_settings(Settings(home=home))
    versions = approved_versions(backend, "iris", 2, policy=BUSY)
    deployments.create(backend, APPROVER, "metered", model="iris", environment="production", version=versions[0])
    deployments.release(backend, APPROVER, "metered", versions[1], strategy="shadow")
    backend.close()
    yield home, versions


def test_two_gateway_workers_answer_one_scrape_together(home) -> None:  # type: ignore[no-untyped-def]
    folder, (v1, v2) = home
    running = start_server(folder, args=["--workers", "2"], command="serve")
    try:
        for _ in range(40):  # a new connection each time: uvicorn spreads them over both workers
            assert httpx.post(f"{running.url}/serve/metered/predict", json=ROWS).status_code == 200
        assert httpx.post(f"{running.url}/serve/metered/predict", json=[{"petal_width": "x"}]).status_code == 400
        samples = _samples(httpx.get(f"{running.url}/metrics").text)
        evaluator = Backend.from_settings(Settings(home=folder))
        logged = _logged_requests(evaluator, at_least=40)  # the workers' logs write within a second or so
        [fired] = alerts.evaluate(evaluator, endpoint="metered")
        evaluator.close()
        scrapes = [_samples(httpx.get(f"{running.url}/metrics").text) for _ in range(6)]  # both workers answer
    finally:
        stop_server(running)
    assert fired.to_state == "firing" and fired.value == pytest.approx(logged / 300)
    for scrape in scrapes:
        state = (("endpoint", "metered"), ("rule", "busy"), ("severity", "info"), ("state", "firing"))
        assert scrape[("modelward_alert_state", state)] == 1.0
        watched = (("endpoint", "metered"), ("metric", "request_rate"), ("rule", "busy"))
        assert scrape[("modelward_alert_value", watched)] == pytest.approx(logged / 300)
    live = (("endpoint", "metered"), ("mode", "live"), ("status", "200"), ("version", str(v1)))
    assert samples[("modelward_predictions_total", live)] == 40
    assert samples[("modelward_prediction_rows_total", (("endpoint", "metered"), ("mode", "live"),
                                                        ("version", str(v1))))] == 120
    errors = (("endpoint", "metered"), ("kind", "client"), ("version", str(v1)))
    assert samples[("modelward_prediction_errors_total", errors)] == 1
    latency = (("endpoint", "metered"), ("version", str(v1)))
    assert samples[("modelward_prediction_duration_seconds_count", latency)] == 41
    weight = (("endpoint", "metered"), ("mode", "live"), ("version", str(v1)))
    assert samples[("modelward_deployment_traffic_weight_ratio", weight)] == 1.0
    shadow = (("endpoint", "metered"), ("mode", "shadow"), ("version", str(v2)))
    assert samples[("modelward_deployment_traffic_weight_ratio", shadow)] == 0.0


def test_the_server_counts_requests_by_route_template(home) -> None:  # type: ignore[no-untyped-def]
    folder, _ = home
    running = start_server(folder)
    try:
        for name in ("a", "b", "c"):
            httpx.get(f"{running.url}/api/v1/experiments/{name}")
        samples = _samples(httpx.get(f"{running.url}/metrics").text)
    finally:
        stop_server(running)
    counted = {labels: value for (name, labels), value in samples.items() if name == "modelward_http_requests_total"}
    by_route = {dict(labels)["route"] for labels in counted}
    assert "/api/v1/experiments/{experiment_id}" in by_route, by_route
    assert not any(route.endswith(("/a", "/b", "/c")) for route in by_route)


def test_the_grafana_dashboard_reads_only_metrics_the_server_exposes(home) -> None:  # type: ignore[no-untyped-def]
    import json
    import re

    from modelward.api.metrics import metrics

    metrics()  # every family declared, so its names appear in the exposition
    from prometheus_client import REGISTRY

    exposed = {sample.name for family in REGISTRY.collect() for sample in family.samples} | {
        family.name + suffix for family in REGISTRY.collect() for suffix in ("_total", "_bucket", "")} | {
        "modelward_alert_state", "modelward_alert_value", "modelward_drift_score"}  # read from the database
    from modelward.api.metrics import alert_exposition

    backend = Backend.from_settings(Settings(home=home[0]))
    assert {"modelward_alert_state", "modelward_alert_value"} <= set(
        re.findall(r"^# TYPE (modelward_[a-z_]+)", alert_exposition(backend).decode(), re.M))
    backend.close()
    dashboard = json.loads((Path(__file__).parents[2] / "deploy/grafana/modelward-serving.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\bmodelward_[a-z_]+", target["expr"])}
    assert used and used <= exposed, used - exposed
