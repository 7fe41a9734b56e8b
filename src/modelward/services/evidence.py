"""The evidence of an answer, in one call: the request as logged, the endpoint's state then and
why that version answered, the version with its digest verified now, who trained it on what
data, its governance, the alerts firing then, and the audit events in between with the chain
verified over exactly the span they cite.

Every lookup goes by an index (request id, endpoint, model name, seq range); the audit chain is
recomputed from the first cited event to the signed checkpoint that covers the last one, never
from seq 1. A part that does not apply (no feedback yet, no run, no checkpoint) is left empty
with a note, never an error; only an unknown request, endpoint or version is NotFound.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from modelward.domain.audit import (
    REGISTERED_ACTION,
    REGISTERED_STATUS,
    STATUS_ACTIONS,
    AuditEvent,
    Checkpoint,
    event_hash,
)
from modelward.domain.deployments import BUCKETS, Deployment, DeploymentState, RouteMode, bucket_of
from modelward.domain.evidence import (
    AlertAtMoment,
    AlertsSection,
    Answered,
    AuditSection,
    BucketRange,
    CardSummary,
    CheckpointRef,
    CitedEvent,
    CodeVersion,
    DatasetView,
    DeploymentSection,
    DigestCheck,
    EvaluationView,
    Evidence,
    FeedbackView,
    FileCheck,
    GateView,
    GovernanceSection,
    ModelEvidence,
    PolicyInForce,
    RequestSection,
    RouteView,
    Routing,
    RunView,
    ShadowAnswer,
    SpanSegment,
    SpanStatus,
    SpanVerification,
    TrainingSection,
    VersionSection,
)
from modelward.domain.lineage import ArtifactKind, LineageGraph
from modelward.domain.registry import ModelVersion, VersionFile, manifest_digest
from modelward.errors import InvalidInput, ModelwardError, NotFound
from modelward.services import (
    alerts,
    audit,
    checkpoints,
    deployments,
    evaluations,
    governance,
    lineage,
    model_cards,
    policies,
    predictions,
    registry,
    runs,
)
from modelward.services.backend import Backend
from modelward.store import audit as audit_store
from modelward.store import lineage as lineage_store

MAX_CITED_EVENTS = audit.MAX_LIST_LIMIT
ENVIRONMENT_KEYS = ("python", "implementation", "platform", "host", "user", "executable", "packages")
_JUST_AFTER = timedelta(microseconds=1)  # the stores' ``until`` is exclusive; the moment itself counts


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- the three entry points ------------------------------------------------------------------------


def for_request(backend: Backend, request_id: str, *, mode: str = "live", explain: bool = False) -> Evidence:
    """The evidence of the answer logged for ``request_id`` (its live answer, or with
    ``mode='shadow'`` the shadow copy). ``explain``: with the answer's local explanation too
    (it loads the model and scores it on a background sample: seconds, not milliseconds)."""
    if mode not in ("live", "shadow"):
        raise InvalidInput(f"mode must be 'live' or 'shadow', got {mode!r}")
    logged = predictions.get(backend, request_id)
    records = logged["records"]
    record = next((r for r in records if r["mode"] == mode), None)
    if record is None:
        raise NotFound(f"request {request_id!r} has no {mode} answer in the log "
                       f"(it has: {', '.join(sorted({r['mode'] for r in records}))})")
    at, endpoint, model_name = _utc(record["at"]), record["endpoint"], record["model_name"]
    notes: dict[str, str] = {}
    request = _request_section(record, records, logged["feedback"])
    if request.feedback is None:
        notes["request.feedback"] = request.feedback_note or "no feedback"
    deployment, state = _deployment_at(backend, endpoint, at, notes)
    section = None
    if deployment is not None and state is not None:
        section = _deployment_section(deployment, state, answered=[_why_answered(state, record)],
                                      routing=_routing(deployment, state, record))
    version = int(record["version"])
    models = [_model_evidence(backend, model_name, version, endpoint=endpoint, notes=notes)]
    cited = _audit(backend, model_name, _first_created(models), at)
    return Evidence(
        kind="request", generated_at=datetime.now(UTC), at=at, request_id=request_id, endpoint=endpoint,
        model_name=model_name, versions=[version], request=request, deployment=section,
        models=_with_states_then(models, cited), alerts=_alerts_at(backend, endpoint, at),
        explanation=_explanation(backend, model_name, version, record, notes) if explain else None,
        audit=cited, notes=notes if explain else {**notes, "explanation": EXPLAIN_HINT},
    )


EXPLAIN_HINT = "not computed: ask for it (explain=True; REST ?explain=true; CLI --explain)"


def _explanation(backend: Backend, model_name: str, version: int, record: dict[str, Any],
                 notes: dict[str, str]) -> dict[str, Any] | None:
    """The local explanation of the logged inputs by the version that answered; a note instead
    when it cannot be given (inputs not logged as data, no evaluation data, a refused model)."""
    from modelward.services import explanations

    try:
        return explanations.local(backend, model_name, version, record.get("inputs"))  # type: ignore[no-any-return]
    except ModelwardError as exc:
        notes["explanation"] = f"not available: {exc}"
        return None


def for_moment(backend: Backend, endpoint: str, at: datetime) -> Evidence:
    """The answer ``endpoint`` would have given at ``at``: its state then and the live version(s)."""
    moment = _utc(at)
    deployment = deployments.get(backend, endpoint)
    state = deployments.state_at(backend, endpoint, moment)
    live = sorted(r.version for r in state.live()) if state.status.value == "active" else []
    notes = {"request": "evidence for a moment: no request record"}
    if not live:
        notes["models"] = f"deployment '{endpoint}' served no live version at {moment.isoformat()} ({state.status.value})"
    answered = [_route_answer(state, v) for v in live]
    section = _deployment_section(deployment, state, answered=answered, routing=_routing(deployment, state, None))
    models = [_model_evidence(backend, deployment.model_name, v, endpoint=endpoint, notes=notes) for v in live]
    cited = _audit(backend, deployment.model_name, _first_created(models) if models else state.at, moment)
    return Evidence(
        kind="moment", generated_at=datetime.now(UTC), at=moment, endpoint=endpoint,
        model_name=deployment.model_name, versions=live, deployment=section, models=_with_states_then(models, cited),
        alerts=_alerts_at(backend, endpoint, moment), audit=cited, notes=notes,
    )


def for_version(backend: Backend, model: str, version: int, at: datetime | None = None) -> Evidence:
    """A version's evidence (artifact, training, governance, audit) up to ``at`` (default now)."""
    moment = _utc(at) if at is not None else datetime.now(UTC)
    notes = {"request": "evidence for a model version: no request record",
             "deployment": "evidence for a model version: no endpoint named",
             "alerts": "evidence for a model version: alerts belong to an endpoint"}
    models = [_model_evidence(backend, model, version, endpoint=None, notes=notes)]
    cited = _audit(backend, model, _first_created(models), moment)
    return Evidence(
        kind="version", generated_at=datetime.now(UTC), at=moment, model_name=model, versions=[version],
        models=_with_states_then(models, cited), audit=cited, notes=notes,
    )


