"""Model cards after Mitchell et al. 2019, "Model Cards for Model Reporting". Pure: no I/O.

``build_card`` fills what is known (version, run params and metrics, datasets from
lineage, evaluations); people edit the rest with ``set_field``; ``merge_edits`` keeps
their words when the card is regenerated. Rendered to Markdown and HTML (Jinja2, HTML
autoescaped) and exported as JSON (``card.model_dump(mode="json")``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from modelward.errors import InvalidInput

CARD_SCHEMA_VERSION = 1


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
    motivation: str = ""
    preprocessing: str = ""


class QuantitativeAnalyses(BaseModel):
    unitary_results: str = ""
    intersectional_results: str = ""
    evaluations: list[dict[str, Any]] = Field(default_factory=list)


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


SECTIONS = (
    "model_details", "intended_use", "factors", "metrics", "evaluation_data", "training_data",
    "quantitative_analyses", "ethical_considerations", "caveats_and_recommendations",
)
# Filled by build_card from what the system knows; every other field is written by people.
AUTOMATIC_FIELDS = frozenset({
    "model_details.name", "model_details.version", "model_details.flavor", "model_details.created_at",
    "model_details.source_run_id", "model_details.artifact_digest", "model_details.signature",
    "model_details.requirements", "model_details.parameters", "model_details.developed_by",
    "metrics.performance_measures", "evaluation_data.datasets", "training_data.datasets",
    "quantitative_analyses.evaluations",
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
) -> ModelCard:
    """A card from a ModelVersion-like dict, its run's params/metrics, datasets (each with a
    ``role``: training or evaluation) and evaluation results."""
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
    env.filters["md"] = _markdown_safe
    return env


def _markdown_safe(value: Any) -> str:
    """Text for a Markdown document: raw HTML tags are neutralised, so a renderer shows them as text."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(card: ModelCard) -> str:
    return str(_environment().get_template("model_card.md").render(card=card, title=_title(card)))


def render_html(card: ModelCard) -> str:
    return str(_environment().get_template("model_card.html").render(card=card, title=_title(card)))


def _title(card: ModelCard) -> str:
    details = card.model_details
    return f"Model card: {details.name or 'model'}" + (f" v{details.version}" if details.version else "")
