"""The monitoring part of the demo: the challenger goes in again as a canary, watched by the policy's
drift alert. Part-way through the traffic the inputs shift (a new scanner reads every measure
larger): the alert fires, the canary rolls back by itself naming the alert, and once the shifted
inputs have left the alert's window the alert resolves. Each answer's feedback carries two
business values (the cost of the follow-up a malignant call orders, a missed malignant case),
so the dashboard shows KPIs beside the technical figures. A performance report of the period
closes it. Everything goes through the SDK, as a platform team's script would."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelward.demo_release import ENDPOINT
from modelward.sdk.client import Client

Progress = Callable[[str], None]
ALERT = "input-drift"
WINDOW_S = 15  # the alert rule's window (demo_governance's policy): short, so the demo need not wait long
SCANNER_SCALE = 1.6  # the new scanner's reading of every measure
FOLLOW_UP_COST = 180.0  # what a malignant call costs in follow-up examinations
MALIGNANT = 0  # scikit-learn's breast-cancer labels: 0 malignant, 1 benign


@dataclass
class MonitoringResult:
    endpoint: str
    moves: list[str] = field(default_factory=list)  # "input-drift: inactive -> firing", ...
    rolled_back: bool = False
    requests: int = 0
    report_paths: list[Path] = field(default_factory=list)
    since: datetime | None = None


def _traffic(client: Client, features: Any, labels: Any, *, start: int, count: int, scale: float = 1.0) -> int:
    """``count`` one-row requests, each with its ground truth and business values afterwards."""
    feedback = []
    for offset in range(count):
        index = (start + offset) % len(features)
        row = features.iloc[[index]] * scale
        answer = client.deployments.predict(ENDPOINT, row, proba=True, routing_key=f"patient-{start + offset}")
        probabilities = answer.predictions[0]  # probabilities answered: quality is estimated before labels come
        predicted, truth = max(range(len(probabilities)), key=probabilities.__getitem__), int(labels.iloc[index])
        feedback.append({"request_id": answer.request_id, "ground_truth": [truth], "values": {
            "follow_up_cost": FOLLOW_UP_COST if predicted == MALIGNANT else 0.0,
            "missed_malignant": 1.0 if truth == MALIGNANT and predicted != MALIGNANT else 0.0}})
    client.deployments.feedback(ENDPOINT, feedback)
    return count


def _evaluate(client: Client, result: MonitoringResult, *, until_logged: int) -> list[Any]:
    """Judge the alert rules once the prediction log holds ``until_logged`` answers of this part."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        windows = client.monitoring.windows(ENDPOINT, since=result.since, until=datetime.now(UTC), every=None)
        if sum(w.requests for w in windows) >= until_logged:
            break
        time.sleep(0.2)
    moves = client.monitoring.evaluate_alerts(ENDPOINT)
    for move in moves:
        result.moves.append(f"{move.rule}: {move.from_state.value} -> {move.to_state.value}")
        result.rolled_back |= any(action.get("action") == "rollback" for action in move.actions)
    return moves


def run_monitoring_demo(client: Client, model: str, *, challenger: int, test: Any, report_dir: Path,
                        progress: Progress | None = None) -> MonitoringResult:
    step = progress or (lambda _: None)
    features, labels = test.drop(columns=["label", "sex"]), test["label"]
    result = MonitoringResult(ENDPOINT, since=datetime.now(UTC))
    deployments = client.deployments
    current = deployments.get(ENDPOINT)
    if current.state.rollout is not None:
        deployments.rollback(ENDPOINT, reason="the shadow comparison is done")
    step("the challenger again as a canary, watched by the drift alert")
    deployments.release(ENDPOINT, challenger, strategy="canary", steps=[50, 100],
                        reason="the challenger again, half the traffic, watched by the input-drift alert")
    result.requests += _traffic(client, features, labels, start=0, count=120)
    _evaluate(client, result, until_logged=result.requests)
    step("a new scanner: every measure reads larger")
    result.requests += _traffic(client, features, labels, start=120, count=120, scale=SCANNER_SCALE)
    shifted_until = time.monotonic()
    _evaluate(client, result, until_logged=result.requests)
    start = 240
    while time.monotonic() - shifted_until < WINDOW_S + 1:  # the shifted inputs leave the alert's window
        left = WINDOW_S + 1 - (time.monotonic() - shifted_until)
        step(f"scanner recalibrated; the alert's {WINDOW_S} s window clears in {max(left, 0):.0f} s")
        result.requests += _traffic(client, features, labels, start=start, count=10)
        start += 10
        time.sleep(1.0)
    _evaluate(client, result, until_logged=result.requests)
    step("writing the performance report")
    report_dir.mkdir(parents=True, exist_ok=True)
    until = datetime.now(UTC)
    for fmt in ("html", "pdf"):
        path = report_dir / f"{ENDPOINT}-performance.{fmt}"
        client.monitoring.report(ENDPOINT, since=result.since, until=until, format=fmt, path=path)
        result.report_paths.append(path)
    return result
