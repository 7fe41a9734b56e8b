"""Business KPIs of an endpoint: log named business figures (revenue, conversion, cost, ...) and
read them window by window beside the technical figures of ``services.monitoring``.

A KPI value is logged for a deployment (``record``, ``record_many``), optionally for one version
and one request, or arrives as the ``values`` of a request's feedback
(``services.predictions.add_feedback``); ``windows`` combines both, a feedback value counting in
the window and for the version of the request it is attached to. KPI values are data, not
decisions: logging them writes no audit event (interfaces require write permission).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.instants import instant
from modelward.domain.kpis import KpiWindow, parse_metric, validate_name
from modelward.domain.windows import WINDOW_SECONDS
from modelward.errors import InvalidInput, PayloadTooLarge
from modelward.services.backend import Backend
from modelward.store import deployments as deployments_store
from modelward.store import kpis as store

MAX_NAMES_PER_CALL = 1_000  # names in one record() call, in one batch item, or in a names filter
MAX_BATCH_ITEMS = 10_000
MAX_BATCH_VALUES = 100_000  # values in one batch, summed over its items
MAX_CLOCK_AHEAD = timedelta(minutes=1)  # how far in the future a value may be stamped
MAX_REQUEST_ID_LENGTH = 128
_ITEM_FIELDS = {"name", "value", "values", "at", "version", "request_id"}


def record(
    backend: Backend, actor: Actor | str, endpoint: str, values: Mapping[str, float], *,
    at: datetime | None = None, version: int | None = None, request_id: str | None = None,
) -> int:
    """Log ``values`` ({KPI name: number}) for ``endpoint`` at ``at`` (default now); rows written."""
    now = datetime.now(UTC)
    rows = _rows(values, "values", at=at, version=version, request_id=request_id, now=now)
    return _write(backend, actor, endpoint, rows, now)


def record_many(backend: Backend, actor: Actor | str, endpoint: str, items: Sequence[Mapping[str, Any]]) -> int:
    """Log a batch in one transaction, all or nothing; rows written. Each item is
    ``{name, value}`` or ``{values: {name: number}}``, with optional ``at`` (a datetime or ISO 8601
    text; default now), ``version`` and ``request_id``."""
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)) or not items:
        raise InvalidInput("items must be a non-empty list of KPI items")
    if len(items) > MAX_BATCH_ITEMS:
        raise PayloadTooLarge(f"at most {MAX_BATCH_ITEMS} KPI items per batch, got {len(items)}")
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        rows.extend(_item_rows(position, item, now))
        if len(rows) > MAX_BATCH_VALUES:
            raise PayloadTooLarge(f"at most {MAX_BATCH_VALUES} KPI values per batch; item {position} goes past it")
    return _write(backend, actor, endpoint, rows, now)


def windows(
    backend: Backend, endpoint: str, *, since: datetime, until: datetime, every: str | None = "hour",
    names: Sequence[str] | None = None, version: int | None = None,
) -> list[KpiWindow]:
    """One KpiWindow per (UTC window, KPI name, version) with values in [since, until), ordered
    by start, name and version (None, values logged without a version, first). ``every``:
    minute, hour or day windows (as services.monitoring cuts them), or None for one window that
    is exactly [since, until). ``names`` and ``version`` keep only those KPIs and that version."""
    if every is not None and every not in WINDOW_SECONDS:
        raise InvalidInput(f"every must be one of {', '.join(WINDOW_SECONDS)} or None, got {every!r}")
    since, until = instant(since, "since"), instant(until, "until")
    if until <= since:
        raise InvalidInput(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    wanted = _names_filter(names)
    version = _version(version, "version")
    width = WINDOW_SECONDS[every] if every is not None else None
    with backend.read() as session:
        found = store.figures(session, endpoint, since=since, until=until, width_s=width, names=wanted,
                              version=version)
    result = [_window(figure, since, until, width) for figure in found]
    return sorted(result, key=lambda w: (w.start, w.name, w.version is not None, w.version or 0))


def value(
    backend: Backend, endpoint: str, metric: str, *, since: datetime, until: datetime, version: int | None = None,
) -> float | None:
    """An alert rule's ``kpi.<name>`` (the mean of the values in [since, until)) or
    ``kpi.<name>.<aggregate>`` (count, sum, mean, min or max) over every version, or ``version``'s;
    None when there is no value (a count of none is 0)."""
    name, aggregate = parse_metric(metric)
    parts = windows(backend, endpoint, since=since, until=until, every=None, names=[name], version=version)
    count = sum(w.count for w in parts)
    if aggregate == "count":
        return float(count)
    if count == 0:
        return None
    total = math.fsum(w.sum for w in parts)
    combined = {"sum": total, "mean": total / count, "min": min(w.min for w in parts),
                "max": max(w.max for w in parts)}
    return combined[aggregate]


# -- checking input ----------------------------------------------------------------------------------

def _write(backend: Backend, actor: Actor | str, endpoint: str, rows: list[dict[str, Any]], now: datetime) -> int:
    if not isinstance(endpoint, str) or not endpoint:
        raise InvalidInput(f"endpoint must be a deployment name, got {endpoint!r}")
    actor_name = actor.name if isinstance(actor, Actor) else actor
    with backend.write() as session:
        deployments_store.row(session, endpoint)  # NotFound unless it is a deployment
        return store.add(session, [{**row, "endpoint": endpoint, "actor": actor_name, "recorded_at": now}
                                   for row in rows])


def _item_rows(position: int, item: Any, now: datetime) -> list[dict[str, Any]]:
    where = f"item {position}"
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} must be an object with name and value, or values")
    unknown = set(item) - _ITEM_FIELDS
    if unknown:
        raise InvalidInput(f"{where} has unknown fields: {', '.join(sorted(map(str, unknown)))}")
    if ("name" in item) == ("values" in item):
        raise InvalidInput(f"{where} must have either name and value, or values")
    if "name" in item:
        if "value" not in item:
            raise InvalidInput(f"{where}: name {item['name']!r} has no value")
        values, field = {validate_name(item["name"], f"{where}: name"): item["value"]}, where
    elif "value" in item:
        raise InvalidInput(f"{where}: value goes with name, not with values")
    else:
        values, field = item["values"], f"{where}: values"
    return _rows(values, field, at=item.get("at"), version=item.get("version"),
                 request_id=item.get("request_id"), now=now, where=f"{where}: ")


def _rows(
    values: Any, field: str, *, at: Any, version: Any, request_id: Any, now: datetime, where: str = "",
) -> list[dict[str, Any]]:
    if not isinstance(values, Mapping) or not values:
        raise InvalidInput(f"{field} must map KPI names to numbers, and name at least one")
    if len(values) > MAX_NAMES_PER_CALL:
        raise PayloadTooLarge(f"{field} names {len(values)} KPIs; at most {MAX_NAMES_PER_CALL} at once")
    moment = now if at is None else instant(at, f"{where}at")
    if moment > now + MAX_CLOCK_AHEAD:
        raise InvalidInput(f"{where}at ({moment.isoformat()}) is in the future: now is {now.isoformat()}")
    checked_version = _version(version, f"{where}version")
    checked_request = _request_id(request_id, f"{where}request_id")
    return [{"name": validate_name(name, f"{field}: KPI name"), "value": _number(number, f"{field}[{name!r}]"),
             "at": moment, "version": checked_version, "request_id": checked_request}
            for name, number in values.items()]


def _number(number: Any, field: str) -> float:
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise InvalidInput(f"{field} must be a number, got {number!r}")
    try:
        converted = float(number)
    except OverflowError:
        converted = math.inf
    if not math.isfinite(converted):
        raise InvalidInput(f"{field} must be a finite number, got {number!r}")
    return converted


def _version(version: Any, field: str) -> int | None:
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(f"{field} must be a model version number (1 or more), got {version!r}")
    return version


def _request_id(request_id: Any, field: str) -> str | None:
    if request_id is None:
        return None
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID_LENGTH:
        raise InvalidInput(f"{field} must be a string of 1 to {MAX_REQUEST_ID_LENGTH} characters")
    return request_id


def _names_filter(names: Any) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence) or not names:
        raise InvalidInput(f"names must be a non-empty list of KPI names, or None for all, got {names!r}")
    if len(names) > MAX_NAMES_PER_CALL:
        raise PayloadTooLarge(f"names lists {len(names)} KPIs; at most {MAX_NAMES_PER_CALL} at once")
    return sorted({validate_name(name, "names: KPI name") for name in names})


def _window(figure: dict[str, Any], since: datetime, until: datetime, width: int | None) -> KpiWindow:
    if width is None:
        start, end = since, until
    else:
        start = datetime.fromtimestamp(figure["bucket"], UTC)
        end = start + timedelta(seconds=width)
    sources = [source for source in ("feedback", "logged") if figure[source]]
    return KpiWindow(start=start, end=end, name=figure["name"], version=figure["version"], count=figure["count"],
                     sum=figure["sum"], mean=figure["sum"] / figure["count"], min=figure["min"], max=figure["max"],
                     sources=sources)  # type: ignore[arg-type]
