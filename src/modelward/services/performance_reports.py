"""Performance reports of an endpoint for a period, as HTML, PDF or Markdown, for compliance.

What served (the deployment's state at the period's start and every revision inside it), how
well (continuous-evaluation windows per version: requests, errors, latency, realised quality and
the confidence-based estimate; input drift against the reference; business KPIs), for whom
(fairness across groups), which alerts fired and what was done about them (the rollbacks they
caused, and every rollback with its trigger), and the audit events of the period with the
verification of the chain they belong to.

``build`` gathers the data; ``render`` prints it through the report templates
(``report_templates/performance.html`` and ``.md``), with the charts as inline SVG and the PDF
printed by ``services.documents``. A section whose source cannot answer (no drift reference,
no fairness data) becomes a note; the report itself does not fail for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape

from modelward.domain.deployments import DeploymentState
from modelward.domain.instants import instant
from modelward.errors import InvalidInput, ModelwardError, NotFound
from modelward.formatting import number
from modelward.services import alerts, audit, deployments, documents, kpis, monitoring
from modelward.services.backend import Backend
from modelward.services.reports import fairness_chart

FORMATS = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8", "pdf": documents.PDF_MEDIA_TYPE}
MAX_PERIOD = timedelta(days=366)
HOURLY_UNDER = timedelta(days=3)  # shorter periods get hourly windows, longer ones daily
MAX_AUDIT_EVENTS = audit.MAX_LIST_LIMIT
ROLLED_BACK = "deployment.rolled_back"
QUALITY_METRIC = {"classification": "accuracy", "regression": "mae"}
PALETTE = ("#4a7bd0", "#d0674a", "#3c9a5f", "#8a5cc2", "#c29a2b", "#2b9ac2", "#c22b7a", "#6a737d")
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 640, 180, 56, 28


# -- the data ------------------------------------------------------------------------------------


def build(backend: Backend, endpoint: str, *, since: datetime, until: datetime) -> dict[str, Any]:
    """Everything the report says about ``endpoint`` in [since, until), as plain data."""
    since, until = _period(since, until)
    deployment = deployments.get(backend, endpoint)
    every = "hour" if until - since < HOURLY_UNDER else "day"
    history = deployments.history(backend, endpoint)
    events, truncated = _audit_events(backend, deployment.model_name, since, until)
    windows = monitoring.windows(backend, endpoint, since=since, until=until, every=every)
    totals = monitoring.windows(backend, endpoint, since=since, until=until, every=None)
    task = totals[0].task if totals else None
    return {
        "endpoint": endpoint,
        "model_name": deployment.model_name,
        "environment": deployment.environment,
        "period": {"since": since, "until": until, "every": every},
        "generated_at": datetime.now(UTC),
        "deployment": {"created_at": deployment.created_at, "created_by": deployment.created_by,
                       "status": deployment.state.status.value, "revision": deployment.state.revision},
        "serving": _serving(backend, endpoint, history, totals, since, until),
        "performance": {"task": task, "quality_metric": QUALITY_METRIC.get(task or ""),
                        "totals": [w.model_dump() for w in totals], "windows": [w.model_dump() for w in windows]},
        "drift": _drift(backend, endpoint, since, until),
        "fairness": _fairness(backend, endpoint, since, until),
        "kpis": _kpis(backend, endpoint, since, until),
        "alerts": _alerts(backend, endpoint, since, until),
        "rollbacks": _rollbacks(history, events, endpoint, since, until),
        "audit": {"events": [e.model_dump() for e in events], "truncated": truncated,
                  "verification": _verification(backend, events)},
    }


def _period(since: Any, until: Any) -> tuple[datetime, datetime]:
    since, until = instant(since, "since"), instant(until, "until")
    if until <= since:
        raise InvalidInput(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    if until - since > MAX_PERIOD:
        raise InvalidInput(f"a report covers at most {MAX_PERIOD.days} days; {since.isoformat()} to "
                           f"{until.isoformat()} is {(until - since).days} days")
    return since, until


def _state(state: DeploymentState) -> dict[str, Any]:
    return {
        "revision": state.revision, "at": state.at, "actor": state.actor, "action": state.action,
        "reason": state.reason, "status": state.status.value, "weights": state.weights(),
        "routes": [r.model_dump(mode="json") for r in state.routes],
        "rollout": None if state.rollout is None else {
            "strategy": state.rollout.strategy.value, "version": state.rollout.version,
            "previous": state.rollout.previous, "weight": state.rollout.weight},
    }


def _serving(backend: Backend, endpoint: str, history: list[DeploymentState], totals: list[Any], since: datetime,
             until: datetime) -> dict[str, Any]:
    """The state in force at ``since`` (None before the endpoint existed), the revisions inside the
    period, and every version that took live traffic or answered in it."""
    try:
        at_start = _state(deployments.state_at(backend, endpoint, since))
    except NotFound:
        at_start = None
    revisions = [_state(s) for s in history if since < s.at < until]
    routed = {v for s in ([at_start] if at_start else []) + revisions for v in s["weights"]}
    versions = sorted(routed | {w.version for w in totals})
    return {"at_start": at_start, "revisions": revisions, "versions": versions}


def _drift(backend: Backend, endpoint: str, since: datetime, until: datetime) -> dict[str, Any]:
    try:
        from modelward.services import input_drift

        found = input_drift.drift(backend, endpoint, since=since, until=until, every=None)
    except InvalidInput as exc:
        return {"note": f"drift: no reference configured ({exc})"}
    except NotFound as exc:
        return {"note": f"drift: {exc}"}
    except (ModelwardError, ImportError) as exc:
        return {"note": f"drift could not be computed: {exc}"}
    if not found:
        return {"note": "drift: no input rows were answered in the period"}
    window = found[0]
    report = window.report
    features = [_feature(f) for f in report.features.values()]
    return {"note": None, "reference": window.reference, "rows": window.rows,
            "reference_rows": report.reference_rows, "summary": report.summary.model_dump(),
            "features": features, "output": _feature(report.output) if report.output is not None else None,
            "schema_changes": [c.model_dump() for c in report.schema_changes]}


def _feature(feature: Any) -> dict[str, Any]:
    deciding = feature.tests.get(feature.worst) if feature.worst else None
    return {"name": feature.name, "kind": feature.kind, "status": feature.status, "worst": feature.worst,
            "value": deciding.value if deciding else None, "threshold": deciding.threshold if deciding else None,
            "drifted": feature.status == "drift", "current_rows": feature.current_rows,
            "missing": (feature.reference_missing_rate, feature.current_missing_rate),
            "new_categories": list(feature.new_categories), "note": feature.note}


def _fairness(backend: Backend, endpoint: str, since: datetime, until: datetime) -> dict[str, Any]:
    """Per sensitive feature and group: the rows and selection rate of every prediction, and where
    ground truth arrived, accuracy and error rates (services.production_fairness)."""
    try:
        from modelward.services import production_fairness

        found = production_fairness.fairness(backend, endpoint, since=since, until=until)
    except (ModelwardError, ImportError) as exc:
        return {"note": f"fairness could not be assessed: {exc}", "features": []}
    features = [_fairness_feature(report) for report in found.get("features", {}).values()]
    return {"note": None if features else "fairness: no prediction with sensitive features in the period",
            "rows": found.get("rows", 0), "labelled_rows": found.get("labelled_rows", 0),
            "positive_label": found.get("positive_label"), "features": features}


def _fairness_feature(report: dict[str, Any]) -> dict[str, Any]:
    labelled = report.get("labelled") or {}
    truth_by_group = labelled.get("by_group") or {}
    groups = {}
    for group, figures in (report.get("by_group") or {}).items():
        known = truth_by_group.get(group, {})
        groups[group] = {"rows": figures.get("rows"), "selection_rate": figures.get("selection_rate"),
                         "labelled_rows": known.get("count", 0), "accuracy": known.get("accuracy"),
                         "true_positive_rate": known.get("true_positive_rate"),
                         "false_positive_rate": known.get("false_positive_rate")}
    return {"feature": report.get("feature"), "error": report.get("error"), "by_group": groups,
            "rows": report.get("rows", 0), "labelled_rows": report.get("labelled_rows", 0),
            "demographic_parity_difference": report.get("demographic_parity_difference"),
            "equalized_odds_difference": labelled.get("equalized_odds_difference")}


def _kpis(backend: Backend, endpoint: str, since: datetime, until: datetime) -> dict[str, Any]:
    try:
        found = kpis.windows(backend, endpoint, since=since, until=until, every=None)
    except ModelwardError as exc:
        return {"note": f"business KPIs could not be read: {exc}", "windows": []}
    return {"note": None if found else "no business KPI was logged in the period",
            "windows": [w.model_dump() for w in found]}


def _alerts(backend: Backend, endpoint: str, since: datetime, until: datetime) -> dict[str, Any]:
    from modelward.store.alerts import MAX_EVENTS

    events = list(reversed(alerts.history(backend, endpoint=endpoint, since=since, until=until, limit=MAX_EVENTS)))
    fired: dict[str, int] = {}
    for event in events:
        if event.to_state.value == "firing":
            fired[event.rule] = fired.get(event.rule, 0) + 1
    return {"events": [e.model_dump(mode="python") | {"from_state": e.from_state.value, "to_state": e.to_state.value}
                       for e in events], "fired": fired, "truncated": len(events) >= MAX_EVENTS}


def _rollbacks(history: list[DeploymentState], events: list[Any], endpoint: str, since: datetime,
               until: datetime) -> list[dict[str, Any]]:
    """Every rollback of the endpoint in the period with what asked for it: ``alert:NAME``,
    ``guardrail`` (modelward:guardrails) or ``manual``, read from its audit event."""
    recorded = {e.details.get("revision"): e for e in events
                if e.action == ROLLED_BACK and e.subject_type == "deployment" and e.subject_id == endpoint}
    found = []
    for state in history:
        if state.action != ROLLED_BACK or not since <= state.at < until:
            continue
        event = recorded.get(state.revision)
        details = event.details if event is not None else {}
        found.append({"revision": state.revision, "at": state.at, "actor": state.actor, "reason": state.reason,
                      "trigger": details.get("trigger", "unknown (no audit event in the period)"),
                      "to_revision": details.get("to_revision"), "alert_event": details.get("alert_event"),
                      "weights": state.weights(), "audit_seq": event.seq if event is not None else None})
    return found


def _audit_events(backend: Backend, model_name: str, since: datetime, until: datetime) -> tuple[list[Any], bool]:
    """The period's audit events of the model (its deployments and alerts included), oldest first."""
    events = audit.list_(backend, model=model_name, since=since, until=until, limit=MAX_AUDIT_EVENTS,
                         newest_first=False)
    return events, len(events) >= MAX_AUDIT_EVENTS


