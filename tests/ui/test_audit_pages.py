"""The audit log page in a real headless Chromium against a real server process."""

from __future__ import annotations

from typing import Any

import pytest

from modelward.domain.actors import Role
from modelward.sdk.client import Client
from modelward.services import users
from modelward.services.backend import Backend
from modelward.settings import Settings


@pytest.fixture
def audited(live_server: Any, unique: str) -> dict[str, Any]:
    name = f"audited-{unique}"
    backend = Backend.from_settings(Settings(home=live_server.home))  # the server's own store
    try:  # acting as someone takes a stored user: bob logs work and comments
        users.create_user(backend, f"bob-{unique}", frozenset({Role.CONTRIBUTOR, Role.REVIEWER}))
    finally:
        backend.close()
    with Client(live_server.url, user=f"bob-{unique}") as client:
        client.models.create(name)
        run = client.runs.create(client.experiments.get_or_create(f"audit-{unique}").id)
        client.artifacts.upload_bytes(run.id, "model/m.txt", b"m")
        client.models.register(name, run_id=run.id)
        client.governance.comment(name, 1, "first look")
        client.governance.comment(name, 1, "second look")
    return {"url": live_server.url, "name": name, "user": f"bob-{unique}"}


def test_audit_page_shows_the_chain_intact_and_filters(page: Any, audited: dict[str, Any]) -> None:
    page.goto(audited["url"] + "/ui/audit")
    assert "Chain intact" in page.locator("#chain-status").inner_text()
    page.fill("#f-model", audited["name"])
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    rows = page.locator("#audit-table tbody tr")
    assert rows.count() >= 1
    assert all(audited["name"] in text for text in rows.all_inner_texts())
    page.fill("#f-user", "nobody-at-all")
    page.get_by_role("button", name="Filter").click()
    assert "No event matches these filters" in page.locator(".empty").inner_text()
    assert page.console_errors == []


def test_filter_by_user_and_action_links(page: Any, audited: dict[str, Any]) -> None:
    page.goto(f"{audited['url']}/ui/audit?user={audited['user']}")
    actions = page.locator("#audit-table tbody td:nth-child(4)").all_inner_texts()
    assert actions == ["review.commented", "review.commented", "model_version.registered", "run.artifact_uploaded",
                       "model.created"]
    assert all(audited["user"] in t for t in page.locator("#audit-table tbody td:nth-child(3)").all_inner_texts())
    page.locator("#audit-table tbody td:nth-child(4) a").first.click()
    page.wait_for_load_state()
    assert "action=" in page.url
    assert page.console_errors == []


def test_time_filters_and_bad_times_are_explained(page: Any, audited: dict[str, Any]) -> None:
    page.goto(f"{audited['url']}/ui/audit?model={audited['name']}&since=2999-01-01T00:00")
    assert "No event matches" in page.locator(".empty").inner_text()
    page.goto(f"{audited['url']}/ui/audit?since=yesterday")
    assert "since 'yesterday' is not a date or time" in page.locator("[role=alert]").inner_text()
