"""``modelward monitor``: what an endpoint's versions did, window by window, and its alerts.

Times are ISO 8601 (UTC unless an offset is given) or relative to now: ``90m``, ``24h``, ``7d``
(now minus that). A range defaults to the last 24 hours. ``--as USER`` acts as a stored user with
exactly its roles (without auth only), as ``modelward deploy --as`` does.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from modelward.cli.output import console, fit
from modelward.errors import InvalidInput

app = typer.Typer(help="Monitoring: windows of quality and latency, drift, fairness, KPIs, alerts, reports.",
                  no_args_is_help=True)
kpi_app = typer.Typer(help="Business KPIs of an endpoint.", no_args_is_help=True)
app.add_typer(kpi_app, name="kpi")

_acting: dict[str, str | None] = {"user": None}
RELATIVE = re.compile(r"^([0-9]{1,6})([smhdw])$")
UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
WHOLE_RANGE = "all"
DRIFT_TESTS = ("psi", "ks", "wasserstein", "chi_square", "jensen_shannon", "missing_rate")

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")
SINCE = typer.Option(None, "--since", help="ISO 8601 or relative (24h, 7d); default: 24 hours ago.")
UNTIL = typer.Option(None, "--until", help="ISO 8601 or relative (1h); default: now.")
EVERY = typer.Option("hour", "--every", help="minute, hour, day, or all for one window over the range.")
VERSION = typer.Option(None, "--version", help="Only this model version.")
MODE = typer.Option("live", "--mode", help="live or shadow.")


@app.callback()
def _as(user: str = typer.Option(None, "--as", help="act as this stored user, with its roles (without auth only)")
        ) -> None:
    _acting["user"] = user


def _client():  # type: ignore[no-untyped-def]
    from modelward.sdk.client import Client

    return Client(user=_acting["user"])


# -- parsing ------------------------------------------------------------------------------------


def parse_moment(value: str | None, option: str, *, now: datetime | None = None) -> datetime | None:
    """ISO 8601 (naive means UTC), or ``<n><s|m|h|d|w>`` meaning now minus that."""
    if value is None:
        return None
    relative = RELATIVE.match(value.strip())
    if relative is not None:
        amount, unit = int(relative.group(1)), relative.group(2)
        return (now or datetime.now(UTC)) - timedelta(**{UNIT[unit]: amount})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} {value!r} is neither an ISO 8601 time (2026-12-01T12:00) nor a time ago "
                           "(30m, 24h, 7d)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def parse_every(value: str) -> str | None:
    return None if value == WHOLE_RANGE else value


def parse_values(pairs: list[str]) -> dict[str, float]:
    """``NAME=VALUE`` arguments as {name: number}; names are checked by the server."""
    values: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise InvalidInput(f"{pair!r} must look like NAME=VALUE, e.g. revenue=12.5")
        try:
            number = float(text)
        except ValueError:
            raise InvalidInput(f"{pair!r}: {text!r} is not a number") from None
        if not math.isfinite(number):
            raise InvalidInput(f"{pair!r}: a KPI value must be a finite number")
        values[name] = number
    return values


def _range(since: str | None, until: str | None) -> dict[str, datetime | None]:
    now = datetime.now(UTC)
    return {"since": parse_moment(since, "--since", now=now), "until": parse_moment(until, "--until", now=now)}


# -- showing ------------------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _dump(models: list[Any]) -> list[Any]:
    return [model.model_dump(mode="json", by_alias=True) for model in models]


def _utc(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}" if moment is not None else "-"


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def windows_table(found: list[Any]) -> Table:
    """window, version, requests, error rate, p95 and the headline quality metric, realised and
    estimated (accuracy for classification, rmse for regression)."""
    metric = "rmse" if found and found[0].task == "regression" else "accuracy"
    table = Table("window (UTC)", "version", "requests", "error rate", "p95 ms", metric, f"est. {metric}",
                  box=box.SIMPLE_HEAD)
    for window in found:
        table.add_row(_utc(window.start), str(window.version), str(window.requests), _percent(window.error_rate),
                      _number(window.latency_p95_ms), _number(window.quality.get(metric)),
                      _number(window.estimated.get(metric)))
    return table


def drift_table(window: Any) -> Table:
    """Features by test values; a drifted value is marked with * (and red)."""
    report = window.report
    features = dict(report.features)
    if report.output is not None:
        features[f"{report.output.name} (output)"] = report.output
    tests = [t for t in DRIFT_TESTS if any(t in f.tests for f in features.values())]
    table = Table("feature", *tests, "status", box=box.SIMPLE_HEAD)
    for name, feature in features.items():
        cells = []
        for test in tests:
            result = feature.tests.get(test)
            if result is None:
                cells.append("")
                continue
            text = _number(result.value, 3)
            cells.append(f"[red]{text}*[/red]" if result.drifted else text)
        status = feature.status if feature.status != "drift" else "[red]drift[/red]"
        table.add_row(escape(name), *cells, status)
    return table


def _drift_heading(window: Any) -> str:
    summary = window.report.summary
    version = f"version {window.version}" if window.version is not None else "all versions"
    return (f"{_utc(window.start)} - {_utc(window.end)} UTC, {version}: {window.rows} rows against "
            f"{escape(window.reference)}; {summary.drifted} of {summary.features} features drifted")


# -- quality and operations -----------------------------------------------------------------------


@app.command("windows")
def windows(endpoint: str, since: str = SINCE, until: str = UNTIL, every: str = EVERY, version: int = VERSION,
            mode: str = MODE, as_json: bool = JSON_OPTION) -> None:
    """Per window and version: requests, error rate, p95 latency, realised and estimated quality."""
    with _client() as client:
        found = client.monitoring.windows(endpoint, **_range(since, until), every=parse_every(every),
                                          version=version, mode=mode)
    if as_json:
        _print_json(_dump(found))
        return
    if not found:
        console.print(f"{endpoint}: no answers in the range", highlight=False)
        return
    console.print(fit(windows_table(found), ids=()))


@app.command("decay")
def decay(endpoint: str, metric: str = typer.Option(..., "--metric", help="e.g. accuracy, estimated.accuracy, "
                                                                             "latency_p95_ms"),
          since: str = SINCE, until: str = UNTIL, every: str = EVERY, version: int = VERSION, mode: str = MODE,
          as_json: bool = JSON_OPTION) -> None:
    """The trend of a metric over each version's windows and where it first changed."""
    with _client() as client:
        found = client.monitoring.decay(endpoint, metric, **_range(since, until), every=parse_every(every),
                                        version=version, mode=mode)
    if as_json:
        _print_json(found)
        return
    table = Table("version", "points", "slope per hour", "changed", "change from", "direction", box=box.SIMPLE_HEAD)
    for entry in found:
        table.add_row(str(entry["version"]), str(entry["points"]), _number(entry["slope_per_hour"]),
                      "yes" if entry["changed"] else "no", str(entry["change_start"] or "-")[:16],
                      entry["direction"] or "-")
    console.print(table)


