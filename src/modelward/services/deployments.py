"""Deployments: create, release (direct, canary, blue-green, shadow), split, promote, pause,
roll back and retire endpoints, with the rules every interface shares.

* Who may change a deployment, and which version states may take traffic, come from the
  model's policy (``release.environments``); an environment the policy does not name takes
  no deployment. Versions gaining traffic are checked at every change, inside the change's
  transaction, with the model's row locked (as governance changes lock it).
* A version's state follows its deployments: approved -> released when it first answers
  live traffic, released -> approved when no deployment serves it any more.
* Every change is a revision (history, time travel), an audit event on the hash chain and,
  for a version new to the endpoint, a lineage edge version -> deployment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.deployments import (
    DEFAULT_STICKY_KEY,
    Deployment,
    DeploymentState,
    DeploymentStatus,
    Rollout,
    Route,
    RouteMode,
    StepCheck,
    Strategy,
    check_routes,
    judge,
    previous_settled,
    split,
    validate_name,
    validate_sticky_key,
)
from modelward.domain.governance import VersionState
from modelward.domain.lineage import ArtifactKind, ArtifactSpec, ExecutionSpec, ExecutionType
from modelward.domain.policy import ENVIRONMENT_NAME, Policy
from modelward.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PolicyViolation
from modelward.services import audit, policies
from modelward.services.backend import Backend
from modelward.services.lifecycle import transition
from modelward.store import deployments as store
from modelward.store import registry as registry_store

GUARDRAILS_ACTOR = "modelward:guardrails"
CANARY_ACTOR = "modelward:canary"
ALERTS_ACTOR = "modelward:alerts"
DEFAULT_CANARY_STEPS = [10, 50, 100]
Probe = Callable[[str, int], dict[str, Any]]


def _now() -> datetime:
    return datetime.now(UTC)


def _actor_name(actor: Actor | str) -> str:
    return actor.name if isinstance(actor, Actor) else actor


def endpoint_uri(name: str) -> str:
    return f"deployments:/{name}"


# -- the rules of one change ------------------------------------------------------------------


def _environment_rule(policy: Policy, model_name: str, environment: str) -> Any:
    rule = policy.release.environment(environment)
    if rule is None:
        named = ", ".join(sorted(policy.release.environments)) or "none"
        raise PermissionDenied(f"the policy of model '{model_name}' names no environment '{environment}' "
                               f"(it names: {named}); deployments are denied by default")
    return rule


def _require_deployer(actor: Actor | str, rule: Any, model_name: str, environment: str) -> None:
    if not isinstance(actor, Actor):
        return  # modelward's own guardrails and alert hooks
    if not any(actor.has(role) for role in rule.deployers):
        named = ", ".join(r.value for r in rule.deployers)
        raise PermissionDenied(f"only {named} may change deployments of model '{model_name}' in "
                               f"'{environment}'; '{actor.name}' holds none of these roles")


def _gaining(before: DeploymentState | None, after: DeploymentState) -> list[Route]:
    """Routes of ``after`` that take more than they did: new versions, more weight, a new mode."""
    old = {r.version: r for r in before.routes} if before is not None else {}
    gained = []
    for route in after.routes:
        was = old.get(route.version)
        if was is None or was.mode is not route.mode or route.weight > was.weight:
            gained.append(route)
    return gained


def _admit(session: Any, policy: Policy, model_name: str, environment: str, rule: Any, routes: list[Route]) -> None:
    from modelward.formats.loader import is_code_bearing

    for route in routes:
        row = registry_store.version_row(session, model_name, route.version)
        if row.flavor and is_code_bearing(row.flavor) and policy.release.code_models != "isolated":
            raise PolicyViolation(
                f"version {route.version} of model '{model_name}' is a '{row.flavor}' model: serving it would run "
                "code the model names, which the gateway does only in an isolated worker and only when the "
                "model's policy says release: {code_models: isolated}")
        shadow = route.mode is RouteMode.SHADOW
        if not rule.admits(row.status, shadow=shadow):
            allowed = ", ".join(rule.shadow_allow if shadow else rule.allow)
            what = "receive shadow traffic" if shadow else "take traffic"
            raise PermissionDenied(
                f"version {route.version} of model '{model_name}' is {row.status}: in '{environment}' only "
                f"versions that are {allowed} may {what} (the model's policy, release.environments)")


def _follow_governance(session: Any, actor: Actor | str, name: str, model_name: str,
                       before: DeploymentState | None, after: DeploymentState) -> None:
    was = before.serving_versions() if before is not None else set()
    now = after.serving_versions()
    elsewhere = store.serving_versions(session, model_name, exclude=name)
    for version in sorted(now - was):
        row = registry_store.version_row(session, model_name, version)
        if row.status == VersionState.APPROVED.value:
            transition(session, actor, model_name, row, VersionState.RELEASED, action="model_version.released",
                       reason=f"serving traffic in deployment '{name}'", details={"deployment": name})
    for version in sorted(was - now - elsewhere):
        row = registry_store.version_row(session, model_name, version)
        if row.status == VersionState.RELEASED.value:
            transition(session, actor, model_name, row, VersionState.APPROVED, action="model_version.drained",
                       reason=f"no deployment serves it since deployment '{name}' changed",
                       details={"deployment": name})


def _record_lineage(session: Any, name: str, model_name: str, before: DeploymentState | None,
                    after: DeploymentState) -> None:
    from modelward.services import lineage
    from modelward.services.lineage import version_uri

    new = sorted(after.loaded_versions() - (before.loaded_versions() if before is not None else set()))
    if not new:
        return
    lineage.record_in(
        session,
        execution=ExecutionSpec(type=ExecutionType.DEPLOYMENT, external_id=f"deployment/{name}", name=name),
        inputs=[ArtifactSpec(kind=ArtifactKind.MODEL, uri=version_uri(model_name, v), name=f"{model_name}/{v}")
                for v in new],
        outputs=[ArtifactSpec(kind=ArtifactKind.ENDPOINT, uri=endpoint_uri(name), name=name)],
    )


def _routes_json(state: DeploymentState | None) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in state.routes] if state is not None else []


def _commit(session: Any, actor: Actor | str, *, name: str, environment: str, model_name: str,
            before: DeploymentState | None, after: DeploymentState, details: dict[str, Any] | None = None,
            policy: Policy | None = None) -> None:
    """Everything a change does besides writing the revision: rules, governance, lineage, audit."""
    if policy is None:
        policy, _ = policies.effective_in(session, model_name)
    rule = _environment_rule(policy, model_name, environment)
    _require_deployer(actor, rule, model_name, environment)
    _admit(session, policy, model_name, environment, rule, _gaining(before, after))
    _follow_governance(session, actor, name, model_name, before, after)
    _record_lineage(session, name, model_name, before, after)
    audit.record(session, actor, after.action, subject_type="deployment", subject_id=name, model_name=model_name,
                 reason=after.reason, details={
                     "environment": environment, "revision": after.revision, "status": after.status.value,
                     "from": _routes_json(before), "to": _routes_json(after),
                     "rollout": after.rollout.model_dump(mode="json", exclude={"checks"}) if after.rollout else None,
                     **(details or {})})


def _next_state(before: DeploymentState, actor: Actor | str, action: str, *, routes: list[Route],
                reason: str | None, rollout: Rollout | None = None,
                status: DeploymentStatus = DeploymentStatus.ACTIVE) -> DeploymentState:
    return DeploymentState(revision=before.revision + 1, at=_now(), actor=_actor_name(actor), action=action,
                           reason=reason, status=status, routes=check_routes(routes, status=status), rollout=rollout)


def _change(backend: Backend, actor: Actor | str, name: str,
            build: Callable[[Deployment, Policy], DeploymentState], *, expect_revision: int | None = None,
            details: dict[str, Any] | None = None) -> Deployment:
    """Lock the deployment and its model, build the next state from the current one, commit it."""
    with backend.write() as session:
        found = store.row(session, name, lock=True)
        registry_store.model_row(session, found.model_name, lock=True)
        if expect_revision is not None and found.revision != expect_revision:
            raise Conflict(f"deployment '{name}' changed meanwhile (now at revision {found.revision})")
        before = store.current(session, found)
        deployment = store.get(session, name)
        if before.status is DeploymentStatus.RETIRED:
            raise Conflict(f"deployment '{name}' is retired; create a new one")
        policy, _ = policies.effective_in(session, found.model_name)
        after = build(deployment, policy)
        _commit(session, actor, name=name, environment=found.environment, model_name=found.model_name,
                before=before, after=after, details=details, policy=policy)
        return store.append(session, found, after)


# -- use cases --------------------------------------------------------------------------------


def create(backend: Backend, actor: Actor, name: str, *, model: str, environment: str, version: int,
           sticky_key: str | None = None, reason: str | None = None) -> Deployment:
    """A new endpoint in ``environment`` serving ``version`` of ``model`` with all of its traffic."""
    import re

    validate_name(name)
    if not isinstance(environment, str) or not re.match(ENVIRONMENT_NAME, environment):
        raise InvalidInput(f"environment {environment!r} must be lower-case letters, digits, '-' or '_'")
    key = validate_sticky_key(sticky_key) if sticky_key is not None else DEFAULT_STICKY_KEY
    state = DeploymentState(revision=1, at=_now(), actor=actor.name, action="deployment.created", reason=reason,
                            routes=[Route(version=int(version), weight=100, label="stable")])
    with backend.write() as session:
        registry_store.model_row(session, model, lock=True)
        _commit(session, actor, name=name, environment=environment, model_name=model, before=None, after=state)
        return store.add(session, name=name, environment=environment, model_name=model, sticky_key=key,
                         created_by=actor.name, state=state)


def _stable(deployment: Deployment) -> int:
    live = deployment.state.live()
    if not live:
        raise Conflict(f"deployment '{deployment.name}' serves nothing to release over")
    return max(live, key=lambda r: (r.weight, r.version)).version


def _refuse_rollout_under_way(deployment: Deployment) -> None:
    rollout = deployment.state.rollout
    if rollout is not None:
        raise Conflict(f"a {rollout.strategy.value} release of version {rollout.version} is under way on "
                       f"'{deployment.name}': promote it, roll it back or wait for it to finish first")


def release(backend: Backend, actor: Actor | str, name: str, version: int, *, strategy: str | None = None,
            steps: list[int] | None = None, interval_s: float | None = None, reason: str | None = None) -> Deployment:
    """Start releasing ``version`` on the endpoint with ``strategy`` (the policy's by default)."""
    version = int(version)

    def build(deployment: Deployment, policy: Policy) -> DeploymentState:
        _refuse_rollout_under_way(deployment)
        stable = _stable(deployment)
        if version == stable:
            raise Conflict(f"version {version} already serves '{name}'")
        chosen = Strategy(strategy or policy.release.strategy)
        before = deployment.state
        if chosen is Strategy.DIRECT:
            return _next_state(before, actor, "deployment.released", reason=reason,
                               routes=[Route(version=version, weight=100, label="stable")])
        rollout = Rollout(strategy=chosen, version=version, previous=stable, step_started_at=_now(),
                          interval_s=interval_s if interval_s is not None else policy.release.interval_s,
                          guardrails=policy.release.guardrails)
        if chosen is Strategy.CANARY:
            rollout.steps = _canary_steps(steps or policy.release.steps or DEFAULT_CANARY_STEPS)
            routes = [Route(version=version, weight=rollout.weight, label="canary"),
                      Route(version=stable, weight=100 - rollout.weight, label="stable")]
            if rollout.weight == 100:
                return _next_state(before, actor, "deployment.released", reason=reason,
                                   routes=[Route(version=version, weight=100, label="stable")])
        elif chosen is Strategy.BLUE_GREEN:
            routes = [Route(version=stable, weight=100, label="blue"),
                      Route(version=version, mode=RouteMode.STANDBY, label="green")]
        else:
            routes = [Route(version=stable, weight=100, label="stable"),
                      Route(version=version, mode=RouteMode.SHADOW, label="shadow")]
        return _next_state(before, actor, "deployment.release_started", reason=reason, routes=routes,
                           rollout=rollout)

    return _change(backend, actor, name, build, details={"version": version, "strategy": strategy})


def _canary_steps(steps: list[int]) -> list[int]:
    if not steps or any(not isinstance(s, int) or not 0 < s <= 100 for s in steps) \
            or steps != sorted(set(steps)) or steps[-1] != 100:
        raise InvalidInput(f"canary steps must be increasing percentages in 1..100 ending at 100, got {steps}")
    return list(steps)


def set_traffic(backend: Backend, actor: Actor, name: str, weights: dict[int, int], *,
                shadows: list[int] | None = None, reason: str | None = None) -> Deployment:
    """A traffic split by weight (sticky by the endpoint's request key), plus shadowed versions."""
    parsed = {int(v): int(w) for v, w in weights.items()}

    def build(deployment: Deployment, policy: Policy) -> DeploymentState:
        _refuse_rollout_under_way(deployment)
        return _next_state(deployment.state, actor, "deployment.routed", reason=reason,
                           routes=split(parsed, shadows=[int(v) for v in shadows or []]))

    return _change(backend, actor, name, build)


def _finished(deployment: Deployment, actor: Actor | str, reason: str | None, rollout: Rollout,
              label: str = "stable") -> DeploymentState:
    return _next_state(deployment.state, actor, "deployment.promoted", reason=reason,
                       routes=[Route(version=rollout.version, weight=100, label=label)])


def promote(backend: Backend, actor: Actor | str, name: str, *, reason: str | None = None,
            probe: Probe | None = None, check: StepCheck | None = None,
            expect_revision: int | None = None) -> Deployment:
    """The rollout's next step: a canary's next weight (the last one finishes it), the blue-green
    switch, or the shadow taking over. Blue-green and shadow versions must answer ``probe`` first."""

    def build(deployment: Deployment, policy: Policy) -> DeploymentState:
        rollout = deployment.state.rollout
        if rollout is None:
            raise Conflict(f"no release is under way on '{name}': nothing to promote")
        rollout = rollout.model_copy(deep=True)
        if check is not None:
            rollout.checks.append(check)
        if rollout.strategy is Strategy.CANARY:
            if rollout.step + 1 >= len(rollout.steps) or rollout.steps[rollout.step + 1] == 100:
                return _finished(deployment, actor, reason, rollout)
            rollout.step += 1
            rollout.step_started_at = _now()
            return _next_state(deployment.state, actor, "deployment.promoted", reason=reason, rollout=rollout, routes=[
                Route(version=rollout.version, weight=rollout.weight, label="canary"),
                Route(version=rollout.previous or 0, weight=100 - rollout.weight, label="stable")])
        _probe_or_refuse(probe, deployment.model_name, rollout.version)
        if rollout.strategy is Strategy.BLUE_GREEN:
            return _next_state(deployment.state, actor, "deployment.promoted", reason=reason, routes=[
                Route(version=rollout.version, weight=100, label="green"),
                Route(version=rollout.previous or 0, mode=RouteMode.STANDBY, label="blue")])
        return _finished(deployment, actor, reason, rollout)

    return _change(backend, actor, name, build, expect_revision=expect_revision,
                   details={"check": check.model_dump(mode="json")} if check is not None else None)


def _probe_or_refuse(probe: Probe | None, model_name: str, version: int) -> None:
    if probe is None:
        return
    result = probe(model_name, version)
    if not result.get("ok"):
        raise Conflict(f"version {version} of model '{model_name}' did not answer its health probe: "
                       f"{result.get('error') or 'no answer'}; traffic stays where it is")


def pause(backend: Backend, actor: Actor, name: str, *, reason: str | None = None, paused: bool = True) -> Deployment:
    """Hold a rollout where it is (no automatic step), or let it go on (``paused=False``)."""

    def build(deployment: Deployment, policy: Policy) -> DeploymentState:
        rollout = deployment.state.rollout
        if rollout is None:
            raise Conflict(f"no release is under way on '{name}': nothing to {'pause' if paused else 'resume'}")
        if rollout.paused == paused:
            raise Conflict(f"the release on '{name}' is already {'paused' if paused else 'running'}")
        held = rollout.model_copy(update={"paused": paused})
        return _next_state(deployment.state, actor, "deployment.paused" if paused else "deployment.resumed",
                           reason=reason, routes=list(deployment.state.routes), rollout=held)

    return _change(backend, actor, name, build)


def rollback(backend: Backend, actor: Actor | str, name: str, *, reason: str | None = None,
             trigger: str = "manual", details: dict[str, Any] | None = None,
             expect_revision: int | None = None) -> Deployment:
    """Back at once to the last settled state before the current one (the stable split before a
    rollout, or the split before the last change). ``trigger`` names what asked: manual, guardrail
    or alert:NAME; the audit event carries it with ``reason``."""
    with backend.read() as session:
        history = store.history(session, name)

    def build(deployment: Deployment, policy: Policy) -> DeploymentState:
        target = previous_settled(history)
        if target is None or deployment.state.revision != history[-1].revision:
            if target is None:
                raise Conflict(f"deployment '{name}' has no earlier state to roll back to")
            raise Conflict(f"deployment '{name}' changed meanwhile; try again")
        state = _next_state(deployment.state, actor, "deployment.rolled_back", reason=reason,
                            routes=list(target.routes))
        return state

    target = previous_settled(history)
    return _change(backend, actor, name, build, expect_revision=expect_revision, details={
        "trigger": trigger, "to_revision": target.revision if target else None, **(details or {})})


def retire(backend: Backend, actor: Actor, name: str, *, reason: str | None = None) -> Deployment:
    """The endpoint stops serving; its versions drain (released -> approved where nothing else serves them)."""

    def build(deployment: Deployment, policy: Policy) -> DeploymentState:
        return _next_state(deployment.state, actor, "deployment.retired", reason=reason, routes=[],
                           status=DeploymentStatus.RETIRED)

    return _change(backend, actor, name, build)


# -- reading ----------------------------------------------------------------------------------


def get(backend: Backend, name: str) -> Deployment:
    with backend.read() as session:
        return store.get(session, name)


def list_(backend: Backend, *, environment: str | None = None, model: str | None = None) -> list[Deployment]:
    with backend.read() as session:
        return store.list_(session, environment=environment, model_name=model)


def history(backend: Backend, name: str) -> list[DeploymentState]:
    with backend.read() as session:
        return store.history(session, name)


def state_at(backend: Backend, name: str, at: datetime) -> DeploymentState:
    """What ``name`` served at ``at`` (an aware instant; a naive one is read as UTC)."""
    moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    with backend.read() as session:
        found = store.state_at(session, name, moment)
    if found is None:
        raise NotFound(f"deployment '{name}' did not exist at {moment.isoformat()}")
    return found


def revisions(backend: Backend) -> dict[str, int]:
    with backend.read() as session:
        return store.revisions(session)


def of_version(backend: Backend, model: str, version: int) -> list[dict[str, Any]]:
    with backend.read() as session:
        return store.deployments_of_version(session, model, version)


def refuse_while_routed(session: Any, model: str, what: str, *, version: int | None = None) -> None:
    """Registry and governance call this before retiring or deleting a version, or renaming or
    deleting a model: nothing an active deployment routes may disappear from under it."""
    if version is not None:
        routed = store.deployments_of_version(session, model, version)
        subject = f"version {version} of model '{model}'"
    else:
        routed = [{"deployment": d.name, "mode": "serving", "weight": sum(d.state.weights().values())}
                  for d in store.list_(session, model_name=model, include_retired=False)]
        subject = f"model '{model}'"
    if routed:
        where = ", ".join(f"'{d['deployment']}' ({d['mode']}, {d['weight']}%)" for d in routed)
        raise Conflict(f"{what}: {subject} is routed by deployment {where}; release another version there "
                       "or retire the deployment first")


# -- guardrails: judging a canary step ---------------------------------------------------------------


def _figures(stats: Any) -> dict[str, Any]:
    if stats is None:
        return {"requests": 0}
    return {"requests": stats.requests, "error_rate": stats.error_rate, "p50_ms": stats.p50_ms,
            "p95_ms": stats.p95_ms, "quality": dict(stats.quality or {}), "feedback_rows": stats.feedback_rows}


def check(backend: Backend, name: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Judge the canary's current step by the guardrails over the step's own requests: roll back
    at once when one fails; promote when healthy and the policy's healthy interval has passed."""
    from modelward.services import predictions

    deployment = get(backend, name)
    rollout = deployment.state.rollout
    if rollout is None or rollout.strategy is not Strategy.CANARY:
        return {"deployment": name, "state": "no canary under way"}
    with backend.read() as session:
        policy, _ = policies.effective_in(session, deployment.model_name)
    stats = {(s.version, s.mode): s for s in predictions.version_stats(
        backend, name, since=rollout.step_started_at, task=policy.task.value)}
    canary, stable = stats.get((rollout.version, "live")), stats.get((rollout.previous, "live"))
    healthy, reasons = judge(rollout.guardrails, canary, stable)
    moment = now or _now()
    step_check = StepCheck(step=rollout.step, weight=rollout.weight, at=moment, healthy=bool(healthy),
                           reasons=reasons, canary=_figures(canary), stable=_figures(stable))
    report = {"deployment": name, "step": rollout.step, "weight": rollout.weight,
              "check": step_check.model_dump(mode="json")}
    revision = deployment.state.revision
    if healthy is None:
        return {**report, "state": "waiting"}
    if not healthy:
        rollback(backend, GUARDRAILS_ACTOR, name, trigger="guardrail", expect_revision=revision,
                 reason=f"canary version {rollout.version} failed its guardrails at {rollout.weight}%: "
                        + "; ".join(reasons), details={"check": step_check.model_dump(mode="json")})
        return {**report, "state": "rolled_back"}
    elapsed = (moment - rollout.step_started_at).total_seconds()
    if rollout.paused or rollout.interval_s is None or elapsed < rollout.interval_s:
        return {**report, "state": "healthy"}
    promote(backend, CANARY_ACTOR, name, check=step_check, expect_revision=revision,
            reason=f"canary step {rollout.weight}% healthy for {elapsed:.0f} s")
    return {**report, "state": "promoted"}


def check_all(backend: Backend) -> list[dict[str, Any]]:
    """``check`` every canary under way (what the server's watcher thread runs)."""
    reports = []
    for deployment in list_(backend):
        rollout = deployment.state.rollout
        if rollout is not None and rollout.strategy is Strategy.CANARY:
            try:
                reports.append(check(backend, deployment.name))
            except Conflict:  # changed by someone meanwhile: judged again at the next tick
                continue
    return reports


def on_alert(backend: Backend, alert: str, *, endpoint: str | None = None, reason: str | None = None,
             rule_asks: bool = False, details: dict[str, Any] | None = None) -> list[str]:
    """The hook monitoring calls when ``alert`` fires (on ``endpoint``, or anywhere): every active
    deployment whose model's policy names the alert in ``release.rollback_on_alerts`` (or, with
    ``rule_asks``, whose alert rule says ``rollback: true``) rolls back, with ``alert:NAME`` as the
    trigger and ``details`` (e.g. the alert event) in its audit event. Returns their names."""
    rolled = []
    for deployment in list_(backend):
        if deployment.state.status is not DeploymentStatus.ACTIVE:
            continue
        if endpoint is not None and deployment.name != endpoint:
            continue
        with backend.read() as session:
            policy, _ = policies.effective_in(session, deployment.model_name)
        if not rule_asks and alert not in policy.release.rollback_on_alerts:
            continue
        try:
            rollback(backend, ALERTS_ACTOR, deployment.name, trigger=f"alert:{alert}",
                     reason=reason or f"alert '{alert}' fired", details=details)
        except Conflict:
            continue
        rolled.append(deployment.name)
    return rolled
