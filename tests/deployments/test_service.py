"""The deployment rules in the service layer, on SQLite and PostgreSQL: who may deploy where,
which versions may take traffic, governance state following traffic, rollback targets, the
canary's automatic steps, the alert hook, history and time travel, lineage to the endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from modelward.domain.deployments import Route, RouteMode, Router
from modelward.domain.lineage import ArtifactKind, ArtifactSpec, ExecutionSpec
from modelward.errors import Conflict, InvalidInput, PermissionDenied
from modelward.services import audit, deployments, governance, lineage, registry
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.fixtures.postgres import drop_database, new_database
from tests.deployments.helpers import APPROVER, CONTRIBUTOR, POLICY, approved_versions, register

ALERTING = POLICY.replace("  strategy: canary\n", "  strategy: canary\n  rollback_on_alerts: [drift-high]\n")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Backend, list[int]]]:
    admin = request.getfixturevalue("postgres_admin") if request.param == "postgres" else None
    database_url = new_database(admin) if admin is not None else None
    backend = Backend.from_settings(Settings(home=tmp_path_factory.mktemp("deploy"), database_url=database_url))
    versions = approved_versions(backend, "iris", 3, policy=ALERTING)
    yield backend, versions
    backend.close()
    if admin is not None and database_url is not None:
        drop_database(admin, database_url)


def _status(backend: Backend, version: int) -> str:
    return registry.get_version(backend, "iris", version).status


def test_production_takes_approved_versions_only_and_staging_what_its_rule_allows(store) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, _, _) = store
    candidate = register(backend, "iris", c=9.0)  # evaluated on registration: in review, not approved
    assert _status(backend, candidate) == "in_review"
    with pytest.raises(PermissionDenied, match=f"version {candidate} of model 'iris' is in_review"):
        deployments.create(backend, APPROVER, "rules-prod", model="iris", environment="production", version=candidate)
    with pytest.raises(PermissionDenied, match="names no environment 'qa'"):
        deployments.create(backend, APPROVER, "rules-qa", model="iris", environment="qa", version=v1)
    with pytest.raises(PermissionDenied, match="only approver may change deployments"):
        deployments.create(backend, CONTRIBUTOR, "rules-prod", model="iris", environment="production", version=v1)
    staged = deployments.create(backend, CONTRIBUTOR, "rules-staging", model="iris", environment="staging",
                                version=candidate)
    assert staged.state.weights() == {candidate: 100}
    assert _status(backend, candidate) == "in_review"  # serving in staging does not release it
    rejected = _rejected_version(backend)
    with pytest.raises(PermissionDenied, match="may receive shadow traffic"):
        deployments.set_traffic(backend, CONTRIBUTOR, "rules-staging", {candidate: 100}, shadows=[rejected])
    assert deployments.list_(backend, environment="staging")[0].name == "rules-staging"
    assert not any(e.action == "deployment.created" and e.subject_id == "rules-prod"
                   for e in audit.list_(backend, model="iris", limit=1000))


def _rejected_version(backend: Backend) -> int:
    version = register(backend, "iris", c=3.0)
    governance.reject(backend, APPROVER, "iris", version, "not this one")
    return version


def test_a_version_is_released_while_it_serves_and_approved_again_once_drained(store) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, v2, _) = store
    deployments.create(backend, APPROVER, "follow", model="iris", environment="production", version=v1)
    assert _status(backend, v1) == "released"
    with pytest.raises(Conflict, match="routed by deployment 'follow'"):
        governance.retire(backend, APPROVER, "iris", v1)
    with pytest.raises(InvalidInput, match="released by deploying it"):
        governance.release(backend, APPROVER, "iris", v2)
    deployments.release(backend, APPROVER, "follow", v2, strategy="direct")
    assert (_status(backend, v1), _status(backend, v2)) == ("approved", "released")
    deployments.retire(backend, APPROVER, "follow")
    assert _status(backend, v2) == "approved"
    with pytest.raises(Conflict, match="retired"):
        deployments.release(backend, APPROVER, "follow", v1)
    assert audit.verify(backend).ok


def test_a_canary_steps_by_itself_when_healthy_and_pause_holds_it(store) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, v2, _) = store
    deployments.create(backend, APPROVER, "auto", model="iris", environment="production", version=v1)
    started = deployments.release(backend, APPROVER, "auto", v2, interval_s=60).state
    assert started.weights() == {v2: 10, v1: 90} and started.rollout is not None
    later = datetime.now(UTC) + timedelta(minutes=5)
    # Too few requests to judge (the policy wants 20): waiting, whatever the time.
    assert deployments.check(backend, "auto", now=later)["state"] == "waiting"
    deployments.pause(backend, APPROVER, "auto", reason="hold for the weekend")
    with pytest.raises(Conflict, match="already paused"):
        deployments.pause(backend, APPROVER, "auto")
    deployments.pause(backend, APPROVER, "auto", paused=False)
    history = [s.action for s in deployments.history(backend, "auto")]
    assert history == ["deployment.created", "deployment.release_started", "deployment.paused", "deployment.resumed"]


def test_a_healthy_canary_step_advances_once_its_interval_has_passed(store) -> None:  # type: ignore[no-untyped-def]
    from modelward.domain.predictions import PredictionRecord
    from modelward.services.predictions import PredictionLog

    backend, (v1, v2, _) = store
    deployments.create(backend, APPROVER, "stepper", model="iris", environment="production", version=v1)
    started = deployments.release(backend, APPROVER, "stepper", v2, interval_s=60).state
    log = PredictionLog(backend)
    for index in range(50):
        version = v2 if index % 2 else v1
        log.submit(PredictionRecord(request_id=f"step-{index}", endpoint="stepper", model_name="iris", version=version,
                                    mode="live", at=datetime.now(UTC), latency_ms=1.0, status=200, error=None,
                                    inputs=[{"x": 1}], outputs=[0], rows=1))
    log.close()
    assert deployments.check(backend, "stepper")["state"] == "healthy"  # judged, but its minute is not up
    assert started.rollout is not None
    report = deployments.check(backend, "stepper", now=started.rollout.step_started_at + timedelta(seconds=61))
    assert report["state"] == "promoted" and report["check"]["canary"]["requests"] == 25
    state = deployments.get(backend, "stepper").state
    assert state.weights() == {v2: 50, v1: 50} and state.actor == "modelward:canary"
    assert state.rollout is not None and state.rollout.checks[0].healthy


def test_a_code_bearing_version_serves_only_where_the_policy_isolates_it(store) -> None:  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    from modelward.errors import PolicyViolation
    from tests.deployments.helpers import iris, register_estimator

    backend, _ = store
    features, target = iris()
    pickled = register_estimator(backend, "iris", LogisticRegression(max_iter=300).fit(features, target),
                                 flavor="pickle")
    with pytest.raises(PolicyViolation, match="code_models: isolated"):
        deployments.create(backend, CONTRIBUTOR, "pickled", model="iris", environment="staging", version=pickled)


def test_rollback_returns_to_the_last_settled_state_and_names_its_trigger(store) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, v2, v3) = store
    deployments.create(backend, APPROVER, "back", model="iris", environment="production", version=v1)
    with pytest.raises(Conflict, match="no earlier state"):
        deployments.rollback(backend, APPROVER, "back")
    deployments.release(backend, APPROVER, "back", v2, steps=[25, 100])
    mid = deployments.promote(backend, APPROVER, "back").state  # 25 -> 100: finished
    assert mid.weights() == {v2: 100} and mid.settled
    deployments.release(backend, APPROVER, "back", v3, strategy="shadow")
    undone = deployments.rollback(backend, APPROVER, "back", reason="shadow not needed").state
    assert [(r.version, r.mode) for r in undone.routes] == [(v2, RouteMode.LIVE)]
    again = deployments.rollback(backend, APPROVER, "back", reason="v2 misbehaves").state
    assert again.weights() == {v1: 100}
    event = audit.list_(backend, action="deployment.rolled_back", limit=10)[0]
    assert event.details["trigger"] == "manual" and event.reason == "v2 misbehaves"


def test_an_alert_named_by_the_policy_rolls_back_its_deployments(store) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, v2, _) = store
    deployments.create(backend, APPROVER, "alerted", model="iris", environment="production", version=v1)
    deployments.release(backend, APPROVER, "alerted", v2)
    assert deployments.on_alert(backend, "latency-high") == []
    assert "alerted" in deployments.on_alert(backend, "drift-high", reason="PSI 0.4 on petal_length")
    state = deployments.get(backend, "alerted").state
    assert state.weights() == {v1: 100} and state.actor == "modelward:alerts"
    event = audit.list_(backend, action="deployment.rolled_back", limit=10)[0]
    assert event.details["trigger"] == "alert:drift-high" and "PSI" in (event.reason or "")


def test_history_answers_what_served_at_any_instant(store) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, v2, _) = store
    deployments.create(backend, APPROVER, "travel", model="iris", environment="production", version=v1)
    before = datetime.now(UTC)
    deployments.set_traffic(backend, APPROVER, "travel", {v1: 70, v2: 30})
    assert deployments.state_at(backend, "travel", before).weights() == {v1: 100}
    assert deployments.state_at(backend, "travel", datetime.now(UTC)).weights() == {v1: 70, v2: 30}
    naive = before.replace(tzinfo=None)  # read as UTC
    assert deployments.state_at(backend, "travel", naive).weights() == {v1: 100}
    with pytest.raises(Exception, match="did not exist"):
        deployments.state_at(backend, "travel", before - timedelta(days=1))
    with pytest.raises(InvalidInput, match="add up to 100"):
        deployments.set_traffic(backend, APPROVER, "travel", {v1: 70, v2: 20})


def test_impact_of_a_dataset_reaches_the_endpoints_it_feeds(store) -> None:  # type: ignore[no-untyped-def]
    backend, (v1, _, _) = store
    run_id = registry.get_version(backend, "iris", v1).source_run_id
    lineage.record(backend, execution=ExecutionSpec(run_id=run_id), actor=APPROVER,
                   inputs=[ArtifactSpec(kind=ArtifactKind.DATASET, name="iris-train", digest="sha256:" + "a" * 64)])
    deployments.create(backend, APPROVER, "fed", model="iris", environment="production", version=v1)
    graph = lineage.downstream(backend, f"artifact:{_dataset_id(backend)}")
    endpoints = [n for n in graph.nodes if n.type == ArtifactKind.ENDPOINT.value]
    assert "fed" in {n.name for n in endpoints}


def _dataset_id(backend: Backend) -> str:
    from modelward.store import lineage as lineage_store

    with backend.read() as session:
        found = lineage_store.find_artifact(session, ArtifactKind.DATASET, digest="sha256:" + "a" * 64, uri=None)
    assert found is not None
    return found.id


def test_sticky_keys_keep_their_version_as_a_canary_grows() -> None:
    keys = [f"customer-{i}" for i in range(5000)]
    small = Router([Route(version=2, weight=5, label="canary"), Route(version=1, weight=95)])
    large = Router([Route(version=2, weight=50, label="canary"), Route(version=1, weight=50)])
    on_canary = {k for k in keys if small.pick(k) == 2}
    assert on_canary and all(large.pick(k) == 2 for k in on_canary)
    assert abs(len(on_canary) / len(keys) - 0.05) < 0.015
    assert Router([Route(version=1, weight=100)]).pick(None) == 1