def _with_states_then(models: list[ModelEvidence], cited: AuditSection) -> list[ModelEvidence]:
    """Each version's governance state at the moment, as the cited status events tell it."""
    for model in models:
        subject = f"{model.version.model_name}/{model.version.version}"
        state = None
        for event in cited.events:
            if event.subject_id == subject and event.action in STATUS_ACTIONS:
                state = REGISTERED_STATUS if event.action == REGISTERED_ACTION else event.details.get("to", state)
        if model.governance is not None:
            model.governance.state_then = state
    return models


def _first_created(models: list[ModelEvidence]) -> datetime:
    return min(_utc(m.version.created_at) for m in models)


# -- 1. the request -----------------------------------------------------------------------------------


def _request_section(record: dict[str, Any], records: list[dict[str, Any]],
                     feedback: dict[str, Any] | None) -> RequestSection:
    shadows = [ShadowAnswer(version=r["version"], outputs=r.get("outputs"), latency_ms=r["latency_ms"],
                            status=r["status"], error=r.get("error"))
               for r in records if r["mode"] == "shadow" and r is not record]
    return RequestSection(
        request_id=record["request_id"], endpoint=record["endpoint"], model_name=record["model_name"],
        version=record["version"], mode=record["mode"], at=_utc(record["at"]), latency_ms=record["latency_ms"],
        status=record["status"], error=record.get("error"), rows=record.get("rows") or 0,
        inputs=record.get("inputs"), outputs=record.get("outputs"), shadows=shadows,
        feedback=None if feedback is None else FeedbackView(
            ground_truth=feedback.get("ground_truth"), values=feedback.get("values"), actor=feedback.get("actor"),
            at=feedback["at"]),
        feedback_note="no feedback (ground truth) was received for this request" if feedback is None else None,
    )


