"""The monitoring dashboard of one endpoint: quality (realised and estimated), latency,
throughput and errors per version, the shadow versions beside the live ones, input drift as a
heat map of feature x window, alerts (where each rule stands, and its moves marked on the time
axis of every chart), and the business KPIs.

The page reads through the services (monitoring, input_drift, alerts, kpis) and turns what they
return into series for plotly (drawn by static/monitoring.js); no rule lives here. A missing
drift reference is the service's InvalidInput, shown as a note in the drift panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from modelward.api.decoding import JsonRoute
from modelward.api.deps import READ, BackendDep
from modelward.domain.deployments import Deployment
from modelward.domain.windows import WINDOW_SECONDS, Window
from modelward.errors import InvalidInput
from modelward.services import alerts, deployments, kpis, predictions
from modelward.services.backend import Backend
from modelward.ui import rendering
from modelward.ui.deployment_pages import PALETTE, deployment_url
from modelward.ui.lineage_pages import lineage_url
from modelward.ui.registry_pages import version_url
from modelward.ui.rendering import render

router = APIRouter(route_class=JsonRoute, prefix="/ui", include_in_schema=False)
DEFAULT_RANGE = timedelta(hours=24)
DEFAULT_EVERY = "hour"
MAX_WINDOWS = 1500  # windows per version a chart draws: past this the page asks for a coarser step
DRIFT_TEST = "psi"
MIN_DRIFT_ROWS = 30  # a window with fewer input rows is left blank: its test would be noise
FAIRNESS_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")
NOTHING_LOGGED: dict[str, dict[str, Any]] = {  # the panels of an endpoint that has not answered yet
    "drift": {"note": None, "features": [], "x": [], "z": [], "drifted": [], "reference": None},
    "fairness": {"note": None, "charts": {}, "tables": {}},
}
MARKED_MOVES = ("firing", "resolved")  # alert moves drawn on the time axis
PREFERRED_QUALITY = ("accuracy", "f1", "roc_auc", "rmse", "mae", "r2")


def monitoring_url(name: str) -> str:
    return f"{deployment_url(name)}/monitoring"


rendering.add_globals(monitoring_url=monitoring_url)


# -- the query ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    since: datetime
    until: datetime
    every: str


def _moment(text: str, field: str) -> datetime:
    """An ISO 8601 date and time (the form's datetime-local value); without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{field} {text!r} is not a date and time (e.g. 2026-12-01T09:00, UTC)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def span_of(since: str, until: str, every: str, now: datetime) -> Span:
    """The range the page shows: the last 24 hours, hourly, unless the query says otherwise."""
    every = every.strip() or DEFAULT_EVERY
    if every not in WINDOW_SECONDS:
        raise InvalidInput(f"every must be one of {', '.join(WINDOW_SECONDS)}, got {every!r}")
    end = _moment(until, "until") if until.strip() else now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = _moment(since, "since") if since.strip() else end - DEFAULT_RANGE
    if end <= start:
        raise InvalidInput(f"until ({end:%Y-%m-%d %H:%M}) must be after since ({start:%Y-%m-%d %H:%M})")
    windows = (end - start).total_seconds() / WINDOW_SECONDS[every]
    if windows > MAX_WINDOWS:
        raise InvalidInput(f"{windows:.0f} {every} windows are too many to draw (at most {MAX_WINDOWS}): "
                           "choose a shorter range or a coarser step")
    return Span(start, end, every)


def _stamp(moment: datetime) -> str:
    """UTC, as plotly reads dates (it has no time zones)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# -- versions ----------------------------------------------------------------------------------


def _color(version: int) -> str:
    return PALETTE[(version - 1) % len(PALETTE)]


def versions_of(deployment: Deployment, seen: set[int]) -> list[dict[str, Any]]:
    """Every version routed now or seen in the range, newest first, with its role and links."""
    routes = {r.version: r for r in deployment.state.routes}
    model = deployment.model_name
    entries = []
    for version in sorted(set(routes) | seen, reverse=True):
        route = routes.get(version)
        role = (route.label if route.mode.value == "live" else route.mode.value) if route else "no longer routed"
        entries.append({
            "version": version, "role": role, "weight": route.weight if route else None, "color": _color(version),
            "href": version_url(model, version), "review": f"{version_url(model, version)}/review",
            "lineage": lineage_url(f"models:/{model}/{version}"),
        })
    return entries


# -- series for the charts ---------------------------------------------------------------------


def _series(windows: list[Window], mode: str) -> list[dict[str, Any]]:
    """One series per version: its windows' figures as parallel lists (x: the windows' starts)."""
    by_version: dict[int, list[Window]] = {}
    for window in windows:
        by_version.setdefault(window.version, []).append(window)
    series = []
    for version, found in sorted(by_version.items()):
        metrics = sorted({k for w in found for k in (*w.quality, *w.estimated)})
        series.append({
            "version": version, "mode": mode, "color": _color(version),
            "x": [_stamp(w.start) for w in found],
            "requests": [w.requests for w in found],
            "requests_per_s": [w.requests_per_s for w in found],
            "error_rate": [w.error_rate for w in found],
            "p50": [w.latency_p50_ms for w in found],
            "p95": [w.latency_p95_ms for w in found],
            "p99": [w.latency_p99_ms for w in found],
            "labelled_rows": [w.labelled_rows for w in found],
            "quality": {m: [w.quality.get(m) for w in found] for m in metrics},
            "estimated": {m: [w.estimated.get(m) for w in found] for m in metrics},
        })
    return series


def quality_metrics(series: list[dict[str, Any]]) -> list[str]:
    """The metrics any version has a realised or estimated value of, the usual headline first."""
    found = {m for s in series for kind in ("quality", "estimated") for m, values in s[kind].items()
             if any(v is not None for v in values)}
    return sorted(found, key=lambda m: (PREFERRED_QUALITY.index(m) if m in PREFERRED_QUALITY else 99, m))


def drift_panel(backend: Backend, name: str, span: Span) -> dict[str, Any]:
    """Features (rows) x every window of the range (columns) of the drift test's value; a window
    without traffic, or with fewer than MIN_DRIFT_ROWS input rows, is an empty cell; a note
    instead when the service cannot compare (no reference configured)."""
    # numpy, pandas and scipy: loaded at the first dashboard, not at the server's start
    from modelward.services import input_drift

    every = span.every
    try:
        found = input_drift.drift(backend, name, since=span.since, until=span.until, every=every)
    except InvalidInput as exc:
        return {"note": exc.message, "features": [], "x": [], "z": [], "drifted": [], "reference": None,
                "every": every}
    by_start = {w.start: w for w in found}
    grid = _window_starts(span)
    features = sorted({f for w in found for f in w.report.features})
    z: list[list[float | None]] = [[] for _ in features]
    drifted: list[list[bool]] = [[] for _ in features]
    for start in grid:
        window = by_start.get(start)
        judged = window is not None and window.rows >= MIN_DRIFT_ROWS
        for row, feature in enumerate(features):
            result = window.report.features.get(feature) if judged and window is not None else None
            test = result.tests.get(DRIFT_TEST) if result is not None else None
            z[row].append(test.value if test is not None else None)
            drifted[row].append(result is not None and result.status == "drift")  # by any deciding test
    width = timedelta(seconds=WINDOW_SECONDS[every])
    references = sorted({w.reference for w in found})
    return {"note": None, "features": features, "z": z, "drifted": drifted, "every": every,
            "x": [_stamp(start + width / 2) for start in grid],  # cell centres, for the markers
            "edges": [_stamp(start) for start in grid] + ([_stamp(grid[-1] + width)] if grid else []),
            "starts": [_stamp(start) for start in grid],
            "rows": [by_start[start].rows if start in by_start else 0 for start in grid],
            "min_rows": MIN_DRIFT_ROWS, "reference": ", ".join(references) or None, "test": DRIFT_TEST,
            "drifted_cells": sum(sum(r) for r in drifted)}


def _window_starts(span: Span) -> list[datetime]:
    """Every UTC window of the range, from the one holding ``since``."""
    width = WINDOW_SECONDS[span.every]
    first = int(span.since.timestamp()) // width * width
    return [datetime.fromtimestamp(s, UTC) for s in range(first, int(span.until.timestamp()), width)]


def kpi_panel(backend: Backend, name: str, span: Span) -> dict[str, Any]:
    """Per KPI name, one series per version (None: values logged for the endpoint as a whole)."""
    charts: dict[str, dict[Any, dict[str, list[Any]]]] = {}
    for window in kpis.windows(backend, name, since=span.since, until=span.until, every=span.every):
        series = charts.setdefault(window.name, {}).setdefault(window.version, {"x": [], "mean": [], "sum": [],
                                                                                "count": []})
        series["x"].append(_stamp(window.start))
        series["mean"].append(window.mean)
        series["sum"].append(window.sum)
        series["count"].append(window.count)
    return {kpi: [{"version": v, "color": _color(v) if v is not None else "#59667a", **s}
                  for v, s in sorted(by_version.items(), key=lambda item: (item[0] is not None, item[0] or 0))]
            for kpi, by_version in sorted(charts.items())}


def alert_marks(backend: Backend, name: str, span: Span) -> list[dict[str, Any]]:
    """The moves into firing or resolved in the range, oldest first."""
    moves = alerts.history(backend, endpoint=name, since=span.since, until=span.until)
    return [{"at": _stamp(m.at), "rule": m.rule, "state": m.to_state.value, "severity": m.severity,
             "value": m.value, "threshold": m.threshold, "comparison": m.comparison, "version": m.version,
             "metric": m.metric}
            for m in reversed(moves) if m.to_state.value in MARKED_MOVES]


def fairness_panel(backend: Backend, name: str, span: Span) -> dict[str, Any]:
    """Per sensitive feature over the whole range: each group's selection rate (every answer) and,
    where ground truth came back, its accuracy and error rates; a note when the service cannot."""
    from modelward.services import production_fairness

    try:
        found = production_fairness.fairness(backend, name, since=span.since, until=span.until)
    except InvalidInput as exc:
        return {"note": exc.message, "charts": {}, "tables": {}}
    charts, tables = {}, {}
    for feature, report in found["features"].items():
        by_group = report.get("by_group") or {}
        if not by_group:
            continue
        labelled = (report.get("labelled") or {}).get("by_group") or {}
        rows = {g: {"rows": by_group[g]["rows"], "selection_rate": by_group[g]["selection_rate"],
                    **{m: labelled.get(g, {}).get(m) for m in FAIRNESS_RATES[1:]}} for g in by_group}
        tables[feature] = {"rows": rows, "parity": report.get("demographic_parity_difference"),
                           "labelled_rows": report.get("labelled_rows", 0)}
        charts[feature] = {"groups": list(rows), "rates": {m: [rows[g][m] for g in rows] for m in FAIRNESS_RATES}}
    errors = {f: r["error"] for f, r in found["features"].items() if r.get("error")}
    return {"note": None, "charts": charts, "tables": tables, "errors": errors}


def dashboard(backend: Backend, deployment: Deployment, span: Span) -> dict[str, Any]:
    from modelward.services import monitoring  # numpy and duckdb: at the first dashboard too

    name, since, until = deployment.name, span.since, span.until
    live = _series(monitoring.windows(backend, name, since=since, until=until, every=span.every), "live")
    shadow = _series(monitoring.windows(backend, name, since=since, until=until, every=span.every, mode="shadow"),
                     "shadow")
    totals = monitoring.windows(backend, name, since=since, until=until, every=None)
    if shadow:
        totals += monitoring.windows(backend, name, since=since, until=until, every=None, mode="shadow")
    seen = {s["version"] for s in live + shadow}
    metrics = quality_metrics(live + shadow)
    # Drift and fairness read logged inputs, and an endpoint that never answered has none.
    answered_ever = bool(live or shadow or predictions.records(backend, name, limit=1))
    chart_data = {
        "since": _stamp(span.since), "until": _stamp(span.until), "every": span.every,
        "versions": versions_of(deployment, seen), "live": live, "shadow": shadow,
        "metrics": metrics, "alerts": alert_marks(backend, name, span), "kpis": kpi_panel(backend, name, span),
        "drift": drift_panel(backend, name, span) if answered_ever else NOTHING_LOGGED["drift"],
    }
    return {"chart_data": chart_data, "totals": totals, "headline": metrics[0] if metrics else None,
            "current_alerts": alerts.list_(backend, endpoint=name), "answered_ever": answered_ever,
            "fairness": fairness_panel(backend, name, span) if answered_ever else NOTHING_LOGGED["fairness"]}


# -- the page ----------------------------------------------------------------------------------


@router.get("/deployments/{name}/monitoring", response_class=HTMLResponse, dependencies=[READ])
def monitoring_page(request: Request, name: str, backend: BackendDep, since: str = "", until: str = "",
                    every: str = "") -> HTMLResponse:
    deployment = deployments.get(backend, name)
    span = span_of(since, until, every, datetime.now(UTC))
    return render(request, "monitoring.html", section="deployments", deployment=deployment, span=span,
                  everies=list(WINDOW_SECONDS), form_since=span.since.strftime("%Y-%m-%dT%H:%M"),
                  form_until=span.until.strftime("%Y-%m-%dT%H:%M"), **dashboard(backend, deployment, span))