@app.command("drift")
def drift(endpoint: str, since: str = SINCE, until: str = UNTIL,
          every: str = typer.Option(WHOLE_RANGE, "--every", help="all (one window, the default), minute, hour "
                                                                  "or day."),
          version: int = VERSION, as_json: bool = JSON_OPTION) -> None:
    """Input and prediction drift against the reference data: features by test values."""
    with _client() as client:
        found = client.monitoring.drift(endpoint, **_range(since, until), every=parse_every(every), version=version)
    if as_json:
        _print_json(_dump(found))
        return
    if not found:
        console.print(f"{endpoint}: no input rows in the range", highlight=False)
        return
    for window in found:
        console.print(_drift_heading(window), highlight=False)
        console.print(drift_table(window))


@app.command("fairness")
def fairness(endpoint: str, since: str = SINCE, until: str = UNTIL, version: int = VERSION,
             feature: list[str] = typer.Option(None, "--feature", help="A sensitive feature (repeatable); "
                                                                       "default: the policy's."),
             as_json: bool = JSON_OPTION) -> None:
    """Fairness of the answers given in the range, by sensitive feature."""
    with _client() as client:
        found = client.monitoring.fairness(endpoint, **_range(since, until), version=version,
                                           sensitive_features=feature or None)
    if as_json:
        _print_json(found)
        return
    show_fairness(found)