def _verification(backend: Backend, events: list[Any]) -> dict[str, Any]:
    """Whether the chain the cited events belong to verified, and whether a signed checkpoint
    covers them (an event after the newest checkpoint is chained but not yet signed over)."""
    report = audit.verify(backend)
    checkpoint = report.checkpoint
    newest_cited = max((e.seq for e in events), default=None)
    return {
        "ok": report.ok, "summary": report.summary(), "checked": report.checked, "problems": report.problems(),
        "warnings": list(report.warnings),
        "head": report.head.model_dump() if report.head is not None else None,
        "checkpoint": None if checkpoint is None else {
            "number": checkpoint.number, "seq": checkpoint.seq, "hash": checkpoint.hash, "at": checkpoint.at,
            "key_id": checkpoint.key_id},
        "newest_cited_seq": newest_cited,
        "cited_signed": bool(checkpoint and newest_cited is not None and newest_cited <= checkpoint.seq),
    }


# -- charts ------------------------------------------------------------------------------------


def version_colour(version: int) -> str:
    return PALETTE[(int(version) - 1) % len(PALETTE)]


def line_chart(title: str, series: list[dict[str, Any]], *, since: datetime, until: datetime,
               unit: str = "", y_max: float | None = None) -> Markup:
    """An inline SVG line chart over [since, until): each series is ``{label, colour, points:
    [(datetime, value or None)], dashed}``; a missing value breaks its line. Labels are escaped."""
    values = [v for s in series for _, v in s["points"] if v is not None]
    top = y_max if y_max is not None else (max(values) * 1.1 if values and max(values) > 0 else 1.0)
    span = (until - since).total_seconds() or 1.0
    plot_w, plot_h = CHART_WIDTH - CHART_LEFT - 12, CHART_HEIGHT - CHART_BOTTOM - 8

    def x(at: datetime) -> float:
        return CHART_LEFT + (at - since).total_seconds() / span * plot_w

    def y(value: float) -> float:
        return 8 + plot_h - max(0.0, min(value, top)) / top * plot_h

    legend_h = 18 * ((len(series) + 2) // 3)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{CHART_WIDTH}" '
              f'height="{CHART_HEIGHT + legend_h}" aria-label="{escape(title)}" class="chart">'),
             f'<rect x="{CHART_LEFT}" y="8" width="{plot_w}" height="{plot_h}" fill="#fbfcfd" stroke="#d0d7de"/>']
    for tick in (0.0, 0.5, 1.0):
        ty = y(top * tick)
        parts.append(f'<line x1="{CHART_LEFT}" x2="{CHART_LEFT + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" '
                     f'stroke="#e4e8ec"/><text x="{CHART_LEFT - 4}" y="{ty + 4:.1f}" text-anchor="end" '
                     f'font-size="10">{top * tick:.3g}{escape(unit)}</text>')
    for at, anchor in ((since, "start"), (until, "end")):
        parts.append(f'<text x="{x(at):.1f}" y="{CHART_HEIGHT - 10}" text-anchor="{anchor}" font-size="10">'
                     f'{escape(at.strftime("%Y-%m-%d %H:%M"))}</text>')
    for s in series:
        parts.extend(_polylines(s, x, y))
    for index, s in enumerate(series):
        lx, ly = CHART_LEFT + (index % 3) * 190, CHART_HEIGHT + 4 + 18 * (index // 3)
        dash = ' stroke-dasharray="5 3"' if s.get("dashed") else ""
        parts.append(f'<line x1="{lx}" x2="{lx + 22}" y1="{ly + 6}" y2="{ly + 6}" stroke="{s["colour"]}" '
                     f'stroke-width="2"{dash}/><text x="{lx + 28}" y="{ly + 10}" font-size="11">'
                     f'{escape(s["label"])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _polylines(series: dict[str, Any], x: Any, y: Any) -> list[str]:
    dash = ' stroke-dasharray="5 3"' if series.get("dashed") else ""
    runs: list[list[tuple[float, float, Any, Any]]] = [[]]
    for at, value in series["points"]:
        if value is None:
            runs.append([])
        else:
            runs[-1].append((x(at), y(value), at, value))
    out = []
    for run in runs:
        if len(run) > 1:
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in run)
            out.append(f'<polyline points="{points}" fill="none" stroke="{series["colour"]}" stroke-width="2"{dash}/>')
        for px, py, at, value in run:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{series["colour"]}"><title>'
                       f'{escape(series["label"])} {escape(at.isoformat())}: {escape(number(value))}</title></circle>')
    return out


