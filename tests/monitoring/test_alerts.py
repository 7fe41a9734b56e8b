"""Alert rules judged on an endpoint's prediction log, on SQLite and PostgreSQL: pending -> firing
-> resolved with the for-duration, the worst version named, an audit event and a signed webhook
(a real HTTP listener) for each move, the rollback a firing rule asks for (the rollback names the
alert as its trigger), idempotent evaluation, and the lease that lets one process of several run
the schedule.

Records go through the real PredictionLog with times in the past; ``evaluate(at=...)`` judges the
rules at those moments, as the scheduler would have."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from modelward.domain.actors import Actor
from modelward.domain.alerts import AlertState
from modelward.domain.predictions import PredictionRecord
from modelward.errors import InvalidInput, NotFound, PermissionDenied
from modelward.services import alerts, audit, deployments, kpis, predictions, webhooks
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from tests.deployments.helpers import APPROVER, POLICY, approved_versions
from tests.fixtures.postgres import drop_database, new_database
from tests.fixtures.webhook_receiver import Receiver

RULES = """\
monitoring:
  alerts:
    - {{name: error-burst, metric: error_rate, window: 10m, comparison: ">", threshold: 0.2, for: 5m,
       severity: critical, rollback: true}}
    - {{name: accuracy-drop, metric: accuracy, window: 10m, comparison: "<", threshold: 0.8}}
    - {{name: quiet, metric: request_rate, window: 10m, comparison: "<", threshold: 0.001}}
    - {{name: revenue-low, metric: kpi.revenue.sum, window: 10m, comparison: "<", threshold: 10}}
