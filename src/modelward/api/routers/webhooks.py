"""/api/v1/webhooks: admins register URLs that get signed POSTs on audit events."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from modelward.api.decoding import JsonRoute
from modelward.api.deps import ADMIN, ActorDep, BackendDep
from modelward.domain.webhooks import Delivery, NewWebhook, Webhook
from modelward.services import webhooks as service

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/webhooks", tags=["webhooks"])


class WebhookCreate(BaseModel):
    url: str
    events: list[str] = Field(description="audit actions, 'noun.*' or '*'")
    secret: str | None = Field(default=None, description="generated when omitted; returned once")


class WebhookList(BaseModel):
    webhooks: list[Webhook]


class DeliveryList(BaseModel):
    deliveries: list[Delivery]


@router.post("", status_code=201, dependencies=[ADMIN])
def create_webhook(body: WebhookCreate, backend: BackendDep, actor: ActorDep) -> NewWebhook:
    return service.subscribe(backend, body.url, body.events, secret=body.secret, actor=actor)


@router.get("", dependencies=[ADMIN])
def list_webhooks(backend: BackendDep) -> WebhookList:
    return WebhookList(webhooks=service.list_(backend))


@router.get("/deliveries", dependencies=[ADMIN])
def list_deliveries(
    backend: BackendDep, webhook_id: str | None = None, status: str | None = None,
    limit: int = Query(100, ge=1, le=10_000), offset: int = Query(0, ge=0),
) -> DeliveryList:
    found = service.deliveries(backend, webhook_id=webhook_id, status=status, limit=limit, offset=offset)
    return DeliveryList(deliveries=found)


@router.delete("/{webhook_id}", status_code=204, dependencies=[ADMIN])
def delete_webhook(webhook_id: str, backend: BackendDep, actor: ActorDep) -> Response:
    service.unsubscribe(backend, webhook_id, actor=actor)
    return Response(status_code=204)
