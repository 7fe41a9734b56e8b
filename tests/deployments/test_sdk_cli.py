"""Deployments through ``client.deployments`` and ``modelward deploy``, remote against a real
server with auth (one token per person), and once embedded: the same rules, the same answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from modelward.cli import app
from modelward.domain.deployments import Deployment, DeploymentState, RouteMode
from modelward.errors import InvalidInput, NotFound, PermissionDenied
from modelward.sdk.client import Client
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.deployments.helpers import approved_versions, iris
from tests.deployments.test_rest import World, build_world, close_world, eventually, unique

FEATURES, TARGET = iris()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = build_world(tmp_path_factory.mktemp("deploy-sdk-cli"))
    try:
        yield built
    finally:
        close_world(built)


def weights(deployment: Deployment | DeploymentState) -> dict[int, int]:
    state = deployment.state if isinstance(deployment, Deployment) else deployment
    return state.weights()


# -- the SDK ----------------------------------------------------------------------------------


def test_the_sdk_round_trip_returns_domain_models(world: World) -> None:
    v1, v2 = world.approved
    name = unique("iris-sdk")
    with world.client("ann") as ann:
        made = ann.deployments.create(name, model=world.model, version=v1, environment="production",
                                      sticky_key="header:x-customer-id", reason="first")
        assert isinstance(made, Deployment) and weights(made) == {v1: 100}
        first = datetime.now(UTC)
        started = ann.deployments.release(name, v2, strategy="canary", steps=[5, 25, 50, 100], reason="v2")
        assert weights(started) == {v2: 5, v1: 95} and started.state.rollout is not None
        assert weights(ann.deployments.promote(name)) == {v2: 25, v1: 75}
        assert ann.deployments.pause(name).state.rollout.paused  # type: ignore[union-attr]
        assert not ann.deployments.resume(name).state.rollout.paused  # type: ignore[union-attr]
        report = ann.deployments.check(name)
        assert report["state"] == "waiting"  # the policy wants 20 requests to the canary first

        earlier = ann.deployments.state_at(name, first)
        assert isinstance(earlier, DeploymentState) and earlier.revision == 1 and weights(earlier) == {v1: 100}
        assert ann.deployments.state_at(name, first.replace(tzinfo=None)).revision == 1  # naive is UTC

        rolled = ann.deployments.rollback(name, reason="not now")
        assert weights(rolled) == {v1: 100} and rolled.state.rollout is None
        history = ann.deployments.history(name)
        assert [s.action for s in history][-1] == "deployment.rolled_back" and len(history) == 6
        assert name in [d.name for d in ann.deployments.list(environment="production", model=world.model)]
        assert ann.deployments.get(name).sticky_key == "header:x-customer-id"
        with pytest.raises(NotFound):
            ann.deployments.get("no-such-deployment")
        with pytest.raises(InvalidInput, match="deployment name"):
            ann.deployments.get("Not A Name")


def test_predict_feedback_and_the_evidence_through_the_sdk(world: World) -> None:
    v1, v2 = world.approved
    name = unique("iris-predict")
    with world.client("ann") as ann, world.client("alice") as alice:
        ann.deployments.create(name, model=world.model, version=v1, environment="production")
        answer = ann.deployments.predict(name, FEATURES.head(4), request_id="sdk-frame-1")
        assert answer.version == v1 and answer.request_id == "sdk-frame-1" and len(answer.predictions) == 4
        rows = FEATURES.head(2).to_dict(orient="records")
        assert len(ann.deployments.predict(name, rows, proba=True).predictions[0]) == 3  # one per iris class
        ann.deployments.set_traffic(name, {v1: 50, v2: 50})
        keyed = {ann.deployments.predict(name, rows, routing_key="customer-7").version for _ in range(5)}
        assert len(keyed) == 1  # sticky: the same key reaches the same version every time
        with pytest.raises(InvalidInput, match="DataFrame"):
            ann.deployments.predict(name, "not rows")

        record = eventually(lambda: _found(ann, "sdk-frame-1"), "the logged request")
        assert record["records"][0]["version"] == v1
        truth = [int(t) for t in TARGET.head(4)]
        assert alice.deployments.feedback(name, [{"request_id": "sdk-frame-1", "ground_truth": truth}]) == {
            "accepted": 1}
        with pytest.raises(NotFound, match="nothing was stored"):
            alice.deployments.feedback(name, [{"request_id": "never-asked", "ground_truth": 1}])
        stats = ann.deployments.stats(name)
        assert any(s["version"] == v1 and s["feedback_rows"] == 4 for s in stats["versions"])
        assert "sdk-frame-1" in [p["request_id"] for p in ann.deployments.predictions(name, version=v1)]


def _found(client: Client, request_id: str) -> dict | None:
    try:
        return client.deployments.prediction(request_id)
    except NotFound:
        return None


def test_the_sdk_raises_permission_denied_where_the_policy_refuses(world: World) -> None:
    v1, _ = world.approved
    with world.client("ann") as ann, world.client("alice") as alice:
        with pytest.raises(PermissionDenied, match="in_review"):
            ann.deployments.create(unique("iris-prod"), model=world.model, version=world.in_review,
                                   environment="production")
        with pytest.raises(PermissionDenied, match="approver"):
            alice.deployments.create(unique("iris-prod"), model=world.model, version=v1, environment="production")
        staged = alice.deployments.create(unique("iris-stage"), model=world.model, version=world.in_review,
                                          environment="staging")
        assert weights(staged) == {world.in_review: 100}
        prod = ann.deployments.create(unique("iris-prod"), model=world.model, version=v1, environment="production")
        shadowed = ann.deployments.release(prod.name, world.in_review, strategy="shadow")  # a copy, never answered
        assert {r.version: r.mode for r in shadowed.state.routes} == {v1: RouteMode.LIVE,
                                                                      world.in_review: RouteMode.SHADOW}
        with pytest.raises(PermissionDenied, match="in_review"):
            ann.deployments.promote(prod.name)  # taking over would answer callers
        assert ann.deployments.get(prod.name).state.revision == shadowed.state.revision


def test_embedded_the_same_calls_serve_in_process(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "embedded")
    backend = Backend.from_settings(settings)
    try:
        v1, v2 = approved_versions(backend, "iris-local", 2)
    finally:
        backend.close()
    with Client(settings=settings) as local:  # the local operator is the admin: every role
        local.deployments.create("iris-local", model="iris-local", version=v1, environment="production")
        assert local.deployments.predict("iris-local", FEATURES.head(2)).version == v1
        local.deployments.release("iris-local", v2, strategy="blue_green")
        state = local.deployments.get("iris-local").state
        assert {r.version: r.mode for r in state.routes} == {v1: RouteMode.LIVE, v2: RouteMode.STANDBY}
        assert local.deployments.predict("iris-local", FEATURES.head(2)).version == v1  # green waits on standby
        local.deployments.promote("iris-local")  # the green version answers its probe, then takes over
        assert local.deployments.predict("iris-local", FEATURES.head(2)).version == v2
        assert local.deployments.rollback("iris-local").state.weights() == {v1: 100}
        assert local.deployments.predict("iris-local", FEATURES.head(2)).version == v1


# -- the CLI ----------------------------------------------------------------------------------


class Cli:
    """``modelward ...`` in this process against the world's server, as one of its people."""

    def __init__(self, world: World, user: str) -> None:
        self.runner, self.env = CliRunner(), {"MODELWARD_TRACKING_URI": world.server.url,
                                              "MODELWARD_TOKEN": world.tokens[user], "COLUMNS": "250"}

    def __call__(self, *args: str, ok: bool = True) -> Result:
        result = self.runner.invoke(app, list(args), env=self.env)
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result


