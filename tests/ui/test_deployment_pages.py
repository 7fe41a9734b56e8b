"""Deployment pages in a real headless Chromium against a real server process with auth.

The store is built through the real services before the server starts: an approved iris model
served in production with a canary under way (one step judged healthy by the guardrails), a
second production endpoint whose canary the guardrails rolled back, and a staging endpoint
with a shadow version. Predictions go through the real prediction log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from modelward.domain.actors import Role
from modelward.domain.predictions import PredictionRecord
from modelward.sdk.client import Client
from modelward.services import deployments, predictions, users
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.deployments.helpers import DEPLOYER, approved_versions
from tests.fixtures.servers import start_server, stop_server

MODEL = "iris-ui"
PROD, EU, SHADOW = "iris-prod", "iris-eu", "iris-shadow"
ROLLBACK_REASON = "v2 answers look off to the risk desk"


def log_answers(backend: Backend, endpoint: str, version: int, count: int, *, mode: str = "live",
                status: int = 200, outputs: list[int] | None = None, ids: list[str] | None = None) -> list[str]:
    """``count`` answers of ``version`` written through the prediction log (closed: all written)."""
    log = predictions.PredictionLog(backend)
    ids = ids or [uuid.uuid4().hex for _ in range(count)]
    for index, request_id in enumerate(ids):
        answer = outputs[index] if outputs else 0
        log.submit(PredictionRecord(
            request_id=request_id, endpoint=endpoint, model_name=MODEL, version=version, mode=mode,
            at=datetime.now(UTC), latency_ms=2.0 + index % 5, status=status,
            error="model failed" if status >= 500 else None, inputs={"petal_length": 1.4},
            outputs=[answer], rows=1))
    log.close()
    return ids


def build_store(backend: Backend) -> dict[str, Any]:
    stable, canary = approved_versions(backend, MODEL, 2)
    # production: a canary at 10% judged healthy by its guardrails, so promoted to 50%
    deployments.create(backend, DEPLOYER, PROD, model=MODEL, environment="production", version=stable)
    deployments.release(backend, DEPLOYER, PROD, canary, interval_s=0, reason="new regularisation")
    log_answers(backend, PROD, canary, 25)
    log_answers(backend, PROD, stable, 60)
    assert deployments.check(backend, PROD)["state"] == "promoted"
    # a second production endpoint: the canary answers with errors, the guardrails roll it back
    deployments.create(backend, DEPLOYER, EU, model=MODEL, environment="production", version=stable)
    deployments.release(backend, DEPLOYER, EU, canary)
    log_answers(backend, EU, canary, 25, status=500)
    assert deployments.check(backend, EU)["state"] == "rolled_back"
    # staging: the canary version in shadow, agreeing with the live answers 8 times in 10
    deployments.create(backend, DEPLOYER, SHADOW, model=MODEL, environment="staging", version=stable)
    deployments.release(backend, DEPLOYER, SHADOW, canary, strategy="shadow")
    ids = log_answers(backend, SHADOW, stable, 10, outputs=[0] * 10)
    log_answers(backend, SHADOW, canary, 10, mode="shadow", ids=ids, outputs=[0] * 8 + [1] * 2)
    return {"stable": stable, "canary": canary}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("deployment-ui")
    backend = Backend.from_settings(Settings(home=home))
    try:
        tokens = {}
        for person, roles in {"dora": {Role.APPROVER}, "vera": {Role.VIEWER}}.items():
            users.create_user(backend, person, frozenset(roles))
            tokens[person] = users.create_token(backend, person).token
        versions = build_store(backend)
    finally:
        backend.close()
    # No watcher: nothing but the tests changes the deployments while the pages are read.
    server = start_server(home, env={"MODELWARD_AUTH": "true", "MODELWARD_CANARY_CHECK_INTERVAL_S": "0"})
    try:
        yield {"url": server.url, "tokens": tokens, **versions}
    finally:
        stop_server(server)


def sign_in(page: Any, setup: dict[str, Any], person: str, target: str) -> None:
    page.goto(setup["url"] + target)
    assert "/ui/login" in page.url
    page.get_by_label("API token").fill(setup["tokens"][person])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{target}")


def split_of(page: Any) -> dict[int, int]:
    """version -> weight, as the split picture draws it."""
    segments = page.locator("#split-picture g.segment")
    return {int(segments.nth(i).get_attribute("data-version")): int(segments.nth(i).get_attribute("data-weight"))
            for i in range(segments.count())}


def console_errors_besides_refusals(page: Any) -> list[str]:
    """A refused form answers with its 4xx status (and the reason in words), which Chromium logs."""
    return [e for e in page.console_errors
            if not e.startswith("Failed to load resource: the server responded with a status of 4")]


def test_the_list_shows_every_endpoint_with_its_weights_and_filters_by_environment(
        page: Any, served: dict[str, Any]) -> None:
    sign_in(page, served, "vera", "/ui/deployments")
    rows = page.locator("#deployments-table tbody tr")
    assert rows.count() == 3
    prod = page.locator(f"tr[data-deployment='{PROD}']").inner_text()
    assert f"v{served['canary']} canary 50%" in prod and f"v{served['stable']} stable 50%" in prod
    assert f"canary of version {served['canary']}: step 2 of 3 (50%)" in prod and "production" in prod
    assert f"v{served['canary']} shadow" in page.locator(f"tr[data-deployment='{SHADOW}']").inner_text()
    assert "none" in page.locator(f"tr[data-deployment='{EU}'] td:nth-child(6)").inner_text()
    page.select_option("#environment-filter", "staging")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**environment=staging")
    names = page.locator("#deployments-table tbody td:first-child").all_inner_texts()
    assert names == [SHADOW]
    assert page.locator("nav a[aria-current=page]").inner_text() == "Deployments"
    assert page.console_errors == []


def test_the_detail_page_draws_the_split_lists_the_history_and_the_guardrail_steps(
        page: Any, served: dict[str, Any]) -> None:
    sign_in(page, served, "vera", f"/ui/deployments/{PROD}")
    assert split_of(page) == {served["canary"]: 50, served["stable"]: 50}
    label = page.locator("#split-picture").get_attribute("aria-label")
    assert f"version {served['canary']} (canary) 50%" in label and f"version {served['stable']} (stable) 50%" in label
    assert [int(r) for r in page.locator("#timeline li").evaluate_all("items => items.map(i => i.dataset.revision)")] \
        == [3, 2, 1]
    actions = page.locator("#timeline li .action").all_inner_texts()
    assert actions == ["deployment.promoted", "deployment.release_started", "deployment.created"]
    assert "new regularisation" in page.locator("#timeline li[data-revision='2']").inner_text()
    assert "automatic" in page.locator("#timeline li[data-revision='3']").inner_text()  # the canary watcher's step
    step = page.locator("table.step-check[data-step='0']")
    assert step.get_attribute("data-healthy") == "yes"
    figures = step.inner_text()
    assert "requests\t25\t60" in figures and "error rate\t0.0%\t0.0%" in figures and "healthy" in figures
    assert "under way" in page.locator("section.rollout .outcome").inner_text()
    predictions_shown = page.locator("#predictions-table tbody tr")
    assert predictions_shown.count() == 25  # the newest 25 of 85
    assert page.locator("#version-stats tr[data-version='2'][data-mode='live'] td:nth-child(3)").inner_text() == "25"
    assert page.console_errors == []


def test_a_guardrail_rollback_stands_out_with_the_failed_step_and_its_reasons(
        page: Any, served: dict[str, Any]) -> None:
    sign_in(page, served, "vera", f"/ui/deployments/{EU}")
    assert split_of(page) == {served["stable"]: 100}
    newest = page.locator("#timeline li").first
    assert newest.get_attribute("data-action") == "deployment.rolled_back"
    assert "rollback" in (newest.get_attribute("class") or "") and "guardrail" in newest.get_attribute("class")
    assert "modelward:guardrails" in newest.inner_text() and "rollback (guardrail)" in newest.inner_text()
    step = page.locator("table.step-check[data-step='0']")
    assert step.get_attribute("data-healthy") == "no"
    assert "error rate\t100.0%" in step.inner_text()
    assert "error rate 100.0% is above 10.0%" in page.locator("section.rollout ul.reasons").inner_text()
    assert "rolled back" in page.locator("section.rollout .outcome").inner_text()
    assert page.console_errors == []


def test_the_shadow_comparison_shows_agreement(page: Any, served: dict[str, Any]) -> None:
    sign_in(page, served, "vera", f"/ui/deployments/{SHADOW}")
    assert split_of(page) == {served["stable"]: 100}
    assert "shadow" in page.locator(f"#idle-routes li[data-version='{served['canary']}']").inner_text()
    assert page.locator("#shadow-compared").inner_text() == "10"
    assert page.locator("#shadow-agreement").inner_text() == "80.0%"
    assert page.locator("#shadow-difference").inner_text() == "0.2"
    assert page.locator("#version-stats tr[data-mode='shadow'] td:nth-child(3)").inner_text() == "10"
    assert page.console_errors == []


def test_a_viewer_is_refused_the_rollback_in_words(page: Any, served: dict[str, Any]) -> None:
    sign_in(page, served, "vera", f"/ui/deployments/{PROD}")
    page.get_by_role("button", name="Roll back…").click()
    page.fill("#rollback-reason", "I would like to")
    page.get_by_role("button", name="Confirm rollback").click()
    refusal = page.locator("#refusal").inner_text()
    assert "only approver may change deployments" in refusal and "'vera' holds none of these roles" in refusal
    assert page.locator("#rollback-reason").input_value() == "I would like to"  # kept for a retry
    assert split_of(page) == {served["canary"]: 50, served["stable"]: 50}
    assert console_errors_besides_refusals(page) == []


def test_the_rollback_asks_for_confirmation_then_returns_to_the_stable_version(
        page: Any, served: dict[str, Any]) -> None:
    sign_in(page, served, "dora", f"/ui/deployments/{PROD}")
    page.get_by_role("button", name="Roll back…").click()
    confirm = page.locator("#rollback-confirm")
    assert f"version {served['stable']} (stable) 100%" in page.locator("#rollback-target").inner_text()
    assert split_of(page) == {served["canary"]: 50, served["stable"]: 50}  # asking changed nothing
    unconfirmed = page.request.post(f"{served['url']}/ui/deployments/{PROD}/rollback",
                                    form={"revision": "3", "reason": "no second step"},
                                    headers={"origin": served["url"]})
    assert unconfirmed.status == 200 and "Confirm rollback" in unconfirmed.text()  # a post alone only asks
    with Client(served["url"], token=served["tokens"]["dora"]) as client:
        assert client.deployments.get(PROD).state.revision == 3
    confirm.get_by_label("Reason").fill(ROLLBACK_REASON)
    confirm.get_by_role("button", name="Confirm rollback").click()
    assert "Rolled back" in page.locator("[role=status]").inner_text()
    assert split_of(page) == {served["stable"]: 100}
    newest = page.locator("#timeline li").first
    assert newest.get_attribute("data-action") == "deployment.rolled_back"
    assert ROLLBACK_REASON in newest.inner_text() and "dora" in newest.inner_text()
    assert "rollback (manual)" in newest.inner_text()
    with Client(served["url"], token=served["tokens"]["dora"]) as client:
        history = client.deployments.history(PROD)
        assert history[-1].action == "deployment.rolled_back" and history[-1].reason == ROLLBACK_REASON
        assert {r.version: r.weight for r in history[-1].routes} == {served["stable"]: 100}
    page.goto(f"{served['url']}/ui/models/{MODEL}/versions/{served['stable']}")
    assert f"{PROD} (production; live, 100%)" in page.locator("#serving-in").inner_text()
    page.goto(f"{served['url']}/ui/models/{MODEL}/versions/{served['canary']}")
    assert PROD not in page.locator("#serving-in").inner_text()
    assert f"{SHADOW} (staging; shadow)" in page.locator("#serving-in").inner_text()
    assert page.console_errors == []
