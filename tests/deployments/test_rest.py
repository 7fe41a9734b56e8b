"""Deployments through the REST API of a real ``modelward server`` with auth on, one token per
person, and the real mlflow client: the policy decides who may deploy what, wherever it is asked.

The store holds one iris model with versions 1 and 2 approved and version 3 in review (evaluated
on registration, nobody approved it). Each test makes its own deployments of it.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelward.domain.actors import Role
from modelward.services import registry, users
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.deployments.helpers import approved_versions, iris, register
from tests.fixtures.people import People, environ_without_settings
from tests.fixtures.servers import ServerProcess, start_server, stop_server

PEOPLE = {"admin": {Role.ADMIN}, "ann": {Role.APPROVER}, "alice": {Role.CONTRIBUTOR}, "vic": {Role.VIEWER}}
FEATURES, TARGET = iris()
ROWS = FEATURES.head(3).to_dict(orient="records")


@dataclass
class World(People):
    server: ServerProcess
    backend: Backend
    tokens: dict[str, str]
    model: str
    approved: list[int]
    in_review: int

    def state_of(self, version: int) -> str:
        return registry.get_version(self.backend, self.model, version).status


def build_world(home: Path) -> World:
    """Users with tokens and the iris model, made on the store directly; then the server on it."""
    backend = Backend.from_settings(Settings(home=home))
    tokens = {}
    for user, roles in PEOPLE.items():
        users.ensure_user(backend, user, frozenset(roles))
        tokens[user] = users.create_token(backend, user, name="tests").token
    model = f"iris-{uuid.uuid4().hex[:6]}"
    approved = approved_versions(backend, model, 2)
    in_review = register(backend, model, c=9.0)
    assert registry.get_version(backend, model, in_review).status == "in_review"  # evaluated on registration
    # The gateway's own poll waits a minute: only the API's refresh can serve a change at once.
    server = start_server(home, env={"MODELWARD_AUTH": "true", "MODELWARD_WEBHOOKS_ENABLED": "false",
                                     "MODELWARD_GATEWAY_REFRESH_S": "60"})
    return World(server, backend, tokens, model, approved, in_review)


def close_world(world: World) -> None:
    stop_server(world.server)
    world.backend.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = build_world(tmp_path_factory.mktemp("deploy-rest"))
    try:
        yield built
    finally:
        close_world(built)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def create(world: World, http: httpx.Client, name: str, version: int, environment: str = "production") -> Any:
    body = {"name": name, "model": world.model, "environment": environment, "version": version}
    return ok(http.post("/api/v1/deployments", json=body), 201)


def routes(deployment: dict[str, Any]) -> dict[int, tuple[str, int]]:
    return {r["version"]: (r["mode"], r["weight"]) for r in deployment["state"]["routes"]}


def eventually(probe: Callable[[], Any], what: str, timeout_s: float = 30) -> Any:
    """``probe()``'s first truthy answer (the prediction log is written off the request path)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not seen within {timeout_s} s")


# -- the round trip ---------------------------------------------------------------------------


