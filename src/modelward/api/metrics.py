"""Prometheus metrics: ``GET /metrics`` in the exposition format, for the server and each endpoint.

Names follow Prometheus's conventions (``modelward_..._total`` counters, ``_seconds`` in base
units, labels ``endpoint``/``version``). A server process (``modelward server``/``serve``)
runs in prometheus-client's multiprocess mode, so several workers answer one scrape together:
the command sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh folder before the first import of
prometheus-client, and every worker process writes its samples there. An embedded client
keeps them in its own registry.

The ``route`` label is the route's path template (``/api/v1/runs/{run_id}``), never the raw
path, so it cannot grow without bound; requests that match no route count as ``unmatched``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from time import perf_counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger("modelward.metrics")
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_lock = threading.Lock()


class _Metrics:
    """The metric objects, made at the first request: importing prometheus-client costs ~35 ms
    that a server's start-up (and every embedded CLI command) need not pay."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.http_requests = Counter("modelward_http_requests", "HTTP requests answered by the server",
                                     ["method", "route", "status"])
        self.http_duration = Histogram("modelward_http_request_duration_seconds", "Time to answer an HTTP request",
                                       ["method", "route"], buckets=LATENCY_BUCKETS)
        self.predictions = Counter("modelward_predictions", "Answers of a deployment's versions (live or shadow)",
                                   ["endpoint", "version", "mode", "status"])
        self.prediction_rows = Counter("modelward_prediction_rows", "Input rows scored by a deployment's versions",
                                       ["endpoint", "version", "mode"])
        self.prediction_duration = Histogram(
            "modelward_prediction_duration_seconds", "Time from a prediction request's arrival to its answer",
            ["endpoint", "version"], buckets=LATENCY_BUCKETS)
        self.prediction_errors = Counter("modelward_prediction_errors", "Predictions answered with an error, by kind",
                                         ["endpoint", "version", "kind"])
        self.prediction_log_dropped = Counter(
            "modelward_prediction_log_dropped", "Prediction records not logged: the log's queue was full", ["endpoint"])
        self.traffic_weight = Gauge(
            "modelward_deployment_traffic_weight_ratio",
            "Share of an endpoint's live traffic routed to a version (0-1); shadow and standby are 0",
            ["endpoint", "version", "mode"], multiprocess_mode="livemax")


_made: _Metrics | None = None


def metrics() -> _Metrics:
    global _made
    if _made is None:
        with _lock:
            if _made is None:
                _made = _Metrics()
    return _made


def prepare_multiprocess() -> None:
    """Called by the server commands before any worker starts: one fresh folder for this run's samples."""
    if not os.environ.get(MULTIPROCESS_VARIABLE):
        os.environ[MULTIPROCESS_VARIABLE] = tempfile.mkdtemp(prefix="modelward-metrics-")


def exposition() -> bytes:
    """Every sample, of every worker process in multiprocess mode."""
    from prometheus_client import CollectorRegistry, generate_latest, values

    metrics()
    # The mode is fixed when prometheus-client is first imported: a process that imported it
    # before the server command prepared the folder (the demo) keeps its own registry.
    if os.environ.get(MULTIPROCESS_VARIABLE) and values.ValueClass.__name__ == "MmapedValue":
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


async def metrics_response(request: Request, backend: Any) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST
    from starlette.concurrency import run_in_threadpool

    try:
        alerts = await run_in_threadpool(alert_exposition, backend)
    except Exception:  # noqa: BLE001  the database away must not cost the process's own metrics
        log.warning("alert states left out of /metrics: the store did not answer", exc_info=True)
        alerts = b""
    return Response(exposition() + alerts, media_type=CONTENT_TYPE_LATEST)


def alert_exposition(backend: Any) -> bytes:
    """Alert states, their last values and the drift scores they saw, read from the database at
    each scrape: one process evaluates alerts, every worker answers scrapes with the same figures.
    ``modelward_alert_state`` is 1 for the state a rule is in (Prometheus's own ALERTS style)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    from modelward.services import alerts as alert_service

    current = alert_service.list_(backend)
    state = GaugeMetricFamily("modelward_alert_state", "1 for the state each alert rule of an endpoint is in",
                              labels=["endpoint", "rule", "severity", "state"])
    value = GaugeMetricFamily("modelward_alert_value", "The metric an alert rule watches, at its last evaluation",
                              labels=["endpoint", "rule", "metric"])
    drift = GaugeMetricFamily("modelward_drift_score", "A drift test's value on a feature at the last evaluation of "
                              "a drift alert rule (p-values for ks and chi_square)", labels=["endpoint", "feature", "test"])
    seen: set[tuple[str, str, str]] = set()
    for alert in current:
        state.add_metric([alert.endpoint, alert.rule, alert.severity, alert.state.value], 1.0)
        if alert.value is not None:
            value.add_metric([alert.endpoint, alert.rule, alert.metric], alert.value)
        for feature, tests in alert.details.get("drift", {}).items():
            for test, score in tests.items():
                if (alert.endpoint, feature, test) not in seen:
                    seen.add((alert.endpoint, feature, test))
                    drift.add_metric([alert.endpoint, feature, test], score)

    class _Alerts:
        def collect(self) -> list[Any]:
            return [state, value, drift]

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Alerts())  # type: ignore[arg-type]
    return generate_latest(registry)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if path and scope.get("root_path"):
        return f"{scope['root_path']}{path}"
    if path:
        return str(path)
    return "/serve" if scope.get("path", "").startswith("/serve/") else "unmatched"


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            route, method, made = _route_of(scope), scope.get("method", ""), metrics()
            made.http_requests.labels(method, route, str(status)).inc()
            made.http_duration.labels(method, route).observe(perf_counter() - started)


def observe_prediction(endpoint: str, version: int, mode: str, status: int, rows: int, seconds: float | None) -> None:
    """One answer of the gateway (``seconds`` only for live answers: the caller's wait)."""
    label, made = str(version), metrics()
    made.predictions.labels(endpoint, label, mode, str(status)).inc()
    if rows:
        made.prediction_rows.labels(endpoint, label, mode).inc(rows)
    if status >= 400:
        made.prediction_errors.labels(endpoint, label, "server" if status >= 500 else "client").inc()
    if seconds is not None:
        made.prediction_duration.labels(endpoint, label).observe(seconds)


def observe_dropped(endpoint: str) -> None:
    metrics().prediction_log_dropped.labels(endpoint).inc()


def observe_routes(endpoint: str, routes: list[Any], *, retired: bool = False) -> None:
    """The traffic weights of an endpoint's current state, as this process serves them."""
    for route in routes:
        weight = 0.0 if retired or route.mode.value != "live" else route.weight / 100
        metrics().traffic_weight.labels(endpoint, str(route.version), route.mode.value).set(weight)
