"""Alerts: the ``monitoring.alerts`` rules of each deployed model's policy, judged on its endpoint.

``evaluate`` observes every rule's metric over its window ending now (or at ``at``), moves the
rule's state (domain/alerts.py: inactive -> pending -> firing -> resolved) and, for each move,
writes an alert event and an audit event (``alert.pending``, ``alert.firing``, ``alert.resolved``,
``alert.cleared``) in one transaction, so webhooks subscribed to ``alert.*`` are sent signed by
the outbox like every other. A rule that fires with ``rollback: true``, or whose name the policy
lists in ``release.rollback_on_alerts``, rolls its endpoint back (trigger ``alert:NAME``); the
alert event then lists the rollback among its actions.

Observing reads the prediction log (slow) outside any transaction; the move is applied with the
rule's state row locked and only if no evaluation at the same moment or later got there first,
so a scheduled and an on-demand evaluation, or two server processes, never move a rule twice.
The server's ``AlertScheduler`` evaluates every ``interval_s`` in the one process holding the
``alerts`` lease (services/leases.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modelward.domain.actors import Actor, Role
from modelward.domain.alerts import AUDIT_ACTION, Alert, AlertEvent, AlertState, Observation, next_state, worse
from modelward.domain.deployments import Deployment, DeploymentStatus
from modelward.domain.monitoring import DRIFT_METRIC, KPI_METRIC, OPERATIONAL_METRICS, QUALITY_METRICS, AlertRule
from modelward.domain.policy import Policy
from modelward.errors import InvalidInput, ModelwardError, NotFound, PermissionDenied
from modelward.services import audit, deployments, leases, policies
from modelward.services.leases import LeasedPeriodic
from modelward.services.backend import Backend
from modelward.store import alerts as store


ACTOR = deployments.ALERTS_ACTOR
LEASE = "alerts"
P_VALUE_TESTS = ("ks", "chi_square")  # lower is worse; every other drift test is a distance
WINDOW_FIELD = {"error_rate": "error_rate", "p50_latency_ms": "latency_p50_ms",
                "p95_latency_ms": "latency_p95_ms", "p99_latency_ms": "latency_p99_ms"}


# -- reading ----------------------------------------------------------------------------------------


def list_(backend: Backend, *, endpoint: str | None = None, state: str | None = None) -> list[Alert]:
    """Every rule of every serving endpoint (or of ``endpoint``) with where it stands."""
    wanted = _state_filter(state)
    alerts = []
    for deployment, policy in _serving(backend, endpoint):
        with backend.read() as session:
            states = {row.rule: store.state_values(row) for row in store.state_rows(session, deployment.name)}
        for rule in policy.monitoring.alerts:
            alert = _alert(deployment, rule, states.get(rule.name, {"state": AlertState.INACTIVE}))
            if wanted is None or alert.state is wanted:
                alerts.append(alert)
    return alerts


def history(backend: Backend, *, endpoint: str | None = None, rule: str | None = None,
            since: datetime | None = None, until: datetime | None = None, limit: int = 1000) -> list[AlertEvent]:
    """The moves of alerts, newest first."""
    if not 1 <= limit <= store.MAX_EVENTS:
        raise InvalidInput(f"limit must be between 1 and {store.MAX_EVENTS}, got {limit}")
    with backend.read() as session:
        return store.events(session, endpoint=endpoint, rule=rule, since=audit.utc(since), until=audit.utc(until),
                            limit=limit)


def _state_filter(state: str | None) -> AlertState | None:
    if state is None:
        return None
    try:
        return AlertState(state)
    except ValueError:
        raise InvalidInput(f"state must be one of {', '.join(s.value for s in AlertState)}, got {state!r}") from None


def _alert(deployment: Deployment, rule: AlertRule, current: dict[str, Any]) -> Alert:
    return Alert(endpoint=deployment.name, rule=rule.name, model_name=deployment.model_name, metric=rule.metric,
                 comparison=rule.comparison, threshold=rule.threshold, window=rule.window, for_=rule.for_,
                 severity=rule.severity, rollback=rule.rollback, **current)


def _serving(backend: Backend, endpoint: str | None) -> list[tuple[Deployment, Policy]]:
    if endpoint is not None:
        chosen = [deployments.get(backend, endpoint)]
    else:
        chosen = [d for d in deployments.list_(backend) if d.state.status is DeploymentStatus.ACTIVE]
    return [(d, policies.effective_policy(backend, d.model_name)) for d in chosen]


# -- evaluating -------------------------------------------------------------------------------------


def evaluate(backend: Backend, *, endpoint: str | None = None, at: datetime | None = None,
             actor: Actor | None = None) -> list[AlertEvent]:
    """Judge every rule (of ``endpoint``, or of every active endpoint) at ``at`` (default now);
    returns the moves made. An ``at`` in the future is refused: a rule's clock only moves forward.
    ``actor``: who asked (None: the scheduler). Choosing the moment (``at``) chooses the windows
    judged, so only an admin may; anyone else evaluates now."""
    now = datetime.now(UTC)
    if at is not None and actor is not None and not actor.has(Role.ADMIN):
        raise PermissionDenied("only an admin may evaluate alerts at a chosen moment; leave 'at' out to evaluate now")
    moment = audit.utc(at) or now
    if moment > now + timedelta(seconds=1):
        raise InvalidInput(f"at ({moment.isoformat()}) is in the future")
    moves: list[AlertEvent] = []
    for deployment, policy in _serving(backend, endpoint):
        if deployment.state.status is not DeploymentStatus.ACTIVE:
            continue
        with backend.write() as session:
            store.forget_rules(session, deployment.name, {rule.name for rule in policy.monitoring.alerts})
        observer = _Observer(backend, deployment, policy, moment)
        for rule in policy.monitoring.alerts:
            event = _move(backend, deployment, rule, observer.observe(rule))
            if event is not None:
                moves.append(_act_on(backend, policy, rule, event))
    return moves


def _move(backend: Backend, deployment: Deployment, rule: AlertRule, seen: Observation) -> AlertEvent | None:
    with backend.write() as session:
        row = store.locked_state_row(session, deployment.name, rule.name, model_name=deployment.model_name)
        evaluated = store.state_values(row)["evaluated_at"]
        if evaluated is not None and evaluated >= seen.at:
            return None  # judged at this moment or later already (another process, or a replay)
        before = AlertState(row.state)
        after = next_state(rule, before, store.state_values(row)["since"], seen)
        row.evaluated_at, row.value, row.version, row.details = seen.at, seen.value, seen.version, seen.details
        row.model_name = deployment.model_name
        if after is before:
            return None
        row.state, row.since = after.value, seen.at
        if after is AlertState.FIRING:
            row.fired_at = seen.at
        elif after is AlertState.RESOLVED:
            row.resolved_at = seen.at
        event = store.add_event(
            session, endpoint=deployment.name, rule=rule.name, model_name=deployment.model_name, metric=rule.metric,
            from_state=before.value, to_state=after.value, value=seen.value, threshold=rule.threshold,
            comparison=rule.comparison, version=seen.version, severity=rule.severity, at=seen.at,
            details={"window": rule.window, "for": rule.for_, **seen.details}, rollback=rule.rollback)
        audit.record(session, ACTOR, AUDIT_ACTION[after], subject_type="alert",
                     subject_id=f"{deployment.name}/{rule.name}", model_name=deployment.model_name,
                     reason=_reason(rule, seen), details=_audit_details(event))
        return event


def _reason(rule: AlertRule, seen: Observation) -> str:
    shown = "no data" if seen.value is None else f"{seen.value:.6g}"
    where = f" (version {seen.version})" if seen.version is not None else ""
    return f"{rule.metric} over {rule.window} = {shown}{where}; fires when {rule.comparison} {rule.threshold:g}"


def _audit_details(event: AlertEvent) -> dict[str, Any]:
    return {"alert_event": event.id, "endpoint": event.endpoint, "rule": event.rule, "metric": event.metric,
            "from": event.from_state.value, "to": event.to_state.value, "value": event.value,
            "threshold": event.threshold, "comparison": event.comparison, "version": event.version,
            "severity": event.severity, "window": event.details.get("window")}


def _act_on(backend: Backend, policy: Policy, rule: AlertRule, event: AlertEvent) -> AlertEvent:
    """A firing alert that asks for it rolls its endpoint back; the event records the outcome."""
    if event.to_state is not AlertState.FIRING:
        return event
    if not rule.rollback and rule.name not in policy.release.rollback_on_alerts:
        return event
    rolled = deployments.on_alert(
        backend, rule.name, endpoint=event.endpoint, rule_asks=rule.rollback,
        reason=f"alert '{rule.name}' fired: {_reason(rule, _seen(event))}",
        details={"alert_event": event.id, "alert": rule.name, "metric": rule.metric, "value": event.value})
    actions = [{"action": "rollback", "deployment": name} for name in rolled]
    if not rolled:
        actions = [{"action": "rollback", "deployment": event.endpoint, "outcome": "nothing to roll back to"}]
    with backend.write() as session:
        store.add_actions(session, event.id, actions)
    return event.model_copy(update={"actions": [*event.actions, *actions]})


def _seen(event: AlertEvent) -> Observation:
    return Observation(at=event.at, value=event.value, version=event.version)


class _Observer:
    """The metrics of one endpoint at one moment; windows shared by rules with the same length."""

    def __init__(self, backend: Backend, deployment: Deployment, policy: Policy, at: datetime) -> None:
        self.backend, self.deployment, self.policy, self.at = backend, deployment, policy, at
        self._windows: dict[int, list[Any]] = {}
        self._drift: dict[int, Any] = {}

    def observe(self, rule: AlertRule) -> Observation:
        since = self.at - timedelta(seconds=rule.window_seconds)
        try:
            value, version, details = self._value(rule, since)
        except ModelwardError as exc:  # no reference configured, a metric the task lacks, ...
            return Observation(at=self.at, value=None, details={"problem": str(exc)})
        return Observation(at=self.at, value=value, version=version, details=details)

    def _value(self, rule: AlertRule, since: datetime) -> tuple[float | None, int | None, dict[str, Any]]:
        metric = rule.metric
        if metric in QUALITY_METRICS or metric in OPERATIONAL_METRICS:
            return self._from_windows(rule, since)
        if DRIFT_METRIC.match(metric):
            return self._from_drift(rule, since)
        if KPI_METRIC.match(metric):
            from modelward.services import kpis

            return kpis.value(self.backend, self.deployment.name, metric, since=since, until=self.at), None, {}
        raise InvalidInput(f"unknown alert metric {metric!r}")

    def _windows_of(self, rule: AlertRule, since: datetime) -> list[Any]:
        if rule.window_seconds not in self._windows:
            from modelward.services import monitoring

            self._windows[rule.window_seconds] = monitoring.windows(
                self.backend, self.deployment.name, since=since, until=self.at, every=None)
        return self._windows[rule.window_seconds]

    def _from_windows(self, rule: AlertRule, since: datetime) -> tuple[float | None, int | None, dict[str, Any]]:
        windows = self._windows_of(rule, since)
        if rule.metric == "request_rate":
            seconds = rule.window_seconds
            return sum(w.requests for w in windows) / seconds, None, {"requests": sum(w.requests for w in windows)}
        worst: tuple[float, int] | None = None
        per_version: dict[str, float | None] = {}
        for window in windows:
            value = (getattr(window, WINDOW_FIELD[rule.metric]) if rule.metric in WINDOW_FIELD
                     else window.quality.get(rule.metric))
            per_version[str(window.version)] = value
            if value is not None and (worst is None or worse(value, worst[0], rule.comparison)):
                worst = (float(value), window.version)
        details: dict[str, Any] = {"versions": per_version}
        return (worst[0], worst[1], details) if worst is not None else (None, None, details)

    def _from_drift(self, rule: AlertRule, since: datetime) -> tuple[float | None, int | None, dict[str, Any]]:
        if rule.window_seconds not in self._drift:
            from modelward.services import input_drift

            found = input_drift.drift(self.backend, self.deployment.name, since=since, until=self.at, every=None)
            self._drift[rule.window_seconds] = found[0].report if found else None
        report = self._drift[rule.window_seconds]
        if report is None:
            return None, None, {}
        match = DRIFT_METRIC.match(rule.metric)
        assert match is not None
        if match.group(1) == "share":
            return report.summary.share_drifted, None, {"drifted": report.summary.drifted,
                                                        "features": report.summary.features}
        test, feature = match.group(2), (match.group(3) or "")[1:] or None
        value, version, details = drift_value(report, test, feature)
        return value, version, {**details, "drift": drift_scores(report)}


def drift_scores(report: Any) -> dict[str, dict[str, float]]:
    """Every test's value on every feature (and the output): what /metrics exports."""
    features = dict(report.features)
    if report.output is not None:
        features.setdefault(report.output.name, report.output)
    return {name: {test: result.value for test, result in f.tests.items() if result.value is not None}
            for name, f in features.items()}


def drift_value(report: Any, test: str, feature: str | None) -> tuple[float | None, None, dict[str, Any]]:
    """A test's value on ``feature`` (the output too, by its name), or its worst over the features."""
    features = dict(report.features)
    if report.output is not None:
        features.setdefault(report.output.name, report.output)
    values = {name: f.tests[test].value for name, f in features.items()
              if test in f.tests and f.tests[test].value is not None}
    if feature is not None:
        if feature not in features:
            raise NotFound(f"the drift report has no feature {feature!r}")
        value = values.get(feature)
        return value, None, {"feature": feature}
    if not values:
        return None, None, {}
    pick = min if test in P_VALUE_TESTS else max
    name = pick(values, key=lambda n: values[n])
    return values[name], None, {"feature": name, "scores": values}


# -- the scheduler ----------------------------------------------------------------------------------


class AlertScheduler(LeasedPeriodic):
    """Evaluates every ``interval_s`` in the one server process holding the ``alerts`` lease."""

    def __init__(self, backend: Backend, *, interval_s: float) -> None:
        super().__init__(backend, LEASE, lambda: evaluate(backend), interval_s=interval_s)


def lease_holder(backend: Backend) -> str | None:
    return leases.holder_of(backend, LEASE)