# -- 2. the deployment state ----------------------------------------------------------------------------


def _deployment_at(backend: Backend, endpoint: str, at: datetime,
                   notes: dict[str, str]) -> tuple[Deployment | None, DeploymentState | None]:
    try:
        return deployments.get(backend, endpoint), deployments.state_at(backend, endpoint, at)
    except NotFound as exc:
        notes["deployment"] = f"no deployment state to show: {exc}"
        return None, None


def _deployment_section(deployment: Deployment, state: DeploymentState, *, answered: list[Answered],
                        routing: Routing | None) -> DeploymentSection:
    rollout = state.rollout
    return DeploymentSection(
        endpoint=deployment.name, environment=deployment.environment, model_name=deployment.model_name,
        sticky_key=deployment.sticky_key, revision=state.revision, changed_at=state.at, changed_by=state.actor,
        action=state.action, reason=state.reason, status=state.status.value,
        strategy=rollout.strategy.value if rollout is not None else "settled",
        rollout=None if rollout is None else {
            "strategy": rollout.strategy.value, "version": rollout.version, "previous": rollout.previous,
            "steps": rollout.steps, "step": rollout.step, "weight": rollout.weight, "paused": rollout.paused,
            "step_started_at": rollout.step_started_at.isoformat()},
        routes=[RouteView(version=r.version, weight=r.weight, mode=r.mode.value, label=r.label) for r in state.routes],
        answered=answered, routing=routing,
    )


def _route_answer(state: DeploymentState, version: int) -> Answered:
    route = next((r for r in state.routes if r.version == version), None)
    if route is None:
        return Answered(version=version, mode="live", why=f"version {version} has no route in revision "
                        f"{state.revision}: the state changed between routing and logging")
    share = f"{route.weight}% of live traffic" if route.mode is RouteMode.LIVE else "a copy of each request"
    return Answered(version=version, mode=route.mode.value, label=route.label, weight=route.weight,
                    why=f"its {route.label} route took {share} in revision {state.revision} ({state.action})")


def _why_answered(state: DeploymentState, record: dict[str, Any]) -> Answered:
    answer = _route_answer(state, int(record["version"]))
    if record["mode"] == "shadow":
        why = (f"a shadow copy: version {answer.version} scored the request off the path; its answer was "
               "logged and never returned to the caller")
        return answer.model_copy(update={"mode": "shadow", "why": why})
    return answer


def _ranges(state: DeploymentState) -> list[BucketRange]:
    """The live routes' bucket ranges, as ``Router`` lays them out: newest version first."""
    live = sorted(state.live(), key=lambda r: -r.version)
    ranges, start = [], 0
    for index, route in enumerate(live):
        end = BUCKETS if index == len(live) - 1 else start + route.weight * BUCKETS // 100
        ranges.append(BucketRange(version=route.version, start=start, end=end))
        start = end
    return ranges