def show_fairness(found: dict[str, Any]) -> None:
    """A heading, then per sensitive feature a table of its groups: rows and selection rate of
    every prediction, and accuracy, true and false positive rates where ground truth exists."""
    version = f"version {found['version']}" if found.get("version") is not None else "all versions"
    console.print(f"{escape(found['endpoint'])} ({version}): {found['rows']} rows, {found['labelled_rows']} with "
                  f"ground truth; positive label {found.get('positive_label')}", highlight=False)
    for name, feature in found.get("features", {}).items():
        if "error" in feature:
            console.print(f"{escape(name)}: {escape(feature['error'])}", highlight=False)
            continue
        labelled = (feature.get("labelled") or {}).get("by_group", {})
        table = Table(escape(name), "rows", "selection rate", "labelled", "accuracy", "TPR", "FPR", box=box.SIMPLE_HEAD)
        for group, figures in feature.get("by_group", {}).items():
            truth = labelled.get(group, {})
            table.add_row(escape(group), str(figures["rows"]), _number(figures["selection_rate"]),
                          str(truth.get("count", 0)), _number(truth.get("accuracy")),
                          _number(truth.get("true_positive_rate")), _number(truth.get("false_positive_rate")))
        console.print(table)
        summary = feature.get("labelled") or {}
        console.print(f"{escape(name)}: demographic parity difference "
                      f"{_number(feature.get('demographic_parity_difference'))}, equalized odds difference "
                      f"{_number(summary.get('equalized_odds_difference'))}", highlight=False)


# -- business KPIs --------------------------------------------------------------------------------


@kpi_app.command("log")
def log_kpis(
    endpoint: str,
    pairs: list[str] = typer.Argument(..., metavar="NAME=VALUE...", help="e.g. revenue=12.5 orders=3"),
    at: str = typer.Option(None, "--at", help="When (ISO 8601 or relative, e.g. 1h); default: now."),
    version: int = VERSION,
) -> None:
    """Log business KPI values for ENDPOINT."""
    values = parse_values(pairs)
    with _client() as client:
        written = client.monitoring.log_kpis(endpoint, values, at=parse_moment(at, "--at"), version=version)
    console.print(f"{endpoint}: {written} KPI values logged", highlight=False)


@app.command("kpis")
def kpis(endpoint: str, since: str = SINCE, until: str = UNTIL, every: str = EVERY,
         name: list[str] = typer.Option(None, "--name", help="Only this KPI (repeatable)."),
         version: int = VERSION, as_json: bool = JSON_OPTION) -> None:
    """Per window, KPI and version: count, sum, mean, min and max."""
    with _client() as client:
        found = client.monitoring.kpis(endpoint, **_range(since, until), every=parse_every(every),
                                       names=name or None, version=version)
    if as_json:
        _print_json(_dump(found))
        return
    if not found:
        console.print(f"{endpoint}: no KPI values in the range", highlight=False)
        return
    table = Table("window (UTC)", "kpi", "version", "count", "sum", "mean", "min", "max", box=box.SIMPLE_HEAD)
    for window in found:
        table.add_row(_utc(window.start), escape(window.name), str(window.version or "-"), str(window.count),
                      _number(window.sum, 6), _number(window.mean, 6), _number(window.min, 6),
                      _number(window.max, 6))
    console.print(fit(table, ids=()))


