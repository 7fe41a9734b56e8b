"""The ``monitoring:`` section of a policy: the drift reference, drift thresholds and alert rules.

    monitoring:
      reference: {run_id: 4f2a..., path: data/train.parquet}   # null: the version's training dataset
      bins: 10                       # numeric features: quantile bins of the reference
      features: [age, income]        # default: every column the reference has
      drift: {psi_warn: 0.1, psi_alert: 0.25, ks_p_value: 0.05}
      alerts:
        - {name: accuracy-drop, metric: accuracy, window: 1h, comparison: "<", threshold: 0.8,
           for: 10m, severity: critical, rollback: true}
        - {name: income-drift, metric: drift.psi.income, window: 1d, comparison: ">=", threshold: 0.25}
      log_protect: {email: hash, name: drop}   # the prediction log keeps these inputs hashed or not at all

Validated like the gates: unknown keys are errors and ``parse_policy_yaml`` reports each problem
with its line, e.g. ``line 9, monitoring.alerts[0].window: ...``. The computations live in
``modelward.evaluation.drift``; evaluating the alert rules belongs to the monitoring service.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

DURATION = re.compile(r"^([0-9]{1,6})(s|m|h|d)$")
SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION_S = 90 * 86400

DriftTestName = Literal["psi", "ks", "wasserstein", "chi_square", "jensen_shannon", "missing_rate"]
DRIFT_TESTS: tuple[str, ...] = ("psi", "ks", "wasserstein", "chi_square", "jensen_shannon", "missing_rate")
# The quality metrics of policy.py's gates (kept in step by a test) and what the gateway measures.
QUALITY_METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "log_loss", "rmse", "mae", "r2")
OPERATIONAL_METRICS = ("error_rate", "request_rate", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms")
# drift.<test> (the worst feature), drift.<test>.<feature>, drift.share (of drifted features)
# (a feature's name may hold spaces and dots, as DataFrame columns do: "drift.psi.mean radius")
DRIFT_METRIC = re.compile(r"^drift\.(share|(" + "|".join(DRIFT_TESTS) + r")(\.[^\s.](?:.*\S)?)?)$")
KPI_METRIC = re.compile(r"^kpi\.[A-Za-z0-9_][A-Za-z0-9_.-]*$")
ALERT_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
# The actions of ``evaluation.personal_data.protect`` (which this layer cannot import; a test keeps
# them in step): hash (keyed HMAC-SHA256, hex) or drop a column.
LogProtectAction = Literal["hash", "drop"]
LOG_PROTECT_ACTIONS: tuple[str, ...] = ("hash", "drop")


def duration_seconds(text: str) -> int:
    """Seconds in a duration such as ``30s``, ``5m``, ``1h``, ``1d``; ValueError otherwise."""
    match = DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration: a whole number and a unit s, m, h or d, e.g. 5m")
    seconds = int(match.group(1)) * SECONDS_PER_UNIT[match.group(2)]
    if seconds > MAX_DURATION_S:
        raise ValueError(f"{text} is longer than the longest allowed duration, 90d")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReferenceDataset(_Strict):
    """A Parquet or CSV artifact of a run to compare live inputs with (as a policy's evaluation
    dataset is named); ``digest`` (SHA-256, hex) pins the exact bytes."""

    run_id: str = Field(min_length=1)
    path: str = Field(min_length=1)
    digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class DriftThresholds(_Strict):
    """When a test calls a feature drifted. Distances drift at or above their threshold, p-values
    below theirs. ``wasserstein`` is normalised by the reference's standard deviation (Evidently's
    "normed" variant). ``missing_rate_increase`` is current minus reference missing share.
    ``decide_on``: the tests whose verdict counts for a feature's status (all are computed)."""

    psi_warn: float = Field(default=0.1, gt=0)
    psi_alert: float = Field(default=0.25, gt=0)
    ks_p_value: float = Field(default=0.05, gt=0, lt=1)
    wasserstein: float = Field(default=0.1, gt=0)
    chi_square_p_value: float = Field(default=0.05, gt=0, lt=1)
    jensen_shannon: float = Field(default=0.1, gt=0, le=1)
    missing_rate_increase: float = Field(default=0.05, gt=0, le=1)
    decide_on: list[DriftTestName] = Field(default_factory=lambda: list(DRIFT_TESTS), min_length=1)

    @model_validator(mode="after")
    def _warn_before_alert(self) -> DriftThresholds:
        if self.psi_warn > self.psi_alert:
            raise ValueError(f"psi_warn {self.psi_warn} is greater than psi_alert {self.psi_alert}")
        if len(set(self.decide_on)) != len(self.decide_on):
            raise ValueError("decide_on names a test twice")
        return self