def _routing(deployment: Deployment, state: DeploymentState, record: dict[str, Any] | None) -> Routing:
    ranges = _ranges(state)
    kind, _, name = deployment.sticky_key.partition(":")
    base = {"sticky_key": deployment.sticky_key, "ranges": ranges}
    if len(ranges) == 1:
        return Routing(**base, key_logged=False, recomputed_version=ranges[0].version,
                       explanation=f"one live route: every request went to version {ranges[0].version}")
    if record is None:
        return Routing(**base, key_logged=False, explanation=(
            f"a request's {kind} '{name}' picks a bucket of 0..{BUCKETS - 1} (blake2b of the key); a request "
            "without the key goes to a uniformly random bucket"))
    if kind == "header":
        return Routing(**base, key_logged=False, explanation=(
            f"the sticky key is the request header '{name}', which the prediction log does not keep: the bucket "
            "cannot be recomputed (without that header the bucket was random)"))
    key = _field_of(record.get("inputs"), name)
    if key is None:
        return Routing(**base, key_logged=False, explanation=(
            f"the logged inputs hold no field '{name}' (the request had none, and its bucket was random, or the "
            "field is not one of the logged input columns): the bucket cannot be recomputed"))
    bucket = bucket_of(key)
    version = next(r.version for r in ranges if r.start <= bucket < r.end)
    agrees = "as logged" if version == record["version"] else \
        f"but version {record['version']} is logged (the split changed between routing and this revision)"
    return Routing(**base, key_logged=True, key=key, bucket=bucket, recomputed_version=version,
                   explanation=f"field '{name}' = {key!r} falls in bucket {bucket}, routed to version {version}, {agrees}")


def _field_of(inputs: Any, field: str) -> str | None:
    """The sticky field's value in the first logged row, read as the gateway reads a body."""
    first: Any = None
    if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
        first = inputs[0]
    elif isinstance(inputs, dict) and isinstance(inputs.get("columns"), list) and inputs.get("data"):
        columns, rows = inputs["columns"], inputs["data"]
        if field in columns and isinstance(rows[0], list):
            return str(rows[0][columns.index(field)])
    elif isinstance(inputs, dict):
        first = inputs
    if isinstance(first, dict) and field in first:
        value = first[field]
        return str(value[0] if isinstance(value, list) and value else value)
    return None


# -- 3-5. one model version ----------------------------------------------------------------------------


def _model_evidence(backend: Backend, model: str, version: int, *, endpoint: str | None,
                    notes: dict[str, str]) -> ModelEvidence:
    found = registry.get_version(backend, model, version)
    return ModelEvidence(
        version=_version_section(backend, found),
        training=_training(backend, found, endpoint),
        governance=_governance(backend, found, notes),
    )


def _version_section(backend: Backend, version: ModelVersion) -> VersionSection:
    card, card_note = _card(backend, version)
    return VersionSection(
        model_name=version.model_name, version=version.version, uri=version.uri, status=version.status,
        source=version.source, source_run_id=version.source_run_id, flavor=version.flavor,
        created_by=version.created_by, created_at=version.created_at, aliases=version.aliases, tags=version.tags,
        signature=version.signature, requirements=version.requirements, metrics=version.metrics,
        digest=verify_digest(backend, version), card=card, card_note=card_note,
    )


def verify_digest(backend: Backend, version: ModelVersion) -> DigestCheck:
    """Hash every file of ``version`` from the stored bytes now; compare each with its recorded
    digest and the manifest with the version's artifact digest."""
    now = datetime.now(UTC)
    if not version.files:
        return DigestCheck(expected=version.artifact_digest, ok=False, checked_at=now,
                           problem=registry.no_files_reason(version))
    checks = [_file_check(backend, item) for item in version.files]
    found = [VersionFile(path=c.path, digest=c.actual or "", size=0) for c in checks]
    actual = manifest_digest(found) if all(c.actual for c in checks) else None
    bad = [c.path for c in checks if not c.ok]
    problem = None
    if bad:
        problem = f"{len(bad)} of {len(checks)} files differ from what was registered: {', '.join(bad)}"
    elif actual != version.artifact_digest:
        problem = "the registered file list does not hash to the version's artifact digest"
    return DigestCheck(expected=version.artifact_digest, actual=actual, ok=problem is None, checked_at=now,
                       files=checks, problem=problem)


def _file_check(backend: Backend, item: VersionFile) -> FileCheck:
    try:
        data = backend.artifacts.read_bytes(item.digest)
    except NotFound as exc:
        return FileCheck(path=item.path, expected=item.digest, ok=False, problem=str(exc))
    except ModelwardError as exc:  # IntegrityError: the bytes no longer hash to their name
        actual = _actual_from(str(exc))
        return FileCheck(path=item.path, expected=item.digest, actual=actual, ok=False, problem=str(exc))
    actual = hashlib.sha256(data).hexdigest()
    return FileCheck(path=item.path, expected=item.digest, actual=actual, ok=actual == item.digest)


