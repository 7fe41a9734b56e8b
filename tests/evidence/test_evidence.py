"""The evidence of a prediction, on SQLite and PostgreSQL, over a real history built through the
services: two approved versions from real runs, a canary, traffic through the real PredictionLog,
feedback, an alert that fires and rolls the canary back, more traffic after. The evidence names
the version, route and state of each moment, the feedback, the alert firing then (and not
before), the digest verified now (and a corrupted file), and the audit chain verified over the
cited span only (a tampered row inside it is found, one outside it does not matter)."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from modelward import models
from modelward.domain.actors import Actor, Role
from modelward.domain.datasets import ColumnSchema, DatasetCreate, DatasetSchema, DatasetStats
from modelward.domain.deployments import Router, bucket_of
from modelward.domain.predictions import PredictionRecord
from modelward.errors import NotFound
from modelward.sdk.environment import capture_environment
from modelward.services import (
    alerts,
    artifacts,
    audit,
    checkpoints,
    datasets,
    deployments,
    evidence,
    experiments,
    governance,
    predictions,
    registry,
    runs,
)
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from tests.audit.helpers import sql
from tests.deployments.helpers import APPROVER, POLICY, approved_versions, iris
from tests.fixtures.postgres import drop_database, new_database
from tests.governance.helpers import AUTHOR, RISK

RULES = """\
monitoring:
  alerts:
    - {{name: error-burst, metric: error_rate, window: 10m, comparison: ">", threshold: 0.2, severity: critical,
       rollback: true}}