class AlertRule(_Strict):
    """Fire when ``metric`` over the last ``window`` compares true with ``threshold`` for ``for``
    without a break. ``rollback`` asks the release to roll back when the alert fires."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=ALERT_NAME)
    metric: str = Field(min_length=1)
    window: str = "5m"
    comparison: Literal["<", "<=", ">", ">="]
    threshold: float
    for_: str = Field(default="0s", alias="for")
    severity: Literal["info", "warning", "critical"] = "warning"
    rollback: bool = False

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric in QUALITY_METRICS or metric in OPERATIONAL_METRICS:
            return metric
        if DRIFT_METRIC.match(metric) or KPI_METRIC.match(metric):
            return metric
        raise ValueError(
            f"unknown metric {metric!r}: use a quality metric ({', '.join(QUALITY_METRICS)}), "
            f"{', '.join(OPERATIONAL_METRICS)}, drift.<test>[.<feature>] with a test of "
            f"{', '.join(DRIFT_TESTS)}, drift.share, or kpi.<name>"
        )

    @field_validator("window")
    @classmethod
    def _window_is_a_duration(cls, window: str) -> str:
        if duration_seconds(window) == 0:
            raise ValueError("a window must be longer than 0s")
        return window

    @field_validator("for_")
    @classmethod
    def _for_is_a_duration(cls, held: str) -> str:
        duration_seconds(held)
        return held

    @model_serializer(mode="wrap")
    def _dump_as_written(self, handler: SerializerFunctionWrapHandler) -> dict:
        """``for`` in dumps too (the API shows policies as they are written), not ``for_``."""
        data = handler(self)
        if isinstance(data, dict) and "for_" in data:
            data = {("for" if key == "for_" else key): value for key, value in data.items()}
        return data

    @property
    def window_seconds(self) -> int:
        return duration_seconds(self.window)

    @property
    def for_seconds(self) -> int:
        return duration_seconds(self.for_)


class MonitoringPolicy(_Strict):
    """What to compare live traffic with and when to raise alerts; every part has a default."""

    reference: ReferenceDataset | None = Field(
        default=None, description="null: the training dataset recorded with the version's lineage")
    drift: DriftThresholds = Field(default_factory=DriftThresholds)
    bins: int = Field(default=10, ge=2, le=100, description="quantile bins of the reference, numeric features")
    binning: Literal["reference_quantiles", "evidently"] = Field(
        default="reference_quantiles",
        description="evidently: PSI and JS over Sturges equal-width bins of reference and current together")
    features: list[str] | None = Field(default=None, description="default: every column of the reference")
    alerts: list[AlertRule] = Field(default_factory=list)
    log_protect: dict[str, LogProtectAction] = Field(
        default_factory=dict,
        description="input columns the prediction log keeps hashed (keyed HMAC-SHA256 under the server's "
                    "hash_secret) or drops, applied before a record is queued; the model still gets them")

    @field_validator("log_protect")
    @classmethod
    def _log_protect_names(cls, columns: dict[str, str]) -> dict[str, str]:
        if any(not name.strip() for name in columns):
            raise ValueError("a column name cannot be empty")
        return columns

    @field_validator("features")
    @classmethod
    def _features_once(cls, features: list[str] | None) -> list[str] | None:
        if features is not None:
            repeated = sorted({f for f in features if features.count(f) > 1})
            if repeated:
                raise ValueError(f"features named more than once: {', '.join(repeated)}")
            if any(not f for f in features):
                raise ValueError("a feature name cannot be empty")
        return features

    @field_validator("alerts")
    @classmethod
    def _alert_names_unique(cls, alerts: list[AlertRule]) -> list[AlertRule]:
        first: dict[str, int] = {}
        for index, alert in enumerate(alerts):
            if alert.name in first:
                raise ValueError(f"alert name {alert.name!r} is used by alerts[{first[alert.name]}] "
                                 f"and alerts[{index}]: names must be unique")
            first[alert.name] = index
        return alerts


__all__ = [
    "DRIFT_TESTS",
    "LOG_PROTECT_ACTIONS",
    "OPERATIONAL_METRICS",
    "QUALITY_METRICS",
    "AlertRule",
    "DriftThresholds",
    "LogProtectAction",
    "MonitoringPolicy",
    "ReferenceDataset",
    "duration_seconds",
]
