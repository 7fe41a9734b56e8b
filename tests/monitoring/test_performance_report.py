"""The performance report of an endpoint for a period, on SQLite and PostgreSQL: a canary whose
new version fails, an alert that rolls it back and a manual rollback, then the report's data
(serving, windows equal to the service's, fairness, KPIs, drift as a note and then against a
reference, alerts, rollbacks with their triggers, the verified audit trail), its HTML (escaped,
inline SVG, no scripts or outside URLs), PDF and Markdown.

Records go through the real PredictionLog with times in the past and ground truth for each;
``alerts.evaluate(at=...)`` judges the rules at those moments, as the scheduler would have."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelward.domain.actors import Actor
from modelward.domain.predictions import PredictionRecord
from modelward.errors import InvalidInput, NotFound
from modelward.services import (
    alerts,
    audit,
    deployments,
    kpis,
    monitoring,
    performance_reports,
    predictions,
)
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from tests.deployments.helpers import APPROVER, POLICY, approved_versions, iris, set_policy
from tests.fixtures.postgres import drop_database, new_database
from tests.governance.helpers import dataset

RULES = """\
monitoring:
  alerts:
    - {{name: error-burst, metric: error_rate, window: 10m, comparison: ">", threshold: 0.2, for: 5m,
       severity: critical, rollback: true}}
"""
ALERT_POLICY = POLICY + "sensitive_features: [segment]\n" + RULES
T0 = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
LABELLER = Actor(name="labeller")
ENDPOINT = "churn-report"
SCRIPT_REASON = "<script>alert('x')</script> & a <b>bold</b> | pipe"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SEGMENTS = ("north", "<i>south</i>")  # a value someone typed, shown as typed


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def story(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A canary released over v1; v2 fails half its answers (on shifted inputs) from minute 10;
    error-burst fires at minute 21 and rolls the endpoint back; later a person splits the
    traffic again and rolls that back by hand. Answers are class probabilities."""
    admin = request.getfixturevalue("postgres_admin") if request.param == "postgres" else None
    database_url = new_database(admin) if admin is not None else None
    backend = Backend.from_settings(Settings(home=tmp_path_factory.mktemp("perf"), database_url=database_url))
    v1, v2 = approved_versions(backend, "iris", 2, policy=ALERT_POLICY)
    deployments.create(backend, APPROVER, ENDPOINT, model="iris", environment="production", version=v1,
                       reason=SCRIPT_REASON)
    deployments.release(backend, APPROVER, ENDPOINT, v2, strategy="canary", steps=[50, 100])
    released = datetime.now(UTC)
    traffic(backend, T0, 10, version=v1)
    traffic(backend, T0, 10, version=v2)
    traffic(backend, T0 + timedelta(minutes=10), 20, version=v1)
    traffic(backend, T0 + timedelta(minutes=10), 20, version=v2, failing_share=0.5, shifted=True)
    kpis.record(backend, LABELLER, ENDPOINT, {"revenue": 12.5}, at=T0 + timedelta(minutes=5), version=v1)
    kpis.record(backend, LABELLER, ENDPOINT, {"revenue": 7.5}, at=T0 + timedelta(minutes=15), version=v1)
    alerts.evaluate(backend, endpoint=ENDPOINT, at=T0 + timedelta(minutes=16))
    [fired] = alerts.evaluate(backend, endpoint=ENDPOINT, at=T0 + timedelta(minutes=21))
    assert fired.actions == [{"action": "rollback", "deployment": ENDPOINT}]
    deployments.set_traffic(backend, APPROVER, ENDPOINT, {v1: 80, v2: 20}, reason="try the fix on a fifth")
    deployments.rollback(backend, APPROVER, ENDPOINT, reason=SCRIPT_REASON)
    yield {"backend": backend, "versions": (v1, v2), "released": released, "fired": fired,
           "since": T0 - timedelta(minutes=30), "until": datetime.now(UTC) + timedelta(minutes=5)}
    backend.close()
    if admin is not None and database_url is not None:
        drop_database(admin, database_url)