def modelward(world: World, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m modelward ...`` in a fresh process: real exit codes and stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}
    env.update({"MODELWARD_TRACKING_URI": world.server.url, "MODELWARD_TOKEN": world.tokens[user], "COLUMNS": "250"})
    return subprocess.run([sys.executable, "-m", "modelward", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode != 0 and len(lines) == 1 and lines[0].startswith("Error:"), done.stdout + done.stderr
    return lines[0]


def test_the_cli_creates_releases_routes_and_rolls_back(world: World, tmp_path: Path) -> None:
    v1, v2 = world.approved
    name = unique("iris-cli")
    ann = Cli(world, "ann")
    created = ann("deploy", "create", name, "--model", world.model, "--version", str(v1),
                  "--environment", "production", "--sticky-key", "header:x-customer-id", "--reason", "first")
    assert "revision 1" in created.output and f"v{v1} live 100%" in created.output
    before_release = datetime.now(UTC)
    released = ann("deploy", "release", name, str(v2), "--strategy", "canary", "--steps", "10,50,100")
    assert f"v{v2} live 10%" in released.output and f"v{v1} live 90%" in released.output
    status = ann("deploy", "status", name).output
    assert "canary" in status and "released" in status and "step 1 of 3 at 10%" in status
    assert f"v{v1} 90%" in status and f"v{v2} 10%" in status and "█" in status
    assert "waiting" in ann("deploy", "check", name).output
    assert f"v{v2} live 50%" in ann("deploy", "promote", name).output
    rolled = ann("deploy", "rollback", name, "--reason", "latency").output
    assert "deployment.rolled_back" in rolled and f"v{v1} live 100%" in rolled

    history = ann("deploy", "history", name).output
    for action in ("deployment.created", "deployment.release_started", "deployment.promoted", "latency"):
        assert action in history
    then = ann("deploy", "history", name, "--at", before_release.isoformat()).output
    assert "revision 1" in then and f"v{v1} 100%" in then and f"v{v2}" not in then
    as_json = json.loads(ann("deploy", "history", name, "--at", before_release.isoformat(), "--json").output)
    assert as_json["revision"] == 1
    listed = json.loads(ann("deploy", "list", "--environment", "production", "--json").output)
    assert name in [d["name"] for d in listed]
    assert name in ann("deploy", "list", "--environment", "production").output

    route = ann("deploy", "route", name, "--weights", f"{v1}=80,{v2}=20").output
    assert f"v{v1} live 80%" in route and f"v{v2} live 20%" in route
    assert "must look like 1=90,2=10" in str(ann("deploy", "route", name, "--weights", "half", ok=False).exception)

    with Client(world.server.url, token=world.tokens["ann"]) as client:
        for i in range(3):
            client.deployments.predict(name, FEATURES.iloc[[i]], request_id=f"{name}-{i}")
        eventually(lambda: len(client.deployments.predictions(name)) == 3, "three logged answers")
    assert f"{name}-0" in ann("deploy", "predictions", name, "--limit", "5").output
    feedback = tmp_path / "truth.csv"
    feedback.write_text("request_id,ground_truth\n" + "".join(f"{name}-{i},{int(TARGET.iloc[i])}\n" for i in range(3)))
    assert "feedback accepted for 3 requests" in Cli(world, "alice")("deploy", "feedback", name, str(feedback)).output
    as_list = tmp_path / "truth.json"
    as_list.write_text(json.dumps([{"request_id": f"{name}-0", "ground_truth": 0}]))
    assert "for 1 requests" in Cli(world, "alice")("deploy", "feedback", name, str(as_list)).output
    assert "deployment.retired" in ann("deploy", "retire", name).output


def test_cli_refusals_are_one_line_and_a_non_zero_exit(world: World) -> None:
    v1, _ = world.approved
    unapproved = modelward(world, "ann", "deploy", "create", unique("iris-prod"), "--model", world.model,
                           "--version", str(world.in_review), "--environment", "production")
    line = one_error_line(unapproved)
    assert "in_review" in line and "production" in line
    contributor = modelward(world, "alice", "deploy", "create", unique("iris-prod"), "--model", world.model,
                            "--version", str(v1), "--environment", "production")
    assert "approver" in one_error_line(contributor)
    missing = modelward(world, "ann", "deploy", "rollback", "no-such-deployment")
    assert missing.returncode == 3 and "no-such-deployment" in one_error_line(missing)
    staged = Cli(world, "alice")("deploy", "create", unique("iris-stage"), "--model", world.model,
                                 "--version", str(world.in_review), "--environment", "staging")
    assert f"v{world.in_review} live 100%" in staged.output