def _actual_from(message: str) -> str | None:
    """The hash an IntegrityError of the artifact store names ('... hashes to <hex>.')."""
    marker = "hashes to "
    if marker not in message:
        return None
    return message.split(marker, 1)[1][:64]


def _card(backend: Backend, version: ModelVersion) -> tuple[CardSummary | None, str | None]:
    try:
        card = model_cards.get(backend, version.model_name, version.version)
    except NotFound as exc:
        return None, f"no model card: {exc}"
    return CardSummary(
        title=model_cards.card_title(card), stored=version.card is not None, description=card.model_details.description,
        primary_uses=card.intended_use.primary_uses, out_of_scope_uses=card.intended_use.out_of_scope_uses,
        ethical_considerations=card.ethical_considerations,
        caveats_and_recommendations=card.caveats_and_recommendations,
        performance_measures=card.metrics.performance_measures,
        training_data=[d.name for d in card.training_data.datasets],
        evaluation_data=[d.name for d in card.evaluation_data.datasets],
    ), None


def _training(backend: Backend, version: ModelVersion, endpoint: str | None) -> TrainingSection:
    ref = lineage.version_uri(version.model_name, version.version)
    run, run_note = _run(backend, version.source_run_id)
    section = TrainingSection(run=run, run_note=run_note)
    try:
        origin = lineage.origin(backend, ref)
        upstream = lineage.upstream(backend, ref)
    except NotFound as exc:
        return section.model_copy(update={"lineage_note": f"no lineage recorded: {exc}"})
    nodes = {node.key: node for node in upstream.nodes}
    datasets = [DatasetView(
        key=d.key, name=d.name, kind=d.kind, role=d.role, digest=d.digest, uri=d.uri, rows=d.rows,
        snapshot=d.snapshot, data_schema=_property(nodes.get(d.key), "schema"),
        statistics=_property(nodes.get(d.key), "statistics"), used_by=d.used_by) for d in origin.datasets]
    datasets += _evaluation_datasets(backend, version, known={d.digest for d in datasets if d.digest})
    to_endpoint, note = None, None
    if endpoint is not None:
        try:
            to_endpoint = _to_endpoint(backend, ref, endpoint)
        except NotFound as exc:
            note = f"no lineage edge from the version to endpoint '{endpoint}': {exc}"
        if to_endpoint is None and note is None:
            note = f"no lineage edge from the version to endpoint '{endpoint}' was recorded"
    return section.model_copy(update={"producing_runs": origin.runs, "datasets": datasets, "upstream": upstream,
                                      "to_endpoint": to_endpoint, "lineage_note": note})


def _to_endpoint(backend: Backend, ref: str, endpoint: str) -> LineageGraph | None:
    """The path version -> deployment execution -> ENDPOINT artifact (by the endpoint's URI)."""
    with backend.read() as session:
        found = lineage_store.find_artifact(session, ArtifactKind.ENDPOINT, digest=None,
                                            uri=deployments.endpoint_uri(endpoint))
    if found is None:
        return None
    graph = lineage.path(backend, ref, f"artifact:{found.id}")
    return graph if graph.nodes else None


def _property(node: Any, name: str) -> Any:
    return None if node is None else (node.properties or {}).get(name)


def _evaluation_datasets(backend: Backend, version: ModelVersion, *, known: set[str]) -> list[DatasetView]:
    """The datasets the version's evaluations read (lineage's summary names them 'evaluation')."""
    summary = lineage.summary_for_version(backend, version.model_name, version.version)
    return [DatasetView(
        key=f"artifact:{item['id']}", name=str(item.get("name") or ""), kind=str(item.get("kind") or "dataset"),
        role="evaluation", digest=item.get("digest"), uri=item.get("uri"), rows=item.get("rows"),
        snapshot=item.get("snapshot"), used_by=list(item.get("used_by") or []))
        for item in summary.get("datasets") or []
        if item.get("role") == "evaluation" and not (item.get("digest") and item["digest"] in known)]


