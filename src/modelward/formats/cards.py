"""Model cards after Mitchell et al. 2019, "Model Cards for Model Reporting". Pure: no I/O.

``build_card`` fills what is known (version, run params and metrics, datasets from
lineage, evaluations); people edit the rest with ``set_field``; ``merge_edits`` keeps
their words when the card is regenerated. Rendered to Markdown and HTML (Jinja2, HTML
autoescaped) and exported as JSON (``card.model_dump(mode="json")``).

The Markdown is a document for reviewers: a summary line, tables wherever the data is a table
(values escaped so that a ``|`` or a line break stays inside its cell), and the text people
wrote as paragraphs. Two generated parts carry the evidence a reviewer weighs next to the
numbers: ``explainability`` (the latest stored global explanation: methods, top features, the
data's digest, seed, revision, who and when) and ``quantitative_analyses.protected_group_analysis``
(per sensitive feature or intersection: the groups with counts, rates and their intervals, small
groups flagged, the between-group measures, and the gates that judged fairness with their reasons).
Given a ``CardGovernance`` (where the version stands in review: state,
risk tier, gates, risk ratings, checklist, reviews), it shows that too; that part is a view of
the review, never stored in the card.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from modelward.errors import InvalidInput
from modelward.formats.card_evidence import (
    DataQualityRow,
    Explainability,
    ProtectedGroupAnalysis,
    data_quality_of,
    explanation_of,
    explanation_view,
    protected_group_view,
)
from modelward.formatting import number

CARD_SCHEMA_VERSION = 2  # 2: explainability, quantitative_analyses.protected_group_analysis (1 still reads)


class ModelDetails(BaseModel):
    name: str = ""
    version: str = ""
    description: str = ""
    flavor: str = ""
    developed_by: str = ""
    created_at: str = ""
    source_run_id: str = ""
    artifact_digest: str = ""
    license: str = ""
    citation: str = ""
    references: list[str] = Field(default_factory=list)
    signature: dict[str, Any] | None = None
    requirements: list[str] = Field(default_factory=list)
    parameters: dict[str, str] = Field(default_factory=dict)


class IntendedUse(BaseModel):
    primary_uses: str = ""
    primary_users: str = ""
    out_of_scope_uses: str = ""


class Factors(BaseModel):
    relevant_factors: str = ""
    evaluation_factors: str = ""


class Metrics(BaseModel):
    performance_measures: dict[str, float] = Field(default_factory=dict)
    decision_thresholds: str = ""
    variation_approaches: str = ""


class DatasetRef(BaseModel):
    name: str
    digest: str = ""
    source: str = ""
    rows: int | None = None


class DataSection(BaseModel):
    datasets: list[DatasetRef] = Field(default_factory=list)
    quality: list[DataQualityRow] = Field(default_factory=list,
                                          description="training data: latest expectations check, personal data found")
    motivation: str = ""
    preprocessing: str = ""


class QuantitativeAnalyses(BaseModel):
    unitary_results: str = ""
    intersectional_results: str = ""
    evaluations: list[dict[str, Any]] = Field(default_factory=list)
    protected_group_analysis: ProtectedGroupAnalysis = Field(default_factory=ProtectedGroupAnalysis)


class Attachment(BaseModel):
    """A usage guideline or performance report; its text is a stored blob named by digest."""

    kind: str
    title: str
    digest: str
    size: int
    media_type: str = "text/markdown"
    created_by: str | None = None
    created_at: str = ""


class ModelCard(BaseModel):
    schema_version: int = CARD_SCHEMA_VERSION
    model_details: ModelDetails = Field(default_factory=ModelDetails)
    intended_use: IntendedUse = Field(default_factory=IntendedUse)
    factors: Factors = Field(default_factory=Factors)
    metrics: Metrics = Field(default_factory=Metrics)
    evaluation_data: DataSection = Field(default_factory=DataSection)
    training_data: DataSection = Field(default_factory=DataSection)
    quantitative_analyses: QuantitativeAnalyses = Field(default_factory=QuantitativeAnalyses)
    explainability: Explainability = Field(default_factory=Explainability)
    ethical_considerations: str = ""
    caveats_and_recommendations: str = ""
    attachments: list[Attachment] = Field(default_factory=list)


class CardRevision(BaseModel):
    """One saved state of a card: who saved it, when and why."""

    revision: int
    card: dict[str, Any]
    author: str | None
    comment: str | None
    created_at: datetime


class GateRow(BaseModel):
    gate: str
    threshold: str = ""
    value: str = ""
    passed: str = ""  # yes, no or skipped


class RiskRow(BaseModel):
    category: str
    rating: str
    notes: str = ""


class ChecklistRow(BaseModel):
    item: str
    checked: bool = False
    note: str = ""  # who checked it, when, on what evidence


class ReviewRow(BaseModel):
    reviewer: str
    role: str = ""
    decision: str
    when: str
    comment: str = ""


class CardGovernance(BaseModel):
    """Where a version stands in review, for the rendered card. Not a part of the card: the card
    is what people wrote about the model (and what an approval covers); this changes as the
    review goes on, so it is read fresh for each rendering and never stored with the card."""

    state: str = ""
    risk_tier: str = ""
    evaluation: str = ""  # the evaluation the gates come from, in words
    gates: list[GateRow] = Field(default_factory=list)
    risk: list[RiskRow] = Field(default_factory=list)
    checklist: list[ChecklistRow] = Field(default_factory=list)
    reviews: list[ReviewRow] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, description="what approval still needs")


SECTIONS = (
    "model_details", "intended_use", "factors", "metrics", "evaluation_data", "training_data",
    "quantitative_analyses", "explainability", "ethical_considerations", "caveats_and_recommendations",
)
# Filled by build_card from what the system knows; every other field is written by people.
AUTOMATIC_FIELDS = frozenset({
    "model_details.name", "model_details.version", "model_details.flavor", "model_details.created_at",
    "model_details.source_run_id", "model_details.artifact_digest", "model_details.signature",
    "model_details.requirements", "model_details.parameters", "model_details.developed_by",
    "metrics.performance_measures", "evaluation_data.datasets", "training_data.datasets",
    "evaluation_data.quality", "training_data.quality",
    "quantitative_analyses.evaluations",
    *(f"quantitative_analyses.protected_group_analysis.{name}" for name in ProtectedGroupAnalysis.model_fields),
    *(f"explainability.{name}" for name in Explainability.model_fields if name != "interpretation"),
})
_TRAINING_ROLES = {"training", "train", "input", "training_data"}
_EVALUATION_ROLES = {"evaluation", "eval", "test", "validation", "evaluation_data"}


def build_card(
    version: dict[str, Any],
    *,
    params: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    datasets: list[dict[str, Any]] | None = None,
    evaluations: list[dict[str, Any]] | None = None,
    explanation: dict[str, Any] | None = None,
    protected_groups: ProtectedGroupAnalysis | None = None,
    data_checks: list[dict[str, Any]] | None = None,
    personal_data: list[dict[str, Any]] | None = None,
) -> ModelCard:
    """A card from a ModelVersion-like dict, its run's params/metrics, datasets (each with a
    ``role``: training or evaluation), evaluation results, the latest stored global explanation
    (``explanation_of``), the protected-group analysis of the latest evaluation, and the latest
    check and personal-data scan of each training dataset (``data_checks``, ``personal_data``)."""
    details = ModelDetails(
        name=str(version.get("model_name") or version.get("name") or ""),
        version=str(version.get("version") or ""),
        description=str(version.get("description") or ""),
        flavor=str(version.get("flavor") or ""),
        developed_by=str(version.get("created_by") or ""),
        created_at=str(version.get("created_at") or ""),
        source_run_id=str(version.get("source_run_id") or ""),
        artifact_digest=str(version.get("artifact_digest") or ""),
        signature=version.get("signature"),
        requirements=list(version.get("requirements") or []),
        parameters={str(k): str(v) for k, v in (params or {}).items()},
    )
    measures = {**dict(version.get("metrics") or {}), **dict(metrics or {})}
    card = ModelCard(model_details=details, metrics=Metrics(performance_measures=measures))
    for item in datasets or []:
        ref = DatasetRef(name=str(item.get("name") or item.get("digest") or "dataset"),
                         digest=str(item.get("digest") or ""), source=str(item.get("source") or ""),
                         rows=item.get("rows"))
        role = str(item.get("role") or "training").lower()
        (card.evaluation_data if role in _EVALUATION_ROLES else card.training_data).datasets.append(ref)
    card.quantitative_analyses.evaluations = [dict(e) for e in evaluations or []]
    card.training_data.quality = data_quality_of(data_checks or [], personal_data or [])
    if protected_groups is not None:
        card.quantitative_analyses.protected_group_analysis = protected_groups
    if explanation is not None:
        card.explainability = explanation_of(explanation)
    return card


def _get(card: ModelCard, dotted: str) -> Any:
    value: Any = card
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def merge_edits(generated: ModelCard, existing: ModelCard | None) -> ModelCard:
    """``generated`` with every human-written field taken from ``existing`` (and its attachments)."""
    if existing is None:
        return generated
    merged = generated.model_copy(deep=True)
    for dotted in _leaf_fields(ModelCard):
        if dotted in AUTOMATIC_FIELDS:
            continue
        kept = _get(existing, dotted)
        if kept not in ("", None, [], {}):
            merged = set_field(merged, dotted, kept)
    merged.attachments = list(existing.attachments)
    return merged


def _leaf_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    leaves = []
    for name, info in model.model_fields.items():
        if name in ("schema_version", "attachments"):
            continue
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            leaves.extend(_leaf_fields(annotation, f"{prefix}{name}."))
        else:
            leaves.append(prefix + name)
    return leaves


EDITABLE_FIELDS = tuple(_leaf_fields(ModelCard))


def set_field(card: ModelCard, dotted: str, value: Any) -> ModelCard:
    """A new card with one field (``intended_use.primary_uses``) set, validated by the schema."""
    if dotted not in EDITABLE_FIELDS:
        raise InvalidInput(f"unknown model card field {dotted!r}; fields are: {', '.join(EDITABLE_FIELDS)}")
    data = card.model_dump()
    target = data
    *parents, leaf = dotted.split(".")
    for part in parents:
        target = target[part]
    target[leaf] = value
    return parse_card(data)


def parse_card(data: Any) -> ModelCard:
    try:
        return ModelCard.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"invalid model card field {where!r}: {first['msg']}") from None


def card_diff(a: ModelCard, b: ModelCard) -> dict[str, tuple[Any, Any]]:
    """Field -> (old, new) for every field that differs, attachments included."""
    changes = {d: (_get(a, d), _get(b, d)) for d in EDITABLE_FIELDS if _get(a, d) != _get(b, d)}
    if a.attachments != b.attachments:
        changes["attachments"] = ([x.title for x in a.attachments], [x.title for x in b.attachments])
    return changes


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("modelward.formats", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters.update(md=_markdown_safe, cell=table_cell, code=code_span, value=_value_text)
    return env


def _markdown_safe(value: Any) -> str:
    """Text for a Markdown document: raw HTML tags are neutralised, so a renderer shows them as text."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Characters that would end a table cell (|), escape the next one (\) or start inline markup
