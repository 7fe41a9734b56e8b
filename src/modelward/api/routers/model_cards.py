"""/api/v1/models/{name}/versions/{version}/card: get, edit, render, history, attachments."""

from __future__ import annotations


from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from modelward.api.decoding import FreeJSON, JsonRoute
from modelward.api.deps import READ, WRITE, ActorDep, BackendDep
from modelward.formats.cards import CardRevision, ModelCard
from modelward.services import model_cards as service

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/models/{name}/versions/{version}/card", tags=["model cards"])


class CardUpdate(BaseModel):
    card: FreeJSON | None = Field(default=None, description="the whole card, replacing the current one")
    edits: FreeJSON = Field(default_factory=dict, description="dotted field -> value, e.g. intended_use.primary_uses")
    comment: str | None = None


class CardGenerate(BaseModel):
    comment: str | None = None


class AttachmentBody(BaseModel):
    kind: str = Field(description="usage_guidelines or performance_report")
    title: str
    text: str
    media_type: str = "text/markdown"


class RevisionList(BaseModel):
    revisions: list[CardRevision]


@router.get("", dependencies=[READ])
def get_card(name: str, version: int, backend: BackendDep) -> ModelCard:
    return service.get(backend, name, version)


@router.put("", dependencies=[WRITE])
def update_card(name: str, version: int, body: CardUpdate, backend: BackendDep, actor: ActorDep) -> ModelCard:
    return service.update(backend, actor, name, version, card=body.card, edits=body.edits, comment=body.comment)


@router.post("/generate", dependencies=[WRITE])
def generate_card(name: str, version: int, body: CardGenerate, backend: BackendDep, actor: ActorDep) -> ModelCard:
    return service.generate(backend, actor, name, version, comment=body.comment)


@router.get("/rendered", dependencies=[READ])
def render_card(name: str, version: int, backend: BackendDep, format: str = "markdown") -> Response:
    media_type, text = service.rendered(backend, name, version, format)
    # The HTML is escaped by its template; nosniff keeps browsers from guessing otherwise.
    return Response(text, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"})


@router.get("/revisions", dependencies=[READ])
def list_revisions(name: str, version: int, backend: BackendDep) -> RevisionList:
    return RevisionList(revisions=service.revisions(backend, name, version))


@router.post("/attachments", status_code=201, dependencies=[WRITE])
def add_attachment(name: str, version: int, body: AttachmentBody, backend: BackendDep, actor: ActorDep) -> ModelCard:
    return service.add_attachment(
        backend, actor, name, version, kind=body.kind, title=body.title, text=body.text, media_type=body.media_type
    )


@router.get("/attachments/{digest}", dependencies=[READ])
def get_attachment(name: str, version: int, digest: str, backend: BackendDep) -> Response:
    media_type, data = service.attachment(backend, name, version, digest)
    return Response(data, media_type=f"{media_type}; charset=utf-8", headers={"X-Content-Type-Options": "nosniff"})
