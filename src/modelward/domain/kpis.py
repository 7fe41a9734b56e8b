"""Business KPIs: named figures (revenue, conversion, cost, ...) an endpoint's owners log, and what
one of them came to in one time window, beside the technical figures of ``domain.windows``.

A KPI comes from two sources: values logged for the endpoint (``logged``), and the ``values`` of
feedback attached to a request the endpoint answered (``feedback``), which belong to the window
and version of that request. An alert rule names one as ``kpi.<name>`` (the mean over the rule's
window) or ``kpi.<name>.<aggregate>`` with an aggregate of AGGREGATES.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from modelward.errors import InvalidInput

NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"  # the name part of domain.monitoring.KPI_METRIC
NAME_PATTERN = re.compile(rf"^{NAME}$")
MAX_NAME_LENGTH = 128
AGGREGATES: tuple[str, ...] = ("count", "sum", "mean", "min", "max")
DEFAULT_AGGREGATE = "mean"
METRIC_PREFIX = "kpi."

Source = Literal["feedback", "logged"]


def validate_name(name: object, field: str = "name") -> str:
    """``name`` when it is a KPI name; InvalidInput naming ``field`` otherwise."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{field} must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{field} is {len(name)} characters long; a KPI name has at most {MAX_NAME_LENGTH}")
    if not NAME_PATTERN.match(name):
        raise InvalidInput(f"{field} {name!r} is not a KPI name: letters, digits and _ first, "
                           "then letters, digits, _ . and -")
    return name


def parse_metric(metric: object) -> tuple[str, str]:
    """(KPI name, aggregate) of an alert rule's ``kpi.<name>[.<aggregate>]``.

    A final segment that is an aggregate chooses it: ``kpi.revenue.sum`` is the sum of
    ``revenue`` (so a KPI whose own name ends in ``.sum`` is read by ``kpi.<name>.mean``)."""
    if not isinstance(metric, str) or not metric.startswith(METRIC_PREFIX):
        raise InvalidInput(f"metric must be kpi.<name> or kpi.<name>.<{'|'.join(AGGREGATES)}>, got {metric!r}")
    name, aggregate = metric[len(METRIC_PREFIX):], DEFAULT_AGGREGATE
    head, dot, tail = name.rpartition(".")
    if dot and head and tail in AGGREGATES:
        name, aggregate = head, tail
    return validate_name(name, f"metric {metric!r}: the KPI name"), aggregate


class KpiWindow(BaseModel):
    """What one KPI came to in [start, end) for one version (None: values logged without one)."""

    start: datetime
    end: datetime
    name: str
    version: int | None
    count: int
    sum: float
    mean: float
    min: float
    max: float
    sources: list[Source]  # sorted
