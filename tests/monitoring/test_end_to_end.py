"""Monitoring end to end, as a platform runs it: a real ``modelward server`` with two worker
processes, a canary of two approved iris classifiers, real predictions and feedback over HTTP
through the SDK. The input distribution shifts part-way: the drift alert goes pending, fires
(the canary rolls back, naming the alert), and resolves once the shifted traffic has left its
window. Checked on the way: the drift values against scipy on the rows sent, the windows'
counts and realised accuracy against the answers, the confidence-based estimate, signed webhooks
received by a real listener, /metrics parsed with prometheus-client's parser, the report, and the
evidence of an answer the canary gave before the rollback and of one given after it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from scipy import stats

from modelward.sdk.client import Client
from modelward.services import governance, policies
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.deployments.helpers import APPROVER, POLICY, iris, register
from tests.fixtures.servers import ServerProcess, start_server, stop_server
from tests.fixtures.webhook_receiver import Receiver
from tests.governance.helpers import ADMIN, dataset

WINDOW_S = 8
MONITORING = """\
monitoring:
  reference: {reference}
  alerts:
    - {{name: petal-drift, metric: drift.psi.petal_length, window: {window}s, comparison: ">=", threshold: 0.5,
       for: 1s, severity: critical, rollback: true}}
"""
ENDPOINT = "iris-live"


@dataclass
class Traffic:
    """What was sent and answered: per request the row, the version, the probabilities, the truth."""

    rows: list[dict[str, float]] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    proba: list[list[float]] = field(default_factory=list)
    truth: list[int] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, list[int], pd.DataFrame]]:
    home = tmp_path_factory.mktemp("monitoring-e2e")
    backend = Backend.from_settings(Settings(home=home))
    features, target = iris()
    reference = features.assign(target=target)
    data = dataset(backend, reference)
    where = f"{{run_id: {data['run_id']}, path: {data['path']}}}"
    policies.set_policy(backend, ADMIN, POLICY.format(name="iris") + f"evaluation_dataset: {where}\n"
                        + MONITORING.format(reference=where, window=WINDOW_S))
    versions = [register(backend, "iris", c=c) for c in (1.0, 0.3)]
    for version in versions:
        governance.approve(backend, APPROVER, "iris", version)
    backend.close()
    server = start_server(home, args=["--workers", "2"], env={
        "MODELWARD_ALERT_EVALUATION_INTERVAL_S": "0", "MODELWARD_CANARY_CHECK_INTERVAL_S": "0"})
    yield server, versions, reference
    stop_server(server)


def send(client: Client, frame: pd.DataFrame, target: pd.Series, traffic: Traffic, *, shift: float = 0.0) -> None:
    rows = frame.assign(petal_length=frame["petal_length"] + shift)
    feedback = []
    for index, (_, row) in enumerate(rows.iterrows()):
        answer = client.deployments.predict(ENDPOINT, pd.DataFrame([row]), proba=True,
                                            routing_key=f"{shift}-{index}-{time.monotonic_ns()}")
        traffic.rows.append(row.to_dict())
        traffic.versions.append(int(answer.version or 0))
        traffic.proba.append(answer.predictions[0])
        traffic.truth.append(int(target.iloc[index]))
        traffic.request_ids.append(str(answer.request_id))
        feedback.append({"request_id": answer.request_id, "ground_truth": [int(target.iloc[index])]})
    client.deployments.feedback(ENDPOINT, feedback)


def logged(client: Client, since: datetime, count: int, timeout_s: float = 30) -> None:
    """Wait until the workers' prediction logs have written ``count`` answers since ``since``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = sum(w.requests for w in client.monitoring.windows(ENDPOINT, since=since, until=datetime.now(UTC),
                                                                   every=None))
        if found >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"only {found} of {count} answers reached the prediction log")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_drift_fires_an_alert_that_rolls_the_canary_back_and_then_resolves(world) -> None:  # type: ignore[no-untyped-def]
    server, (v1, v2), reference = world
    features, target = iris()
    sample = np.random.default_rng(3).choice(len(features), size=90, replace=False)
    frame, truth = features.iloc[sample].reset_index(drop=True), target.iloc[sample].reset_index(drop=True)
    receiver = Receiver([])
    client = Client(server.url)
    try:
        hook = client.webhooks.add(receiver.url, ["alert.*"])
        client.deployments.create(ENDPOINT, model="iris", version=v1, environment="production")
        client.deployments.release(ENDPOINT, v2, strategy="canary", steps=[50, 100])
        started = datetime.now(UTC)

        normal = Traffic()
        send(client, frame, truth, normal)
        logged(client, started, 90)
        assert client.monitoring.evaluate_alerts(ENDPOINT) == []  # the inputs look like the reference

        shifted_at = datetime.now(UTC)
        shifted = Traffic()
        send(client, frame, truth, shifted, shift=4.0)
        shifted_until = datetime.now(UTC) + timedelta(milliseconds=1)
        logged(client, started, 180)
        moved = client.monitoring.evaluate_alerts(ENDPOINT)
        assert moved, [(a.state, a.value, a.evaluated_at, a.details.get("drift", {}).get("petal_length"))
                       for a in client.monitoring.alerts(ENDPOINT)]
        [pending] = moved
        assert (pending.rule, pending.from_state, pending.to_state) == ("petal-drift", "inactive", "pending")
        time.sleep(1.2)
        [fired] = client.monitoring.evaluate_alerts(ENDPOINT)
        assert (fired.from_state, fired.to_state) == ("pending", "firing") and fired.value >= 0.5
        assert fired.actions == [{"action": "rollback", "deployment": ENDPOINT}]
        rolled = client.deployments.get(ENDPOINT)
        assert rolled.state.weights() == {v1: 100}
        assert rolled.state.reason.startswith("alert 'petal-drift' fired: drift.psi.petal_length over 8s")

        time.sleep(max(0.0, WINDOW_S - (datetime.now(UTC) - shifted_until).total_seconds()) + 0.5)
        calm = Traffic()
        send(client, frame, truth, calm)
        logged(client, started, 270)
        [resolved] = client.monitoring.evaluate_alerts(ENDPOINT)
        assert (resolved.from_state, resolved.to_state) == ("firing", "resolved") and resolved.value < 0.5
        assert {calm_version for calm_version in calm.versions} == {v1}  # after the rollback

        drift_window = client.monitoring.drift(ENDPOINT, since=shifted_at, until=shifted_until, every=None)[0]
        petal = drift_window.report.features["petal_length"]
        current = np.array([row["petal_length"] for row in shifted.rows])
        expected = stats.ks_2samp(reference["petal_length"], current)
        assert petal.tests["ks"].statistic == pytest.approx(expected.statistic, abs=1e-9)
        assert petal.tests["ks"].value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-12)
        distance = stats.wasserstein_distance(reference["petal_length"], current)
        assert petal.tests["wasserstein"].statistic == pytest.approx(distance, abs=1e-9)
        assert petal.status == "drift" and drift_window.report.features["sepal_width"].status != "drift"
        assert drift_window.rows == 90

        windows = client.monitoring.windows(ENDPOINT, since=started, until=datetime.now(UTC), every=None)
        answered: dict[int, list[int]] = {}
        for traffic in (normal, shifted, calm):
            for i, version in enumerate(traffic.versions):
                answered.setdefault(version, []).append(int(np.argmax(traffic.proba[i])) == traffic.truth[i])
        assert {w.version: w.requests for w in windows} == {v: len(hits) for v, hits in answered.items()}
        for window in windows:
            assert window.quality["accuracy"] == pytest.approx(np.mean(answered[window.version]), abs=1e-12)
            assert 0.0 <= window.estimated["accuracy"] <= 1.0 and window.estimated_rows == window.requests

        deadline = time.monotonic() + 20  # the server's dispatcher sends the outbox every second
        while len(receiver.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        events = []
        for headers, body in receiver.received:
            signature = "sha256=" + hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["x-modelward-signature"], signature)
            events.append(json.loads(body)["event"])
        assert events == ["alert.pending", "alert.firing", "alert.resolved"]

        scrapes = [samples(httpx.get(f"{server.url}/metrics").text) for _ in range(4)]  # both workers answer
        for scrape in scrapes:
            state = (("endpoint", ENDPOINT), ("rule", "petal-drift"), ("severity", "critical"), ("state", "resolved"))
            assert scrape[("modelward_alert_state", state)] == 1.0
            assert (("modelward_drift_score", (("endpoint", ENDPOINT), ("feature", "petal_length"), ("test", "psi"))))\
                in scrape

        # the evidence of an answer the canary gave before the rollback, and of one after it
        canary_answer = shifted.request_ids[shifted.versions.index(v2)]
        before = client.evidence.for_request(canary_answer)
        assert before.versions == [v2] and before.deployment is not None
        assert [(a.version, a.label) for a in before.deployment.answered] == [(v2, "canary")]
        assert {a.reviewer for a in before.models[0].governance.approvals} == {APPROVER.name}
        after = client.evidence.for_request(calm.request_ids[0])
        assert after.versions == [v1] and after.deployment.action == "deployment.rolled_back"
        # answered while the alert still fired (it resolved at the evaluation after this traffic)
        assert [a.rule for a in after.alerts.firing] == ["petal-drift"] and after.audit.verification.ok
        assert [a.rule for a in before.alerts.firing] == []
        html = client.monitoring.report(ENDPOINT, since=started, until=datetime.now(UTC), format="html").decode()
        assert "petal-drift" in html and "alert:petal-drift" in html
    finally:
        client.close()
        receiver.close()


def test_the_dashboard_of_the_endpoint_answers(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, _, _ = world
    page = httpx.get(f"{server.url}/ui/deployments/{ENDPOINT}/monitoring", params={"every": "minute"})
    assert page.status_code == 200 and "petal-drift" in page.text
    assert httpx.get(f"{server.url}/ui/deployments/{ENDPOINT}/monitoring", params={"since": "soon"}).status_code == 400

