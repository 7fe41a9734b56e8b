"""The evidence through every interface, over one real history (the service tests' recipe on
SQLite: two approved versions, a canary released with a hostile reason, traffic through the
prediction log, feedback, an alert that rolls the canary back): REST (JSON equal to the
service's document, HTML autoescaped, PDF, our 404), the SDK, the CLI, and the UI page in the
real headless Chromium against a real server process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from modelward.cli import app as cli_app
from modelward.domain.evidence import Evidence
from modelward.errors import NotFound
from modelward.sdk.client import Client
from modelward.services import alerts, deployments, evidence, governance, predictions
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.deployments.helpers import APPROVER, POLICY, approved_versions
from tests.evidence.test_evidence import ENDPOINT, LABELLER, RULES, _register_with_environment, _serve
from tests.fixtures.servers import start_server, stop_server

HOSTILE = '<script>alert("x")</script> try v2 & see'


@dataclass
class Store:
    home: Path
    backend: Backend
    url: str
    v1: int
    v2: int
    canary: str  # answered by the canary (v2) before the rollback
    after: str  # answered by v1 after it


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    home = tmp_path_factory.mktemp("evidence-interfaces")
    backend = Backend.from_settings(Settings(home=home))
    [v1] = approved_versions(backend, "iris", 1, policy=POLICY + RULES)
    v2 = _register_with_environment(backend)
    governance.approve(backend, APPROVER, "iris", v2, comment="better on the holdout")
    deployments.create(backend, APPROVER, ENDPOINT, model="iris", environment="production", version=v1)
    deployments.release(backend, APPROVER, ENDPOINT, v2, strategy="canary", steps=[50, 100], reason=HOSTILE)
    _serve(backend, "stable", v1, 5)
    canary = _serve(backend, "canary", v2, 5)
    predictions.add_feedback(backend, LABELLER, ENDPOINT, [{"request_id": canary[0], "ground_truth": [0]}])
    _serve(backend, "canary-failing", v2, 10, failing=True)
    [fired] = alerts.evaluate(backend, endpoint=ENDPOINT)
    assert fired.to_state == "firing"
    after = _serve(backend, "after", v1, 2)
    server = start_server(home, env={"MODELWARD_CANARY_CHECK_INTERVAL_S": "0"})
    try:
        yield Store(home, backend, server.url, v1, v2, canary[0], after[0])
    finally:
        stop_server(server)
        backend.close()


def _stable(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what is stamped at the moment it is made (when, and the digest's check)."""
    document = json.loads(json.dumps(document))
    document.pop("generated_at")
    for model in document["models"]:
        model["version"]["digest"].pop("checked_at")
    return document


# -- REST -----------------------------------------------------------------------------------------


