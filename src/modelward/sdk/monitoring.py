"""``client.monitoring``: what an endpoint's versions did window by window (quality, latency,
errors, decay, input drift, fairness, business KPIs), a performance report, and its alerts.

Times are datetimes (a naive one is UTC); a range defaults to the last 24 hours on the server.
``every``: "minute", "hour", "day", or None for one window over the whole range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelward.domain.alerts import Alert, AlertEvent
from modelward.domain.deployments import validate_name
from modelward.domain.kpis import KpiWindow
from modelward.domain.windows import Window
from modelward.sdk._http import HttpSession

WHOLE_RANGE = "all"


def _path(endpoint: str, what: str) -> str:
    return f"/api/v1/deployments/{quote(validate_name(endpoint), safe='')}/{what}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _params(**values: Any) -> dict[str, Any]:
    """Query parameters without the ones left out; datetimes as ISO 8601, every=None as 'all'."""
    found: dict[str, Any] = {}
    for key, value in values.items():
        if key == "every":
            value = WHOLE_RANGE if value is None else value
        if isinstance(value, datetime):
            value = value.isoformat()
        if value is not None:
            found[key] = value
    return found


class Monitoring:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    # -- quality and operations ---------------------------------------------------------------

    def windows(self, endpoint: str, *, since: datetime | None = None, until: datetime | None = None,
                every: str | None = "hour", version: int | None = None, mode: str = "live") -> list[Window]:
        """One Window per (window, version) that answered in [since, until)."""
        data = self._http.call("GET", _path(endpoint, "windows"),
                               params=_params(since=since, until=until, every=every, version=version, mode=mode))
        return [Window.model_validate(item) for item in data["windows"]]

    def decay(self, endpoint: str, metric: str, *, since: datetime | None = None, until: datetime | None = None,
              every: str | None = "hour", version: int | None = None, mode: str = "live") -> list[dict[str, Any]]:
        """Per version, the trend of ``metric`` over its windows and where it first changed:
        ``[{"version", "points", "slope_per_hour", "changed", "change_start", ...}]``."""
        data = self._http.call("GET", _path(endpoint, "decay"), params=_params(
            metric=metric, since=since, until=until, every=every, version=version, mode=mode))
        return data["versions"]  # type: ignore[no-any-return]

    def drift(self, endpoint: str, *, since: datetime | None = None, until: datetime | None = None,
              every: str | None = "hour", version: int | None = None, mode: str = "live") -> list[Any]:
        """One DriftWindow (``modelward.evaluation.drift``) per window with answered input rows."""
        from modelward.evaluation.drift import DriftWindow

        data = self._http.call("GET", _path(endpoint, "drift"),
                               params=_params(since=since, until=until, every=every, version=version, mode=mode))
        return [DriftWindow.model_validate(item) for item in data["windows"]]

    def fairness(self, endpoint: str, *, since: datetime | None = None, until: datetime | None = None,
                 version: int | None = None, sensitive_features: Iterable[str] | None = None) -> dict[str, Any]:
        """Fairness of the answers in the range by each sensitive feature (default: the policy's)."""
        params = _params(since=since, until=until, version=version)
        if sensitive_features is not None:
            params["feature"] = list(sensitive_features)
        return self._http.call("GET", _path(endpoint, "fairness"), params=params)  # type: ignore[no-any-return]

    # -- business KPIs ------------------------------------------------------------------------

    def kpis(self, endpoint: str, *, since: datetime | None = None, until: datetime | None = None,
             every: str | None = "hour", names: Sequence[str] | None = None,
             version: int | None = None) -> list[KpiWindow]:
        """One KpiWindow per (window, KPI, version) with values in [since, until)."""
        params = _params(since=since, until=until, every=every, version=version)
        if names is not None:
            params["name"] = list(names)
        data = self._http.call("GET", _path(endpoint, "kpis"), params=params)
        return [KpiWindow.model_validate(item) for item in data["windows"]]

    def log_kpis(self, endpoint: str, values: Mapping[str, float], at: datetime | None = None,
                 version: int | None = None, request_id: str | None = None) -> int:
        """Log ``values`` ({KPI name: number}) at ``at`` (default now); the values written."""
        body = {"values": dict(values), "at": _iso(at), "version": version, "request_id": request_id}
        data = self._http.call("POST", _path(endpoint, "kpis"), json={k: v for k, v in body.items() if v is not None})
        return data["written"]  # type: ignore[no-any-return]

    def log_kpi_batch(self, endpoint: str, items: Sequence[Mapping[str, Any]]) -> int:
        """Log a batch, all or nothing: each item ``{name, value}`` or ``{values}``, with optional
        ``at`` (a datetime or ISO 8601), ``version`` and ``request_id``; the values written."""
        sent = [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in item.items()} for item in items]
        return self._http.call("POST", _path(endpoint, "kpis"), json={"items": sent})["written"]  # type: ignore[no-any-return]

    # -- the performance report ---------------------------------------------------------------

    def report(self, endpoint: str, since: datetime | None = None, until: datetime | None = None,
               format: str = "html", path: str | Path | None = None) -> bytes:
        """The endpoint's performance report (html, pdf or md) as bytes, also written to ``path``."""
        response = self._http._send("GET", _path(endpoint, "report"),
                                    params=_params(since=since, until=until, format=format))
        if path is not None:
            Path(path).write_bytes(response.content)
        return response.content

    # -- alerts -------------------------------------------------------------------------------

    def alerts(self, endpoint: str | None = None, state: str | None = None) -> list[Alert]:
        """Every alert rule of every serving endpoint (or of ``endpoint``) with where it stands."""
        data = self._http.call("GET", "/api/v1/alerts", params=_params(endpoint=endpoint, state=state))
        return [Alert.model_validate(item) for item in data["alerts"]]

    def alert_history(self, endpoint: str | None = None, rule: str | None = None, since: datetime | None = None,
                      until: datetime | None = None, limit: int = 100) -> list[AlertEvent]:
        """The moves of alerts, newest first."""
        data = self._http.call("GET", "/api/v1/alerts/history", params=_params(
            endpoint=endpoint, rule=rule, since=since, until=until, limit=limit))
        return [AlertEvent.model_validate(item) for item in data["events"]]

    def evaluate_alerts(self, endpoint: str | None = None, at: datetime | None = None) -> list[AlertEvent]:
        """Judge the rules now (``at``: a chosen moment, admins only); the moves made."""
        body = {k: v for k, v in {"endpoint": endpoint, "at": _iso(at)}.items() if v is not None}
        data = self._http.call("POST", "/api/v1/alerts/evaluate", json=body)
        return [AlertEvent.model_validate(item) for item in data["events"]]
