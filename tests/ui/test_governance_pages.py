"""Governance pages in a real headless Chromium against real server processes.

Without auth every browser visitor is the operator 'local' (an admin); other people act
through the SDK's ``user=``, as names the store does not know (contributors: they may
register and evaluate). The signed-in test starts a server with auth and real tokens.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelward import models
from modelward.domain.actors import Role
from modelward.domain.governance import RISK_CATEGORIES
from modelward.sdk.client import Client
from modelward.services import users
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.fixtures.servers import start_server, stop_server

POLICY = """\
model: {name}
gates:
  - {{metric: roc_auc, min: 0.9}}
  - {{fairness: demographic_parity_difference, sensitive_feature: sex, max: 0.2}}
review:
  approvals: 1
  compliance_checklist: [data privacy review done]
"""


def cancer_frame() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["sex"] = np.where(np.random.default_rng(0).random(len(frame)) < 0.5, "F", "M")
    return frame


FRAME = cancer_frame()


def fitted_model() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = FRAME.drop(columns=["target", "sex"])
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(features, FRAME["target"])


MODEL = fitted_model()


def upload_dataset(client: Client, experiment: str) -> dict[str, str]:
    run = client.runs.create(client.experiments.get_or_create(experiment).id, name="eval-data")
    buffer = io.BytesIO()
    FRAME.to_parquet(buffer)
    client.artifacts.upload_bytes(run.id, "data/eval.parquet", buffer.getvalue())
    client.runs.end(run.id)
    return {"run_id": run.id, "path": "data/eval.parquet"}


def register(client: Client, name: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save(MODEL, Path(tmp) / "model", input_example=FRAME.drop(columns=["target", "sex"]).head())
        return client.models.register(name, local_path=folder).version


def with_dataset(policy: str, data: dict[str, str]) -> str:
    """The policy evaluating on ``data``: only the policy's own dataset can move a version."""
    return policy + f"evaluation_dataset: {{run_id: {data['run_id']}, path: {data['path']}}}\n"


def in_review(url: str, name: str, *, author: str, data: dict[str, str], **client_args: Any) -> int:
    """A version registered by ``author``, evaluated on registration on the policy's ``data``, now in review."""
    with Client(url, user=author, **client_args) as client:
        version = register(client, name)
        assert client.governance.state(name, version).state == "in_review"
    return version


@pytest.fixture
def governed(live_server: Any, unique: str) -> dict[str, Any]:
    name = f"credit-{unique}"
    with Client(live_server.url) as admin:  # the operator: the local admin
        data = upload_dataset(admin, f"eval-{unique}")
        admin.policies.set(with_dataset(POLICY.format(name=name), data))
    by_alice = in_review(live_server.url, name, author="alice", data=data)
    return {"url": live_server.url, "name": name, "data": data, "by_alice": by_alice}


def console_errors_besides_refusals(page: Any) -> list[str]:
    """A refused form answers with its 4xx status (and the reason in words), which Chromium logs."""
    return [e for e in page.console_errors
            if not e.startswith("Failed to load resource: the server responded with a status of 4")]


def review_url(setup: dict[str, Any], version: int) -> str:
    return f"{setup['url']}/ui/models/{setup['name']}/versions/{version}/review"


def test_review_page_shows_every_gate_and_fairness_per_group(page: Any, governed: dict[str, Any]) -> None:
    page.goto(review_url(governed, governed["by_alice"]))
    assert page.locator("#version-state").inner_text() == "in review"
    gates = page.locator("#gates-table tbody tr")
    assert gates.count() == 2
    assert "roc_auc" in gates.nth(0).inner_text() and "passed" in gates.nth(0).inner_text()
    assert "demographic_parity_difference" in gates.nth(1).inner_text()
    page.wait_for_selector("#fairness-charts .main-svg")
    assert page.locator("#fairness-charts .barlayer .trace").count() >= 2  # one per rate
    assert page.locator("table.fairness tbody tr").count() == 2  # groups F and M
    assert page.console_errors == []


def test_approval_through_the_ui_after_the_evidence_is_complete(page: Any, governed: dict[str, Any]) -> None:
    name, version = governed["name"], governed["by_alice"]
    page.goto(review_url(governed, version))
    page.get_by_role("button", name="Approve").click()  # nothing recorded yet: refused, with what is missing
    refusal = page.locator("#refusal").inner_text()
    assert "cannot be approved yet" in refusal and "risk assessment: rate" in refusal
    for category in RISK_CATEGORIES:
        page.select_option(f"#rating_{category}", "low")
        page.fill(f"#rationale_{category}", f"{category}: reviewed, low")
    page.get_by_role("button", name="Save risk assessment").click()
    assert "risk assessment is saved" in page.locator("[role=status]").inner_text()
    page.get_by_role("checkbox", name="data privacy review done").check()
    page.fill("#evidence_0", "ticket PRIV-7")
    page.get_by_role("button", name="Save checklist").click()
    missing = page.locator("#missing").inner_text()
    assert "approvals: 0 of 1" in missing and "Your approval completes it." in missing
    assert page.locator("#approvals-so-far").inner_text() == "0 of 1"  # the same count as the missing list
    page.fill("#decision-comment", "looks good to me")
    page.get_by_role("button", name="Approve").click()
    assert "approval is recorded" in page.locator("[role=status]").inner_text()
    assert page.locator("#version-state").inner_text() == "approved"
    assert page.get_by_role("button", name="Approve").count() == 0 and page.get_by_role("button", name="Reject").count() == 0
    assert "completes it" not in page.locator("#missing").inner_text()
    with Client(governed["url"]) as client:
        assert client.models.get_version(name, version).status == "approved"
        approved = client.audit.list(model=name, action="model_version.approved")
        assert approved and approved[0].actor == "local" and approved[0].reason == "looks good to me"
        assert {e.action for e in client.audit.list(model=name, actor="local")} >= {"risk.assessed",
                                                                                     "checklist.item_checked"}
    assert console_errors_besides_refusals(page) == []