def traffic(backend: Backend, start: datetime, minutes: int, *, version: int, failing_share: float = 0.0,
            shifted: bool = False, per_minute: int = 10) -> None:
    """``per_minute`` one-row answers a minute from ``start`` (inputs as a frame of iris rows with a
    segment, petal length moved by 4 cm when ``shifted``); a share fail with a 500; each answer is
    right, and gets its ground truth."""
    features, target = iris()
    records, truth = [], []
    for minute in range(minutes):
        for i in range(per_minute):
            row_index = (minute * per_minute + i) * 7 % len(features)
            row = {name: float(features.iloc[row_index][name]) for name in FEATURES}
            if shifted:
                row["petal_length"] += 4.0
            row["segment"] = SEGMENTS[i % 2]
            request_id = f"{ENDPOINT}-{version}-{start.isoformat()}-{minute}-{i}"
            fails = i < failing_share * per_minute
            label = int(target.iloc[row_index] == 2)  # virginica or not: a binary answer
            records.append(PredictionRecord(
                request_id=request_id, endpoint=ENDPOINT, model_name="iris", version=version, mode="live",
                at=start + timedelta(minutes=minute, seconds=i), latency_ms=4.0 + version + (i % 3),
                status=500 if fails else 200, error="boom" if fails else None, inputs=[row],
                outputs=None if fails else [[0.2, 0.8] if label == 1 else [0.9, 0.1]], rows=1))
            truth.append({"request_id": request_id, "ground_truth": [label]})
    log = PredictionLog(backend, capacity=len(records), batch_size=len(records))
    assert all(log.submit(r) for r in records)
    log.close()
    predictions.add_feedback(backend, LABELLER, ENDPOINT, truth)


def _period(story: dict[str, Any]) -> dict[str, datetime]:
    return {"since": story["since"], "until": story["until"]}


def test_the_data_what_served_how_well_alerts_rollbacks_and_the_verified_audit_trail(story) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, v2) = story["backend"], story["versions"]
    data = performance_reports.build(backend, ENDPOINT, **_period(story))

    assert data["period"]["every"] == "hour" and data["model_name"] == "iris"
    assert data["serving"]["at_start"] is None  # created after the period's start
    assert [s["action"] for s in data["serving"]["revisions"]] == [
        "deployment.created", "deployment.release_started", ROLLED_BACK, "deployment.routed", ROLLED_BACK]
    assert data["serving"]["revisions"][1]["weights"] == {v1: 50, v2: 50}
    assert data["serving"]["versions"] == [v1, v2]

    expected = monitoring.windows(backend, ENDPOINT, every=None, **_period(story))
    totals = {w["version"]: w for w in data["performance"]["totals"]}
    assert {v: w["requests"] for v, w in totals.items()} == {w.version: w.requests for w in expected} \
        == {v1: 300, v2: 300}
    assert totals[v2]["error_rate"] == pytest.approx(100 / 300) and totals[v1]["error_rate"] == 0.0
    assert totals[v1]["quality"]["accuracy"] == 1.0 == totals[v2]["quality"]["accuracy"]  # answers were right
    assert [totals[v]["estimated"] for v in (v1, v2)] == [w.estimated for w in expected]
    assert totals[v1]["estimated"]["accuracy"] is not None
    hourly = monitoring.windows(backend, ENDPOINT, every="hour", **_period(story))
    assert [(w["start"], w["version"], w["requests"]) for w in data["performance"]["windows"]] == [
        (w.start, w.version, w.requests) for w in hourly]

    assert data["drift"]["note"].startswith("drift: no reference configured")
    [segment] = data["fairness"]["features"]
    assert segment["feature"] == "segment" and set(segment["by_group"]) == set(SEGMENTS)
    assert sum(g["rows"] for g in segment["by_group"].values()) == 500 == data["fairness"]["rows"]  # answered
    assert all(g["labelled_rows"] == g["rows"] and g["accuracy"] == 1.0 for g in segment["by_group"].values())
    assert [(k["name"], k["version"], k["count"], k["sum"]) for k in data["kpis"]["windows"]] == [
        ("revenue", v1, 2, 20.0)]

    moves = [(e["rule"], e["from_state"], e["to_state"]) for e in data["alerts"]["events"]]
    assert moves == [("error-burst", "inactive", "pending"), ("error-burst", "pending", "firing")]
    assert data["alerts"]["events"][1]["actions"] == [{"action": "rollback", "deployment": ENDPOINT}]
    assert data["alerts"]["fired"] == {"error-burst": 1}
    rollback, manual = data["rollbacks"]
    assert rollback["trigger"] == "alert:error-burst" and rollback["actor"] == "modelward:alerts"
    assert rollback["alert_event"] == story["fired"].id and rollback["weights"] == {v1: 100}
    assert (manual["trigger"], manual["actor"], manual["reason"]) == ("manual", "ann", SCRIPT_REASON)
    assert manual["weights"] == {v1: 100} and manual["alert_event"] is None

    cited = data["audit"]["events"]
    period_events = audit.list_(backend, model="iris", limit=10_000, newest_first=False, **_period(story))
    assert [e["seq"] for e in cited] == [e.seq for e in period_events]
    actions = [e["action"] for e in cited]
    assert {"deployment.created", "deployment.release_started", "alert.pending", "alert.firing",
            ROLLED_BACK} <= set(actions)
    assert [rollback["audit_seq"], manual["audit_seq"]] == [e["seq"] for e in cited if e["action"] == ROLLED_BACK]
    verification = data["audit"]["verification"]
    assert verification["ok"] is True and verification["problems"] == []
    assert verification["head"]["seq"] >= max(e["seq"] for e in cited)


