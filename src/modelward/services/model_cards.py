"""Model cards of model versions: generate from what is known, edit, keep every revision.

The current card lives in ``model_versions.card``; every save also appends a row to
``model_card_revisions`` (who, when, why), so the history of a card is never lost.
Attachments (usage guidelines, performance reports) are text blobs in the artifact store.

A generated card carries the latest stored global explanation (``explainability``) and the
protected-group analysis of the governing evaluation (else the latest advisory one), with the
gates that judged fairness; both are generated fields, so ``generate`` refreshes them and keeps
what people wrote (``explainability.interpretation``), as ``merge_edits`` does for every field.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.governance import RISK_CATEGORIES, Evaluation, RiskItem, check_evidence_open
from modelward.errors import InvalidInput, NotFound
from modelward.formats.card_evidence import (
    FairnessGateRow,
    ProtectedGroupAnalysis,
    protected_groups_of,
)
from modelward.formats.cards import (
    Attachment,
    CardGovernance,
    CardRevision,
    ChecklistRow,
    GateRow,
    ModelCard,
    ReviewRow,
    RiskRow,
    build_card,
    merge_edits,
    parse_card,
    render_markdown,
    results_view,
    set_field,
)
from modelward.formatting import number
from modelward.services import audit, data_checks, documents, governance, lineage, personal_data, policies
from modelward.services.backend import Backend
from modelward.store import explanations as explanation_store
from modelward.store import governance as governance_store
from modelward.store import model_cards as store
from modelward.store import registry as registry_store
from modelward.store import runs as run_store

ATTACHMENT_KINDS = ("usage_guidelines", "performance_report")
MAX_ATTACHMENT_BYTES = 1 << 20
FORMATS = ("json", "markdown", "html", "pdf")


def _now() -> datetime:
    return datetime.now(UTC)


def _generated(session: Any, name: str, version: int) -> ModelCard:
    entity = registry_store.get_version(session, name, version)
    params: dict[str, str] = {}
    metrics: dict[str, float] = {}
    if entity.source_run_id:
        try:
            run = run_store.get(session, entity.source_run_id)
            params, metrics = run.params, run.metrics
        except NotFound:  # the source run was purged; the version's own metrics remain
            pass
    summary = lineage.version_summary_in(session, name, version)
    evaluations = summary["evaluations"]  # newest first
    if evaluations:  # the latest evaluation's numbers, on held-out data, name themselves as such
        metrics = {**metrics, **{f"evaluation.{k}": v for k, v in evaluations[0]["metrics"].items()}}
    version_row = registry_store.version_row(session, name, version)
    stored = governance_store.evaluations(session, version_row, name)
    return build_card(entity.model_dump(mode="json"), params=params, metrics=_finite(metrics),
                      datasets=_lineage_datasets(summary), evaluations=_quantitative(stored),
                      explanation=explanation_store.latest(session, version_row),
                      protected_groups=protected_group_analysis(shown_evaluation(stored)),
                      data_checks=data_checks.of_version(session, name, version),
                      personal_data=personal_data.of_version(session, name, version))


def shown_evaluation(evaluations: list[Evaluation]) -> Evaluation | None:
    """The evaluation whose fairness a document shows: the latest governing one, else (none
    governs yet) the latest advisory one. ``evaluations`` newest first."""
    return next((e for e in evaluations if not e.advisory), evaluations[0] if evaluations else None)


def protected_group_analysis(evaluation: Evaluation | None) -> ProtectedGroupAnalysis:
    """Fairness across groups in ``evaluation``: each sensitive feature's (or intersection's)
    report, and the gates that judged fairness with their reasons (advisory evaluations say so)."""
    if evaluation is None:
        return ProtectedGroupAnalysis()
    result = evaluation.result if isinstance(evaluation.result, dict) else {}
    return ProtectedGroupAnalysis(
        evaluation=evaluation.id, evaluated_at=evaluation.created_at.isoformat(), advisory=evaluation.advisory,
        features=protected_groups_of(result.get("fairness")),
        gates=[_fairness_gate_row(g) for g in result.get("gates") or [] if _judges_fairness(g)],
    )


def _judges_fairness(gate: Any) -> bool:
    return isinstance(gate, dict) and (str(gate.get("kind") or "").startswith("fairness")
                                       or "fairness" in (gate.get("gate") or {}))


def _fairness_gate_row(result: dict[str, Any]) -> FairnessGateRow:
    gate = result.get("gate") or {}
    features = gate.get("sensitive_feature") or gate.get("sensitive_features") or gate.get("intersection") or ""
    observed = result.get("observed")
    return FairnessGateRow(
        gate=documents.gate_name(gate), threshold=documents.threshold_text(result.get("threshold") or {}),
        sensitive_feature=" & ".join(map(str, features)) if isinstance(features, list) else str(features),
        observed="" if isinstance(observed, dict | list) else number(observed),
        passed="skipped" if result.get("skipped") else "yes" if result.get("passed") else "no",
        reason=str(result.get("reason") or ""),
    )


def _lineage_datasets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Datasets that fed the version (training) and that it was evaluated on, from lineage."""
    return [
        {"name": d["name"], "digest": d["digest"] or "", "source": d["uri"] or _snapshot_source(d), "rows": d["rows"],
         "role": d["role"]}
        for d in summary["datasets"] if d["role"] in ("training", "evaluation")
    ]


