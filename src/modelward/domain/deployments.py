"""Deployments: named endpoints that serve registered versions, and how traffic is split.

A deployment's state is a list of routes, each a version with a mode:

* ``live``: answers requests; the live weights add up to 100;
* ``shadow``: receives a copy of each request, its answer is logged and never returned;
* ``standby``: loaded and warmed (a blue-green release's idle slot), takes no traffic.

A state is *settled* when no rollout (canary, blue-green, shadow) is under way. Every change
appends a revision; rollback returns to the last settled state before the current one.

Routing by a request key is sticky: the key's hash picks a point in 0..9999 and the live routes
own consecutive ranges, the newest version first, so a key that reached a canary at 5% still
reaches it at 25% and 50%.
"""

from __future__ import annotations

import enum
import hashlib
import random
import re
from bisect import bisect_right
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelward.domain.policy import Guardrails
from modelward.errors import InvalidInput

DEPLOYMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")
STICKY_KEY = re.compile(r"^(header|field):[A-Za-z0-9_.-]{1,128}$")
DEFAULT_STICKY_KEY = "header:modelward-routing-key"
BUCKETS = 10_000


class RouteMode(str, enum.Enum):
    LIVE = "live"
    SHADOW = "shadow"
    STANDBY = "standby"


class DeploymentStatus(str, enum.Enum):
    ACTIVE = "active"
    RETIRED = "retired"


class Strategy(str, enum.Enum):
    DIRECT = "direct"
    CANARY = "canary"
    BLUE_GREEN = "blue_green"
    SHADOW = "shadow"