def _run(backend: Backend, run_id: str | None) -> tuple[RunView | None, str | None]:
    if run_id is None:
        return None, "the version was registered from outside a run: no run to show"
    try:
        run = runs.get(backend, run_id)
    except NotFound:
        return None, f"the source run {run_id} no longer exists"
    env = run.environment or {}
    git = env.get("git") or {}
    code = CodeVersion(
        commit=git.get("commit") or run.tags.get("mlflow.source.git.commit"), branch=git.get("branch")
        or run.tags.get("mlflow.source.git.branch"), remote=git.get("remote")
        or run.tags.get("mlflow.source.git.repoURL"), dirty=git.get("dirty"), command=env.get("command"),
        cwd=env.get("cwd"),
        source_tags={k: v for k, v in run.tags.items() if k.startswith(("mlflow.source.", "mlflow.git"))},
    )
    return RunView(
        run_id=run.id, name=run.name, experiment_id=run.experiment_id, user=run.user, status=str(run.status.value),
        start_time=run.start_time, end_time=run.end_time, params=run.params, metrics=run.metrics, tags=run.tags,
        code=code, environment={k: env[k] for k in ENVIRONMENT_KEYS if k in env},
    ), None if env else "the run recorded no environment (logged without the modelward SDK)"


def _governance(backend: Backend, version: ModelVersion, notes: dict[str, str]) -> GovernanceSection:
    name, number = version.model_name, version.version
    status = governance.status(backend, name, number)
    reviews = sorted(governance.reviews(backend, name, number), key=lambda r: r.at)
    in_force, policy_note = _policies_at_approval(backend, [r for r in reviews if r.decision == "approve"])
    if policy_note:
        notes[f"models[{name}/{number}].governance.policies_at_approval"] = policy_note
    return GovernanceSection(
        state=status.state,
        evaluations=[_evaluation(e) for e in sorted(evaluations.list_(backend, name, number),
                                                    key=lambda e: e.created_at)],
        latest_evaluation_id=status.latest_evaluation.id if status.latest_evaluation else None,
        risk=status.risk, checklist=status.checklist, impact=status.impact, reviews=reviews,
        approvals=status.approvals, policies_at_approval=in_force, policy_note=policy_note,
    )


def _evaluation(evaluation: Any) -> EvaluationView:
    result = evaluation.result if isinstance(evaluation.result, dict) else {}
    return EvaluationView(
        id=evaluation.id, passed=evaluation.passed, advisory=evaluation.advisory, created_by=evaluation.created_by,
        created_at=evaluation.created_at,
        dataset=evaluation.dataset.model_dump(mode="json") if evaluation.dataset else None,
        policy_versions=evaluation.policy_versions, metrics=result.get("metrics") or {},
        gates=[GateView.model_validate(g) for g in result.get("gates") or [] if isinstance(g, dict)],
        fairness=result.get("fairness") or {}, failures=evaluation.failures,
    )


def _policies_at_approval(backend: Backend, approvals: list[Any]) -> tuple[list[PolicyInForce], str | None]:
    """The policy versions the approvals were given under, as each approval's evidence records them
    (every approval given, also one a later policy change voided)."""
    fingerprints = {a.evidence.get("policy") for a in approvals if a.evidence.get("policy")}
    if not approvals:
        return [], "the version was never approved"
    if not fingerprints or fingerprints == {"none"}:
        return [], "no policy was in force when it was approved"
    used: dict[str, int] = {}
    for fingerprint in sorted(f for f in fingerprints if f != "none"):
        for part in fingerprint.split(","):
            scope, _, number = part.rpartition("@")
            if scope and number.isdigit():
                used[scope] = max(used.get(scope, 0), int(number))
    found = []
    for scope, number in sorted(used.items()):
        try:
            stored = policies.get(backend, scope, version=number)
        except NotFound:
            found.append(PolicyInForce(scope=scope, version=number))
            continue
        found.append(PolicyInForce(scope=scope, version=number, created_by=stored.created_by,
                                   created_at=stored.created_at, active_now=stored.active))
    return found, None