def _snapshot_source(dataset: dict[str, Any]) -> str:
    snapshot = dataset.get("snapshot") or {}
    return f"runs:/{snapshot['run_id']}/{snapshot['path']}" if snapshot.get("run_id") else ""


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}


def _quantitative(evaluations: list[Evaluation]) -> list[dict[str, Any]]:
    """One row per stored evaluation (newest first: id, verdict, metrics), then the latest
    evaluation's fairness per sensitive feature and group."""
    rows: list[dict[str, Any]] = []
    for evaluation in evaluations:
        result = evaluation.result if isinstance(evaluation.result, dict) else {}
        rows.append({"evaluation": evaluation.id, "created_at": evaluation.created_at.isoformat(),
                     "passed": evaluation.passed, "rows": result.get("n_rows"),
                     "dataset": evaluation.dataset.path if evaluation.dataset else "",
                     **lineage.evaluation_metrics(result)})
    latest = evaluations[0].result if evaluations and isinstance(evaluations[0].result, dict) else {}
    for feature, report in (latest.get("fairness") or {}).items():
        if not isinstance(report, dict):
            continue
        for group, values in (report.get("by_group") or {}).items():
            rows.append({"sensitive_feature": feature, "group": group, **_finite(values or {}),
                         **({"count": values["count"]} if isinstance(values, dict) and "count" in values else {})})
        summary = {k: v for k, v in report.items() if k not in ("by_group", "overall", "positive_label")}
        if _finite(summary):
            rows.append({"sensitive_feature": feature, "group": "(all)", **_finite(summary)})
    return rows


def get(backend: Backend, name: str, version: int) -> ModelCard:
    """The stored card, or (not stored) one generated from what is known."""
    with backend.read() as session:
        stored = registry_store.get_version(session, name, version).card
        return parse_card(stored) if stored else _generated(session, name, version)


def _save(session: Any, name: str, version: int, card: ModelCard, actor: Actor, comment: str | None) -> ModelCard:
    """A new revision, audited. Refused once the version is approved: its approval covered this card."""
    registry_store.model_row(session, name, lock=True)  # serialises revision numbers per model
    row = registry_store.version_row(session, name, version)
    check_evidence_open(row.status, "model card")
    data = card.model_dump(mode="json")
    now = _now()
    registry_store.update_version(session, row, now, card=data)
    revision = store.add_revision(session, row.pk, data, author=actor.name, comment=comment, now=now)
    audit.record(session, actor, "model_card.updated", subject_type="model_version", subject_id=f"{name}/{version}",
                 model_name=name, reason=comment,
                 details={"revision": revision.revision, "digest": _card_digest(data)})
    return card


def _card_digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()


