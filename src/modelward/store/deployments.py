"""Deployments and their revisions. Functions over a Session; never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelward.domain.deployments import Deployment, DeploymentState, DeploymentStatus, Rollout, Route
from modelward.errors import Conflict, NotFound
from modelward.store.dialect import aware
from modelward.store.rows import DeploymentRevisionRow, DeploymentRow


def _state(row: DeploymentRevisionRow) -> DeploymentState:
    return DeploymentState(
        revision=row.revision, at=aware(row.at), actor=row.actor, action=row.action, reason=row.reason,
        status=DeploymentStatus(row.status), routes=[Route.model_validate(r) for r in row.routes],
        rollout=Rollout.model_validate(row.rollout) if row.rollout else None,
    )


def _deployment(row: DeploymentRow, state: DeploymentState) -> Deployment:
    return Deployment(name=row.name, environment=row.environment, model_name=row.model_name,
                      sticky_key=row.sticky_key, created_at=aware(row.created_at), created_by=row.created_by,
                      state=state)


def _revision_row(name: str, state: DeploymentState) -> DeploymentRevisionRow:
    return DeploymentRevisionRow(
        deployment_name=name, revision=state.revision, at=state.at, actor=state.actor, action=state.action,
        reason=state.reason, status=state.status.value, routes=[r.model_dump(mode="json") for r in state.routes],
        rollout=state.rollout.model_dump(mode="json") if state.rollout else None,
    )


def row(session: Session, name: str, *, lock: bool = False) -> DeploymentRow:
    stmt = select(DeploymentRow).where(DeploymentRow.name == name)
    if lock:
        stmt = stmt.with_for_update()
    found = session.scalar(stmt)
    if found is None:
        raise NotFound(f"deployment '{name}' does not exist")
    return found


def add(session: Session, *, name: str, environment: str, model_name: str, sticky_key: str,
        created_by: str, state: DeploymentState) -> Deployment:
    if session.get(DeploymentRow, name) is not None:
        raise Conflict(f"deployment '{name}' already exists")
    found = DeploymentRow(name=name, environment=environment, model_name=model_name, sticky_key=sticky_key,
                          status=state.status.value, revision=state.revision, created_by=created_by,
                          created_at=state.at, updated_at=state.at)
    session.add(found)
    session.flush()
    session.add(_revision_row(name, state))
    session.flush()
    return _deployment(found, state)


def append(session: Session, found: DeploymentRow, state: DeploymentState) -> Deployment:
    """Write ``state`` as the next revision of the (locked) deployment ``found``."""
    if state.revision != found.revision + 1:
        raise Conflict(f"deployment '{found.name}' changed meanwhile (revision {found.revision}); try again")
    session.add(_revision_row(found.name, state))
    found.revision, found.status, found.updated_at = state.revision, state.status.value, state.at
    session.flush()
    return _deployment(found, state)


def current(session: Session, found: DeploymentRow) -> DeploymentState:
    revision = session.scalar(select(DeploymentRevisionRow).where(
        DeploymentRevisionRow.deployment_name == found.name, DeploymentRevisionRow.revision == found.revision))
    assert revision is not None
    return _state(revision)


def get(session: Session, name: str) -> Deployment:
    found = row(session, name)
    return _deployment(found, current(session, found))


def list_(session: Session, *, environment: str | None = None, model_name: str | None = None,
          include_retired: bool = True) -> list[Deployment]:
    stmt = select(DeploymentRow, DeploymentRevisionRow).join(
        DeploymentRevisionRow, (DeploymentRevisionRow.deployment_name == DeploymentRow.name)
        & (DeploymentRevisionRow.revision == DeploymentRow.revision))
    if environment is not None:
        stmt = stmt.where(DeploymentRow.environment == environment)
    if model_name is not None:
        stmt = stmt.where(DeploymentRow.model_name == model_name)
    if not include_retired:
        stmt = stmt.where(DeploymentRow.status == DeploymentStatus.ACTIVE.value)
    return [_deployment(d, _state(r)) for d, r in session.execute(stmt.order_by(DeploymentRow.name))]


def history(session: Session, name: str, *, since: datetime | None = None) -> list[DeploymentState]:
    """Every revision, oldest first."""
    row(session, name)
    stmt = select(DeploymentRevisionRow).where(DeploymentRevisionRow.deployment_name == name)
    if since is not None:
        stmt = stmt.where(DeploymentRevisionRow.at >= since)
    return [_state(r) for r in session.scalars(stmt.order_by(DeploymentRevisionRow.revision))]


def state_at(session: Session, name: str, at: datetime) -> DeploymentState | None:
    """The revision in force at ``at`` (None before the deployment existed)."""
    row(session, name)
    found = session.scalar(
        select(DeploymentRevisionRow)
        .where(DeploymentRevisionRow.deployment_name == name, DeploymentRevisionRow.at <= at)
        .order_by(DeploymentRevisionRow.revision.desc()).limit(1))
    return _state(found) if found is not None else None


def revisions(session: Session) -> dict[str, int]:
    """name -> current revision of every deployment: what a gateway polls to notice changes."""
    return {name: revision for name, revision in session.execute(select(DeploymentRow.name, DeploymentRow.revision))}


def serving_versions(session: Session, model_name: str, *, exclude: str | None = None) -> set[int]:
    """Versions of ``model_name`` taking live traffic in any active deployment (but ``exclude``)."""
    serving: set[int] = set()
    for deployment in list_(session, model_name=model_name, include_retired=False):
        if deployment.name != exclude:
            serving |= deployment.state.serving_versions()
    return serving


def deployments_of_version(session: Session, model_name: str, version: int) -> list[dict[str, Any]]:
    """Active deployments routing ``version`` in any mode, with its mode and weight."""
    found = []
    for deployment in list_(session, model_name=model_name, include_retired=False):
        for route in deployment.state.routes:
            if route.version == version:
                found.append({"deployment": deployment.name, "environment": deployment.environment,
                              "mode": route.mode.value, "weight": route.weight})
    return found
