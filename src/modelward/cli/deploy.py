"""``modelward deploy``: serving endpoints from the command line.

Who may change a deployment is the model's policy's to say (``release.environments``); the
server refuses, and the refusal is one line here. ``--as USER`` acts as a stored user with
exactly its roles (without auth only), as ``modelward review --as`` does.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from modelward.cli.audit import parse_time
from modelward.cli.output import console, fit
from modelward.errors import InvalidInput

app = typer.Typer(help="Deployments: release versions behind an endpoint, split traffic, roll back.",
                  no_args_is_help=True)
_acting: dict[str, str | None] = {"user": None}
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")
REASON_OPTION = typer.Option(None, "--reason", "-m", help="Why: kept in the history and the audit trail.")
BAR_WIDTH = 40
BAR_COLOURS = ("green", "yellow", "cyan", "magenta")
BAR_GLYPHS = ("█", "▒", "░", "▓")


@app.callback()
def _as(user: str = typer.Option(None, "--as", help="act as this stored user, with its roles (without auth only)")
        ) -> None:
    _acting["user"] = user


def _client():  # type: ignore[no-untyped-def]
    from modelward.sdk.client import Client

    return Client(user=_acting["user"])


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


# -- parsing ------------------------------------------------------------------------------------


def parse_steps(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput(f"--steps {text!r} must be comma-separated percentages, e.g. 5,25,50,100") from None


def parse_weights(text: str) -> dict[int, int]:
    weights: dict[int, int] = {}
    for pair in (p.strip() for p in text.split(",") if p.strip()):
        version, sep, weight = pair.partition("=")
        if not sep or not version.strip().isdigit() or not weight.strip().isdigit():
            raise InvalidInput(f"--weights {text!r} must look like 1=90,2=10 (version=percent)")
        weights[int(version)] = int(weight)
    if not weights:
        raise InvalidInput("--weights needs at least one version=percent, e.g. 1=100")
    return weights


def read_feedback(file: Path) -> list[dict[str, Any]]:
    """Feedback items from a JSON file (a list, or {"feedback": [...]}) or a CSV with the columns
    request_id and ground_truth (a ground truth that reads as JSON, e.g. 1 or [0, 1], is decoded)."""
    text = file.read_text("utf-8")
    if file.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if rows and not {"request_id", "ground_truth"} <= set(rows[0]):
            raise InvalidInput(f"{file} needs the columns request_id and ground_truth; it has "
                               f"{', '.join(rows[0]) or 'none'}")
        return [{"request_id": row["request_id"], "ground_truth": _cell(row["ground_truth"])} for row in rows]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{file} is not valid JSON: {exc}") from None
    items = data.get("feedback") if isinstance(data, dict) and "feedback" in data else data
    return items if isinstance(items, list) else [items]


def _cell(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


# -- showing --------------------------------------------------------------------------------------


def split_bar(weights: dict[int, int]) -> str:
    """The live split as a bar of BAR_WIDTH cells, one glyph and colour per version, with a legend
    (the glyphs tell versions apart without colour too); a version with any traffic gets a cell."""
    ordered = sorted(weights.items(), key=lambda item: (-item[1], -item[0]))
    widths = [max(1, round(weight * BAR_WIDTH / 100)) for _, weight in ordered]
    widths[0] += BAR_WIDTH - sum(widths)
    bar, legend = "", []
    for index, ((version, weight), width) in enumerate(zip(ordered, widths, strict=True)):
        glyph, colour = BAR_GLYPHS[index % len(BAR_GLYPHS)], BAR_COLOURS[index % len(BAR_COLOURS)]
        bar += f"[{colour}]{glyph * width}[/]"
        legend.append(f"[{colour}]{glyph}[/] v{version} {weight}%")
    return f"{bar}  {'  '.join(legend)}"


def _routes_table(client: Any, model_name: str, state: Any) -> Table:
    table = Table("version", "mode", "weight", "label", "version state", box=box.SIMPLE_HEAD)
    for route in state.routes:
        status = client.models.get_version(model_name, route.version).status
        weight = f"{route.weight}%" if route.mode.value == "live" else "-"
        table.add_row(str(route.version), route.mode.value, weight, route.label, status)
    return table


def _show_state(client: Any, deployment: Any, state: Any) -> None:
    console.print(f"[bold]{escape(deployment.name)}[/bold]: model {escape(deployment.model_name)} in "
                  f"{escape(deployment.environment)}, revision {state.revision} ({state.status.value}), "
                  f"sticky by {escape(deployment.sticky_key)}", highlight=False)
    if state.routes:
        console.print(_routes_table(client, deployment.model_name, state))
    weights = state.weights()
    if weights:
        console.print("split  " + split_bar(weights), highlight=False)
    rollout = state.rollout
    if rollout is not None:
        step = (f", step {rollout.step + 1} of {len(rollout.steps)} at {rollout.weight}%" if rollout.steps else "")
        paused = ", paused" if rollout.paused else ""
        console.print(f"rollout: {rollout.strategy.value} of version {rollout.version} over version "
                      f"{rollout.previous}{step}{paused}, since {_utc(rollout.step_started_at)} UTC",
                      highlight=False)
    console.print(f"last change: {state.action} by {escape(state.actor)} at {_utc(state.at)} UTC"
                  + (f" ({escape(state.reason)})" if state.reason else ""), highlight=False)


def _changed(deployment: Any, as_json: bool = False) -> None:
    if as_json:
        _print_json(_dump(deployment))
        return
    state = deployment.state
    console.print(f"{deployment.name}: revision {state.revision}, {state.action}; routes {_routes_text(state)}",
                  highlight=False)


def _routes_text(state: Any) -> str:
    return ", ".join(f"v{r.version} {r.mode.value}" + (f" {r.weight}%" if r.mode.value == "live" else "")
                     for r in state.routes) or "-"


# -- changing -------------------------------------------------------------------------------------


@app.command("create")
def create(
    name: str,
    model: str = typer.Option(..., "--model", help="The registered model."),
    version: int = typer.Option(..., "--version", help="The version that takes all the traffic."),
    environment: str = typer.Option(..., "--environment", "-e", help="e.g. staging or production"),
    sticky_key: str = typer.Option(None, "--sticky-key", help="header:NAME or field:NAME, e.g. header:x-customer-id"),
    reason: str = REASON_OPTION, as_json: bool = JSON_OPTION,
) -> None:
    """A new endpoint NAME serving one version of a model."""
    with _client() as client:
        _changed(client.deployments.create(name, model=model, version=version, environment=environment,
                                           sticky_key=sticky_key, reason=reason), as_json)


@app.command("release")
def release(
    name: str, version: int,
    strategy: str = typer.Option(None, "--strategy", help="canary, blue_green, shadow or direct (default: the policy's)"),
    steps: str = typer.Option(None, "--steps", help="canary weights, e.g. 5,25,50,100"),
    interval: float = typer.Option(None, "--interval", help="seconds a healthy canary step lasts before the next"),
    reason: str = REASON_OPTION, as_json: bool = JSON_OPTION,
) -> None:
    """Start releasing VERSION on the endpoint NAME."""
    with _client() as client:
        _changed(client.deployments.release(name, version, strategy=strategy, steps=parse_steps(steps),
                                            interval_s=interval, reason=reason), as_json)


@app.command("route")
def route(
    name: str,
    weights: str = typer.Option(..., "--weights", help="version=percent, e.g. 1=90,2=10"),
    shadow: list[int] = typer.Option([], "--shadow", help="a version that gets a shadow copy (repeatable)"),
    reason: str = REASON_OPTION, as_json: bool = JSON_OPTION,
) -> None:
    """Split the live traffic of NAME by weight (sticky by its key), with shadowed versions."""
    with _client() as client:
        _changed(client.deployments.set_traffic(name, parse_weights(weights), shadows=shadow, reason=reason), as_json)


@app.command("promote")
def promote(name: str, reason: str = REASON_OPTION, as_json: bool = JSON_OPTION) -> None:
    """The rollout's next step: the next canary weight, the blue-green switch, the shadow taking over."""
    with _client() as client:
        _changed(client.deployments.promote(name, reason=reason), as_json)