class Route(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = Field(ge=1)
    weight: int = Field(default=0, ge=0, le=100)
    mode: RouteMode = RouteMode.LIVE
    label: str = "stable"


class StepCheck(BaseModel):
    """The guardrail figures of one canary step, as judged."""

    step: int
    weight: int
    at: datetime
    healthy: bool
    reasons: list[str] = Field(default_factory=list)
    canary: dict[str, Any] = Field(default_factory=dict)
    stable: dict[str, Any] = Field(default_factory=dict)


class Rollout(BaseModel):
    """A release under way: ``version`` is on its way in, ``previous`` on its way out."""

    strategy: Strategy
    version: int
    previous: int | None = None
    steps: list[int] = Field(default_factory=list)
    step: int = 0
    step_started_at: datetime
    interval_s: float | None = None
    paused: bool = False
    guardrails: Guardrails = Field(default_factory=Guardrails)
    checks: list[StepCheck] = Field(default_factory=list)

    @property
    def weight(self) -> int:
        return self.steps[self.step] if self.steps else 0


class DeploymentState(BaseModel):
    revision: int
    at: datetime
    actor: str
    action: str
    reason: str | None = None
    status: DeploymentStatus = DeploymentStatus.ACTIVE
    routes: list[Route] = Field(default_factory=list)
    rollout: Rollout | None = None

    @property
    def settled(self) -> bool:
        return self.rollout is None

    def live(self) -> list[Route]:
        return [r for r in self.routes if r.mode is RouteMode.LIVE and r.weight > 0]

    def shadows(self) -> list[Route]:
        return [r for r in self.routes if r.mode is RouteMode.SHADOW]

    def serving_versions(self) -> set[int]:
        """Versions whose answers reach callers (what 'released' means)."""
        return {r.version for r in self.live()} if self.status is DeploymentStatus.ACTIVE else set()

    def loaded_versions(self) -> set[int]:
        """Versions a gateway must hold loaded to serve this state (live, shadow and standby)."""
        return {r.version for r in self.routes} if self.status is DeploymentStatus.ACTIVE else set()

    def weights(self) -> dict[int, int]:
        return {r.version: r.weight for r in self.live()}


class Deployment(BaseModel):
    name: str
    environment: str
    model_name: str
    sticky_key: str = DEFAULT_STICKY_KEY
    created_at: datetime
    created_by: str
    state: DeploymentState


# -- rules --------------------------------------------------------------------------------------


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not DEPLOYMENT_NAME.match(name):
        raise InvalidInput(f"deployment name {name!r} must be 1-128 lower-case letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit")
    return name


def validate_sticky_key(key: Any) -> str:
    if not isinstance(key, str) or not STICKY_KEY.match(key):
        raise InvalidInput(f"sticky key {key!r} must be 'header:NAME' or 'field:NAME' (e.g. 'header:x-customer-id')")
    return key


def check_routes(routes: list[Route], *, status: DeploymentStatus = DeploymentStatus.ACTIVE) -> list[Route]:
    """The routes, or InvalidInput: each version once, live weights add up to 100, others weigh 0."""
    seen: set[int] = set()
    for route in routes:
        if route.version in seen:
            raise InvalidInput(f"version {route.version} appears twice in the routes")
        seen.add(route.version)
        if route.mode is not RouteMode.LIVE and route.weight:
            raise InvalidInput(f"a {route.mode.value} route takes no traffic: version {route.version} has weight "
                               f"{route.weight}")
    total = sum(r.weight for r in routes if r.mode is RouteMode.LIVE)
    if status is DeploymentStatus.ACTIVE and total != 100:
        raise InvalidInput(f"live weights must add up to 100, they add up to {total}")
    return routes


def split(weights: dict[int, int], *, shadows: list[int] = ()) -> list[Route]:  # type: ignore[assignment]
    """Routes for a plain traffic split (``{version: percent}``) plus shadowed versions."""
    if not weights:
        raise InvalidInput("a traffic split needs at least one version with a weight")
    routes = [Route(version=v, weight=w, label="stable" if w == max(weights.values()) else "split")
              for v, w in weights.items()]
    routes += [Route(version=v, mode=RouteMode.SHADOW, label="shadow") for v in shadows if v not in weights]
    return check_routes(routes)


def previous_settled(history: list[DeploymentState]) -> DeploymentState | None:
    """What a rollback returns to: the last settled, active state before the current one whose
    routes differ from the current routes (``history`` oldest first, current last). During a
    shadow or blue-green release that is the state before it, whose live split is the same."""
    if not history:
        return None
    current = history[-1]
    for state in reversed(history[:-1]):
        if state.settled and state.status is DeploymentStatus.ACTIVE and state.live() \
                and _routes_key(state) != _routes_key(current):
            return state
    return None


def _routes_key(state: DeploymentState) -> tuple[tuple[int, int, str], ...]:
    if state.status is not DeploymentStatus.ACTIVE:
        return ()
    return tuple(sorted((r.version, r.weight, r.mode.value) for r in state.routes))


# -- picking a route per request ------------------------------------------------------------------


def bucket_of(key: str) -> int:
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


class Router:
    """The compiled live split of one state: ``pick(key)`` in O(log n), no allocation."""

    __slots__ = ("_bounds", "_versions", "_random")

    def __init__(self, routes: list[Route], *, seed: int | None = None) -> None:
        live = [r for r in routes if r.mode is RouteMode.LIVE and r.weight > 0]
        # Newest version first: its range starts at 0, so raising its weight keeps its keys.
        live.sort(key=lambda r: -r.version)
        bounds, total = [], 0
        for route in live:
            total += route.weight * BUCKETS // 100
            bounds.append(total)
        if live:
            bounds[-1] = BUCKETS
        self._bounds = bounds
        self._versions = [r.version for r in live]
        self._random = random.Random(seed)

    @property
    def empty(self) -> bool:
        return not self._versions

    def pick(self, key: str | None = None) -> int:
        if len(self._versions) == 1:
            return self._versions[0]
        point = bucket_of(key) if key is not None else self._random.randrange(BUCKETS)
        return self._versions[bisect_right(self._bounds, point)]


Trigger = Literal["manual", "guardrail", "alert"]
LOWER_IS_BETTER = frozenset({"mae", "rmse", "mse", "log_loss", "brier"})


def judge(guardrails: Guardrails, canary: Any, stable: Any) -> tuple[bool | None, list[str]]:
    """Is the canary healthy against the stable version? None while it has too few requests.
    ``canary``/``stable`` carry requests, error_rate, p95_ms and quality (metric -> value)."""
    if canary is None or canary.requests < guardrails.min_requests:
        seen = 0 if canary is None else canary.requests
        return None, [f"{seen} of {guardrails.min_requests} requests to the canary so far"]
    reasons = []
    if canary.error_rate > guardrails.max_error_rate:
        reasons.append(f"error rate {canary.error_rate:.1%} is above {guardrails.max_error_rate:.1%}")
    if guardrails.max_p95_latency_ms is not None and canary.p95_ms is not None \
            and canary.p95_ms > guardrails.max_p95_latency_ms:
        reasons.append(f"p95 latency {canary.p95_ms:.1f} ms is above {guardrails.max_p95_latency_ms:g} ms")
    metric = guardrails.quality_metric
    if metric and stable is not None:
        ours, theirs = (canary.quality or {}).get(metric), (stable.quality or {}).get(metric)
        if ours is not None and theirs is not None:
            regression = ours - theirs if metric in LOWER_IS_BETTER else theirs - ours
            if regression > guardrails.max_quality_regression:
                reasons.append(f"{metric} {ours:.4g} is worse than the stable version's {theirs:.4g} by "
                               f"{regression:.4g} (allowed {guardrails.max_quality_regression:g})")
    return not reasons, reasons

__all__ = [
    "DEFAULT_STICKY_KEY",
    "Deployment",
    "DeploymentState",
    "DeploymentStatus",
    "Rollout",
    "Route",
    "RouteMode",
    "Router",
    "StepCheck",
    "Strategy",
    "bucket_of",
    "check_routes",
    "judge",
    "previous_settled",
    "split",
    "validate_name",
    "validate_sticky_key",
]