def test_create_release_promote_rollback_history_and_state_at(world: World) -> None:
    v1, v2 = world.approved
    name = unique("iris-prod")
    with world.http("ann") as ann:  # an approver: no WRITE permission, yet the policy lets her deploy
        made = create(world, ann, name, v1)
        assert routes(made) == {v1: ("live", 100)} and made["environment"] == "production"
        assert world.state_of(v1) == "released"
        before_release = datetime.now(UTC)
        started = ok(ann.post(f"/api/v1/deployments/{name}/release",
                              json={"version": v2, "strategy": "canary", "steps": [10, 50, 100], "reason": "v2"}))
        assert routes(started) == {v2: ("live", 10), v1: ("live", 90)}
        assert started["state"]["rollout"]["strategy"] == "canary"
        promoted = ok(ann.post(f"/api/v1/deployments/{name}/promote", json={"reason": "looks fine"}))
        assert routes(promoted) == {v2: ("live", 50), v1: ("live", 50)}
        assert ok(ann.post(f"/api/v1/deployments/{name}/pause"))["state"]["rollout"]["paused"] is True
        assert ok(ann.post(f"/api/v1/deployments/{name}/resume"))["state"]["rollout"]["paused"] is False
        rolled = ok(ann.post(f"/api/v1/deployments/{name}/rollback", json={"reason": "p95 up"}))
        assert routes(rolled) == {v1: ("live", 100)} and rolled["state"]["rollout"] is None
        assert world.state_of(v2) == "approved"  # it served traffic and drained again

        revisions = ok(ann.get(f"/api/v1/deployments/{name}/history"))["revisions"]
        assert [r["action"] for r in revisions] == [
            "deployment.created", "deployment.release_started", "deployment.promoted", "deployment.paused",
            "deployment.resumed", "deployment.rolled_back"]
        assert [r["revision"] for r in revisions] == [1, 2, 3, 4, 5, 6]
        assert revisions[-1]["reason"] == "p95 up" and revisions[-1]["actor"] == "ann"

        then = ok(ann.get(f"/api/v1/deployments/{name}/state", params={"at": before_release.isoformat()}))
        assert then["revision"] == 1 and [(r["version"], r["weight"]) for r in then["routes"]] == [(v1, 100)]
        naive = before_release.replace(tzinfo=None).isoformat()  # naive is read as UTC
        assert ok(ann.get(f"/api/v1/deployments/{name}/state", params={"at": naive}))["revision"] == 1
        during = datetime.fromisoformat(revisions[2]["at"])
        assert ok(ann.get(f"/api/v1/deployments/{name}/state", params={"at": during.isoformat()}))["revision"] == 3

        listed = ok(ann.get("/api/v1/deployments", params={"environment": "production", "model": world.model}))
        assert name in [d["name"] for d in listed["deployments"]]
        assert name not in [d["name"] for d in ok(ann.get("/api/v1/deployments",
                                                          params={"environment": "staging"}))["deployments"]]
        assert ok(ann.get(f"/api/v1/deployments/{name}"))["state"]["revision"] == 6


def test_unknown_deployments_and_bad_input_answer_404_and_400_naming_the_problem(world: World) -> None:
    v1, v2 = world.approved
    name = unique("iris-bad")
    with world.http("ann") as ann:
        missing = ann.get("/api/v1/deployments/no-such-deployment")
        assert missing.status_code == 404 and "no-such-deployment" in missing.json()["message"]
        assert ann.post("/api/v1/deployments/no-such-deployment/rollback").status_code == 404
        create(world, ann, name, v1)
        bad_at = ann.get(f"/api/v1/deployments/{name}/state", params={"at": "yesterday-ish"})
        assert bad_at.status_code == 400 and "'at'" in bad_at.json()["message"]
        too_early = ann.get(f"/api/v1/deployments/{name}/state", params={"at": "2001-01-01T00:00:00Z"})
        assert too_early.status_code == 404
        bad_strategy = ann.post(f"/api/v1/deployments/{name}/release", json={"version": v2, "strategy": "sideways"})
        assert bad_strategy.status_code == 400 and "strategy" in bad_strategy.json()["message"]
        bad_weights = ann.post(f"/api/v1/deployments/{name}/traffic", json={"weights": {"one": 100}})
        assert bad_weights.status_code == 400 and "weights" in bad_weights.json()["message"]
        for weights in ({str(v1): 150}, {"0": 100}, {str(v1): -5}):
            out_of_range = ann.post(f"/api/v1/deployments/{name}/traffic", json={"weights": weights})
            assert out_of_range.status_code == 400 and "weights" in out_of_range.json()["message"], weights
        not_100 = ann.post(f"/api/v1/deployments/{name}/traffic", json={"weights": {str(v1): 60, str(v2): 30}})
        assert not_100.status_code == 400 and "add up to 100" in not_100.json()["message"]
        no_version = ann.post("/api/v1/deployments", json={"name": unique("x"), "model": world.model,
                                                           "environment": "production"})
        assert no_version.status_code == 400 and "version" in no_version.json()["message"]
        bad_name = ann.post("/api/v1/deployments", json={"name": "Not A Name", "model": world.model,
                                                         "environment": "production", "version": v1})
        assert bad_name.status_code == 400 and "deployment name" in bad_name.json()["message"]
        assert ok(ann.get(f"/api/v1/deployments/{name}"))["state"]["revision"] == 1  # nothing changed


# -- the policy decides ------------------------------------------------------------------------


