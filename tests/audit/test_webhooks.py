"""Webhooks: a real HTTP receiver on loopback; retries with backoff; HMAC signatures checked here."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelward.domain.actors import Actor
from modelward.errors import InvalidInput
from modelward.sdk.client import Client
from modelward.services import audit, webhooks
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.fixtures.webhook_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    serving = Receiver([500])
    yield serving
    serving.close()


def _approve(backend: Backend, *, model: str = "credit") -> int:
    with backend.write() as session:
        event = audit.record(session, Actor(name="ann"), "model_version.approved", subject_type="model_version",
                             subject_id=f"{model}/3", model_name=model, reason="metrics fine",
                             details={"version": 3})
    return event.seq


def test_failed_delivery_is_retried_then_delivered_with_a_valid_signature(backend: Backend, receiver: Receiver) -> None:
    new = webhooks.subscribe(backend, receiver.url, ["model_version.approved", "review.requested"])
    seq = _approve(backend)
    with backend.write() as session:  # not subscribed: nothing queued
        audit.record(session, "ann", "experiment.deleted", subject_type="experiment", subject_id="e1")
    start = datetime.now(UTC)
    assert webhooks.deliver_due(backend, now=start) == {"delivered": 0, "retrying": 1, "failed": 0}
    assert webhooks.deliver_due(backend, now=start + timedelta(milliseconds=500))["retrying"] == 0  # backoff 1 s
    assert webhooks.deliver_due(backend, now=start + timedelta(seconds=2)) == {"delivered": 1, "retrying": 0, "failed": 0}
    assert webhooks.deliver_due(backend, now=start + timedelta(seconds=60)) == {"delivered": 0, "retrying": 0, "failed": 0}

    assert len(receiver.received) == 2
    headers, body = receiver.received[-1]
    expected = "sha256=" + hmac.new(new.secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-modelward-signature"], expected)
    assert headers["x-modelward-event"] == "model_version.approved"
    payload = json.loads(body)
    assert payload["event"] == "model_version.approved" and payload["audit_seq"] == seq
    assert (payload["actor"], payload["model_name"], payload["reason"]) == ("ann", "credit", "metrics fine")
    assert payload["details"] == {"version": 3} and payload["subject_id"] == "credit/3"
    assert receiver.received[0][0]["x-modelward-delivery"] == headers["x-modelward-delivery"]  # same delivery

    [delivery] = webhooks.deliveries(backend)
    assert delivery.id == headers["x-modelward-delivery"]
    assert (delivery.status.value, delivery.attempts) == ("delivered", 2)
    assert delivery.last_error is None and delivery.delivered_at is not None


def test_gives_up_after_six_attempts_with_growing_backoff(backend: Backend, receiver: Receiver) -> None:
    receiver.statuses = [503] * 10
    webhooks.subscribe(backend, receiver.url, ["model_version.*"])
    _approve(backend)
    moment = datetime.now(UTC)
    outcomes, waits = [], []
    for _ in range(6):
        counts = webhooks.deliver_due(backend, now=moment)
        outcomes.append(next(k for k, v in counts.items() if v))
        [pending] = webhooks.deliveries(backend)
        waits.append((pending.next_attempt_at - moment).total_seconds())
        moment = pending.next_attempt_at
    assert outcomes == ["retrying"] * 5 + ["failed"]
    assert waits[:5] == [1, 2, 4, 8, 16]
    [failed] = webhooks.deliveries(backend, status="failed")
    assert failed.attempts == 6 and "503" in (failed.last_error or "")
    assert len(receiver.received) == 6


def test_a_rolled_back_change_queues_nothing(backend: Backend, receiver: Receiver) -> None:
    webhooks.subscribe(backend, receiver.url, ["*"])
    with pytest.raises(RuntimeError), backend.write() as session:
        audit.record(session, "ann", "model_version.approved", subject_type="model_version", subject_id="m/1")
        raise RuntimeError("approval failed")
    # '*' also matched the webhook's own creation (a ping); the rolled-back approval queued nothing.
    assert [d.event for d in webhooks.deliveries(backend)] == ["webhook.created"]


def test_urls_and_events_are_checked_and_the_secret_never_listed(backend: Backend) -> None:
    for url in ("file:///etc/passwd", "ftp://x/", "http://", "http://user:pw@host/"):
        with pytest.raises(InvalidInput):
            webhooks.subscribe(backend, url, ["*"])
    with pytest.raises(InvalidInput, match="Approved"):
        webhooks.subscribe(backend, "https://hooks.example/x", ["Approved"])
    new = webhooks.subscribe(backend, "https://hooks.example/x", ["review.requested"], secret="s" * 20)
    assert new.secret == "s" * 20
    assert "secret" not in webhooks.list_(backend)[0].model_dump()
    webhooks.unsubscribe(backend, new.webhook.id)
    assert webhooks.list_(backend) == []
    assert [e.action for e in audit.list_(backend, newest_first=False)] == ["webhook.created", "webhook.deleted"]


def test_the_server_dispatcher_delivers_in_the_background(tmp_path: Path, receiver: Receiver) -> None:
    receiver.statuses = []
    with Client(settings=Settings(home=tmp_path / "store")) as client:
        new = client.webhooks.add(receiver.url, ["experiment.deleted"])
        assert "secret" not in client.webhooks.list()[0].model_dump()
        exp = client.experiments.create("notify-me")
        client.experiments.delete(exp.id)
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.received, "the dispatcher did not deliver within 10 s"
        headers, body = receiver.received[0]
        assert json.loads(body)["subject_id"] == exp.id
        assert hmac.compare_digest(
            headers["x-modelward-signature"],
            "sha256=" + hmac.new(new.secret.encode(), body, hashlib.sha256).hexdigest(),
        )
        deadline = time.monotonic() + 5
        while client.webhooks.deliveries()[0].status.value != "delivered" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.webhooks.deliveries()[0].status.value == "delivered"
        client.webhooks.remove(new.webhook.id)
        assert client.webhooks.list() == []