def _by_version(windows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for window in windows:
        grouped.setdefault(window["version"], []).append(window)
    return dict(sorted(grouped.items()))


def _middle(window: dict[str, Any]) -> datetime:
    return window["start"] + (window["end"] - window["start"]) / 2


def charts(data: dict[str, Any]) -> dict[str, Markup]:
    """The report's inline SVG charts: latency, error rate, quality realised vs estimated, fairness."""
    period = data["period"]
    grouped = _by_version(data["performance"]["windows"])
    span = {"since": period["since"], "until": period["until"]}
    found: dict[str, Markup] = {}
    if grouped:
        found["latency"] = line_chart("p95 latency per window", [
            {"label": f"v{v} p95", "colour": version_colour(v), "points": [(_middle(w), w["latency_p95_ms"])
                                                                            for w in ws]}
            for v, ws in grouped.items()], unit=" ms", **span)
        found["errors"] = line_chart("error rate per window", [
            {"label": f"v{v}", "colour": version_colour(v), "points": [(_middle(w), w["error_rate"]) for w in ws]}
            for v, ws in grouped.items()], **span)
    metric = data["performance"]["quality_metric"]
    if grouped and metric:
        series = []
        for v, ws in grouped.items():
            series.append({"label": f"v{v} {metric} realised", "colour": version_colour(v),
                           "points": [(_middle(w), w["quality"].get(metric)) for w in ws]})
            if any(w["estimated"].get(metric) is not None for w in ws):
                series.append({"label": f"v{v} {metric} estimated", "colour": version_colour(v), "dashed": True,
                               "points": [(_middle(w), w["estimated"].get(metric)) for w in ws]})
        if any(v is not None for s in series for _, v in s["points"]):
            found["quality"] = line_chart(f"{metric}: realised and estimated per window", series,
                                          y_max=1.0 if metric == "accuracy" else None, **span)
    for index, report in enumerate(data["fairness"]["features"]):
        if report["by_group"]:
            found[f"fairness:{index}"] = fairness_chart(report["feature"], report["by_group"])
    return found


# -- rendering ---------------------------------------------------------------------------------


def markdown_cell(value: Any) -> str:
    """Text someone wrote, safe inside a Markdown table cell: one line, pipes and tags shown as typed."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    for raw, shown in (("\\", "\\\\"), ("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("`", "\\`"),
                       ("*", "\\*"), ("_", "\\_"), ("[", "\\["), ("]", "\\]")):
        text = text.replace(raw, shown)
    return text


def moment(value: Any) -> str:
    """A UTC instant as people read it in a report: ``2026-12-01 18:20:05 UTC``."""
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def percent(value: Any) -> str:
    return "" if value is None else f"{float(value):.2%}"


def weights_text(weights: dict[Any, Any]) -> str:
    return ", ".join(f"v{v} {w}%" for v, w in sorted(weights.items())) or "nothing"


@lru_cache(maxsize=1)
def _environment() -> Any:
    """The report templates' Jinja environment with this report's filters added (an overlay, so
    the shared environment is left as it is)."""
    env = documents.environment().overlay(cache_size=50)
    env.filters = {**env.filters, "cell": markdown_cell, "moment": moment, "percent": percent,
                   "weights": weights_text}
    return env


def render(backend: Backend, endpoint: str, *, since: datetime, until: datetime,
           fmt: str = "html") -> tuple[bytes, str]:
    """(document, media type) of the report in ``fmt``: html, pdf or md."""
    if fmt not in FORMATS:
        raise InvalidInput(f"report format '{fmt}' is not one of {', '.join(FORMATS)}")
    data = build(backend, endpoint, since=since, until=until)
    if fmt == "md":
        text = _environment().get_template("performance.md").render(**data)
        return text.encode("utf-8"), FORMATS[fmt]
    html = _environment().get_template("performance.html").render(**data, charts=charts(data))
    return (documents.pdf(html) if fmt == "pdf" else html.encode("utf-8")), FORMATS[fmt]


def file_name(endpoint: str, since: datetime, until: datetime) -> str:
    """An ASCII file name for a downloaded report (endpoint names are already ASCII)."""
    start, end = _period(since, until)
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "-" for c in endpoint) or "endpoint"
    return f"performance-report-{safe}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}"