def test_a_version_in_review_is_refused_in_production_and_staging_takes_it(world: World) -> None:
    v1, _ = world.approved
    name = unique("iris-prod")
    with world.http("ann") as ann, world.http("alice") as alice:
        refused = ann.post("/api/v1/deployments", json={"name": name, "model": world.model,
                                                        "environment": "production", "version": world.in_review})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error_code"] == "PERMISSION_DENIED" and "in_review" in refused.json()["message"]
        assert ann.get(f"/api/v1/deployments/{name}").status_code == 404  # nothing was made
        create(world, ann, name, v1)
        for change in ({"path": "release", "json": {"version": world.in_review, "strategy": "canary"}},
                       {"path": "traffic", "json": {"weights": {str(v1): 90, str(world.in_review): 10}}}):
            answer = ann.post(f"/api/v1/deployments/{name}/{change['path']}", json=change["json"])
            assert answer.status_code == 403 and "in_review" in answer.json()["message"], answer.text
        assert routes(ok(ann.get(f"/api/v1/deployments/{name}"))) == {v1: ("live", 100)}

        staged = create(world, alice, unique("iris-staging"), world.in_review, environment="staging")
        assert routes(staged) == {world.in_review: ("live", 100)}  # the default policy's staging takes in_review
        assert world.state_of(world.in_review) == "in_review"  # serving in staging approves nothing


def test_a_contributor_or_viewer_may_not_change_production(world: World) -> None:
    v1, v2 = world.approved
    name = unique("iris-prod")
    with world.http("alice") as alice, world.http("ann") as ann, world.http("vic") as vic:
        refused = alice.post("/api/v1/deployments", json={"name": name, "model": world.model,
                                                          "environment": "production", "version": v1})
        assert refused.status_code == 403 and "approver" in refused.json()["message"], refused.text
        create(world, ann, name, v1)
        ok(ann.post(f"/api/v1/deployments/{name}/release", json={"version": v2, "strategy": "direct"}))
        for who in (alice, vic):
            answer = who.post(f"/api/v1/deployments/{name}/rollback", json={"reason": "mine now"})
            assert answer.status_code == 403, answer.text
        assert ok(vic.get(f"/api/v1/deployments/{name}/history"))["revisions"][-1]["action"] == "deployment.released"
        unknown_env = ann.post("/api/v1/deployments", json={"name": unique("x"), "model": world.model,
                                                            "environment": "moon", "version": v1})
        assert unknown_env.status_code == 403 and "denied by default" in unknown_env.json()["message"]
    with httpx.Client(base_url=world.server.url) as nobody:
        assert nobody.get("/api/v1/deployments").status_code == 401


# -- the gateway serves what the API decided -----------------------------------------------------


def _predict(http: httpx.Client, name: str, request_id: str | None = None) -> httpx.Response:
    headers = {"modelward-request-id": request_id} if request_id else {}
    return http.post(f"/serve/{name}/predict", json={"dataframe_records": ROWS}, headers=headers)


def test_a_change_is_served_before_its_answer_returns(world: World) -> None:
    v1, v2 = world.approved
    name = unique("iris-live")
    with world.http("ann") as ann:
        create(world, ann, name, v1)
        first = _predict(ann, name)
        assert first.status_code == 200 and first.headers["modelward-version"] == str(v1), first.text
        assert len(first.json()["predictions"]) == len(ROWS)
        ok(ann.post(f"/api/v1/deployments/{name}/release", json={"version": v2, "strategy": "direct"}))
        assert _predict(ann, name).headers["modelward-version"] == str(v2)  # at once, no waiting for a poll
        ok(ann.post(f"/api/v1/deployments/{name}/rollback"))
        assert _predict(ann, name).headers["modelward-version"] == str(v1)
        ok(ann.post(f"/api/v1/deployments/{name}/retire", json={"reason": "done"}))
        assert _predict(ann, name).status_code == 404