"""
ALERT_POLICY = POLICY + RULES
T0 = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
LABELLER = Actor(name="labeller")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Backend, list[int]]]:
    admin = request.getfixturevalue("postgres_admin") if request.param == "postgres" else None
    database_url = new_database(admin) if admin is not None else None
    backend = Backend.from_settings(Settings(home=tmp_path_factory.mktemp("alerts"), database_url=database_url))
    versions = approved_versions(backend, "iris", 2, policy=ALERT_POLICY)
    yield backend, versions
    backend.close()
    if admin is not None and database_url is not None:
        drop_database(admin, database_url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    serving = Receiver([])
    yield serving
    serving.close()


def traffic(backend: Backend, endpoint: str, start: datetime, minutes: int, *, version: int, failing_share: float = 0.0,
            wrong_share: float = 0.0, per_minute: int = 10) -> None:
    """``per_minute`` answers a minute for ``minutes`` from ``start``; a share fail (500) or answer
    wrongly (label 2 where the truth is 0); every answer gets its ground truth."""
    records, truth = [], []
    for minute in range(minutes):
        for i in range(per_minute):
            request_id = f"{endpoint}-{version}-{start.isoformat()}-{minute}-{i}"
            fails, wrong = i < failing_share * per_minute, i < wrong_share * per_minute
            records.append(PredictionRecord(
                request_id=request_id, endpoint=endpoint, model_name="iris", version=version, mode="live",
                at=start + timedelta(minutes=minute, seconds=i), latency_ms=4.0, status=500 if fails else 200,
                error="boom" if fails else None, inputs=[[5.1, 3.5, 1.4, 0.2]], outputs=None if fails else [2 if wrong else 0],
                rows=1))
            truth.append({"request_id": request_id, "ground_truth": [0]})
    log = PredictionLog(backend, capacity=len(records), batch_size=len(records))
    assert all(log.submit(r) for r in records)
    log.close()
    predictions.add_feedback(backend, LABELLER, endpoint, truth)


def canary(backend: Backend, name: str, versions: list[int]) -> None:
    v1, v2 = versions
    deployments.create(backend, APPROVER, name, model="iris", environment="production", version=v1)
    deployments.release(backend, APPROVER, name, v2, strategy="canary", steps=[50, 100])
    assert deployments.get(backend, name).state.weights() == {v1: 50, v2: 50}


def by_rule(moves: list) -> dict[str, tuple[str, str]]:  # type: ignore[type-arg]
    return {m.rule: (m.from_state.value, m.to_state.value) for m in moves}


def test_pending_firing_rollback_resolved_with_audit_and_signed_webhooks(store, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    backend, versions = store
    v1, v2 = versions
    hook = webhooks.subscribe(backend, receiver.url, ["alert.*", "deployment.rolled_back"])
    canary(backend, "churn-alerts", versions)
    endpoint = "churn-alerts"

    traffic(backend, endpoint, T0, 10, version=v1)
    traffic(backend, endpoint, T0, 10, version=v2)
    assert alerts.evaluate(backend, endpoint=endpoint, at=T0 + timedelta(minutes=10)) == []
    listed = {a.rule: a for a in alerts.list_(backend, endpoint=endpoint)}
    assert {a.state for a in listed.values()} == {AlertState.INACTIVE}
    assert listed["error-burst"].value == 0.0 and listed["accuracy-drop"].value == 1.0
    assert listed["quiet"].value == pytest.approx(200 / 600)

    # the canary starts failing half its answers and getting a third of the rest wrong
    traffic(backend, endpoint, T0 + timedelta(minutes=10), 20, version=v1)
    traffic(backend, endpoint, T0 + timedelta(minutes=10), 20, version=v2, failing_share=0.5, wrong_share=0.8)
    moves = alerts.evaluate(backend, endpoint=endpoint, at=T0 + timedelta(minutes=16))
    assert by_rule(moves) == {"error-burst": ("inactive", "pending"), "accuracy-drop": ("inactive", "firing")}
    burst = next(m for m in moves if m.rule == "error-burst")
    assert burst.version == v2 and burst.value == pytest.approx(0.5 * 6 / 10)  # 6 of the window's 10 minutes
    accuracy = next(m for m in moves if m.rule == "accuracy-drop")
    # minutes 6-9 all 10 right, minutes 10-15 two right of the 5 answered
    assert accuracy.version == v2 and accuracy.value == pytest.approx((40 + 12) / (40 + 30))
    assert accuracy.actions == []  # it does not ask for a rollback
    assert deployments.get(backend, endpoint).state.weights() == {v1: 50, v2: 50}

    # held for less than 5 minutes: still pending; then firing, and the endpoint rolls back
    assert alerts.evaluate(backend, endpoint=endpoint, at=T0 + timedelta(minutes=20)) == []
    moves = alerts.evaluate(backend, endpoint=endpoint, at=T0 + timedelta(minutes=21))
    assert by_rule(moves) == {"error-burst": ("pending", "firing")}
    assert moves[0].actions == [{"action": "rollback", "deployment": endpoint}]
    after = deployments.get(backend, endpoint)
    assert after.state.weights() == {v1: 100} and after.state.action == "deployment.rolled_back"
    assert after.state.actor == "modelward:alerts"
    assert after.state.reason.startswith(f"alert 'error-burst' fired: error_rate over 10m = 0.5 (version {v2})")
    [rolled] = [e for e in audit.list_(backend, model="iris", limit=1000)
                if e.action == "deployment.rolled_back" and e.subject_id == endpoint]
    assert rolled.actor == "modelward:alerts" and rolled.details["trigger"] == "alert:error-burst"
    assert rolled.details["alert_event"] == moves[0].id
    [stored] = [e for e in alerts.history(backend, endpoint=endpoint, rule="error-burst") if e.to_state == "firing"]
    assert stored.actions == moves[0].actions

    # the same moment, or an earlier one, again: nothing moves twice
    assert alerts.evaluate(backend, endpoint=endpoint, at=T0 + timedelta(minutes=21)) == []
    assert alerts.evaluate(backend, endpoint=endpoint, at=T0 + timedelta(minutes=18)) == []

    # only the stable version answers now, and well: both alerts resolve
    traffic(backend, endpoint, T0 + timedelta(minutes=30), 10, version=v1)
    moves = alerts.evaluate(backend, endpoint=endpoint, at=T0 + timedelta(minutes=40))
    assert by_rule(moves) == {"error-burst": ("firing", "resolved"), "accuracy-drop": ("firing", "resolved")}
    state = {a.rule: a for a in alerts.list_(backend, endpoint=endpoint)}["error-burst"]
    assert state.state is AlertState.RESOLVED and state.fired_at == T0 + timedelta(minutes=21)
    assert state.resolved_at == T0 + timedelta(minutes=40)

    # no traffic at all: the traffic rule fires at once (for 0s); no data keeps the others as they are
    moves = alerts.evaluate(backend, endpoint=endpoint, at=T0 + timedelta(minutes=60))
    assert by_rule(moves) == {"quiet": ("inactive", "firing")}
    assert [a.rule for a in alerts.list_(backend, endpoint=endpoint, state="firing")] == ["quiet"]

    history = alerts.history(backend, endpoint=endpoint, rule="error-burst")
    assert [(e.from_state.value, e.to_state.value) for e in reversed(history)] == [
        ("inactive", "pending"), ("pending", "firing"), ("firing", "resolved")]
    actions = [e.action for e in audit.list_(backend, model="iris", limit=1000) if e.subject_type == "alert"]
    assert actions.count("alert.firing") == 3 and actions.count("alert.resolved") == 2
    assert audit.verify(backend).ok

    assert webhooks.deliver_due(backend)["delivered"] >= 7
    received = [(headers, json.loads(body)) for headers, body in receiver.received]
    for headers, body in receiver.received:
        expected = "sha256=" + hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-modelward-signature"], expected)
    fired = [p for h, p in received if p["event"] == "alert.firing" and p["details"]["rule"] == "error-burst"]
    assert fired[0]["subject_id"] == f"{endpoint}/error-burst" and fired[0]["details"]["version"] == v2
    assert fired[0]["details"]["value"] == pytest.approx(0.5)
    assert any(p["event"] == "deployment.rolled_back" for _, p in received)


def test_a_business_kpi_is_an_alert_rule_too(store) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, _) = store
    deployments.create(backend, APPROVER, "shop-alerts", model="iris", environment="production", version=v1)
    start = T0 + timedelta(minutes=100)
    kpis.record_many(backend, LABELLER, "shop-alerts", [
        {"name": "revenue", "value": 1.0, "at": start + timedelta(minutes=m)} for m in range(5)])
    moves = alerts.evaluate(backend, endpoint="shop-alerts", at=start + timedelta(minutes=10))
    [revenue] = [m for m in moves if m.rule == "revenue-low"]
    assert (revenue.from_state, revenue.to_state, revenue.value) == ("inactive", "firing", 5.0)
    kpis.record(backend, LABELLER, "shop-alerts", {"revenue": 30.0}, at=start + timedelta(minutes=15))
    moves = alerts.evaluate(backend, endpoint="shop-alerts", at=start + timedelta(minutes=20))
    [revenue] = [m for m in moves if m.rule == "revenue-low"]
    assert (revenue.from_state, revenue.to_state, revenue.value) == ("firing", "resolved", 30.0)


def test_bad_requests_and_a_missing_endpoint(store) -> None:  # type: ignore[no-untyped-def]
    backend, _ = store
    with pytest.raises(PermissionDenied, match="only an admin may evaluate alerts at a chosen moment"):
        alerts.evaluate(backend, at=datetime.now(UTC), actor=APPROVER)
    assert alerts.evaluate(backend, actor=APPROVER) == []  # now: anyone the route lets in
    with pytest.raises(InvalidInput, match="in the future"):
        alerts.evaluate(backend, at=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(NotFound, match="deployment 'nowhere' does not exist"):
        alerts.evaluate(backend, endpoint="nowhere")
    with pytest.raises(InvalidInput, match="state must be one of inactive, pending, firing, resolved"):
        alerts.list_(backend, state="burning")
    with pytest.raises(InvalidInput, match="limit must be between 1 and 10000"):
        alerts.history(backend, limit=0)


def test_one_scheduler_of_several_holds_the_lease(store) -> None:  # type: ignore[no-untyped-def]
    backend, _ = store
    first = alerts.AlertScheduler(backend, interval_s=30)
    second = alerts.AlertScheduler(backend, interval_s=30)
    assert first.tick() is not None  # took the lease and evaluated
    assert second.tick() is None  # the lease is the first's for 90 s
    assert alerts.lease_holder(backend) == first.holder
    assert first.tick() is not None  # renewing its own lease
    first.stop()  # gives it up
    assert second.tick() is not None and alerts.lease_holder(backend) == second.holder
    second.stop()