def generate(backend: Backend, actor: Actor, name: str, version: int, *, comment: str | None = None) -> ModelCard:
    """Fill the card from the version, its run and lineage, keeping every human-written field."""
    with backend.write() as session:
        stored = registry_store.get_version(session, name, version).card
        card = merge_edits(_generated(session, name, version), parse_card(stored) if stored else None)
        return _save(session, name, version, card, actor, comment or "generated")


def update(
    backend: Backend, actor: Actor, name: str, version: int, *,
    card: dict[str, Any] | None = None, edits: dict[str, Any] | None = None, comment: str | None = None,
) -> ModelCard:
    """Replace the card (``card``) and/or set fields (``edits``: dotted field -> value); one new revision."""
    if card is None and not edits:
        raise InvalidInput("nothing to update: send 'card' and/or 'edits'")
    with backend.write() as session:
        if card is not None:
            current = parse_card(card)
        else:
            stored = registry_store.get_version(session, name, version).card
            current = parse_card(stored) if stored else _generated(session, name, version)
        for field, value in (edits or {}).items():
            current = set_field(current, field, value)
        if card is not None:  # attachments are added through add_attachment only
            stored = registry_store.get_version(session, name, version).card
            current.attachments = parse_card(stored).attachments if stored else []
        return _save(session, name, version, current, actor, comment or "edited")


def revisions(backend: Backend, name: str, version: int) -> list[CardRevision]:
    with backend.read() as session:
        return store.revisions(session, registry_store.version_row(session, name, version).pk)


def add_attachment(
    backend: Backend, actor: Actor, name: str, version: int, *, kind: str, title: str, text: str,
    media_type: str = "text/markdown",
) -> ModelCard:
    if kind not in ATTACHMENT_KINDS:
        raise InvalidInput(f"attachment kind {kind!r} is unknown; use one of {', '.join(ATTACHMENT_KINDS)}")
    if media_type not in ("text/markdown", "text/plain"):
        raise InvalidInput(f"attachment media type {media_type!r} is not allowed; use text/markdown or text/plain")
    if not title.strip() or len(title) > 256:
        raise InvalidInput("attachment title must be 1 to 256 characters")
    data = text.encode("utf-8")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise InvalidInput(f"attachment is {len(data)} bytes; the limit is {MAX_ATTACHMENT_BYTES}")
    with backend.read() as session:
        registry_store.version_row(session, name, version)  # fail before storing bytes
    blob = backend.artifacts.put_bytes(data)  # bytes first: a crash leaves only an orphan blob for gc
    now = _now()
    with backend.write() as session:
        row = registry_store.version_row(session, name, version)
        store.add_attachment(session, row.pk, kind=kind, title=title, digest=blob.digest, size=blob.size,
                             media_type=media_type, created_by=actor.name, now=now)
        stored = row.card
        card = parse_card(stored) if stored else _generated(session, name, version)
        card.attachments.append(Attachment(
            kind=kind, title=title, digest=blob.digest, size=blob.size,
            media_type=media_type, created_by=actor.name, created_at=now.isoformat(),
        ))
        return _save(session, name, version, card, actor, f"attached {kind}: {title}")


def attachment(backend: Backend, name: str, version: int, digest: str) -> tuple[str, bytes]:
    """(media type, text bytes) of one of this version's attachments."""
    with backend.read() as session:
        row = registry_store.version_row(session, name, version)
        media_type, _ = store.attachment_digest(session, row.pk, digest)
    return media_type, backend.artifacts.read_bytes(digest)


def rendered(backend: Backend, name: str, version: int, fmt: str) -> tuple[str, str | bytes]:
    """(media type, document) of the version's card in ``fmt``; the Markdown also shows where the
    version stands in review (``governance_view``)."""
    review = governance_view(backend, name, version) if fmt in ("markdown", "md") else None
    return render(get(backend, name, version), fmt, review=review)


