"""Governance policies as code: YAML documents that declare gates, review and release rules.

A policy applies globally (no ``model``, no ``risk_tier``), to every model of a risk tier
(``risk_tier`` only) or to one registered model (``model``)::

    model: credit-risk
    risk_tier: high
    gates:
      - {metric: roc_auc, min: 0.75}
      - {compare_to: champion, metric: roc_auc, max_regression: 0.01}
      - {fairness: demographic_parity_difference, sensitive_feature: sex, max: 0.10}
      - {technical: p95_latency_ms, max: 50}
      - {attribution_stability: champion, top_k: 5, min_rank_correlation: 0.6}
      - {explanation: required, shap: true}
    review: {approvals: 2, roles: [risk, compliance], four_eyes: true}
    release: {strategy: canary, steps: [10, 50, 100]}
    evaluation: {code_models: refuse}    # or isolated: evaluate pyfunc/pickle models in the sandboxed worker
    monitoring: {bins: 10, alerts: []}   # drift reference, thresholds, alert rules: see domain/monitoring.py

Each gate is recognised by its distinguishing key: ``compare_to`` (champion gate),
``fairness``, ``technical``, ``kpi``, ``attribution_stability``, ``explanation``,
``data_expectations``, else ``metric``.
Unknown keys are errors.
``parse_policy_yaml`` reports every problem with its line and field, e.g.
``line 5, gates[1].max_regression: Input should be a valid number``.
Storage, versioning and auditing of policies belong to the governance service.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from modelward.domain.actors import Role
from modelward.domain.expectations import Expectations
from modelward.domain.data_governance import DataPolicy
from modelward.domain.monitoring import MonitoringPolicy
from modelward.errors import InvalidInput

if TYPE_CHECKING:
    import yaml  # imported where a policy is read

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})

MetricName = Literal["accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "log_loss", "rmse", "mae", "r2"]
FairnessMetricName = Literal[
    "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference", "equalized_odds_ratio"
]
NUMERIC_TECHNICAL = ("p95_latency_ms", "artifact_size_mb")
BOOLEAN_TECHNICAL = ("signature_present", "signature_matches", "loads_in_clean_process", "dependencies_pinned")
TechnicalCheckName = Literal[
    "p95_latency_ms", "artifact_size_mb", "signature_present", "signature_matches",
    "loads_in_clean_process", "dependencies_pinned",
]


class RiskTier(str, enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Task(str, enum.Enum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The values a metric can take: a bound outside them is a typo that would make a gate
# always pass or always fail, so it is refused when the policy is validated.
UNIT_INTERVAL = (0.0, 1.0)
METRIC_RANGES: dict[str, tuple[float | None, float | None]] = {
    **{m: UNIT_INTERVAL for m in ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc")},
    **{m: (0.0, None) for m in ("log_loss", "rmse", "mae")},
    "r2": (None, 1.0),
}


def _check_range(name: str, low: float | None, high: float | None, value_range: tuple[float | None, float | None]) -> None:
    floor, ceiling = value_range
    for key, bound in (("min", low), ("max", high)):
        if bound is None:
            continue
        if (floor is not None and bound < floor) or (ceiling is not None and bound > ceiling):
            allowed = (f"[{floor:g}, {ceiling:g}]" if floor is not None and ceiling is not None
                       else f">= {floor:g}" if floor is not None else f"<= {ceiling:g}")
            raise ValueError(f"{key} {bound:g} is impossible for {name}, whose values are {allowed}")


class _Bounded(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _needs_a_bound(self) -> _Bounded:
        if self.min is None and self.max is None:
            raise ValueError("give a bound: min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class MetricGate(_Bounded):
    """The challenger's metric on the evaluation data must lie within [min, max]."""

    metric: MetricName

    @model_validator(mode="after")
    def _bounds_are_possible(self) -> MetricGate:
        _check_range(self.metric, self.min, self.max, METRIC_RANGES[self.metric])
        return self


class ChampionGate(_Strict):
    """The challenger may be worse than the version behind ``compare_to`` by at most ``max_regression``.

    "Worse" follows the metric's direction (lower is better for log_loss, rmse, mae). With
    improvement = challenger minus champion in that direction and its bootstrap interval
    [lo, hi], ``decide_on: interval`` (the default: "not significantly worse") fails only
    when hi < -max_regression; ``decide_on: point`` fails when -improvement > max_regression.
    """

    compare_to: str = "champion"
    metric: MetricName
    max_regression: float = Field(ge=0)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    bootstrap: int = Field(default=1000, ge=100, le=100_000)
    decide_on: Literal["interval", "point"] = "interval"


