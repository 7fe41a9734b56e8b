"""HTML pages for deployments: every endpoint, and one endpoint's traffic split, its history
on a timeline, the canary's guardrail figures per step, the shadow comparison, recent
predictions and a rollback that asks for confirmation.

Each page reads through the services, like the API; no rule lives here. Who may roll back is
the model policy's business (``release.environments``): the rollback route only requires a
signed-in reader and shows the service's refusal on the page, in words.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, ActorDep, BackendDep
from modelward.api.errors import status_of
from modelward.domain.actors import Actor
from modelward.domain.deployments import Deployment, DeploymentState, RouteMode, StepCheck, previous_settled
from modelward.errors import ModelwardError
from modelward.services import audit, deployments, policies, predictions
from modelward.services.backend import Backend
from modelward.ui import rendering
from modelward.ui.rendering import render

router = APIRouter(route_class=JsonRoute, prefix="/ui", include_in_schema=False)
RECENT_PREDICTIONS = 25
SHADOW_WINDOW = timedelta(hours=1)
AUDIT_LIMIT = audit.MAX_LIST_LIMIT
# One colour per version number, so a version keeps its colour across the timeline's pictures.
PALETTE = ("#1f5fbf", "#2f9e6a", "#c9822b", "#8a4fbf", "#c0465a", "#4f8fa8")
DONE_MESSAGES = {"rolled_back": "Rolled back: the endpoint serves its previous settled split again."}


def deployment_url(name: str) -> str:
    return f"/ui/deployments/{quote(name, safe='')}"


rendering.add_globals(deployment_url=deployment_url)


# -- what the pages show ---------------------------------------------------------------------


def split_picture(state: DeploymentState) -> dict[str, Any]:
    """The live routes as segments of a 0-100 bar (newest version first, as the router orders
    them), and the routes that take no traffic (shadow, standby) listed apart."""
    live = sorted(state.live(), key=lambda r: -r.version)
    segments, start = [], 0
    for route in live:
        segments.append({"version": route.version, "label": route.label, "weight": route.weight, "start": start,
                         "color": PALETTE[(route.version - 1) % len(PALETTE)]})
        start += route.weight
    idle = [{"version": r.version, "label": r.label, "mode": r.mode.value}
            for r in sorted(state.routes, key=lambda r: -r.version) if r.mode is not RouteMode.LIVE]
    words = [f"version {s['version']} ({s['label']}) {s['weight']}%" for s in segments]
    words += [f"version {r['version']} {r['mode']}, no traffic" for r in idle]
    return {"segments": segments, "idle": idle, "summary": "; ".join(words) or "no traffic (retired)"}


def rollout_summary(state: DeploymentState) -> str | None:
    rollout = state.rollout
    if rollout is None:
        return None
    strategy = rollout.strategy.value.replace("_", "-")
    if rollout.steps:
        where = f"step {rollout.step + 1} of {len(rollout.steps)} ({rollout.weight}%)"
    else:
        where = "waiting for promotion"
    paused = ", paused" if rollout.paused else ""
    return f"{strategy} of version {rollout.version}: {where}{paused}"


def _events_by_revision(backend: Backend, deployment: Deployment, since: datetime) -> dict[int, Any]:
    """The audit events of this endpoint's changes, by the revision each one wrote (the newest
    ones when the model has more events than one page holds)."""
    events = audit.list_(backend, model=deployment.model_name, since=since - timedelta(seconds=1),
                         limit=AUDIT_LIMIT)
    return {e.details["revision"]: e for e in events
            if e.subject_type == "deployment" and e.subject_id == deployment.name and "revision" in e.details}


def timeline(history: list[DeploymentState], events: dict[int, Any]) -> list[dict[str, Any]]:
    """Every revision, newest first, with what the audit chain adds (what triggered a rollback)."""
    entries = []
    for state in reversed(history):
        event = events.get(state.revision)
        trigger = (event.details.get("trigger") if event else None) or None
        automatic = state.actor.startswith("modelward:")
        entries.append({
            "state": state, "picture": split_picture(state), "trigger": trigger,
            "rollback": state.action == "deployment.rolled_back",
            "guardrail": state.actor == deployments.GUARDRAILS_ACTOR or trigger == "guardrail",
            "automatic": automatic,
            "action": state.action.removeprefix("deployment.").replace("_", " "),
        })
    return entries


def guardrail_checks(history: list[DeploymentState], events: dict[int, Any]) -> list[dict[str, Any]]:
    """The canary rollouts, newest first, each with its judged steps: the checks a promotion or a
    guardrail rollback recorded in its audit event, and those the revisions' rollouts carry."""
    rollouts: list[dict[str, Any]] = []
    open_: dict[str, Any] | None = None
    for state in history:
        if open_ is not None:
            event = events.get(state.revision)
            recorded = event.details.get("check") if event is not None else None
            found = [StepCheck.model_validate(recorded)] if isinstance(recorded, dict) else []
            found += state.rollout.checks if state.rollout is not None else []
            for check in found:
                open_["checks"][(check.step, check.at)] = check
            if state.rollout is None or state.rollout.version != open_["version"]:
                open_["outcome"] = state.action.removeprefix("deployment.").replace("_", " ")
                open_["ended_at"] = state
                open_ = None
        if open_ is None and state.rollout is not None and state.rollout.steps:
            rollout = state.rollout
            open_ = {"version": rollout.version, "previous": rollout.previous, "steps": rollout.steps,
                     "guardrails": rollout.guardrails, "started_at": state, "checks": {}, "outcome": None,
                     "ended_at": None}
            rollouts.append(open_)
    for entry in rollouts:
        entry["checks"] = sorted(entry["checks"].values(), key=lambda c: (c.at, c.step))
    return list(reversed(rollouts))