ROLLED_BACK = "deployment.rolled_back"


def test_the_state_at_the_start_is_what_served_then(story) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, v2) = story["backend"], story["versions"]
    data = performance_reports.build(backend, ENDPOINT, since=story["released"], until=story["until"])
    assert data["serving"]["at_start"]["weights"] == {v1: 50, v2: 50}
    assert data["serving"]["at_start"]["rollout"]["strategy"] == "canary"
    assert [s["action"] for s in data["serving"]["revisions"]] == [ROLLED_BACK, "deployment.routed", ROLLED_BACK]
    assert data["performance"]["totals"] == []  # the traffic was hours before
    assert data["alerts"]["events"] == []  # the alert moved at the traffic's time
    assert [r["trigger"] for r in data["rollbacks"]] == ["alert:error-burst", "manual"]


def test_html_is_self_contained_escaped_and_has_every_section(story) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, v2) = story["backend"], story["versions"]
    body, media_type = performance_reports.render(backend, ENDPOINT, **_period(story))
    html = body.decode("utf-8")
    assert media_type == "text/html; charset=utf-8"
    for section in ("serving", "performance", "drift", "fairness", "kpis", "alerts", "rollbacks", "audit"):
        assert f'<h2 id="{section}">' in html
    assert "<script" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; a &lt;b&gt;" in html
    assert not re.search(r"(src|href)=|https?://(?!www\.w3\.org/2000/svg)", html)
    assert html.count("<svg") == 4  # latency, error rate, quality, fairness
    quality = html[html.index('aria-label="accuracy: realised and estimated'):]
    assert 'stroke-dasharray="5 3"' in quality[:quality.index("</svg>")]  # the estimates, dashed
    assert re.search(rf'<tr data-version="{v2}"><th scope="row">v{v2}</th><td class="num">300</td>', html)
    assert f'<tr data-version="{v1}"><th scope="row">v{v1}</th><td class="num">300</td>' in html
    assert "drift: no reference configured" in html
    assert "<i>south" not in html and '<th scope="row">&lt;i&gt;south&lt;/i&gt;</th>' in html
    assert "Selection rate by segment" in html and "&lt;i&gt;south&lt;/i&gt;: " in html  # the bar's title
    assert "pending → <strong>firing</strong>" in html and f"rollback of {ENDPOINT}" in html
    assert "<code>alert:error-burst</code>" in html and "<code>manual</code>" in html
    assert html.count("&lt;script&gt;alert(&#39;x&#39;)") >= 4  # the revision, the rollback, their audit events
    assert '<span class="verified">The audit chain verified</span>' in html
    assert "deployment.release_started" in html


