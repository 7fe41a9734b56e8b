"""The evidence document of one answer: everything that made a prediction, in one place.

``services.evidence`` assembles it for a logged request, for an endpoint at a moment or for a
model version. Each section is a small model; a section that does not apply is None and
``Evidence.notes`` says why (keyed by the section's field name). It dumps to plain JSON
(``model_dump(mode="json")``) for the interfaces built on it. No I/O here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelward.domain.governance import BusinessImpact, ComplianceChecklist, Review, RiskAssessment
from modelward.domain.lineage import LineageGraph, TrainingRun


class _Section(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")


# -- 1. the request -----------------------------------------------------------------------------


class FeedbackView(_Section):
    ground_truth: Any = None
    values: dict[str, float] | None = Field(default=None, description="business values of the outcome")
    actor: str | None = None
    at: datetime


class ShadowAnswer(_Section):
    """A copy of the request scored by another version; its answer was logged, never returned."""

    version: int
    outputs: Any = None
    latency_ms: float
    status: int
    error: str | None = None


class RequestSection(_Section):
    request_id: str
    endpoint: str
    model_name: str
    version: int
    mode: str = Field(description="'live': the answer the client got")
    at: datetime
    latency_ms: float
    status: int
    error: str | None = None
    rows: int
    inputs: Any = None
    outputs: Any = None
    shadows: list[ShadowAnswer] = Field(default_factory=list)
    feedback: FeedbackView | None = None
    feedback_note: str | None = Field(default=None, description="why there is no feedback")


# -- 2. the deployment state and why this version answered ----------------------------------------


class RouteView(_Section):
    version: int
    weight: int
    mode: str
    label: str


class BucketRange(_Section):
    version: int
    start: int = Field(description="first bucket (of 0..9999) routed to the version")
    end: int = Field(description="one past its last bucket")


class Routing(_Section):
    """How the router picked among the live routes, as far as the log lets us say."""

    sticky_key: str
    key_logged: bool = Field(description="whether the key can be read from what was logged")
    key: str | None = None
    bucket: int | None = None
    ranges: list[BucketRange] = Field(default_factory=list)
    recomputed_version: int | None = Field(default=None, description="the version the bucket falls to")
    explanation: str


class Answered(_Section):
    """Which route answered, and why that version."""

    version: int
    mode: str = Field(description="'live' or 'shadow'")
    label: str | None = Field(default=None, description="the route's label: stable, canary, blue, green, split, shadow")
    weight: int | None = None
    why: str


class DeploymentSection(_Section):
    endpoint: str
    environment: str
    model_name: str
    sticky_key: str
    revision: int
    changed_at: datetime
    changed_by: str
    action: str
    reason: str | None = None
    status: str
    strategy: str = Field(description="the rollout under way ('canary', 'blue_green', 'shadow') or 'settled'")
    rollout: dict[str, Any] | None = None
    routes: list[RouteView] = Field(default_factory=list)
    answered: list[Answered] = Field(default_factory=list, description="one per version that answered (or would)")
    routing: Routing | None = None


# -- 3. the model version -------------------------------------------------------------------------


class FileCheck(_Section):
    path: str
    expected: str
    actual: str | None = None
    ok: bool
    problem: str | None = None


class DigestCheck(_Section):
    """The version's files hashed now, from the stored bytes, against what was registered."""

    expected: str = Field(description="the version's artifact digest (manifest of path and file digests)")
    actual: str | None = Field(default=None, description="the manifest digest of the bytes as stored now")
    ok: bool
    checked_at: datetime
    files: list[FileCheck] = Field(default_factory=list)
    problem: str | None = None


class CardSummary(_Section):
    title: str
    stored: bool = Field(description="a card saved by people; False: generated now from what is known")
    description: str = ""
    primary_uses: str = ""
    out_of_scope_uses: str = ""
    ethical_considerations: str = ""
    caveats_and_recommendations: str = ""
    performance_measures: dict[str, float] = Field(default_factory=dict)
    training_data: list[str] = Field(default_factory=list, description="dataset names")
    evaluation_data: list[str] = Field(default_factory=list)


class VersionSection(_Section):
    model_name: str
    version: int
    uri: str
    status: str
    source: str
    source_run_id: str | None = None
    flavor: str | None = None
    created_by: str | None = None
    created_at: datetime
    aliases: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    signature: dict[str, Any] | None = None
    requirements: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    digest: DigestCheck
    card: CardSummary | None = None
    card_note: str | None = None


# -- 4. who trained it ------------------------------------------------------------------------------


class CodeVersion(_Section):
    commit: str | None = None
    branch: str | None = None
    remote: str | None = None
    dirty: bool | None = None
    command: list[str] | str | None = None
    cwd: str | None = None
    source_tags: dict[str, str] = Field(default_factory=dict, description="mlflow.source.* / mlflow.git* tags")


class RunView(_Section):
    run_id: str
    name: str | None = None
    experiment_id: str
    user: str | None = None
    status: str
    start_time: datetime
    end_time: datetime | None = None
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    code: CodeVersion
    environment: dict[str, Any] = Field(default_factory=dict, description="python, platform, host, packages, ...")


class DatasetView(_Section):
    key: str
    name: str
    kind: str
    role: str = Field(description="'training', 'upstream' or 'evaluation'")
    digest: str | None = None
    uri: str | None = None
    rows: int | None = None
    snapshot: dict[str, Any] | None = None
    data_schema: Any = Field(default=None, description="the columns as profiled: {columns: [{name, type}]}")
    statistics: Any = Field(default=None, description="row_count and per-column figures, as profiled")
    used_by: list[str] = Field(default_factory=list)