def test_the_author_is_told_why_they_cannot_approve(page: Any, governed: dict[str, Any]) -> None:
    name = governed["name"]
    own = in_review(governed["url"], name, author="local", data=governed["data"])
    page.goto(review_url(governed, own))
    page.fill("#decision-comment", "approving my own work")
    page.get_by_role("button", name="Approve").click()
    refusal = page.locator("#refusal").inner_text()
    assert "four-eyes" in refusal and "cannot approve" in refusal
    assert page.locator("#decision-comment").input_value() == "approving my own work"  # kept for a retry
    with Client(governed["url"]) as client:
        assert client.models.get_version(name, own).status == "in_review"
    page.fill("#decision-comment", "")
    page.get_by_role("button", name="Reject").click()
    assert "needs a comment saying why" in page.locator("#refusal").inner_text()
    page.fill("#decision-comment", "withdrawn by its author")  # rejecting one's own version is no four-eyes matter
    page.get_by_role("button", name="Reject").click()
    assert page.locator("#version-state").inner_text() == "rejected"
    assert page.locator("#decision-comment").count() == 0  # no decision is offered on a final state
    assert console_errors_besides_refusals(page) == []


def test_queue_lists_others_versions_not_ones_own(page: Any, governed: dict[str, Any]) -> None:
    own = in_review(governed["url"], governed["name"], author="local", data=governed["data"])
    page.goto(governed["url"] + "/ui/reviews")
    links = page.locator("#queue-table tbody td:first-child a").all_inner_texts()
    assert f"{governed['name']} v{governed['by_alice']}" in links
    assert f"{governed['name']} v{own}" not in links
    page.get_by_role("link", name="Review", exact=True).first.click()
    page.wait_for_selector("#gates-table")
    assert page.console_errors == []


def test_compliance_report_page(page: Any, governed: dict[str, Any]) -> None:
    page.goto(review_url(governed, governed["by_alice"]).replace("/review", "/report"))
    frame = page.frame_locator("iframe.report")
    assert "Compliance report" in frame.locator("h1").inner_text()
    assert frame.locator("svg[role=img]").count() >= 1  # the fairness bar chart
    assert page.console_errors == []


# -- signed in, with roles ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("secured-ui")
    backend = Backend.from_settings(Settings(home=home))
    tokens = {}
    for person, roles in {"ada": {Role.ADMIN}, "vera": {Role.VIEWER}, "rita": {Role.APPROVER, Role.RISK},
                          "cora": {Role.CONTRIBUTOR}}.items():
        users.create_user(backend, person, frozenset(roles))
        tokens[person] = users.create_token(backend, person).token
    backend.close()
    server = start_server(home, env={"MODELWARD_AUTH": "true"})
    try:
        name = "secured-credit"
        with Client(server.url, token=tokens["ada"]) as admin:
            data = upload_dataset(admin, "eval")
            admin.policies.set(with_dataset(POLICY.format(name=name), data))
        version = in_review(server.url, name, author="cora", data=data, token=tokens["cora"])
        yield {"url": server.url, "tokens": tokens, "name": name, "version": version}
    finally:
        stop_server(server)


def sign_in(page: Any, setup: dict[str, Any], person: str, target: str) -> None:
    page.goto(setup["url"] + target)
    assert "/ui/login" in page.url  # not signed in yet: sent to the sign-in page
    page.get_by_label("API token").fill(setup["tokens"][person])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{target}")


def test_a_viewer_sees_no_decision_buttons_and_the_server_refuses_anyway(page: Any, secured: dict[str, Any]) -> None:
    target = f"/ui/models/{secured['name']}/versions/{secured['version']}/review"
    sign_in(page, secured, "vera", target)
    assert page.get_by_role("button", name="Approve").count() == 0
    assert page.get_by_role("button", name="Save risk assessment").count() == 0
    response = page.request.post(secured["url"] + target.replace("/review", "/approve"),
                                 form={"comment": "sneaky"}, headers={"origin": secured["url"]})
    assert response.status == 403 and "lacks the &#39;approve&#39; permission" in response.text()
    assert page.console_errors == []


def test_an_approver_sees_the_decision_buttons(page: Any, secured: dict[str, Any]) -> None:
    target = f"/ui/models/{secured['name']}/versions/{secured['version']}/review"
    sign_in(page, secured, "rita", target)
    assert page.get_by_role("button", name="Approve").count() == 1
    assert page.get_by_role("button", name="Resubmit for review").count() == 0
    page.goto(secured["url"] + "/ui/reviews")
    assert f"{secured['name']} v{secured['version']}" in page.locator("#queue-table").inner_text()
    assert page.console_errors == []