"""
LABELLER = Actor(name="labeller")
SECOND_APPROVER = Actor(name="bea", roles=frozenset({Role.APPROVER}))
TWO_APPROVALS = POLICY.replace("approvals: 1", "approvals: 2")
ENDPOINT = "ev"


@dataclass
class History:
    backend: Backend
    v1: int
    v2: int
    canary_before: str  # served by the canary (v2) before the alert
    stable_before: str  # served by v1 before the alert
    after: str  # served by v1 after the rollback
    fired_at: datetime


def _register_with_environment(backend: Backend) -> int:
    """A version from a run that recorded its environment (as the SDK does) and git tags."""
    features, target = iris()
    model = LogisticRegression(C=2.0, max_iter=500).fit(features, target)
    experiment = experiments.create(backend, "evidence").id
    prep = runs.start(backend, AUTHOR, experiment_id=experiment, name="prep")
    datasets.log(backend, DatasetCreate(name="iris-raw", digest="sha256:" + "1" * 64, run_id=prep.id,
                                        direction="input"), actor=AUTHOR)
    training_set = DatasetCreate(
        name="iris-train", digest="sha256:" + "2" * 64, run_id=prep.id, direction="output",
        data_schema=DatasetSchema(columns=[ColumnSchema(name=c, type="double") for c in features.columns]),
        statistics=DatasetStats(row_count=len(features)))
    datasets.log(backend, training_set, actor=AUTHOR)
    run = runs.start(backend, AUTHOR, experiment_id=experiment, name="train",
                     environment=capture_environment(), tags={"mlflow.source.git.commit": "0123abcd"})
    datasets.log(backend, training_set.model_copy(update={"run_id": run.id, "direction": "input"}), actor=AUTHOR)
    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save(model, Path(tmp) / "model", input_example=features.head(3))
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            artifacts.upload(backend, run.id, f"model/{path.relative_to(folder).as_posix()}",
                             io.BytesIO(path.read_bytes()), actor=AUTHOR)
    return registry.register_version(backend, AUTHOR, "iris", run_id=run.id).version


def _serve(backend: Backend, prefix: str, version: int, count: int, *, failing: bool = False) -> list[str]:
    records = [PredictionRecord(
        request_id=f"{prefix}-{i}", endpoint=ENDPOINT, model_name="iris", version=version, mode="live",
        at=datetime.now(UTC), latency_ms=3.5, status=500 if failing else 200, error="boom" if failing else None,
        inputs=[{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}],
        outputs=None if failing else [0], rows=1) for i in range(count)]
    log = PredictionLog(backend, capacity=count, batch_size=count)
    assert all(log.submit(r) for r in records)
    log.close()
    return [r.request_id for r in records]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def history(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    admin = request.getfixturevalue("postgres_admin") if request.param == "postgres" else None
    database_url = new_database(admin) if admin is not None else None
    backend = Backend.from_settings(Settings(home=tmp_path_factory.mktemp("evidence"), database_url=database_url))
    [v1] = approved_versions(backend, "iris", 1, policy=TWO_APPROVALS + RULES)  # ann's approval: one of two
    governance.approve(backend, SECOND_APPROVER, "iris", v1, comment="second pair of eyes")
    v2 = _register_with_environment(backend)
    governance.approve(backend, APPROVER, "iris", v2, comment="better on the holdout")
    assert registry.get_version(backend, "iris", v2).status == "in_review"  # one approval is not enough
    governance.approve(backend, SECOND_APPROVER, "iris", v2, comment="agree: ship it as a canary")
    governance.comment(backend, RISK, "iris", v2, "looked at the confusion matrix: fine")
    deployments.create(backend, APPROVER, ENDPOINT, model="iris", environment="production", version=v1)
    deployments.release(backend, APPROVER, ENDPOINT, v2, strategy="canary", steps=[50, 100], reason="try v2")
    stable = _serve(backend, "stable", v1, 10)
    canary = _serve(backend, "canary", v2, 10)
    predictions.add_feedback(backend, LABELLER, ENDPOINT, [
        {"request_id": canary[0], "ground_truth": [0], "values": {"revenue": 12.5}}])
    _serve(backend, "canary-failing", v2, 10, failing=True)
    [fired] = alerts.evaluate(backend, endpoint=ENDPOINT)
    assert fired.to_state == "firing" and deployments.get(backend, ENDPOINT).state.weights() == {v1: 100}
    after = _serve(backend, "after", v1, 3)
    yield History(backend, v1, v2, canary[0], stable[0], after[0], fired.at)
    backend.close()
    if admin is not None and database_url is not None:
        drop_database(admin, database_url)


def test_a_canary_answer_before_the_rollback(history: History) -> None:
    found = evidence.for_request(history.backend, history.canary_before)
    assert (found.kind, found.endpoint, found.model_name, found.versions) == ("request", ENDPOINT, "iris", [history.v2])
    request = found.request
    assert request is not None and request.version == history.v2 and request.mode == "live"
    assert request.status == 200 and request.outputs == [0] and request.latency_ms == 3.5
    assert request.inputs[0]["petal_length"] == 1.4
    assert request.feedback is not None and request.feedback.ground_truth == [0]
    assert request.feedback.values == {"revenue": 12.5} and request.feedback.actor == "labeller"

    state = found.deployment
    assert state is not None and state.action == "deployment.release_started" and state.strategy == "canary"
    assert state.changed_by == APPROVER.name and state.reason == "try v2"
    assert {(r.version, r.weight, r.label) for r in state.routes} == {(history.v1, 50, "stable"),
                                                                       (history.v2, 50, "canary")}
    [answered] = state.answered
    assert (answered.version, answered.mode, answered.label, answered.weight) == (history.v2, "live", "canary", 50)
    assert state.routing is not None and not state.routing.key_logged
    assert "header 'modelward-routing-key'" in state.routing.explanation
    assert [(r.version, r.start, r.end) for r in state.routing.ranges] == [(history.v2, 0, 5000),
                                                                           (history.v1, 5000, 10000)]

    [model] = found.models
    assert model.version.version == history.v2 and model.version.digest.ok
    assert model.version.digest.actual == model.version.digest.expected
    assert model.training.run is not None and model.training.run.run_id == model.version.source_run_id
    assert model.training.run.environment.get("python") and model.training.run.code.command
    assert model.training.run.code.commit is not None  # the git commit (of this checkout, or the tag)
    assert model.training.run.code.source_tags == {"mlflow.source.git.commit": "0123abcd"}
    by_name = {d.name: d for d in model.training.datasets}
    assert by_name["iris-train"].role == "training" and by_name["iris-train"].statistics["row_count"] == 150
    assert by_name["iris-train"].data_schema["columns"][0]["name"] == "sepal_length"
    assert by_name["iris-raw"].role == "upstream" and by_name["eval.parquet"].role == "evaluation"
    upstream_names = {n.name for n in model.training.upstream.nodes}  # type: ignore[union-attr]
    assert {"iris-raw", "prep", "iris-train", "train"} <= upstream_names
    assert model.training.to_endpoint is not None
    assert {n.type for n in model.training.to_endpoint.nodes} >= {"deployment", "endpoint"}
    assert "artifact" in model.training.to_endpoint.root and model.training.to_endpoint.nodes
    governed = model.governance
    assert governed is not None and [a.reviewer for a in governed.approvals] == [APPROVER.name, SECOND_APPROVER.name]
    assert governed.approvals[0].comment == "better on the holdout" and governed.approvals[0].decision == "approve"
    assert governed.approvals[1].comment == "agree: ship it as a canary"
    assert (governed.state, governed.state_then) == ("approved", "released")  # drained by the rollback since
    assert model.version.card is not None and not model.version.card.stored
    assert {r.reviewer for r in governed.reviews} >= {APPROVER.name, RISK.name}
    assert governed.evaluations and governed.evaluations[-1].passed
    assert any(g.kind and g.passed for g in governed.evaluations[-1].gates)
    assert [p.scope for p in governed.policies_at_approval] == ["model:iris"]

    assert found.alerts is not None and found.alerts.firing == []
    actions = [e.action for e in found.audit.events]
    assert "deployment.release_started" in actions and "deployment.rolled_back" not in actions
    assert any(e.action == "model_version.registered" and e.subject_id == f"iris/{history.v2}"
               for e in found.audit.events)
    assert found.audit.verification.ok and found.audit.verification.status in ("ok", "not_yet_anchored")
    verification = found.audit.verification
    assert verification.from_seq == found.audit.events[0].seq and verification.segments
    assert verification.checked <= verification.to_seq - verification.from_seq + 1  # the span only, not from seq 1
    assert all(s.checkpoint is None or (s.checkpoint.signature_ok and s.checkpoint.hash_ok)
               for s in verification.segments)
    json.loads(found.model_dump_json())  # the interfaces ship it as JSON


def test_an_answer_after_the_rollback_sees_the_alert(history: History) -> None:
    found = evidence.for_request(history.backend, history.after)
    assert found.versions == [history.v1] and found.request is not None and found.request.feedback is None
    assert "feedback" in found.notes["request.feedback"]
    state = found.deployment
    assert state is not None and state.action == "deployment.rolled_back" and state.changed_by == "modelward:alerts"
    assert state.strategy == "settled" and [(r.version, r.weight) for r in state.routes] == [(history.v1, 100)]
    assert state.answered[0].label == "stable" and state.routing is not None
    assert state.routing.recomputed_version == history.v1  # one live route: nothing to recompute
    [firing] = found.alerts.firing  # type: ignore[union-attr]
    assert (firing.rule, firing.version, firing.since) == ("error-burst", history.v2, history.fired_at)
    assert "deployment.rolled_back" in [e.action for e in found.audit.events]
    assert found.audit.verification.ok
    # the stable version answered before the alert too: no alert then
    before = evidence.for_request(history.backend, history.stable_before)
    assert before.versions == [history.v1] and before.alerts is not None and before.alerts.firing == []
    assert before.deployment is not None and before.deployment.answered[0].label == "stable"


def test_the_moment_and_the_version(history: History) -> None:
    canary = evidence.for_request(history.backend, history.canary_before)
    moment = evidence.for_moment(history.backend, ENDPOINT, canary.at)
    assert moment.kind == "moment" and moment.request is None and "no request record" in moment.notes["request"]
    assert moment.versions == sorted([history.v1, history.v2]) and len(moment.models) == 2
    assert {a.label for a in moment.deployment.answered} == {"stable", "canary"}  # type: ignore[union-attr]
    version = evidence.for_version(history.backend, "iris", history.v1)
    assert version.deployment is None and version.alerts is None and "deployment" in version.notes
    assert version.models[0].version.version == history.v1 and version.audit.events
    # a comment is not an anchored action: no signed checkpoint covers it yet, the span is verified to the head
    governance.comment(history.backend, RISK, "iris", history.v1, "still fine after the rollback")
    latest = evidence.for_version(history.backend, "iris", history.v1).audit
    assert latest.events[-1].action == "review.commented"
    assert latest.verification.status == "not_yet_anchored" and latest.verification.ok
    assert latest.verification.checkpoint is None and latest.verification.to_seq == latest.events[-1].seq
    assert "not yet signed" in (latest.verification.note or "")


def test_the_digest_is_checked_against_the_bytes_stored_now(history: History) -> None:
    backend = history.backend
    version = registry.get_version(backend, "iris", history.v2)
    item = max(version.files, key=lambda f: f.size)
    root = backend.artifacts.local_root
    assert root is not None
    blob = Path(root) / "blobs" / item.digest[:2] / item.digest[2:]
    original = blob.read_bytes()
    blob.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        check = evidence.for_request(backend, history.canary_before).models[0].version.digest
    finally:
        blob.write_bytes(original)
    assert not check.ok and check.expected == version.artifact_digest and check.actual != check.expected
    [bad] = [f for f in check.files if not f.ok]
    assert bad.path == item.path and bad.actual is not None and bad.actual != item.digest
    assert item.path in (check.problem or "")
    assert evidence.for_request(backend, history.canary_before).models[0].version.digest.ok


def test_a_tampered_event_inside_the_span_is_found_and_one_outside_is_not(history: History) -> None:
    backend = history.backend
    found = evidence.for_request(backend, history.canary_before)
    cited = found.audit.events
    inside = next(e for e in cited if e.action == "deployment.release_started")
    [first] = audit.list_(backend, limit=1, newest_first=False)
    outside = first.seq
    assert outside < cited[0].seq
    sql(backend, "UPDATE audit_events SET reason = 'nothing to see' WHERE seq = :seq", seq=outside)
    try:
        assert evidence.for_request(backend, history.canary_before).audit.verification.ok
        sql(backend, "UPDATE audit_events SET reason = 'forged' WHERE seq = :seq", seq=inside.seq)
        try:
            verification = evidence.for_request(backend, history.canary_before).audit.verification
        finally:
            sql(backend, "UPDATE audit_events SET reason = :reason WHERE seq = :seq", reason=inside.reason,
                seq=inside.seq)
    finally:
        sql(backend, "UPDATE audit_events SET reason = :reason WHERE seq = :seq", reason=first.reason, seq=outside)
    assert not verification.ok and verification.status == "broken"
    assert verification.first_bad_seq == inside.seq and "row edited" in (verification.problem or "")


def test_a_forged_checkpoint_over_the_span_is_reported(history: History) -> None:
    backend = history.backend
    signed = evidence.for_request(backend, history.canary_before).audit.verification.checkpoint
    assert signed is not None and signed.signature_ok and signed.hash_ok
    name = checkpoints.object_name(signed.seq)
    original = backend.artifacts.get_record(name)
    forged = checkpoints.parse(original).model_copy(update={"hash": "f" * 64})
    backend.artifacts.put_record(name, forged.to_bytes())
    try:
        verification = evidence.for_request(backend, history.canary_before).audit.verification
    finally:
        backend.artifacts.put_record(name, original)
    assert not verification.ok and verification.status == "broken" and verification.checkpoint is not None
    assert not verification.checkpoint.signature_ok and f"checkpoint {signed.number}" in (verification.problem or "")
    assert evidence.for_request(backend, history.canary_before).audit.verification.ok


def test_a_sticky_field_in_the_logged_inputs_gives_the_bucket(history: History) -> None:
    backend, name = history.backend, "ev-sticky"
    deployments.create(backend, APPROVER, name, model="iris", environment="production", version=history.v1,
                       sticky_key="field:customer")
    deployments.release(backend, APPROVER, name, history.v2, strategy="canary", steps=[50, 100])
    router = Router(deployments.get(backend, name).state.routes)
    keys = [f"customer-{i}" for i in range(20)]
    records = [PredictionRecord(
        request_id=f"sticky-{key}", endpoint=name, model_name="iris", version=router.pick(key), mode="live",
        at=datetime.now(UTC), latency_ms=2.0, status=200, error=None, inputs=[{"customer": key, "petal_length": 1.4}],
        outputs=[0], rows=1) for key in keys]
    log = PredictionLog(backend, capacity=len(records), batch_size=len(records))
    assert all(log.submit(r) for r in records)
    log.close()
    seen = set()
    for key, record in zip(keys, records):
        routing = evidence.for_request(backend, record.request_id).deployment.routing  # type: ignore[union-attr]
        assert routing is not None and routing.key_logged and routing.key == key
        assert routing.bucket == bucket_of(key) and routing.recomputed_version == record.version
        seen.add(record.version)
    assert seen == {history.v1, history.v2}  # both sides of the split were recomputed


def test_an_unknown_request_is_not_found(history: History) -> None:
    with pytest.raises(NotFound, match="no prediction with request id 'nope'"):
        evidence.for_request(history.backend, "nope")
    with pytest.raises(NotFound, match="has no shadow answer"):
        evidence.for_request(history.backend, history.after, mode="shadow")
    with pytest.raises(NotFound, match="deployment 'nowhere' does not exist"):
        evidence.for_moment(history.backend, "nowhere", datetime.now(UTC))


def test_the_explanation_of_the_answer_comes_when_asked(history: History) -> None:
    plain = evidence.for_request(history.backend, history.canary_before)
    assert plain.explanation is None and "explain=True" in plain.notes["explanation"]
    found = evidence.for_request(history.backend, history.canary_before, explain=True)
    assert found.explanation is not None and found.explanation["version"] == history.v2
    [row] = found.explanation["rows"]
    assert row["additivity_error"] < 1e-6  # the attributions add up to the prediction minus the base value
    assert {a["feature"] for a in row["attributions"]} == {"sepal_length", "sepal_width", "petal_length",
                                                          "petal_width"}
    assert "explanation" not in found.notes