class TrainingSection(_Section):
    run: RunView | None = None
    run_note: str | None = None
    producing_runs: list[TrainingRun] = Field(default_factory=list, description="every run upstream of the version")
    datasets: list[DatasetView] = Field(default_factory=list)
    upstream: LineageGraph | None = Field(default=None, description="raw data through runs to the version")
    to_endpoint: LineageGraph | None = Field(default=None, description="the version through deployment to the endpoint")
    lineage_note: str | None = None


# -- 5. governance ------------------------------------------------------------------------------------


class GateView(_Section):
    gate: dict[str, Any]
    kind: str
    passed: bool
    skipped: bool = False
    observed: Any = None
    threshold: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)


class EvaluationView(_Section):
    id: str
    passed: bool
    advisory: bool = False
    created_by: str
    created_at: datetime
    dataset: dict[str, Any] | None = None
    policy_versions: dict[str, int] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    gates: list[GateView] = Field(default_factory=list)
    fairness: dict[str, Any] = Field(default_factory=dict, description="per sensitive feature: per group figures")
    failures: list[str] = Field(default_factory=list)


class PolicyInForce(_Section):
    scope: str
    version: int
    created_by: str | None = None
    created_at: datetime | None = None
    active_now: bool | None = None


class GovernanceSection(_Section):
    state: str = Field(description="the version's governance state now")
    state_then: str | None = Field(default=None, description="its state at the evidence's moment, from the audit events")
    evaluations: list[EvaluationView] = Field(default_factory=list, description="oldest first")
    latest_evaluation_id: str | None = None
    risk: RiskAssessment
    checklist: ComplianceChecklist
    impact: BusinessImpact | None = None
    reviews: list[Review] = Field(default_factory=list, description="every review and comment, oldest first")
    approvals: list[Review] = Field(default_factory=list, description="the approvals that count now")
    policies_at_approval: list[PolicyInForce] = Field(default_factory=list)
    policy_note: str | None = None


# -- 6. alerts -----------------------------------------------------------------------------------------


class AlertAtMoment(_Section):
    rule: str
    state: str
    since: datetime
    metric: str
    value: float | None = None
    threshold: float
    comparison: str
    version: int | None = None
    severity: str
    event_id: int


class AlertsSection(_Section):
    endpoint: str
    at: datetime
    firing: list[AlertAtMoment] = Field(default_factory=list)
    others: list[AlertAtMoment] = Field(default_factory=list, description="rules pending, resolved or cleared then")


# -- 7. audit ---------------------------------------------------------------------------------------------


class CitedEvent(_Section):
    seq: int
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    hash: str


class CheckpointRef(_Section):
    number: int
    seq: int
    hash: str
    at: datetime
    key_id: str
    signature_ok: bool
    hash_ok: bool


class SpanSegment(_Section):
    """Events re-hashed in one run, from a cited event to the signed checkpoint after it (or the head)."""

    from_seq: int
    to_seq: int
    checked: int
    checkpoint: CheckpointRef | None = Field(default=None, description="None: past the newest checkpoint")


SpanStatus = Literal["ok", "broken", "not_yet_anchored", "empty"]


class SpanVerification(_Section):
    """The chain recomputed over the cited span only: from each cited event to the first signed
    checkpoint at or after it, whose signature and hash are checked."""

    status: SpanStatus
    ok: bool
    from_seq: int | None = None
    to_seq: int | None = None
    checked: int = Field(default=0, description="events re-hashed")
    first_bad_seq: int | None = None
    problem: str | None = None
    checkpoint: CheckpointRef | None = Field(default=None, description="the checkpoint covering the newest cited event")
    segments: list[SpanSegment] = Field(default_factory=list)
    note: str | None = None


class AuditSection(_Section):
    since: datetime
    until: datetime
    events: list[CitedEvent] = Field(default_factory=list, description="oldest first")
    truncated: bool = False
    verification: SpanVerification


# -- the document ------------------------------------------------------------------------------------------


class ModelEvidence(_Section):
    """Sections 3-5 for one version (a moment served by a canary has two)."""

    version: VersionSection
    training: TrainingSection
    governance: GovernanceSection | None = None


EvidenceKind = Literal["request", "moment", "version"]


class Evidence(_Section):
    kind: EvidenceKind
    generated_at: datetime
    at: datetime = Field(description="the moment the evidence is about")
    request_id: str | None = None
    endpoint: str | None = None
    model_name: str
    versions: list[int]
    request: RequestSection | None = None
    deployment: DeploymentSection | None = None
    models: list[ModelEvidence] = Field(default_factory=list)
    alerts: AlertsSection | None = None
    explanation: dict[str, Any] | None = Field(
        default=None, description="the answer's local explanation (attributions, nearest examples), when asked for")
    audit: AuditSection
    notes: dict[str, str] = Field(default_factory=dict, description="section -> why it is absent or partial")


__all__ = [
    "AlertAtMoment", "AlertsSection", "Answered", "AuditSection", "BucketRange", "CardSummary", "CheckpointRef",
    "CitedEvent", "CodeVersion", "DatasetView", "DeploymentSection", "DigestCheck", "EvaluationView", "Evidence",
    "FeedbackView", "FileCheck", "GateView", "GovernanceSection", "ModelEvidence", "PolicyInForce",
    "RequestSection", "RouteView", "Routing", "RunView", "ShadowAnswer", "SpanSegment", "SpanVerification", "TrainingSection",
    "VersionSection",
]