# -- 6. alerts ------------------------------------------------------------------------------------------


def _alerts_at(backend: Backend, endpoint: str, at: datetime) -> AlertsSection:
    """Each rule's state at ``at``: the last move of each rule up to then (history is newest first)."""
    latest: dict[str, Any] = {}
    for event in alerts.history(backend, endpoint=endpoint, until=at + _JUST_AFTER):
        latest.setdefault(event.rule, event)
    states = [AlertAtMoment(
        rule=e.rule, state=e.to_state.value, since=e.at, metric=e.metric, value=e.value, threshold=e.threshold,
        comparison=e.comparison, version=e.version, severity=e.severity, event_id=e.id)
        for e in sorted(latest.values(), key=lambda e: e.rule)]
    return AlertsSection(endpoint=endpoint, at=at, firing=[s for s in states if s.state == "firing"],
                         others=[s for s in states if s.state != "firing"])


# -- 7. audit -------------------------------------------------------------------------------------------


def _audit(backend: Backend, model: str, since: datetime, until: datetime) -> AuditSection:
    events = audit.list_(backend, model=model, since=since, until=until + _JUST_AFTER, limit=MAX_CITED_EVENTS,
                         newest_first=False)
    cited = [CitedEvent(seq=e.seq, at=e.at, actor=e.actor, action=e.action, subject_type=e.subject_type,
                        subject_id=e.subject_id, reason=e.reason, details=e.details, prev_hash=e.prev_hash,
                        hash=e.hash)
             for e in events]
    return AuditSection(since=since, until=until, events=cited, truncated=len(events) == MAX_CITED_EVENTS,
                        verification=verify_span(backend, events))


def verify_span(backend: Backend, cited: list[AuditEvent]) -> SpanVerification:
    """Verify the cited events without re-hashing the chain from seq 1.

    From each cited event (trusting only its prev_hash) the chain is re-hashed to the first
    signed checkpoint at or after it, whose signature and hash are then checked: a matching
    signed hash certifies every event before it on that walk. Cited events close together
    share one walk; an uncited event between two walks is not read. A cited event newer than
    every checkpoint is verified to the head and reported as not yet anchored."""
    if not cited:
        return SpanVerification(status="empty", ok=True, note="no audit events in the span: nothing to verify")
    signed = _checkpoint_seqs(backend)
    prev_hash = {e.seq: e.prev_hash for e in cited}
    key = checkpoints.load_key(backend.audit_signing_key, create=False) if backend.audit_signing_key else None
    done: list[SpanSegment] = []
    with backend.read() as session:
        for start, end in _segments(sorted(prev_hash), signed):
            walk = _walk(audit_store.iter_range(session, start, end), start, prev_hash[start])
            checkpoint = _checkpoint_at(backend, end) if end is not None else None
            ref = _checkpoint_ref(key, checkpoint, walk.last_hash if walk.last_seq == end else None)
            done.append(SpanSegment(from_seq=start, to_seq=walk.last_seq if end is None else end,
                                    checked=walk.checked, checkpoint=ref))
            problem = walk.problem or _checkpoint_problem(end, checkpoint, ref)
            if problem is not None:
                return _result(done, "broken", bad_seq=walk.bad_seq or end, problem=problem)
    if done[-1].checkpoint is None:
        return _result(done, "not_yet_anchored", note=(
            f"no signed checkpoint covers seq {done[-1].from_seq} yet: verified to the head (seq {done[-1].to_seq}); "
            "those events are chained but not yet signed over"))
    return _result(done, "ok")


MERGE_GAP = 100  # re-hashing this many events costs about as much as reading one more checkpoint


def _segments(cited: list[int], signed: list[int]) -> list[tuple[int, int | None]]:
    """(first seq, checkpoint seq or None for the head) of each walk, cited seqs ascending."""
    segments: list[tuple[int, int | None]] = []
    for seq in cited:
        if segments and (segments[-1][1] is None or seq <= segments[-1][1]):
            continue  # already on the walk before
        index = bisect_left(signed, seq)
        end = signed[index] if index < len(signed) else None
        if segments and seq - (segments[-1][1] or seq) <= MERGE_GAP:
            segments[-1] = (segments[-1][0], end)
        else:
            segments.append((seq, end))
    return segments