def test_rest_json_is_the_services_document(store: Store) -> None:
    answer = httpx.get(f"{store.url}/api/v1/evidence/requests/{store.canary}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    expected = evidence.for_request(store.backend, store.canary).model_dump(mode="json")
    assert _stable(answer.json()) == _stable(expected)
    assert answer.json()["versions"] == [store.v2]


def test_rest_for_a_moment_and_for_a_version(store: Store) -> None:
    moment = evidence.for_request(store.backend, store.after).at
    answer = httpx.get(f"{store.url}/api/v1/evidence/endpoints/{ENDPOINT}", params={"at": moment.isoformat()})
    assert answer.status_code == 200, answer.text
    assert answer.json()["kind"] == "moment" and answer.json()["versions"] == [store.v1]
    version = httpx.get(f"{store.url}/api/v1/evidence/models/iris/versions/{store.v2}")
    assert version.status_code == 200 and version.json()["models"][0]["version"]["version"] == store.v2


def test_rest_pdf_and_html(store: Store) -> None:
    pdf = httpx.get(f"{store.url}/api/v1/evidence/requests/{store.canary}", params={"format": "pdf"}, timeout=120)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    html = httpx.get(f"{store.url}/api/v1/evidence/requests/{store.canary}", params={"format": "html"}).text
    assert "<script" not in html.lower()  # the hostile reason is shown, never run
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; try v2 &amp; see" in html
    assert f'href="{store.url}/ui/models/iris/versions/{store.v2}"' in html


def test_rest_errors_are_ours(store: Store) -> None:
    missing = httpx.get(f"{store.url}/api/v1/evidence/requests/no-such-request")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST" and "no-such-request" in missing.json()["message"]
    bad_format = httpx.get(f"{store.url}/api/v1/evidence/requests/{store.canary}", params={"format": "docx"})
    assert bad_format.status_code == 400 and "docx" in bad_format.json()["message"]
    bad_moment = httpx.get(f"{store.url}/api/v1/evidence/endpoints/{ENDPOINT}", params={"at": "yesterday"})
    assert bad_moment.status_code == 400 and "'at'" in bad_moment.json()["message"]
    no_moment = httpx.get(f"{store.url}/api/v1/evidence/endpoints/{ENDPOINT}")
    assert no_moment.status_code == 400 and "'at'" in no_moment.json()["message"]


# -- SDK --------------------------------------------------------------------------------------------


def test_the_sdk_returns_the_document_and_the_pdf(store: Store, tmp_path: Path) -> None:
    with Client(store.url) as client:
        found = client.evidence.for_request(store.after)
        assert isinstance(found, Evidence) and found.versions == [store.v1]
        assert found.deployment is not None and found.deployment.action == "deployment.rolled_back"
        then = client.evidence.for_moment(ENDPOINT, evidence.for_request(store.backend, store.canary).at)
        assert then.kind == "moment" and sorted(then.versions) == sorted([store.v1, store.v2])
        assert client.evidence.for_version("iris", store.v1).versions == [store.v1]
        written = tmp_path / "evidence.pdf"
        assert client.evidence.pdf(store.canary, path=written).startswith(b"%PDF")
        assert written.read_bytes().startswith(b"%PDF")
        with pytest.raises(NotFound, match="no-such-request"):
            client.evidence.for_request("no-such-request")
    with Client(settings=Settings(home=store.home)) as embedded:  # the same routes, in process
        assert embedded.evidence.for_request(store.canary).versions == [store.v2]


# -- CLI ---------------------------------------------------------------------------------------------


def _cli(store: Store, *args: str) -> Any:
    return CliRunner().invoke(cli_app, list(args), env={"MODELWARD_TRACKING_URI": store.url, "COLUMNS": "200"})


def test_the_cli_prints_the_json_and_a_summary(store: Store) -> None:
    as_json = _cli(store, "evidence", store.canary, "--json")
    assert as_json.exit_code == 0, as_json.output
    printed = json.loads(as_json.output)
    assert printed["request_id"] == store.canary and printed["versions"] == [store.v2]
    assert _stable(printed) == _stable(evidence.for_request(store.backend, store.canary).model_dump(mode="json"))
    readable = _cli(store, "evidence", store.after)
    assert readable.exit_code == 0, readable.output
    assert f"answered by version {store.v1}" in readable.output and "deployment.rolled_back" in readable.output
    assert "verified now" in readable.output and APPROVER.name in readable.output
    assert "error-burst" in readable.output  # firing at the moment of the answer after the rollback
    by_version = _cli(store, "evidence", "--model", "iris", "--version", str(store.v2), "--json")
    assert by_version.exit_code == 0 and json.loads(by_version.output)["kind"] == "version"
    explained = _cli(store, "evidence", store.canary, "--explain")
    assert explained.exit_code == 0, explained.output
    assert "explanation" in explained.output and "petal" in explained.output


def test_the_cli_writes_the_pdf(store: Store, tmp_path: Path) -> None:
    target = tmp_path / "e.pdf"
    done = _cli(store, "evidence", store.canary, "--pdf", str(target))
    assert done.exit_code == 0, done.output
    assert target.read_bytes().startswith(b"%PDF")


def test_bad_cli_input_is_one_line_and_a_non_zero_exit(store: Store, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "MODELWARD_TRACKING_URI": store.url, "HOME": str(tmp_path)}
    for args in (["no-such-request"], ["--endpoint", ENDPOINT], [store.canary, "--model", "iris"]):
        done = subprocess.run([sys.executable, "-m", "modelward", "evidence", *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path, check=False)
        assert done.returncode != 0, args
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("Error:"), done.stderr
        assert done.stdout == ""


# -- UI ------------------------------------------------------------------------------------------------


def test_the_page_renders_every_section_and_links_to_the_version(page: Any, store: Store) -> None:
    page.goto(f"{store.url}/ui/evidence/{store.canary}")
    for section in ("#summary", "#request", "#deployment", f"#model-v{store.v2}", "#alerts", "#audit"):
        assert page.locator(section).is_visible(), section
    assert HOSTILE in page.locator("#deployment").inner_text()  # shown as text, never run
    assert page.locator("#evidence-document script").count() == 0
    assert "verified" in page.locator(f"#model-v{store.v2} .digest-check").inner_text()
    assert APPROVER.name in page.locator(f"#model-v{store.v2} .approvals").inner_text()
    pdf = page.locator("#download-pdf").get_attribute("href")
    assert pdf == f"/api/v1/evidence/requests/{store.canary}?format=pdf"
    assert page.locator("#audit tbody tr").count() >= 3
    page.locator(f"#model-v{store.v2}-title a").click()
    page.wait_for_url(f"**/ui/models/iris/versions/{store.v2}")
    assert str(store.v2) in page.locator("h1").inner_text()
    assert page.console_errors == []


def test_the_page_is_reached_from_the_dashboard_the_audit_log_and_the_deployment(page: Any, store: Store) -> None:
    page.goto(f"{store.url}/ui/deployments/{ENDPOINT}/monitoring")
    page.fill("#evidence-request", store.after)
    page.locator("#evidence-form button").click()
    page.wait_for_selector("#evidence-document")
    assert store.after in page.locator("h1").inner_text()
    page.goto(f"{store.url}/ui/audit?action=deployment.rolled_back")
    page.locator("#audit-table a.evidence-link").first.click()
    page.wait_for_selector("#evidence-document")
    assert page.locator("#evidence-document").get_attribute("data-kind") == "moment"
    assert "deployment.rolled_back" in page.locator("#deployment").inner_text()
    released = page.locator("#audit tbody tr", has_text="deployment.release_started")
    seq = released.get_attribute("data-seq")
    released.locator("td:first-child a").click()  # the audit log narrowed to that one event
    page.wait_for_url("**/ui/audit?**")
    assert page.locator("#audit-table tbody tr td:first-child").all_inner_texts() == [seq]
    page.goto(f"{store.url}/ui/deployments/{ENDPOINT}")
    links = page.locator("a.evidence-link")
    assert links.count() >= 1
    links.first.click()
    page.wait_for_selector("#request")
    page.goto(f"{store.url}/ui/evidence/no-such-request")
    assert "no-such-request" in page.locator("#evidence-error").inner_text()
