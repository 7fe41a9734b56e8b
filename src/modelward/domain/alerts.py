"""Alerts: the state of one policy alert rule on one endpoint, and how an observation moves it.

    inactive --breach--> pending --breach held for ``for``--> firing --no breach--> resolved
       ^                    |                                                          |
       +----no breach-------+                 resolved --breach--> pending (again) <---+

A rule with ``for: 0s`` goes from inactive (or resolved) straight to firing. No data (no traffic,
no labels yet) is no evidence either way: a pending alert goes back to inactive, a firing one
stays firing until a value says it is over, so an alert never resolves because traffic stopped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from modelward.domain.monitoring import AlertRule


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


AUDIT_ACTION = {  # the audit action (and so the webhook event) of a move into each state
    AlertState.PENDING: "alert.pending",
    AlertState.FIRING: "alert.firing",
    AlertState.RESOLVED: "alert.resolved",
    AlertState.INACTIVE: "alert.cleared",
}


class Observation(BaseModel):
    """A rule's metric over its window ending at ``at``; ``version`` is the one that breached
    worst (each version serving in the window is judged; None when the metric is endpoint-wide)."""

    at: datetime
    value: float | None
    version: int | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class Alert(BaseModel):
    """Where a rule stands on an endpoint. ``since``: when it entered ``state``."""

    endpoint: str
    rule: str
    model_name: str
    metric: str
    comparison: str
    threshold: float
    window: str
    for_: str = Field(alias="for", serialization_alias="for")
    severity: str
    rollback: bool
    state: AlertState
    since: datetime | None = None
    value: float | None = None
    version: int | None = None
    evaluated_at: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    details: dict[str, Any] = Field(default_factory=dict)  # of the last observation

    model_config = {"populate_by_name": True}


class AlertEvent(BaseModel):
    """One move of an alert, as the history keeps it. ``actions``: what the move caused (e.g. the
    deployments it rolled back)."""

    id: int
    endpoint: str
    rule: str
    model_name: str
    metric: str
    from_state: AlertState
    to_state: AlertState
    value: float | None
    threshold: float
    comparison: str
    version: int | None
    severity: str
    at: datetime
    details: dict[str, Any] = Field(default_factory=dict)
    actions: list[dict[str, Any]] = Field(default_factory=list)


def breached(value: float, comparison: str, threshold: float) -> bool:
    if comparison == "<":
        return value < threshold
    if comparison == "<=":
        return value <= threshold
    if comparison == ">":
        return value > threshold
    if comparison == ">=":
        return value >= threshold
    raise ValueError(f"unknown comparison {comparison!r}")


def worse(a: float, b: float, comparison: str) -> bool:
    """Whether ``a`` is further into breach than ``b`` for this comparison."""
    return a < b if comparison in ("<", "<=") else a > b


def next_state(rule: AlertRule, state: AlertState, since: datetime | None, seen: Observation) -> AlertState:
    """The state after observing ``seen``; ``since`` is when the alert entered ``state``."""
    if seen.value is None:
        return AlertState.INACTIVE if state is AlertState.PENDING else state
    if not breached(seen.value, rule.comparison, rule.threshold):
        if state is AlertState.FIRING:
            return AlertState.RESOLVED
        return AlertState.INACTIVE if state is AlertState.PENDING else state
    if state is AlertState.FIRING:
        return state
    started = since if state is AlertState.PENDING and since is not None else seen.at
    if seen.at - started >= timedelta(seconds=rule.for_seconds):
        return AlertState.FIRING
    return AlertState.PENDING


__all__ = ["AUDIT_ACTION", "Alert", "AlertEvent", "AlertState", "Observation", "breached", "next_state", "worse"]