class FairnessGate(_Bounded):
    """A fairness measure between the groups of one sensitive feature (``sensitive_feature: sex``)
    or of the intersection of two or three (``sensitive_features: [sex, age_band]``: groups such
    as "F, 18-30", reported under "sex & age_band"); give exactly one of the two keys.
    Differences and ratios both lie in [0, 1].

    ``min_group_size``: groups with fewer rows in the evaluation data are still reported, but
    left out of the measure the gate decides on, and the reason names them (too few rows to
    judge a rate). Without it every group counts, small ones included (the report flags groups
    under 30 rows as small either way). The reason names the two groups behind the measure.
    """

    fairness: FairnessMetricName
    sensitive_feature: str | None = Field(default=None, min_length=1)
    sensitive_features: list[Annotated[str, Field(min_length=1)]] | None = None
    min_group_size: int | None = Field(default=None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _bounds_are_possible(self) -> FairnessGate:
        _check_range(self.fairness, self.min, self.max, UNIT_INTERVAL)
        if (self.sensitive_feature is None) == (self.sensitive_features is None):
            raise ValueError("give exactly one of sensitive_feature (one column) or sensitive_features "
                             "(a list of 2 or 3 columns, for their intersection)")
        chosen = self.sensitive_features
        if chosen is not None and not (2 <= len(chosen) <= 3 and len(set(chosen)) == len(chosen)):
            raise ValueError(f"sensitive_features must be 2 or 3 distinct columns (for one, use sensitive_feature), "
                             f"got {chosen}")
        return self

    @property
    def features(self) -> list[str]:
        """The sensitive columns: one, or those of the intersection."""
        return [self.sensitive_feature] if self.sensitive_feature is not None else list(self.sensitive_features or [])

    @property
    def feature_key(self) -> str:
        """How the evaluation's fairness reports name it: ``sex``, or ``sex & age_band``."""
        return " & ".join(self.features)


class TechnicalGate(_Strict):
    """Numeric checks (latency, size) take min/max; the yes/no checks take ``required``."""

    technical: TechnicalCheckName
    min: float | None = None
    max: float | None = None
    required: bool = True

    @model_validator(mode="after")
    def _bounds_fit_the_check(self) -> TechnicalGate:
        numeric = self.technical in NUMERIC_TECHNICAL
        if numeric and self.min is None and self.max is None:
            raise ValueError(f"{self.technical} needs a bound: min, max or both")
        if not numeric and (self.min is not None or self.max is not None):
            raise ValueError(f"{self.technical} is a yes/no check: use 'required', not min/max")
        if numeric:
            _check_range(self.technical, self.min, self.max, (0.0, None))
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class KpiGate(_Bounded):
    """A business KPI supplied by the caller (e.g. expected revenue impact) must lie within bounds."""

    kpi: str = Field(min_length=1)


class AttributionStabilityGate(_Strict):
    """The challenger must rely on the features the version behind the alias relies on.

    Both are explained by permutation importance on the evaluation data (same rows, same seed);
    over the union of each one's ``top_k`` most important features, the rank correlation
    (Spearman, or Kendall's tau) of their importances must be at least ``min_rank_correlation``.
    With no version behind the alias (a first version) the gate passes, skipped, as a champion
    gate does.
    """

    attribution_stability: str = Field(default="champion", min_length=1, description="the alias to compare to")
    top_k: int = Field(default=5, ge=2, le=50)
    min_rank_correlation: float = Field(ge=-1, le=1)
    method: Literal["spearman", "kendall"] = "spearman"
    n_repeats: int = Field(default=5, ge=1, le=50)


class ExplanationGate(_Strict):
    """A global explanation of the challenger must be computed on the evaluation data and kept
    with the version (a revision of its explanations), SHAP values included when ``shap: true``
    (the ``explain`` extra). Put it in a tier policy (``risk_tier: high``) to require it of every
    high-risk model."""

    explanation: Literal["required"]
    shap: bool = False
    top: int = Field(default=10, ge=1, le=50)


class DataExpectationsGate(_Strict):
    """The data must meet its expectations (docs/data.md).

    ``{data_expectations: training}``: every dataset the version's source run read has a latest
    stored check that passed. A dataset never checked, or whose latest check is ``unchecked``
    (no stored data), fails the gate with the reason; so does a version whose source run read no
    logged dataset. ``required_on: [name or id, ...]`` narrows what must have been checked to
    those datasets (each must be among the run's inputs); a failed check of any other input still
    fails the gate.

    ``{data_expectations: evaluation, expectations: {...}}``: the policy's evaluation data must
    meet the declaration (the same keys as a dataset's); ``reference: training`` in a
    distribution expectation compares with the version's training data (the source run's input
    split named ``train``/``training``, else its only input dataset with a snapshot).
    """

    data_expectations: Literal["training", "evaluation"]
    required_on: list[str] | None = Field(default=None, min_length=1)
    expectations: Expectations | None = None

    @model_validator(mode="after")
    def _fits_the_data(self) -> DataExpectationsGate:
        if self.data_expectations == "evaluation":
            if self.expectations is None:
                raise ValueError("data_expectations: evaluation needs 'expectations' (a declaration)")
            if self.required_on is not None:
                raise ValueError("'required_on' names training datasets: it does not apply to the evaluation data")
        elif self.expectations is not None:
            raise ValueError("data_expectations: training judges the checks stored with each dataset (their own "
                             "expectations): 'expectations' applies to 'data_expectations: evaluation' only")
        if self.required_on is not None and any(not name.strip() for name in self.required_on):
            raise ValueError("required_on: a dataset name must not be empty")
        return self


def _gate_kind(value: Any) -> str | None:
    """The gate type, from the key only that type has (champion gates also carry ``metric``)."""
    keys = value.keys() if isinstance(value, dict) else vars(value).keys() if isinstance(value, BaseModel) else ()
    for key, kind in (("compare_to", "champion"), ("fairness", "fairness"), ("technical", "technical"),
                      ("kpi", "kpi"), ("attribution_stability", "attribution_stability"),
                      ("explanation", "explanation"), ("data_expectations", "data_expectations"),
                      ("metric", "metric")):
        if key in keys:
            return kind
    return None


Gate = Annotated[
    Annotated[MetricGate, Tag("metric")]
    | Annotated[ChampionGate, Tag("champion")]
    | Annotated[FairnessGate, Tag("fairness")]
    | Annotated[TechnicalGate, Tag("technical")]
    | Annotated[KpiGate, Tag("kpi")]
    | Annotated[AttributionStabilityGate, Tag("attribution_stability")]
    | Annotated[ExplanationGate, Tag("explanation")]
    | Annotated[DataExpectationsGate, Tag("data_expectations")],
    Discriminator(
        _gate_kind,
        custom_error_type="unknown_gate",
        custom_error_message=("a gate needs one of the keys metric, compare_to, fairness, technical, kpi, "
                              "attribution_stability, explanation, data_expectations"),
    ),
]
GATE_KINDS = ("metric", "champion", "fairness", "technical", "kpi", "attribution_stability", "explanation",
              "data_expectations")


class ReviewRequirement(_Strict):
    approvals: int = Field(default=1, ge=1, le=20)
    roles: list[Role] = Field(default_factory=list)
    four_eyes: bool = True
    risk_assessment_required: bool = True
    compliance_checklist: list[str] = Field(default_factory=list)
    business_impact_required: bool = False


ENVIRONMENT_NAME = r"^[a-z][a-z0-9_-]{0,39}$"
DEPLOYABLE_STATES = ("approved", "in_review", "changes_requested", "candidate")


class Guardrails(_Strict):
    """What a canary step must show before it advances; one failure halts and rolls back.
    The canary is compared with the stable version over the step's own requests."""

    min_requests: int = Field(default=20, ge=1, le=1_000_000, description="requests to the canary before judging a step")
    max_error_rate: float = Field(default=0.05, ge=0, le=1)
    max_p95_latency_ms: float | None = Field(default=None, gt=0)
    quality_metric: str | None = Field(default=None, description="judged where feedback exists, e.g. accuracy")
    max_quality_regression: float = Field(default=0.02, ge=0, le=1)


class EnvironmentRule(_Strict):
    """Who may change deployments in an environment, and which version states may take traffic there."""

    deployers: list[Role] = Field(default_factory=lambda: [Role.APPROVER])
    allow: list[Literal["approved", "in_review", "changes_requested", "candidate"]] = Field(
        default_factory=lambda: ["approved"])
    shadow_allow: list[Literal["approved", "in_review", "changes_requested", "candidate"]] = Field(
        default_factory=lambda: ["approved", "in_review"],
        description="states a version may be in to receive a shadow copy of the traffic (answers never returned)")

    def admits(self, state: str, *, shadow: bool = False) -> bool:
        allowed = set(self.shadow_allow if shadow else self.allow)
        if "approved" in allowed:
            allowed.add("released")  # an approved version serving elsewhere
        return state in allowed


def _default_environments() -> dict[str, EnvironmentRule]:
    return {
        "production": EnvironmentRule(deployers=[Role.APPROVER], allow=["approved"]),
        "staging": EnvironmentRule(deployers=[Role.CONTRIBUTOR, Role.APPROVER], allow=["approved", "in_review"]),
    }


class ReleaseRule(_Strict):
    """How versions of the model take traffic. ``environments`` is deny by default: an environment
    the policy does not name takes no deployment. ``interval_s`` lets a healthy canary step advance
    by itself; without it a step advances by command. ``code_models: isolated`` lets the gateway
    serve a pyfunc or pickle version from an isolated worker process (never the server's own)."""

    strategy: Literal["direct", "canary", "blue_green", "shadow"] = "direct"
    steps: list[int] = Field(default_factory=list)
    interval_s: float | None = Field(default=None, gt=0, le=30 * 24 * 3600)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    environments: dict[str, EnvironmentRule] = Field(default_factory=_default_environments)
    rollback_on_alerts: list[str] = Field(default_factory=list)
    code_models: Literal["refuse", "isolated"] = "refuse"

    @model_validator(mode="after")
    def _steps_fit_strategy(self) -> ReleaseRule:
        import re

        for name in self.environments:
            if not re.match(ENVIRONMENT_NAME, name):
                raise ValueError(f"environment name {name!r} must be lower-case letters, digits, '-' or '_'")
        if self.strategy != "canary":
            if self.steps:
                raise ValueError(f"steps only apply to the canary strategy, not {self.strategy}")
            return self
        if not self.steps:
            raise ValueError("a canary release needs steps, e.g. [10, 50, 100]")
        if any(not 0 < s <= 100 for s in self.steps) or self.steps != sorted(set(self.steps)) or self.steps[-1] != 100:
            raise ValueError("canary steps are increasing traffic percentages in 1..100 ending at 100")
        return self

    def environment(self, name: str) -> EnvironmentRule | None:
        return self.environments.get(name)


class ProtectedAlias(_Strict):
    alias: str = Field(min_length=1)
    requires_role: Role = Role.APPROVER


class EvaluationDataset(_Strict):
    """Where the evaluation data lives: a Parquet or CSV artifact of a run. When a policy names
    one, registering a version evaluates it automatically. ``digest`` (SHA-256, hex) pins the
    exact bytes: a governing evaluation reads those bytes by digest, whatever the run holds now."""

    run_id: str = Field(min_length=1)
    path: str = Field(min_length=1)
    digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class EvaluationSettings(_Strict):
    """How the server evaluates. ``code_models``: a version in a code-bearing format (pyfunc,
    pickle) is refused (``refuse``, the default; evaluate it in the client, advisory) or run in
    the sandboxed worker process (``isolated``). The server process never imports model code."""

    code_models: Literal["refuse", "isolated"] = "refuse"


def _default_protected() -> list[ProtectedAlias]:
    return [ProtectedAlias(alias="champion"), ProtectedAlias(alias="production")]


class Policy(_Strict):
    model: str | None = Field(default=None, min_length=1)
    risk_tier: RiskTier | None = None
    description: str | None = None
    task: Task = Task.CLASSIFICATION
    label: str | None = Field(default=None, description='label column; None = "label" or "target"')
    positive_label: int | str | None = Field(
        default=None, description="binary metrics and fairness: the positive class (default: the larger label)"
    )
    sensitive_features: list[str] = Field(default_factory=list)
    gates: list[Gate] = Field(default_factory=list)
    review: ReviewRequirement = Field(default_factory=ReviewRequirement)
    release: ReleaseRule = Field(default_factory=ReleaseRule)
    protected_aliases: list[ProtectedAlias] = Field(default_factory=_default_protected)
    evaluation_dataset: EvaluationDataset | None = None
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    monitoring: MonitoringPolicy = Field(default_factory=MonitoringPolicy)
    data: DataPolicy = Field(default_factory=DataPolicy)  # the model's use; who sets dataset governance

    @property
    def scope(self) -> Literal["model", "tier", "global"]:
        if self.model is not None:
            return "model"
        return "tier" if self.risk_tier is not None else "global"

    @model_validator(mode="after")
    def _gates_fit_the_task(self) -> Policy:
        allowed = CLASSIFICATION_METRICS if self.task is Task.CLASSIFICATION else REGRESSION_METRICS
        for index, gate in enumerate(self.gates):
            metric = getattr(gate, "metric", None)
            if metric is not None and metric not in allowed:
                raise _GateError(index, "metric", f"metric {metric!r} does not apply to a {self.task.value} task "
                                 f"(use one of {', '.join(allowed)})")
            if isinstance(gate, FairnessGate) and self.task is Task.REGRESSION:
                raise _GateError(index, "fairness", "fairness gates apply to classification tasks only")
        return self


class _GateError(ValueError):
    """A policy-level rule broken by one gate; carries where, so the YAML error names its line."""

    def __init__(self, index: int, key: str, message: str) -> None:
        super().__init__(message)
        self.loc = ("gates", index, key)


# -- YAML with line numbers -------------------------------------------------------------------------


def parse_policy_yaml(text: str) -> Policy:
    """A Policy from YAML text, or InvalidInput listing each problem as ``line N, field: message``."""
    data, lines = _load_with_lines(text)
    if not isinstance(data, dict):
        raise InvalidInput("invalid policy: line 1: a policy must be a YAML mapping of keys (gates, review, ...)")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error, data, lines) for error in exc.errors()]
        raise InvalidInput("invalid policy: " + "; ".join(problems)) from None
    if policy.scope != "global" and "governance_roles" in policy.data.model_fields_set:
        # Datasets belong to no model: who may set their governance is organisation-wide. A rule of
        # the stored document, not of Policy: an effective policy carries the global level's roles.
        line = lines.get(("data", "governance_roles"), 1)
        raise InvalidInput(f"invalid policy: line {line}, data.governance_roles: who may set dataset governance is "
                           "set in the global (or default) policy only, not in a model or tier policy")
    return policy