def _live_figures(backend: Backend, deployment: Deployment, task: str) -> dict[str, Any]:
    """Per-version figures over the last hour, the shadow comparison, and the canary's figures
    in its current step so far (not judged yet: the guardrail watcher judges)."""
    now = datetime.now(UTC)
    figures: dict[str, Any] = {"error": None, "stats": [], "shadow": None, "step": None, "records": []}
    try:
        figures["stats"] = predictions.version_stats(backend, deployment.name, since=now - SHADOW_WINDOW, task=task)
        figures["shadow"] = predictions.shadow_agreement(backend, deployment.name, since=now - SHADOW_WINDOW)
        rollout = deployment.state.rollout
        if rollout is not None and rollout.steps:
            figures["step"] = {(s.version, s.mode): s for s in predictions.version_stats(
                backend, deployment.name, since=rollout.step_started_at, task=task)}
        figures["records"] = predictions.records(backend, deployment.name, limit=RECENT_PREDICTIONS)
    except ModelwardError as exc:
        figures["error"] = exc.message
    return figures


def _detail_context(backend: Backend, name: str) -> dict[str, Any]:
    deployment = deployments.get(backend, name)
    history = deployments.history(backend, name)
    events = _events_by_revision(backend, deployment, history[0].at) if history else {}
    policy = policies.effective_policy(backend, deployment.model_name)
    target = previous_settled(history)
    return {
        "section": "deployments", "deployment": deployment, "picture": split_picture(deployment.state),
        "rollout": rollout_summary(deployment.state), "timeline": timeline(history, events),
        "rollouts": guardrail_checks(history, events), "target": target,
        "target_picture": split_picture(target) if target is not None else None,
        "figures": _live_figures(backend, deployment, policy.task.value),
    }


# -- pages -----------------------------------------------------------------------------------


@router.get("/deployments", response_class=HTMLResponse, dependencies=[READ])
def deployments_page(request: Request, backend: BackendDep, environment: str = "") -> HTMLResponse:
    everything = deployments.list_(backend)
    chosen = environment.strip()
    shown = [d for d in everything if d.environment == chosen] if chosen else everything
    rows = [{"deployment": d, "picture": split_picture(d.state), "rollout": rollout_summary(d.state)} for d in shown]
    return render(request, "deployments.html", section="deployments", rows=rows, environment=chosen,
                  environments=sorted({d.environment for d in everything}))


def _page(request: Request, backend: Backend, name: str, *, error: str | None = None, status_code: int = 200,
          confirm: bool = False, reason: str = "") -> HTMLResponse:
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return render(request, "deployment.html", status_code=status_code, error=error, done=done, confirm=confirm,
                  reason=reason, **_detail_context(backend, name))


@router.get("/deployments/{name}", response_class=HTMLResponse, dependencies=[READ])
def deployment_page(request: Request, name: str, backend: BackendDep, confirm: str = "") -> HTMLResponse:
    return _page(request, backend, name, confirm=confirm == "rollback")


@router.post("/deployments/{name}/rollback", dependencies=[READ])
def rollback(request: Request, name: str, backend: BackendDep, actor: ActorDep, reason: str = Form(""),
             revision: int = Form(...), confirmed: str = Form("")) -> Response:
    """Roll back once confirmed; the revision the person saw must still be current."""
    if confirmed != "yes":  # the first press only asks
        return _page(request, backend, name, confirm=True, reason=reason)
    return _act(request, backend, actor, name, reason, revision)


def _act(request: Request, backend: Backend, actor: Actor, name: str, reason: str, revision: int) -> Response:
    try:
        deployments.rollback(backend, actor, name, reason=reason.strip() or None, trigger="manual",
                             expect_revision=revision)
    except ModelwardError as exc:
        return _page(request, backend, name, error=exc.message, status_code=status_of(exc), confirm=True,
                     reason=reason)
    return RedirectResponse(f"{deployment_url(name)}?done=rolled_back", status_code=303)