def _result(done: list[SpanSegment], status: SpanStatus, *, bad_seq: int | None = None, problem: str | None = None,
            note: str | None = None) -> SpanVerification:
    return SpanVerification(
        status=status, ok=status != "broken", from_seq=done[0].from_seq, to_seq=done[-1].to_seq,
        checked=sum(s.checked for s in done), first_bad_seq=bad_seq, problem=problem,
        checkpoint=done[-1].checkpoint, segments=done, note=note)


@dataclass
class _Walk:
    checked: int = 0
    bad_seq: int | None = None
    problem: str | None = None
    last_seq: int = 0
    last_hash: str | None = None


def _walk(events: Iterator[AuditEvent], first: int, prev_hash: str) -> _Walk:
    """Each event's seq, link and recomputed hash, in order; stops at the first that fails."""
    walk = _Walk(last_seq=first - 1)
    expected_prev = prev_hash
    for event in events:
        expected_seq = walk.last_seq + 1
        if event.seq != expected_seq:
            walk.bad_seq, walk.problem = expected_seq, f"seq {expected_seq} is missing (rows deleted)"
        elif event.prev_hash != expected_prev:
            walk.bad_seq, walk.problem = event.seq, ("prev_hash does not match the previous event's hash "
                                                     "(rows deleted, inserted or reordered)")
        elif _recomputed(event) != event.hash:
            walk.bad_seq, walk.problem = event.seq, "hash does not match the event's content (row edited)"
        if walk.problem is not None:
            return walk
        walk.checked, walk.last_seq, walk.last_hash = walk.checked + 1, event.seq, event.hash
        expected_prev = event.hash
    if walk.checked == 0:
        walk.bad_seq, walk.problem = first, f"the event at seq {first} is missing (rows deleted)"
    return walk


def _recomputed(event: AuditEvent) -> str:
    """``domain.audit.hash_of`` without a model_dump per event (the walk's inner loop)."""
    return event_hash(seq=event.seq, at=event.at, actor=event.actor, action=event.action,
                      subject_type=event.subject_type, subject_id=event.subject_id, model_name=event.model_name,
                      reason=event.reason, details=event.details, prev_hash=event.prev_hash)


def _checkpoint_seqs(backend: Backend) -> list[int]:
    return checkpoints.object_seqs(backend.artifacts) if backend.audit_signing_key is not None else []


def _checkpoint_at(backend: Backend, seq: int) -> Checkpoint | None:
    try:
        return checkpoints.parse(backend.artifacts.get_record(checkpoints.object_name(seq)))
    except (NotFound, InvalidInput):
        return None


def _checkpoint_problem(seq: int | None, checkpoint: Checkpoint | None, ref: CheckpointRef | None) -> str | None:
    if seq is None:
        return None
    if checkpoint is None or ref is None:
        return f"the checkpoint object of seq {seq} is unreadable or not a checkpoint (replaced outside modelward?)"
    if not ref.signature_ok:
        return (f"checkpoint {checkpoint.number} (seq {seq}) has an invalid signature or is signed by another key: "
                "it was altered or forged")
    if not ref.hash_ok:
        return (f"the event at seq {seq} does not carry the hash checkpoint {checkpoint.number} signed: the table was "
                "rewritten since")
    return None


def _checkpoint_ref(key: Any, checkpoint: Checkpoint | None, hash_there: str | None) -> CheckpointRef | None:
    if checkpoint is None:
        return None
    signed = key is not None and checkpoint.key_id == key.key_id and \
        key.verifies(checkpoint.signature, checkpoint.signed_bytes())
    return CheckpointRef(number=checkpoint.number, seq=checkpoint.seq, hash=checkpoint.hash, at=checkpoint.at,
                         key_id=checkpoint.key_id, signature_ok=signed, hash_ok=hash_there == checkpoint.hash)


__all__ = ["for_moment", "for_request", "for_version", "verify_digest", "verify_span"]
