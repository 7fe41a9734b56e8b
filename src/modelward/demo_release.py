"""The release half of the demo: the approved champion serves production, the approved challenger
goes in as a canary stepped by its guardrails, a rollback returns to the champion at once, and a
third version is shadowed beside it. Real predictions (the test split, sticky by a patient id)
and their ground truth go through the gateway, so the prediction log and the guardrail figures
are real. Everything goes through the SDK, as an ML engineer's release script would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelward.sdk.client import Client

ENDPOINT = "screening-production"
Progress = Callable[[str], None]


@dataclass
class ReleaseResult:
    endpoint: str
    revisions: list[str] = field(default_factory=list)
    served: dict[int, int] = field(default_factory=dict)
    feedback: int = 0
    shadow: int | None = None


def _traffic(client: Client, features: Any, labels: Any, result: ReleaseResult, *, start: int, count: int) -> None:
    """``count`` one-row requests from the test split, each with its ground truth afterwards."""
    feedback = []
    for offset in range(count):
        index = (start + offset) % len(features)
        answer = client.deployments.predict(ENDPOINT, features.iloc[[index]], routing_key=f"patient-{index}")
        result.served[answer.version] = result.served.get(answer.version, 0) + 1
        feedback.append({"request_id": answer.request_id, "ground_truth": [int(labels.iloc[index])]})
    client.deployments.feedback(ENDPOINT, feedback)
    result.feedback += len(feedback)


def _deploy_champion(client: Client, model: str, champion: int) -> None:
    """A new endpoint; on a rerun, the endpoint the last run left goes back to one version."""
    from modelward.errors import NotFound

    reason = "the approved champion takes all production traffic"
    try:
        current = client.deployments.get(ENDPOINT)
    except NotFound:
        client.deployments.create(ENDPOINT, model=model, version=champion, environment="production", reason=reason)
        return
    if current.state.rollout is not None:
        client.deployments.rollback(ENDPOINT, reason="demo rerun: the release the last run left under way ends")
    client.deployments.release(ENDPOINT, champion, strategy="direct", reason=reason)


def run_release_demo(client: Client, model: str, *, champion: int, challenger: int, shadow: int | None,
                     test: Any, progress: Progress | None = None) -> ReleaseResult:
    step = progress or (lambda _: None)
    features, labels = test.drop(columns=["label"]), test["label"]
    features = features.drop(columns=[c for c in ("sex",) if c in features.columns])
    result = ReleaseResult(ENDPOINT)
    deployments = client.deployments
    step("deploying the champion to production")
    _deploy_champion(client, model, champion)
    _traffic(client, features, labels, result, start=0, count=60)
    step("releasing the challenger as a canary")
    deployments.release(ENDPOINT, challenger, strategy="canary", steps=[10, 50, 100],
                        reason="the approved challenger, stepped by its guardrails")
    _traffic(client, features, labels, result, start=60, count=120)
    deployments.check(ENDPOINT)
    deployments.promote(ENDPOINT, reason="canary at 10% healthy")
    _traffic(client, features, labels, result, start=180, count=80)
    deployments.check(ENDPOINT)
    deployments.promote(ENDPOINT, reason="canary at 50% healthy: the challenger takes all traffic")
    step("rolling back to the champion")
    deployments.rollback(ENDPOINT, reason="demo: a rollback returns the champion to all traffic at once")
    if shadow is not None:
        step("shadowing a third version")
        deployments.release(ENDPOINT, shadow, strategy="shadow",
                            reason="scored on a copy of production traffic, its answers never returned")
        _traffic(client, features, labels, result, start=260, count=60)
        result.shadow = shadow
    result.revisions = [state.action for state in deployments.history(ENDPOINT)]
    return result
