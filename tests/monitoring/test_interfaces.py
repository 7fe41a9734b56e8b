"""Monitoring through its three doors: the REST API of a real in-process app, ``client.monitoring``
(embedded, the same app) and ``modelward monitor``. Every answer is checked against the
service's own result on the same store; permissions and bad input answer in our error body.

One store for the module: an iris model with versions 1 and 2 approved, its policy naming a drift
reference and an error-rate alert, a canary endpoint ``shop`` splitting 50/50 with three hours of
logged answers (binary probabilities, a ``group`` column, ground truth for every answer) and a few
KPI values. Each interface that moves alerts judges an endpoint of its own with the same traffic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import TypeAdapter
from starlette.testclient import TestClient
from typer.testing import CliRunner, Result

from modelward.api.app import create_app
from modelward.cli import app as cli_app
from modelward.cli.monitor import parse_moment
from modelward.domain.actors import Actor, Role
from modelward.domain.alerts import Alert, AlertEvent, AlertState
from modelward.domain.kpis import KpiWindow
from modelward.domain.predictions import PredictionRecord
from modelward.domain.windows import Window
from modelward.errors import InvalidInput, NotFound, PermissionDenied
from modelward.evaluation.drift import DriftWindow
from modelward.sdk.client import Client
from modelward.services import (
    alerts,
    deployments,
    input_drift,
    kpis,
    monitoring,
    performance_reports,
    policies,
    predictions,
    production_fairness,
    users,
)
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from tests.deployments.helpers import APPROVER, approve, iris, register
from tests.governance.helpers import ADMIN, dataset

MODEL = "iris-watch"
SHOP = "shop"
PEOPLE = {"vic": Role.VIEWER, "alice": Role.CONTRIBUTOR, "root": Role.ADMIN}
T0 = (datetime.now(UTC) - timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
T3 = T0 + timedelta(hours=3)
PER_HOUR = 20  # answers per hour and version
LABELLER = Actor(name="labeller")
POLICY = """\
model: {name}
gates: [{{metric: accuracy, min: 0.5}}]
review: {{approvals: 1, risk_assessment_required: false}}
release: {{strategy: canary, steps: [50, 100]}}
evaluation_dataset: {{run_id: {run_id}, path: {path}}}
monitoring:
  reference: {{run_id: {run_id}, path: {path}}}
  alerts:
    - {{name: errors, metric: error_rate, window: 1h, comparison: ">", threshold: 0.2, severity: critical}}