# (`, *, [, ], ~); an underscore only does at the edge of a word, so roc_auc stays as written.
_CELL_SPECIAL = re.compile(r"([\\|`*\[\]~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def table_cell(value: Any) -> str:
    """``value`` as the text of one Markdown table cell (or one line of a list): shown as typed,
    on one row of the table: a ``|`` is escaped and a line break becomes ``<br>``."""
    if value is None:
        return ""
    text = _CELL_SPECIAL.sub(lambda m: "\\" + m.group(0), _markdown_safe(value))
    return _LINE_BREAK.sub("<br>", text.strip())


def code_span(value: Any) -> str:
    """``value`` in backticks (digests, ids, requirements); as an escaped cell when it holds what a
    code span cannot (a backtick, a ``|``, a line break)."""
    text = "" if value is None else str(value)
    if not text:
        return ""
    if any(c in text for c in "`|\r\n"):
        return table_cell(text)
    return f"`{text}`"


def _value_text(value: Any) -> str:
    """A result in a table: numbers to six significant digits, booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number(value)
    return table_cell(value)


EVALUATION_FIELDS = ("evaluation", "created_at", "passed", "dataset", "rows")
GROUP_FIELDS = ("sensitive_feature", "group")


def results_view(card: ModelCard, shown: int | None = None) -> dict[str, Any]:
    """The card's stored results as tables a person reads: the evaluations side by side (one
    column each, newest first, the first ``shown`` of them; one row per measure), the results
    per sensitive group, and the between-group summary per feature."""
    rows = [r for r in card.quantitative_analyses.evaluations if isinstance(r, dict)]
    every = [r for r in rows if "sensitive_feature" not in r]
    evaluations = every if shown is None else every[:shown]
    groups = [r for r in rows if "sensitive_feature" in r and r.get("group") != "(all)"]
    summaries = [r for r in rows if "sensitive_feature" in r and r.get("group") == "(all)"]
    return {
        "evaluations": evaluations,
        "more_evaluations": len(every) - len(evaluations),
        "evaluation_measures": _keys(evaluations, skip=EVALUATION_FIELDS),
        "groups": groups,
        "group_measures": _keys(groups, skip=GROUP_FIELDS),
        "summaries": [(r["sensitive_feature"], key.replace("_", " "), value)
                      for r in summaries for key, value in r.items() if key not in GROUP_FIELDS],
        "protected": protected_group_view(card.quantitative_analyses.protected_group_analysis),
        "explanation": explanation_view(card.explainability),
    }


def _keys(rows: list[dict[str, Any]], *, skip: tuple[str, ...]) -> list[str]:
    """Every key of ``rows`` not in ``skip``, in order of first appearance (``count`` first)."""
    keys = [key for key in dict.fromkeys(key for row in rows for key in row) if key not in skip]
    return sorted(keys, key=lambda key: key != "count")


def render_markdown(card: ModelCard, governance: CardGovernance | None = None) -> str:
    """The card as Markdown; with ``governance``, where the version stands in review as well."""
    template = _environment().get_template("model_card.md")
    return str(template.render(card=card, title=_title(card), view=results_view(card), governance=governance))


def render_html(card: ModelCard) -> str:
    return str(_environment().get_template("model_card.html").render(card=card, title=_title(card),
                                                                      view=results_view(card)))


def _title(card: ModelCard) -> str:
    details = card.model_details
    return f"Model card: {details.name or 'model'}" + (f" v{details.version}" if details.version else "")