# -- alerts ---------------------------------------------------------------------------------------


def _events_table(events: list[Any]) -> Table:
    table = Table("at (UTC)", "endpoint", "rule", "move", "value", "threshold", "version", "actions",
                  box=box.SIMPLE_HEAD)
    for event in events:
        actions = ", ".join(a.get("action", "?") for a in event.actions)
        table.add_row(_utc(event.at), escape(event.endpoint), escape(event.rule),
                      f"{event.from_state.value} -> {event.to_state.value}", _number(event.value),
                      f"{event.comparison} {event.threshold:g}", str(event.version or "-"), actions)
    return table


@app.command("alerts")
def alerts(endpoint: str = typer.Option(None, "--endpoint", help="Only this endpoint."),
           state: str = typer.Option(None, "--state", help="inactive, pending, firing or resolved."),
           as_json: bool = JSON_OPTION) -> None:
    """Every alert rule of the serving endpoints with where it stands."""
    with _client() as client:
        found = client.monitoring.alerts(endpoint=endpoint, state=state)
    if as_json:
        _print_json(_dump(found))
        return
    if not found:
        console.print("no alerts")
        return
    table = Table("endpoint", "rule", "state", "since (UTC)", "metric", "value", "fires when", "severity",
                  box=box.SIMPLE_HEAD)
    for alert in found:
        state_text = f"[red]{alert.state.value}[/red]" if alert.state.value == "firing" else alert.state.value
        table.add_row(escape(alert.endpoint), escape(alert.rule), state_text, _utc(alert.since), escape(alert.metric),
                      _number(alert.value), f"{alert.comparison} {alert.threshold:g} over {alert.window}",
                      alert.severity)
    console.print(fit(table, ids=()))


@app.command("alerts-history")
def alerts_history(endpoint: str = typer.Option(None, "--endpoint", help="Only this endpoint."),
                   rule: str = typer.Option(None, "--rule", help="Only this rule."),
                   since: str = typer.Option(None, "--since", help="ISO 8601 or relative (24h, 7d)."),
                   until: str = typer.Option(None, "--until", help="ISO 8601 or relative."),
                   limit: int = typer.Option(100, "--limit", "-n", min=1, help="How many (newest first)."),
                   as_json: bool = JSON_OPTION) -> None:
    """The moves of alerts, newest first."""
    with _client() as client:
        found = client.monitoring.alert_history(endpoint=endpoint, rule=rule, **_range(since, until), limit=limit)
    if as_json:
        _print_json(_dump(found))
        return
    if not found:
        console.print("no alert moves")
        return
    console.print(fit(_events_table(found), ids=()))


@app.command("evaluate")
def evaluate(endpoint: str = typer.Argument(None, help="Only this endpoint (default: every active one)."),
             at: str = typer.Option(None, "--at", help="Judge at this moment instead of now (admins only)."),
             as_json: bool = JSON_OPTION) -> None:
    """Judge the alert rules now; print the moves made."""
    with _client() as client:
        moves = client.monitoring.evaluate_alerts(endpoint, at=parse_moment(at, "--at"))
    if as_json:
        _print_json(_dump(moves))
        return
    if not moves:
        console.print("no alert moved")
        return
    console.print(fit(_events_table(moves), ids=()))


# -- the performance report -----------------------------------------------------------------------


@app.command("report")
def report(endpoint: str, since: str = SINCE, until: str = UNTIL,
           format: str = typer.Option("html", "--format", "-f", help="html, pdf or md."),
           output: Path = typer.Option(..., "--output", "-o", help="The file to write.", dir_okay=False)) -> None:
    """Write ENDPOINT's performance report over the range to a file."""
    with _client() as client:
        content = client.monitoring.report(endpoint, **_range(since, until), format=format)
    output.write_bytes(content)
    console.print(f"{endpoint}: {format} report written to {output} ({len(content)} bytes)", highlight=False)