"""


@dataclass
class World:
    home: Path
    settings: Settings
    backend: Backend
    http: TestClient
    versions: list[int]

    def get(self, path: str, user: str = "vic", **params: Any) -> Any:
        return self.http.get(path, params=params, headers={"x-modelward-as": user})

    def post(self, path: str, body: Any, user: str = "alice") -> Any:
        return self.http.post(path, json=body, headers={"x-modelward-as": user})


def canary(backend: Backend, name: str, versions: list[int]) -> None:
    v1, v2 = versions
    deployments.create(backend, APPROVER, name, model=MODEL, environment="production", version=v1)
    deployments.release(backend, APPROVER, name, v2, strategy="canary", steps=[50, 100])


def traffic(backend: Backend, endpoint: str, versions: list[int]) -> None:
    """Three hours from T0: in hour 1 version 2 fails half its answers; every answer is a one-row
    frame with a group (a or b) answered with probabilities, and gets its ground truth."""
    features, target = iris()
    records, truth = [], []
    for hour in range(3):
        for version in versions:
            for i in range(PER_HOUR):
                request_id = f"{endpoint}-{version}-{hour}-{i}"
                row = features.iloc[(hour * PER_HOUR + i) % len(features)].to_dict()
                fails = hour == 1 and version == versions[1] and i % 2 == 0
                p = 0.9 if i % 4 else 0.3  # a quarter predicts 0 where the truth is 1
                records.append(PredictionRecord(
                    request_id=request_id, endpoint=endpoint, model_name=MODEL, version=version, mode="live",
                    at=T0 + timedelta(hours=hour, minutes=2 * i), latency_ms=2.0 + i, status=500 if fails else 200,
                    error="boom" if fails else None, inputs=pd.DataFrame([{**row, "group": "ab"[i % 2]}]),
                    outputs=None if fails else [[1 - p, p]], rows=1))
                truth.append({"request_id": request_id, "ground_truth": [1]})
    log = PredictionLog(backend, capacity=len(records), batch_size=len(records))
    assert all(log.submit(record) for record in records)
    log.close()
    predictions.add_feedback(backend, LABELLER, endpoint, truth)


def build(home: Path) -> tuple[Settings, Backend, list[int]]:
    settings = Settings(home=home)
    backend = Backend.from_settings(settings)
    for user, role in PEOPLE.items():
        users.ensure_user(backend, user, frozenset({role}))
    features, target = iris()
    data = dataset(backend, features.assign(target=target))
    policies.set_policy(backend, ADMIN, POLICY.format(name=MODEL, **data))
    versions = []
    for c in (0.5, 1.5):
        version = register(backend, MODEL, c=c)
        approve(backend, MODEL, version)
        versions.append(version)
    for endpoint in (SHOP, "shop-rest", "shop-sdk", "shop-cli"):
        canary(backend, endpoint, versions)
        traffic(backend, endpoint, versions)
    kpis.record(backend, ADMIN, SHOP, {"revenue": 10.0, "orders": 2}, at=T0 + timedelta(minutes=5),
                version=versions[0])
    kpis.record(backend, ADMIN, SHOP, {"revenue": 30.0}, at=T0 + timedelta(hours=1, minutes=5))
    return settings, backend, versions


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("monitoring-interfaces") / "store"
    settings, backend, versions = build(home)
    try:
        with TestClient(create_app(settings, backend=backend), raise_server_exceptions=False) as http:
            yield World(home, settings, backend, http, versions)
    finally:
        backend.close()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: Any, status: int, code: str, *words: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == code, body
    for word in words:
        assert word in body["message"], body["message"]
    return body["message"]  # type: ignore[no-any-return]


def wire(models: list[Any]) -> list[Any]:
    """What the API sends for these models: their JSON, as a client decodes it."""
    return [json.loads(model.model_dump_json(by_alias=True)) for model in models]


def as_json(value: Any) -> Any:
    return json.loads(TypeAdapter(Any).dump_json(value))


RANGE = {"since": T0.isoformat(), "until": T3.isoformat()}


# -- REST: reading ----------------------------------------------------------------------------------


def test_windows_answer_what_the_service_computes(world: World) -> None:
    v1, v2 = world.versions
    answer = ok(world.get(f"/api/v1/deployments/{SHOP}/windows", **RANGE))["windows"]
    expected = monitoring.windows(world.backend, SHOP, since=T0, until=T3, every="hour")
    assert answer == wire(expected) and len(answer) == 6  # 3 hours x 2 versions
    failing = next(w for w in answer if w["version"] == v2 and w["start"].startswith(
        (T0 + timedelta(hours=1)).strftime("%Y-%m-%dT%H")))
    assert failing["requests"] == PER_HOUR and failing["errors"]["5xx"] == PER_HOUR // 2
    assert failing["error_rate"] == 0.5 and failing["quality"]["accuracy"] == 1.0  # the wrong ones failed
    assert {w["quality"]["accuracy"] for w in answer if w is not failing} == {0.75}

    whole = ok(world.get(f"/api/v1/deployments/{SHOP}/windows", every="all", version=v1, **RANGE))["windows"]
    assert whole == wire(monitoring.windows(world.backend, SHOP, since=T0, until=T3, every=None, version=v1))
    assert [w["requests"] for w in whole] == [3 * PER_HOUR]
    assert ok(world.get(f"/api/v1/deployments/{SHOP}/windows", mode="shadow", **RANGE))["windows"] == []


def test_windows_default_to_the_last_24_hours(world: World) -> None:
    answer = ok(world.get(f"/api/v1/deployments/{SHOP}/windows", every="all"))["windows"]
    assert sum(w["requests"] for w in answer) == 3 * 2 * PER_HOUR  # T0 is 5 hours ago
    spans = {datetime.fromisoformat(w["end"]) - datetime.fromisoformat(w["start"]) for w in answer}
    assert all(timedelta(hours=24) <= span < timedelta(hours=24, seconds=1) for span in spans)  # whole seconds


def test_decay_is_judged_per_version(world: World) -> None:
    v1, v2 = world.versions
    answer = ok(world.get(f"/api/v1/deployments/{SHOP}/decay", metric="error_rate", **RANGE))
    assert answer["metric"] == "error_rate" and [r["version"] for r in answer["versions"]] == [v1, v2]
    found = monitoring.windows(world.backend, SHOP, since=T0, until=T3, every="hour")
    for report in answer["versions"]:
        own = monitoring.decay_report([w for w in found if w.version == report["version"]], "error_rate")
        assert as_json({**own, "version": report["version"]}) == report
    assert answer["versions"][1]["points"] == 3  # 0, 0.5, 0: no trend
    assert answer["versions"][1]["slope_per_hour"] == pytest.approx(0.0, abs=1e-9)


def test_drift_answers_what_the_service_computes(world: World) -> None:
    answer = ok(world.get(f"/api/v1/deployments/{SHOP}/drift", every="all", **RANGE))["windows"]
    expected = input_drift.drift(world.backend, SHOP, since=T0, until=T3, every=None)
    assert answer == wire(expected) and len(answer) == 1
    report = answer[0]["report"]
    assert answer[0]["rows"] == 3 * 2 * PER_HOUR - PER_HOUR // 2  # the failed answers have no rows compared
    assert {"sepal_length", "petal_width"} <= set(report["features"])
    assert {"column": "group", "change": "new"} in [{k: c[k] for k in ("column", "change")}
                                                    for c in report["schema_changes"]]
    hourly = ok(world.get(f"/api/v1/deployments/{SHOP}/drift", **RANGE))["windows"]
    assert hourly == wire(input_drift.drift(world.backend, SHOP, since=T0, until=T3, every="hour"))
    assert len(hourly) == 3


def test_fairness_answers_what_the_service_computes(world: World) -> None:
    v1, _ = world.versions
    answer = ok(world.get(f"/api/v1/deployments/{SHOP}/fairness", feature="group", version=v1, **RANGE))
    expected = production_fairness.fairness(world.backend, SHOP, since=T0, until=T3, version=v1,
                                            sensitive_features=["group"])
    assert answer == as_json(expected)
    group = answer["features"]["group"]
    assert group["rows"] == 3 * PER_HOUR and set(group["by_group"]) == {"a", "b"}
    assert group["by_group"]["a"]["selection_rate"] == 0.5  # the even answers: every other one predicts 0
    assert group["by_group"]["b"]["selection_rate"] == 1.0


def test_kpis_answer_what_the_service_computes(world: World) -> None:
    v1, _ = world.versions
    answer = ok(world.get(f"/api/v1/deployments/{SHOP}/kpis", **RANGE))["windows"]
    assert answer == wire(kpis.windows(world.backend, SHOP, since=T0, until=T3, every="hour"))
    revenue = ok(world.get(f"/api/v1/deployments/{SHOP}/kpis", every="all", name="revenue", **RANGE))["windows"]
    assert [(w["name"], w["version"], w["sum"]) for w in revenue] == [("revenue", None, 30.0),
                                                                      ("revenue", v1, 10.0)]
    both = world.http.get(f"/api/v1/deployments/{SHOP}/kpis", params=[("name", "revenue"), ("name", "orders"),
                                                                      ("every", "all"), *RANGE.items()])
    assert {w["name"] for w in ok(both)["windows"]} == {"revenue", "orders"}


def test_alerts_list_and_history_answer_what_the_service_keeps(world: World) -> None:
    listed = ok(world.get("/api/v1/alerts", endpoint=SHOP))["alerts"]
    assert listed == wire(alerts.list_(world.backend, endpoint=SHOP))
    assert [(a["rule"], a["for"], a["severity"]) for a in listed] == [("errors", "0s", "critical")]
    everywhere = ok(world.get("/api/v1/alerts"))["alerts"]
    assert {a["endpoint"] for a in everywhere} >= {SHOP, "shop-rest", "shop-sdk", "shop-cli"}
    history = ok(world.get("/api/v1/alerts/history", limit=50))["events"]
    assert history == wire(alerts.history(world.backend, limit=50))


def test_report_downloads_with_its_media_type_and_file_name(world: World) -> None:
    markdown = world.get(f"/api/v1/deployments/{SHOP}/report", format="md", **RANGE)
    assert markdown.status_code == 200, markdown.text
    assert markdown.headers["content-type"].startswith("text/markdown")
    name = performance_reports.file_name(SHOP, T0, T3)
    assert markdown.headers["content-disposition"] == f'attachment; filename="{name}.md"'
    assert SHOP in markdown.text and MODEL in markdown.text
    html = world.get(f"/api/v1/deployments/{SHOP}/report", **RANGE)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert html.headers["content-disposition"].endswith('.html"') and "<html" in html.text.lower()
    pdf = world.get(f"/api/v1/deployments/{SHOP}/report", format="pdf", **RANGE)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and pdf.headers["content-disposition"].endswith('.pdf"')


# -- REST: writing, and who may --------------------------------------------------------------------


def test_a_contributor_logs_kpis_one_moment_or_a_batch(world: World) -> None:
    v1, _ = world.versions
    at = T0 + timedelta(hours=2, minutes=30)
    path = "/api/v1/deployments/shop-rest/kpis"
    assert ok(world.post(path, {"values": {"margin": 4.5, "cost": 1}, "at": at.isoformat(), "version": v1}),
              201) == {"written": 2}
    batch = {"items": [{"name": "margin", "value": 5.5, "at": at.isoformat()},
                       {"values": {"cost": 2, "margin": 1.0}, "at": at.isoformat(), "request_id": "r-1"}]}
    assert ok(world.post(path, batch), 201) == {"written": 3}
    found = kpis.windows(world.backend, "shop-rest", since=T0, until=T3, every=None, names=["margin"])
    assert [(w.version, w.count, w.sum) for w in found] == [(None, 2, 6.5), (v1, 1, 4.5)]
    assert ok(world.get("/api/v1/deployments/shop-rest/kpis", every="all", name="margin", **RANGE))["windows"] == \
        wire(found)


def test_a_viewer_may_read_but_not_log_kpis_or_evaluate(world: World) -> None:
    path = "/api/v1/deployments/shop-rest/kpis"
    refused(world.post(path, {"values": {"margin": 1.0}}, user="vic"), 403, "PERMISSION_DENIED", "write")
    refused(world.post("/api/v1/alerts/evaluate", {"endpoint": "shop-rest"}, user="vic"), 403,
            "PERMISSION_DENIED", "write")
    refused(world.post("/api/v1/alerts/evaluate", None, user="vic"), 403, "PERMISSION_DENIED", "write")
    def counts(until: datetime) -> list[tuple[str, int | None, int]]:
        return [(w.name, w.version, w.count) for w in kpis.windows(world.backend, "shop-rest", since=T0, until=until,
                                                                    every=None)]

    assert counts(datetime.now(UTC) + timedelta(minutes=1)) == counts(T3)  # the refused values were not written


def test_evaluating_at_a_chosen_moment_is_for_admins(world: World) -> None:
    moment = (T0 + timedelta(hours=2)).isoformat()
    refused(world.post("/api/v1/alerts/evaluate", {"endpoint": "shop-rest", "at": moment}, user="alice"), 403,
            "PERMISSION_DENIED", "admin")
    assert alerts.history(world.backend, endpoint="shop-rest") == []  # the refusal moved nothing
    moves = ok(world.post("/api/v1/alerts/evaluate", {"endpoint": "shop-rest", "at": moment}, user="root"))["events"]
    assert [(m["rule"], m["from_state"], m["to_state"], m["version"]) for m in moves] == [
        ("errors", "inactive", "firing", world.versions[1])]
    assert moves[0]["value"] == 0.5
    assert moves == wire(alerts.history(world.backend, endpoint="shop-rest"))
    firing = ok(world.get("/api/v1/alerts", endpoint="shop-rest", state="firing"))["alerts"]
    assert [a["rule"] for a in firing] == ["errors"]
    now = ok(world.post("/api/v1/alerts/evaluate", {"endpoint": "shop-rest"}, user="alice"))["events"]
    assert now == []  # now the last hour has no answers: no evidence, a firing alert stays firing


# -- REST: bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["windows", "decay", "drift", "fairness", "kpis", "report"])
def test_every_deployment_route_refuses_bad_times_and_unknown_endpoints(world: World, route: str) -> None:
    extra = {"metric": "accuracy"} if route == "decay" else {}
    refused(world.get(f"/api/v1/deployments/{SHOP}/{route}", since="yesterday", **extra), 400,
            "INVALID_PARAMETER_VALUE", "since", "yesterday")
    refused(world.get(f"/api/v1/deployments/{SHOP}/{route}", since=T3.isoformat(), until=T0.isoformat(), **extra),
            400, "INVALID_PARAMETER_VALUE", "until")
    refused(world.get(f"/api/v1/deployments/no-such-shop/{route}", **extra), 404, "RESOURCE_DOES_NOT_EXIST",
            "no-such-shop")


@pytest.mark.parametrize("route", ["windows", "drift", "kpis"])
def test_windowed_routes_refuse_an_unknown_width(world: World, route: str) -> None:
    refused(world.get(f"/api/v1/deployments/{SHOP}/{route}", every="weekly"), 400, "INVALID_PARAMETER_VALUE",
            "every", "weekly")


def test_other_bad_parameters_are_400s_naming_them(world: World) -> None:
    base = f"/api/v1/deployments/{SHOP}"
    refused(world.get(base + "/windows", mode="replay"), 400, "INVALID_PARAMETER_VALUE", "mode")
    refused(world.get(base + "/windows", until="0001-01-01T00:00"), 400, "INVALID_PARAMETER_VALUE", "give since")
    refused(world.get(base + "/windows", since="0001-01-01T00:00+05:00"), 400, "INVALID_PARAMETER_VALUE", "since")
    refused(world.get(base + "/windows", version=0), 400, "INVALID_PARAMETER_VALUE", "version")
    refused(world.get(base + "/decay"), 400, "INVALID_PARAMETER_VALUE", "metric")
    refused(world.get(base + "/kpis", name="no spaces"), 400, "INVALID_PARAMETER_VALUE", "no spaces")
    refused(world.get(base + "/report", format="docx"), 400, "INVALID_PARAMETER_VALUE", "docx")
    refused(world.get("/api/v1/alerts", state="angry"), 400, "INVALID_PARAMETER_VALUE", "state")
    refused(world.get("/api/v1/alerts", endpoint="nowhere"), 404, "RESOURCE_DOES_NOT_EXIST", "nowhere")
    refused(world.get("/api/v1/alerts/history", limit=0), 400, "INVALID_PARAMETER_VALUE", "limit")
    refused(world.get("/api/v1/alerts/history", until="soon"), 400, "INVALID_PARAMETER_VALUE", "until")
    refused(world.post("/api/v1/alerts/evaluate", {"at": "tomorrow"}, user="root"), 400,
            "INVALID_PARAMETER_VALUE", "at")
    refused(world.post("/api/v1/alerts/evaluate", {"endpoint": "nowhere"}), 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(("body", "words"), [
    ({"values": {"bad name!": 1.0}}, ["bad name!", "KPI name"]),
    ({"values": {"revenue": "lots"}}, ["revenue", "number"]),
    ({"values": {"revenue": True}}, ["revenue", "number"]),
    ({"values": {}}, ["values"]),
    ({"values": {"revenue": 1.0}, "at": "later"}, ["at", "later"]),
    ({"values": {"revenue": 1.0}, "version": 0}, ["version"]),
    ({"values": {"revenue": 1.0}, "items": [{"name": "revenue", "value": 1}]}, ["either values", "items"]),
    ({"items": [{"name": "revenue", "value": 1}], "version": 1}, ["each item"]),
    ({"items": [{"name": "revenue", "value": 1}, {"name": "-bad", "value": 2}]}, ["item 1", "-bad"]),
    ({"items": []}, ["items"]),
    ({}, ["either values"]),
    ({"values": {"revenue": 1.0}, "colour": "red"}, ["colour"]),
])
def test_bad_kpis_are_refused_and_nothing_is_written(world: World, body: dict[str, Any], words: list[str]) -> None:
    before = kpis.windows(world.backend, "shop-rest", since=T0, until=datetime.now(UTC) + timedelta(minutes=1),
                          every=None)
    refused(world.post("/api/v1/deployments/shop-rest/kpis", body), 400, "INVALID_PARAMETER_VALUE", *words)
    after = kpis.windows(world.backend, "shop-rest", since=T0, until=datetime.now(UTC) + timedelta(minutes=1),
                         every=None)
    assert [(w.name, w.count) for w in after] == [(w.name, w.count) for w in before]


def test_kpis_for_an_unknown_endpoint_are_a_404(world: World) -> None:
    refused(world.post("/api/v1/deployments/no-such-shop/kpis", {"values": {"revenue": 1.0}}), 404,
            "RESOURCE_DOES_NOT_EXIST", "no-such-shop")


def test_the_openapi_document_describes_the_routes(world: World) -> None:
    paths = ok(world.get("/openapi.json"))["paths"]
    windows = paths["/api/v1/deployments/{name}/windows"]["get"]
    assert {p["name"] for p in windows["parameters"]} == {"name", "since", "until", "every", "version", "mode"}
    assert "Window" in json.dumps(windows["responses"]["200"])
    report = paths["/api/v1/deployments/{name}/report"]["get"]["responses"]["200"]["content"]
    assert {"text/html", "application/pdf", "text/markdown"} <= set(report)
    kpi_names = [p for p in paths["/api/v1/deployments/{name}/kpis"]["get"]["parameters"] if p["in"] == "query"]
    assert "name" in {p["name"] for p in kpi_names}
    assert {"post"} <= set(paths["/api/v1/alerts/evaluate"]) and "get" in paths["/api/v1/alerts/history"]


# -- the SDK ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sdk(world: World) -> Iterator[dict[str, Client]]:
    clients = {user: Client(settings=world.settings, user=user) for user in PEOPLE}
    try:
        yield clients
    finally:
        for client in clients.values():
            client.close()


def test_the_sdk_returns_the_domain_models_the_services_return(world: World, sdk: dict[str, Client]) -> None:
    v1, v2 = world.versions
    vic = sdk["vic"].monitoring
    found = vic.windows(SHOP, since=T0, until=T3)
    assert all(isinstance(w, Window) for w in found)
    assert found == monitoring.windows(world.backend, SHOP, since=T0, until=T3, every="hour")
    assert vic.windows(SHOP, since=T0, until=T3, every=None, version=v2) == monitoring.windows(
        world.backend, SHOP, since=T0, until=T3, every=None, version=v2)
    [decay] = vic.decay(SHOP, "error_rate", since=T0, until=T3, version=v2)
    assert decay["version"] == v2 and decay["points"] == 3
    drift = vic.drift(SHOP, since=T0, until=T3, every=None)
    assert all(isinstance(w, DriftWindow) for w in drift)
    assert wire(drift) == wire(input_drift.drift(world.backend, SHOP, since=T0, until=T3, every=None))
    fairness = vic.fairness(SHOP, since=T0, until=T3, sensitive_features=["group"])
    assert fairness == as_json(production_fairness.fairness(world.backend, SHOP, since=T0, until=T3,
                                                             sensitive_features=["group"]))
    windows = vic.kpis(SHOP, since=T0, until=T3, every=None, names=["revenue", "orders"])
    assert all(isinstance(w, KpiWindow) for w in windows)
    assert windows == kpis.windows(world.backend, SHOP, since=T0, until=T3, every=None, names=["revenue", "orders"])
    listed = vic.alerts(endpoint=SHOP)
    assert all(isinstance(a, Alert) for a in listed) and listed == alerts.list_(world.backend, endpoint=SHOP)
    assert vic.alerts(state="pending") == alerts.list_(world.backend, state="pending")


def test_the_sdk_logs_kpis_and_evaluates_alerts(world: World, sdk: dict[str, Client], tmp_path: Path) -> None:
    v1, v2 = world.versions
    at = T0 + timedelta(hours=1, minutes=15)
    alice, root = sdk["alice"].monitoring, sdk["root"].monitoring
    assert alice.log_kpis("shop-sdk", {"revenue": 7.0, "orders": 1}, at=at, version=v2) == 2
    assert alice.log_kpi_batch("shop-sdk", [{"name": "revenue", "value": 3.0, "at": at}]) == 1
    [revenue] = alice.kpis("shop-sdk", since=T0, until=T3, every="day", names=["revenue"], version=v2)
    assert (revenue.count, revenue.sum, revenue.version) == (1, 7.0, v2)

    with pytest.raises(PermissionDenied, match="admin"):
        alice.evaluate_alerts("shop-sdk", at=T0 + timedelta(hours=2))
    fired = root.evaluate_alerts("shop-sdk", at=T0 + timedelta(hours=2))
    assert all(isinstance(m, AlertEvent) for m in fired)
    assert [(m.from_state, m.to_state) for m in fired] == [(AlertState.INACTIVE, AlertState.FIRING)]
    resolved = root.evaluate_alerts("shop-sdk", at=T3)  # hour 2 has no failures
    assert [(m.from_state, m.to_state) for m in resolved] == [(AlertState.FIRING, AlertState.RESOLVED)]
    history = alice.alert_history(endpoint="shop-sdk", rule="errors")
    assert history == alerts.history(world.backend, endpoint="shop-sdk", rule="errors")
    assert [m.to_state for m in history] == [AlertState.RESOLVED, AlertState.FIRING]  # newest first
    assert alice.alert_history(endpoint="shop-sdk", since=T3) == [history[0]]

    target = tmp_path / "shop.md"
    content = alice.report("shop-sdk", since=T0, until=T3, format="md", path=target)
    assert target.read_bytes() == content and b"shop-sdk" in content


def test_the_sdk_raises_our_errors(world: World, sdk: dict[str, Client]) -> None:
    vic = sdk["vic"].monitoring
    with pytest.raises(PermissionDenied):
        vic.log_kpis(SHOP, {"revenue": 1.0})
    with pytest.raises(PermissionDenied):
        vic.evaluate_alerts(SHOP)
    with pytest.raises(NotFound, match="no-such-shop"):
        vic.windows("no-such-shop")
    with pytest.raises(InvalidInput, match="weekly"):
        vic.kpis(SHOP, every="weekly")
    with pytest.raises(InvalidInput, match="deployment name"):
        vic.windows("Not A Name")
    with pytest.raises(InvalidInput, match="KPI name"):
        sdk["alice"].monitoring.log_kpis(SHOP, {"no spaces": 1.0})


# -- the CLI ----------------------------------------------------------------------------------------


def monitor(world: World, *args: str, user: str | None = None, ok: bool = True) -> Result:
    prefix = ["monitor", "--as", user] if user else ["monitor"]
    result = CliRunner().invoke(cli_app, [*prefix, *args], env={"MODELWARD_HOME": str(world.home),
                                                                "COLUMNS": "250"})
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_relative_and_absolute_times() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_moment("24h", "--since", now=now) == now - timedelta(hours=24)
    assert parse_moment("7d", "--since", now=now) == now - timedelta(days=7)
    assert parse_moment("90m", "--since", now=now) == now - timedelta(minutes=90)
    assert parse_moment("2026-11-30T08:00", "--since") == datetime(2026, 11, 30, 8, tzinfo=UTC)
    assert parse_moment("2026-11-30T08:00+02:00", "--since") == datetime(2026, 11, 30, 6, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="--since 'yesterday'"):
        parse_moment("yesterday", "--since")


def test_the_cli_shows_windows_drift_fairness_and_kpis(world: World) -> None:
    v1, v2 = world.versions
    since, until = T0.isoformat(), T3.isoformat()
    table = monitor(world, "windows", SHOP, "--since", since, "--until", until).output
    assert "accuracy" in table and "est. accuracy" in table and "50.0%" in table  # v2's failing hour
    assert f"{(T0 + timedelta(hours=1)):%Y-%m-%d %H:%M}" in table
    as_json = json.loads(monitor(world, "windows", SHOP, "--since", since, "--until", until, "--json").output)
    assert as_json == wire(monitoring.windows(world.backend, SHOP, since=T0, until=T3, every="hour"))
    recent = json.loads(monitor(world, "windows", SHOP, "--since", "1d", "--every", "all", "--version", str(v1),
                                "--json").output)
    assert [w["requests"] for w in recent] == [3 * PER_HOUR]

    drift = monitor(world, "drift", SHOP, "--since", since, "--until", until).output
    assert "sepal_length" in drift and "psi" in drift and "features drifted" in drift
    fairness = monitor(world, "fairness", SHOP, "--since", since, "--until", until, "--feature", "group").output
    assert "selection rate" in fairness and "group: demographic parity difference 0.5" in fairness
    kpi_table = monitor(world, "kpis", SHOP, "--since", since, "--until", until, "--every", "all").output
    assert "revenue" in kpi_table and "orders" in kpi_table and "30" in kpi_table
    decay = json.loads(monitor(world, "decay", SHOP, "--metric", "error_rate", "--since", since, "--until", until,
                               "--json").output)
    assert [d["version"] for d in decay] == [v1, v2]


def test_the_cli_logs_kpis_evaluates_and_lists_alerts(world: World, tmp_path: Path) -> None:
    at = (T0 + timedelta(hours=1)).isoformat()
    logged = monitor(world, "kpi", "log", "shop-cli", "revenue=12.5", "orders=3", "--at", at, user="alice").output
    assert "2 KPI values logged" in logged
    [revenue] = kpis.windows(world.backend, "shop-cli", since=T0, until=T3, every=None, names=["revenue"])
    assert (revenue.sum, revenue.count) == (12.5, 1)
    moved = monitor(world, "evaluate", "shop-cli", "--at", (T0 + timedelta(hours=2)).isoformat(), user="root").output
    assert "errors" in moved and "inactive -> firing" in moved
    listed = monitor(world, "alerts", "--endpoint", "shop-cli").output
    assert "errors" in listed and "firing" in listed and "> 0.2 over 1h" in listed
    history = json.loads(monitor(world, "alerts-history", "--endpoint", "shop-cli", "--json").output)
    assert history == wire(alerts.history(world.backend, endpoint="shop-cli"))
    assert "no alerts" in monitor(world, "alerts", "--endpoint", "shop-cli", "--state", "pending").output

    target = tmp_path / "report.html"
    written = monitor(world, "report", "shop-cli", "--since", T0.isoformat(), "--until", T3.isoformat(),
                      "-o", str(target)).output
    assert "html report written" in written and "<html" in target.read_text().lower()


def test_the_cli_refuses_with_our_errors(world: World) -> None:
    viewer = monitor(world, "kpi", "log", "shop-cli", "revenue=1", user="vic", ok=False)
    assert isinstance(viewer.exception, PermissionDenied)
    not_admin = monitor(world, "evaluate", "--at", "1h", user="alice", ok=False)
    assert isinstance(not_admin.exception, PermissionDenied) and "admin" in str(not_admin.exception)
    for args, match in [(("kpi", "log", "shop-cli", "revenue"), "NAME=VALUE"),
                        (("kpi", "log", "shop-cli", "revenue=lots"), "not a number"),
                        (("kpi", "log", "shop-cli", "revenue=nan"), "finite"),
                        (("windows", SHOP, "--every", "weekly"), "weekly")]:
        result = monitor(world, *args, user="alice", ok=False)
        assert isinstance(result.exception, InvalidInput) and match in str(result.exception), args


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode != 0 and len(lines) == 1 and lines[0].startswith("Error:"), done.stdout + done.stderr
    return lines[0]


def test_the_command_prints_one_line_and_exits_non_zero(world: World) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}
    env.update({"MODELWARD_HOME": str(world.home), "COLUMNS": "250"})

    def modelward(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "modelward", "monitor", *args], capture_output=True, text=True,
                              env=env, timeout=120)

    bad_time = modelward("windows", SHOP, "--since", "yesterday")
    assert bad_time.returncode == 2 and "--since 'yesterday'" in one_error_line(bad_time)
    unknown = modelward("windows", "no-such-shop")
    assert unknown.returncode == 3 and "no-such-shop" in one_error_line(unknown)