@app.command("pause")
def pause(name: str, reason: str = REASON_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Hold the rollout where it is."""
    with _client() as client:
        _changed(client.deployments.pause(name, reason=reason), as_json)


@app.command("resume")
def resume(name: str, reason: str = REASON_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Let a paused rollout go on."""
    with _client() as client:
        _changed(client.deployments.resume(name, reason=reason), as_json)


@app.command("rollback")
def rollback(name: str, reason: str = REASON_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Back at once to the last settled state before the current one."""
    with _client() as client:
        _changed(client.deployments.rollback(name, reason=reason), as_json)


@app.command("retire")
def retire(name: str, reason: str = REASON_OPTION, as_json: bool = JSON_OPTION) -> None:
    """The endpoint stops serving."""
    with _client() as client:
        _changed(client.deployments.retire(name, reason=reason), as_json)


@app.command("check")
def check(name: str, as_json: bool = JSON_OPTION) -> None:
    """Judge the canary's step by its guardrails now: it may roll back or promote."""
    with _client() as client:
        report = client.deployments.check(name)
    if as_json:
        _print_json(report)
        return
    console.print(f"{name}: {report['state']}", highlight=False)
    for reason in (report.get("check") or {}).get("reasons", []):
        console.print(f"  {reason}", markup=False, highlight=False)


# -- reading --------------------------------------------------------------------------------------


@app.command("status")
def status(name: str, as_json: bool = JSON_OPTION) -> None:
    """The routes of NAME (version, mode, weight, label, the version's state), its split and rollout."""
    with _client() as client:
        deployment = client.deployments.get(name)
        if as_json:
            _print_json(_dump(deployment))
            return
        _show_state(client, deployment, deployment.state)


@app.command("history")
def history(
    name: str,
    at: str = typer.Option(None, "--at", help="The state in force at this time instead (ISO 8601; UTC unless an "
                           "offset is given)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Every revision of NAME, oldest first; with --at, the state in force then."""
    moment = parse_time(at, "--at")
    with _client() as client:
        if moment is not None:
            state = client.deployments.state_at(name, moment)
            if as_json:
                _print_json(_dump(state))
                return
            _show_state(client, client.deployments.get(name), state)
            return
        revisions = client.deployments.history(name)
    if as_json:
        _print_json([_dump(state) for state in revisions])
        return
    table = Table("rev", "at (UTC)", "actor", "action", "routes", "reason", box=box.SIMPLE_HEAD)
    for state in revisions:
        table.add_row(str(state.revision), f"{_utc(state.at)}", state.actor, state.action,
                      _routes_text(state), state.reason or "")
    console.print(fit(table, ids=()))


@app.command("list")
def list_deployments(
    environment: str = typer.Option(None, "--environment", "-e", help="Only this environment."),
    model: str = typer.Option(None, "--model", help="Only deployments of this model."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Every deployment with what it serves."""
    with _client() as client:
        found = client.deployments.list(environment=environment, model=model)
    if as_json:
        _print_json([_dump(d) for d in found])
        return
    if not found:
        console.print("no deployments")
        return
    table = Table("name", "model", "environment", "status", "rev", "routes", "rollout", box=box.SIMPLE_HEAD)
    for d in found:
        rollout = d.state.rollout
        table.add_row(d.name, d.model_name, d.environment, d.state.status.value, str(d.state.revision),
                      _routes_text(d.state), f"{rollout.strategy.value} of v{rollout.version}" if rollout else "")
    console.print(fit(table, ids=()))


@app.command("predictions")
def predictions(
    name: str,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many (newest first)."),
    version: int = typer.Option(None, "--version", help="Only answers of this version."),
    mode: str = typer.Option(None, "--mode", help="live or shadow"),
    as_json: bool = JSON_OPTION,
) -> None:
    """The newest logged answers of NAME."""
    with _client() as client:
        found = client.deployments.predictions(name, limit=limit, version=version, mode=mode)
    if as_json:
        _print_json(found)
        return
    if not found:
        console.print("no predictions logged")
        return
    table = Table("at", "request id", "version", "mode", "status", "ms", "rows", "outputs", box=box.SIMPLE_HEAD)
    for record in found:
        outputs = json.dumps(record.get("outputs"), default=str)
        table.add_row(str(record.get("at", ""))[:19], str(record.get("request_id", "")), str(record.get("version")),
                      str(record.get("mode")), str(record.get("status")), f"{record.get('latency_ms', 0):.1f}",
                      str(record.get("rows")), outputs[:60] + ("…" if len(outputs) > 60 else ""))
    console.print(fit(table, ids=(1,)))


@app.command("feedback")
def feedback(
    name: str,
    file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                help="JSON (a list of {request_id, ground_truth}) or CSV with those columns"),
) -> None:
    """Attach ground truth to answered requests of NAME (all of FILE or nothing)."""
    items = read_feedback(file)
    with _client() as client:
        result = client.deployments.feedback(name, items)
    console.print(f"{name}: feedback accepted for {result['accepted']} requests", highlight=False)