KeyPath = tuple[str | int, ...]


def _load_with_lines(text: str) -> tuple[Any, dict[KeyPath, int]]:
    import yaml  # here, not at import: only a policy being read needs it

    try:
        loader = yaml.SafeLoader(text)  # refuses control characters at once
    except yaml.YAMLError as exc:
        raise InvalidInput(f"invalid policy: {exc}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[KeyPath, int] = {}
        _record_lines(node, (), lines)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        raise InvalidInput(f"invalid policy: {where}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"invalid policy: {exc}") from None
    finally:
        loader.dispose()


def _record_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    """Line (1-based) of every mapping key and sequence item, by its path from the root."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise InvalidInput(f"invalid policy: line {key_node.start_mark.line + 1}, {_field(path + (key,))}: duplicate key")
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            _record_lines(item, path + (index,), lines)


def _data_path(loc: tuple[Any, ...], data: Any) -> KeyPath:
    """Pydantic's error location reduced to keys that exist in the document (drops union tags),
    keeping the first missing key (a required field or an unknown one) as the last element."""
    path: list[str | int] = []
    node = data
    tag_seen = False
    for part in loc:
        if not tag_seen and _is_gate_tag(path, node, part):
            tag_seen = True  # the discriminated union's tag, not a key of the document (the key that
            continue         # names the gate type may follow it: {fairness: x} -> gates.0.fairness.fairness)
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            path.append(part)
            break
        path.append(part)
    return tuple(path)


def _is_gate_tag(path: list[str | int], node: Any, part: Any) -> bool:
    at_gate = len(path) >= 2 and path[-2] == "gates" and isinstance(path[-1], int)
    return at_gate and isinstance(node, dict) and part == _gate_kind(node)


def _describe(error: Any, data: Any, lines: dict[KeyPath, int]) -> str:
    cause = (error.get("ctx") or {}).get("error")
    loc = cause.loc if isinstance(cause, _GateError) else tuple(error["loc"])
    path = _data_path(loc, data)
    line = next((lines[path[:n]] for n in range(len(path), 0, -1) if path[:n] in lines), 1)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"line {line}, {_field(path) or 'policy'}: {message}"


def _field(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# -- merging ----------------------------------------------------------------------------------------


def merge_policies(
    global_policy: Policy | None = None, tier_policy: Policy | None = None, model_policy: Policy | None = None
) -> Policy:
    """The one policy that applies to a model version, from its global, tier and model policies.

    Rules (each level may be absent):

    * plain settings (task, label, positive_label, release, description, evaluation_dataset,
      evaluation, monitoring): the most specific level that sets them wins — model over tier over global;
    * ``model`` comes from the model policy, ``risk_tier`` from the most specific level that sets it;
    * gates concatenate, global first, identical gates kept once: a model policy adds gates
      and can never remove a global or tier gate;
    * sensitive features: union;
    * review: the strictest — the most approvals, the union of roles and checklist items,
      and each yes/no requirement (four_eyes, risk assessment, business impact) if any level asks;
    * protected aliases: union by alias; for an alias declared twice the most specific level's
      required role wins;
    * monitoring's ``log_protect``: the union over the levels (a column dropped at any level is
      dropped, else hashed), so a model policy with a ``monitoring:`` of its own cannot expose a
      column a global policy protects;
    * data: ``use`` from the most specific level that sets it; ``governance_roles`` (who may set
      dataset governance) only from the global level (or the default policy in the tier's place),
      where validation allows it.
    """
    levels = [p for p in (global_policy, tier_policy, model_policy) if p is not None]
    if not levels:
        return Policy()
    tiers = {p.risk_tier for p in (tier_policy, model_policy) if p is not None and p.risk_tier is not None}
    if len(tiers) > 1:
        raise InvalidInput(f"the tier and model policies name different risk tiers: {sorted(t.value for t in tiers)}")
    merged: dict[str, Any] = {}
    for field in ("risk_tier", "description", "task", "label", "positive_label", "release", "evaluation_dataset",
                  "evaluation", "monitoring"):
        chosen = [p for p in levels if field in p.model_fields_set]
        if chosen:
            merged[field] = getattr(chosen[-1], field)
    merged["model"] = model_policy.model if model_policy is not None else None
    merged["gates"] = _unique([g for p in levels for g in p.gates])
    merged["sensitive_features"] = _unique([f for p in levels for f in p.sensitive_features])
    merged["review"] = _strictest_review([p.review for p in levels])
    merged["data"] = _data_section([p.data for p in levels])
    protected = _strictest_protection([p.monitoring.log_protect for p in levels])
    if protected:
        merged["monitoring"] = merged.get("monitoring", MonitoringPolicy()).model_copy(update={"log_protect": protected})
    aliases: dict[str, ProtectedAlias] = {}
    for policy in levels:
        aliases.update({a.alias: a for a in policy.protected_aliases})
    merged["protected_aliases"] = list(aliases.values())
    return Policy.model_validate(merged)


def _data_section(sections: list[DataPolicy]) -> DataPolicy:
    use = next((s.use for s in reversed(sections) if "use" in s.model_fields_set), None)
    roles = next((s.governance_roles for s in sections if "governance_roles" in s.model_fields_set), None)
    chosen: dict[str, Any] = {"use": use} if use is not None else {}
    return DataPolicy(**chosen, **({"governance_roles": roles} if roles is not None else {}))


def _strictest_protection(levels: list[dict[str, str]]) -> dict[str, str]:
    """Every level's protected log columns: a column dropped anywhere is dropped, else hashed."""
    merged: dict[str, str] = {}
    for rules in levels:
        for column, action in rules.items():
            merged[column] = "drop" if "drop" in (action, merged.get(column)) else action
    return merged


def _unique(items: list[Any]) -> list[Any]:
    kept: list[Any] = []
    for item in items:
        if item not in kept:
            kept.append(item)
    return kept


def _strictest_review(reviews: list[ReviewRequirement]) -> ReviewRequirement:
    return ReviewRequirement(
        approvals=max(r.approvals for r in reviews),
        roles=_unique([role for r in reviews for role in r.roles]),
        four_eyes=any(r.four_eyes for r in reviews),
        risk_assessment_required=any(r.risk_assessment_required for r in reviews),
        compliance_checklist=_unique([item for r in reviews for item in r.compliance_checklist]),
        business_impact_required=any(r.business_impact_required for r in reviews),
    )


__all__ = [
    "BOOLEAN_TECHNICAL",
    "CLASSIFICATION_METRICS",
    "LOWER_IS_BETTER",
    "METRIC_RANGES",
    "NUMERIC_TECHNICAL",
    "REGRESSION_METRICS",
    "ChampionGate",
    "EvaluationDataset",
    "EvaluationSettings",
    "FairnessGate",
    "Gate",
    "KpiGate",
    "MetricGate",
    "Policy",
    "ProtectedAlias",
    "EnvironmentRule",
    "Guardrails",
    "ReleaseRule",
    "ReviewRequirement",
    "RiskTier",
    "Task",
    "TechnicalGate",
    "merge_policies",
    "parse_policy_yaml",
]