def test_predictions_feedback_stats_and_the_evidence_of_one_request(world: World) -> None:
    v1, _ = world.approved
    name = unique("iris-log")
    request_id = f"req-{uuid.uuid4().hex[:10]}"
    with world.http("ann") as ann, world.http("alice") as alice:
        create(world, ann, name, v1)
        answered = _predict(ann, name, request_id)
        assert answered.status_code == 200 and answered.headers["modelward-request-id"] == request_id
        record = eventually(lambda: ann.get(f"/api/v1/predictions/{request_id}").status_code == 200
                            and ann.get(f"/api/v1/predictions/{request_id}").json(), "the logged request")
        assert [(r["version"], r["mode"]) for r in record["records"]] == [(v1, "live")]
        assert record["feedback"] in (None, [], {})
        logged = ok(ann.get(f"/api/v1/deployments/{name}/predictions", params={"version": v1, "limit": 10}))
        assert request_id in [p["request_id"] for p in logged["predictions"]]
        bad_mode = ann.get(f"/api/v1/deployments/{name}/predictions", params={"mode": "sideways"})
        assert bad_mode.status_code == 400 and "mode" in bad_mode.json()["message"]
        assert ann.get("/api/v1/deployments/no-such/predictions").status_code == 404

        truth = [int(t) for t in TARGET.head(len(ROWS))]
        fed = alice.post(f"/serve/{name}/feedback", json=[{"request_id": request_id, "ground_truth": truth}])
        assert fed.status_code == 200 and fed.json() == {"accepted": 1}, fed.text
        stats = ok(ann.get(f"/api/v1/deployments/{name}/stats"))
        live = [s for s in stats["versions"] if s["version"] == v1 and s["mode"] == "live"]
        assert live and live[0]["requests"] == 1 and live[0]["feedback_rows"] == len(ROWS)
        assert 0.0 <= live[0]["quality"]["accuracy"] <= 1.0 and stats["shadow"] is None
        assert ok(ann.get(f"/api/v1/predictions/{request_id}"))["feedback"]
        assert ann.get(f"/api/v1/deployments/{name}/stats", params={"since": "soon"}).status_code == 400


# -- the MLflow API is no way around the policy ------------------------------------------------------


def test_the_mlflow_api_cannot_make_an_unapproved_version_serve(world: World) -> None:
    v1, _ = world.approved
    name = unique("iris-prod")
    with world.http("ann") as ann:
        create(world, ann, name, v1)
        before = ok(ann.get("/api/v1/deployments"))["deployments"]
    candidate = world.in_review
    for user in ("alice", "ann"):
        staged = world.mlflow(user, f"c.transition_model_version_stage({world.model!r}, {candidate}, 'Production')")
        assert staged.returncode != 0 and "protected" in staged.stderr, staged.stderr
        moved = world.mlflow(user, f"c.set_registered_model_alias({world.model!r}, 'production', {candidate})")
        assert moved.returncode != 0 and "protected" in moved.stderr, moved.stderr
    with world.http("ann") as ann:
        after = ok(ann.get("/api/v1/deployments"))["deployments"]
        assert [(d["name"], d["state"]) for d in after] == [(d["name"], d["state"]) for d in before]
        assert "production" not in ok(ann.get(f"/api/v1/models/{world.model}")).get("aliases", {})
        assert _predict(ann, name).headers["modelward-version"] == str(v1)
    assert world.state_of(candidate) == "in_review"


def test_nothing_a_deployment_routes_can_be_renamed_or_deleted_through_any_door(world: World) -> None:
    staged_name = unique("iris-staging")
    with world.http("alice") as alice:
        create(world, alice, staged_name, world.in_review, environment="staging")
        refused = alice.delete(f"/api/v1/models/{world.model}/versions/{world.in_review}")
        assert refused.status_code == 409 and staged_name in refused.json()["message"], refused.text
    gone = world.mlflow("alice", f"c.delete_model_version({world.model!r}, {world.in_review})")
    assert gone.returncode != 0 and "routed by deployment" in gone.stderr, gone.stderr
    for code in (f"c.rename_registered_model({world.model!r}, 'elsewhere')", f"c.delete_registered_model({world.model!r})"):
        answer = world.mlflow("admin", code)
        assert answer.returncode != 0 and "routed by deployment" in answer.stderr, answer.stderr
    env = {**environ_without_settings(), "MODELWARD_TRACKING_URI": world.server.url,
           "MODELWARD_TOKEN": world.tokens["admin"]}
    cli = subprocess.run([sys.executable, "-m", "modelward", "models", "rename", world.model, "elsewhere"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode != 0 and "routed by deployment" in cli.stdout + cli.stderr, cli.stdout + cli.stderr
    assert world.state_of(world.in_review) == "in_review"
    with world.http("ann") as ann:
        assert ok(ann.get(f"/api/v1/models/{world.model}"))["name"] == world.model