def test_markdown_has_the_same_sections_and_escapes_text(story) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, v2) = story["backend"], story["versions"]
    body, media_type = performance_reports.render(backend, ENDPOINT, **_period(story), fmt="md")
    text = body.decode("utf-8")
    assert media_type == "text/markdown; charset=utf-8"
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings == ["What served", "How well", "Input drift", "Fairness across groups", "Business KPIs",
                        "Alerts", "Rollbacks", "Audit events"]
    assert f"| v{v2} | 300 | 300 | 33.33% |" in text and f"| v{v1} | 300 | 300 | 0.00% |" in text
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; a &lt;b&gt;bold&lt;/b&gt; \\| pipe" in text
    assert "<script" not in text
    assert "`alert:error-burst`" in text and "The audit chain verified" in text


def test_pdf_prints_the_html(story) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("weasyprint")
    body, media_type = performance_reports.render(story["backend"], ENDPOINT, **_period(story), fmt="pdf")
    assert media_type == "application/pdf"
    assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")
    objects = _pdf_objects(body)
    pages = re.findall(rb"/Type\s*/Page(?!s)", objects)
    [count] = re.findall(rb"/Type\s*/Pages\b.*?/Count\s+(\d+)", objects, flags=re.DOTALL)
    assert len(pages) == int(count) >= 2
    outline = set(re.findall(rb"/Title\s*\(([^)]*)\)", objects))  # WeasyPrint's bookmarks: the headings
    assert {b"What served", b"How well", b"Alerts", b"Rollbacks", b"Audit events"} <= outline


def _pdf_objects(body: bytes) -> bytes:
    """The PDF's bytes with its compressed streams (object streams included) inflated."""
    inflated = [body]
    for stream in re.finditer(rb"stream\r?\n(.*?)endstream", body, flags=re.DOTALL):
        try:
            inflated.append(zlib.decompressobj().decompress(stream.group(1)))
        except zlib.error:
            continue
    return b"".join(inflated)


def test_bad_periods_and_a_missing_endpoint(story) -> None:  # type: ignore[no-untyped-def]
    backend, now = story["backend"], datetime.now(UTC)
    with pytest.raises(InvalidInput, match="must be after since"):
        performance_reports.build(backend, ENDPOINT, since=now, until=now)
    with pytest.raises(InvalidInput, match="at most 366 days"):
        performance_reports.build(backend, ENDPOINT, since=now - timedelta(days=367), until=now)
    with pytest.raises(InvalidInput, match="since must be a date and time"):
        performance_reports.build(backend, ENDPOINT, since="yesterday", until=now)
    with pytest.raises(NotFound, match="nowhere"):
        performance_reports.render(backend, "nowhere", since=now - timedelta(days=1), until=now)
    with pytest.raises(InvalidInput, match="not one of md, html, pdf"):
        performance_reports.render(backend, ENDPOINT, since=now - timedelta(days=1), until=now, fmt="docx")
    long = performance_reports.build(backend, ENDPOINT, since=now - timedelta(days=10), until=now)
    assert long["period"]["every"] == "day"


def test_drift_against_the_policy_reference_marks_the_shifted_feature(story) -> None:  # type: ignore[no-untyped-def]
    backend = story["backend"]
    features, target = iris()
    reference = dataset(backend, features.assign(target=target))
    set_policy(backend, "iris", ALERT_POLICY + f"  reference: {{{{run_id: {reference['run_id']}, "
                                                f"path: {reference['path']}}}}}\n")
    data = performance_reports.build(backend, ENDPOINT, **_period(story))
    drift = data["drift"]
    assert drift["note"] is None and drift["rows"] == 500  # successful answers only
    status = {f["name"]: f["drifted"] for f in drift["features"]}
    assert status["petal_length"] is True and status["sepal_width"] is False
    html = performance_reports.render(backend, ENDPOINT, **_period(story))[0].decode()
    row = re.search(r'<tr class="drift"><th scope="row">petal_length</th>.*?</tr>', html)
    assert row is not None and "⚠ drifted" in row.group(0)
    assert '<tr class="stable"><th scope="row">sepal_width</th>' in html
    markdown = performance_reports.render(backend, ENDPOINT, **_period(story), fmt="md")[0].decode()
    assert "| petal\\_length | numeric | **DRIFTED** |" in markdown