def render(card: ModelCard, fmt: str, *, review: CardGovernance | None = None) -> tuple[str, str | bytes]:
    """(media type, document) of the card in ``fmt``: json, markdown, html or pdf (bytes). The
    Markdown shows ``review`` (where the version stands in review) when given."""
    if fmt in ("markdown", "md"):
        return "text/markdown; charset=utf-8", render_markdown(card, review)
    if fmt == "html":
        return "text/html; charset=utf-8", render_html(card)
    if fmt == "pdf":
        return documents.PDF_MEDIA_TYPE, documents.pdf(render_html(card))
    if fmt == "json":
        return "application/json", card.model_dump_json(indent=2)
    raise InvalidInput(f"unknown card format {fmt!r}; use one of {', '.join(FORMATS)}")


def render_html(card: ModelCard) -> str:
    """The card as a whole HTML document: people's Markdown rendered and sanitised, results as tables."""
    template = documents.environment().get_template("model_card.html")
    return str(template.render(card=card, title=card_title(card), view=card_view(card)))


def card_title(card: ModelCard) -> str:
    details = card.model_details
    return f"Model card: {details.name or 'model'}" + (f" v{details.version}" if details.version else "")


SHOWN_EVALUATIONS = 4


def card_view(card: ModelCard) -> dict[str, Any]:
    """The card's stored results as tables (``formats.cards.results_view``), the latest
    ``SHOWN_EVALUATIONS`` evaluations side by side."""
    return results_view(card, shown=SHOWN_EVALUATIONS)


def governance_view(backend: Backend, name: str, version: int) -> CardGovernance:
    """Where the version stands in review, for its rendered card: state, risk tier, the gates of
    the evaluation that governs it, the risk ratings, the checklist, the reviews, what is missing."""
    status = governance.status(backend, name, version)
    latest = status.latest_evaluation
    return CardGovernance(
        state=status.state,
        risk_tier=_risk_tier(backend, name),
        evaluation=(f"evaluation {latest.id[:8]} of {latest.created_at:%Y-%m-%d} "
                    f"({'passed' if latest.passed else 'failed'})") if latest else "",
        gates=_gate_rows(latest.result if latest else None),
        risk=[_risk_row(category, status.risk.items.get(category)) for category in RISK_CATEGORIES],
        checklist=[ChecklistRow(item=i.item, checked=i.checked, note=", ".join(filter(None, [
                       i.checked_by, f"{i.checked_at:%Y-%m-%d}" if i.checked_at else "", i.evidence])))
                   for i in status.checklist.items],
        reviews=[ReviewRow(reviewer=r.reviewer, role=", ".join(r.roles), decision=r.decision,
                           when=r.at.isoformat(timespec="minutes"), comment=r.comment or "")
                 for r in governance.reviews(backend, name, version)],
        missing=list(status.missing),
    )


def _gate_rows(result: Any) -> list[GateRow]:
    gates = result.get("gates") if isinstance(result, dict) else None
    return [
        GateRow(gate=documents.gate_name(g.get("gate") or {}),
                threshold=documents.threshold_text(g.get("threshold") or {}), value=number(g.get("observed")),
                passed="skipped" if g.get("skipped") else "yes" if g.get("passed") else "no")
        for g in gates or [] if isinstance(g, dict)
    ]


def _risk_row(category: str, item: RiskItem | None) -> RiskRow:
    if item is None:
        return RiskRow(category=category, rating="not rated")
    mitigation = f"Mitigation: {item.mitigation}" if item.mitigation else ""
    by = f"({item.assessed_by}, {item.assessed_at:%Y-%m-%d})"
    notes = " ".join(filter(None, [item.rationale, mitigation, by]))
    return RiskRow(category=category, rating=item.rating, notes=notes)


def _risk_tier(backend: Backend, name: str) -> str:
    """The model's risk tier: its policy's, else its ``risk_tier`` tag."""
    tier = policies.effective_policy(backend, name).risk_tier
    if tier is not None:
        return str(tier.value)
    with backend.read() as session:
        model_id = registry_store.model_id_of(session, name)
        return (registry_store.model_tag(session, model_id, policies.RISK_TIER_TAG) or "") if model_id else ""
