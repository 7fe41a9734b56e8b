"""Experiment use cases: create, find, organise in folders, rename, delete, restore, purge."""

from __future__ import annotations

from modelward.domain.actors import LOCAL_USER, Actor
from modelward.domain.names import new_id, validate_hierarchical_name, validate_key
from modelward.domain.search import EXPERIMENTS, And, Comparison, Expr, Not, Or, parse_filter, parse_order_by
from modelward.domain.tracking import Experiment, Lifecycle
from modelward.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from modelward.services import audit
from modelward.services.backend import Backend
from modelward.services.lifecycle import refuse_purging_evidence
from modelward.store import experiments as store

DEFAULT_EXPERIMENT = "Default"
DEFAULT_EXPERIMENT_ID = "0"
"""MLflow's clients assume an experiment "0" named "Default"; the experiment named Default
gets that id when it is created (first use, through any API) and the id is free."""


def create(
    backend: Backend,
    name: str,
    *,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> Experiment:
    validate_hierarchical_name(name, "experiment")
    for key in tags or {}:
        validate_key(key, "experiment tag")
    with backend.write() as session:
        experiment_id = new_id()
        if name == DEFAULT_EXPERIMENT and not store.exists(session, DEFAULT_EXPERIMENT_ID):
            experiment_id = DEFAULT_EXPERIMENT_ID
        return store.create(
            session, experiment_id=experiment_id, name=name, description=description, tags=tags
        )


def ensure_default(backend: Backend) -> Experiment:
    """MLflow's default experiment: the one with id "0"; else the one named Default (a store
    older than the id rule); else a new "Default" with id "0". Idempotent and safe under races."""
    for _ in range(2):
        with backend.read() as session:
            if store.exists(session, DEFAULT_EXPERIMENT_ID):
                return store.get(session, DEFAULT_EXPERIMENT_ID)
            found = store.find_by_name(session, DEFAULT_EXPERIMENT)
        if found is not None:
            return found
        try:
            return create(backend, DEFAULT_EXPERIMENT)
        except AlreadyExists:  # another request created it meanwhile: read it again
            continue
    raise Conflict("the default experiment could not be created; try again")


def get(backend: Backend, experiment_id: str) -> Experiment:
    with backend.read() as session:
        return store.get(session, experiment_id)


def get_by_name(backend: Backend, name: str) -> Experiment:
    with backend.read() as session:
        found = store.find_by_name(session, name)
    if found is None:
        raise NotFound(f"experiment '{name}' does not exist")
    return found


def resolve(backend: Backend, name_or_id: str) -> Experiment:
    """An experiment by id, falling back to its name."""
    with backend.read() as session:
        found = store.find_by_name(session, name_or_id)
        if found is not None:
            return found
        return store.get(session, name_or_id)


def get_or_create(backend: Backend, name: str) -> Experiment:
    with backend.read() as session:
        found = store.find_by_name(session, name)
    if found is not None:
        if found.lifecycle is Lifecycle.DELETED:
            raise Conflict(
                f"experiment '{name}' is deleted; restore it or purge it to reuse the name"
            )
        return found
    return create(backend, name)


def list_(
    backend: Backend,
    *,
    prefix: str | None = None,
    lifecycle: Lifecycle | None = Lifecycle.ACTIVE,
    name_like: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[Experiment]:
    with backend.read() as session:
        return store.list_(
            session, prefix=prefix, lifecycle=lifecycle, name_like=name_like, limit=limit, offset=offset
        )


def search(
    backend: Backend,
    *,
    filter: str | None = None,
    order_by: list[str] | None = None,
    lifecycle: Lifecycle | None = Lifecycle.ACTIVE,
    limit: int = 1000,
    offset: int = 0,
) -> list[Experiment]:
    """MLflow's experiment search: ``name``, ``creation_time``, ``last_update_time`` and
    ``tags.<key>`` in the run-search language; ``order_by`` on those attributes (and
    ``experiment_id``); by default newest first, ties broken by id."""
    expr = parse_filter(filter, EXPERIMENTS)
    _refuse_run_fields(expr, filter or "")
    order_keys = parse_order_by(order_by, EXPERIMENTS)
    for key in order_keys:
        if key.field.kind != "attributes" or key.field.key == "lifecycle":
            raise InvalidInput(f"Invalid order_by for experiments: {key.field.kind}.{key.field.key}; use name, "
                               "experiment_id, creation_time or last_update_time.")
    with backend.read() as session:
        return store.search(session, expr, order_keys, lifecycle=lifecycle, limit=limit, offset=offset)


def _refuse_run_fields(expr: Expr | None, text: str) -> None:
    if isinstance(expr, And | Or):
        for item in expr.items:
            _refuse_run_fields(item, text)
    elif isinstance(expr, Not):
        _refuse_run_fields(expr.item, text)
    elif isinstance(expr, Comparison) and expr.field.kind not in ("attributes", "tags"):
        raise InvalidInput(f"Invalid experiment filter {text!r}: experiments have no {expr.field.kind}; "
                           "filter on name, creation_time, last_update_time or tags.<key>.")


def update(
    backend: Backend, experiment_id: str, *, name: str | None = None, description: str | None = None
) -> Experiment:
    if name is not None:
        validate_hierarchical_name(name, "experiment")
    with backend.write() as session:
        return store.update(session, experiment_id, name=name, description=description)


def set_tags(backend: Backend, experiment_id: str, tags: dict[str, str]) -> Experiment:
    for key in tags:
        validate_key(key, "experiment tag")
    with backend.write() as session:
        store.get(session, experiment_id)
        store.set_tags(session, experiment_id, tags)
        return store.get(session, experiment_id)


def delete_tag(backend: Backend, experiment_id: str, key: str) -> None:
    """Remove one tag; NotFound when the experiment has no such tag."""
    with backend.write() as session:
        store.get(session, experiment_id)
        store.delete_tag(session, experiment_id, key)


def delete(
    backend: Backend, experiment_id: str, *, permanent: bool = False, actor: Actor | None = None
) -> None:
    """Soft delete (restorable, name kept) or permanent delete (rows gone, name free).

    A permanent delete leaves the artifact blobs in place: ``gc`` removes the ones
    nothing references any more, after the transaction that orphaned them committed.
    """
    with backend.write() as session:
        name = store.get(session, experiment_id).name
        if permanent:
            refuse_purging_evidence(session, f"experiment '{name}'", experiment_id=experiment_id)
            store.purge(session, experiment_id)
        else:
            store.set_lifecycle(session, experiment_id, Lifecycle.DELETED)
        audit.record(session, actor or Actor(name=LOCAL_USER),
                     "experiment.purged" if permanent else "experiment.deleted",
                     subject_type="experiment", subject_id=experiment_id, details={"name": name})


def restore(backend: Backend, experiment_id: str, *, actor: Actor | None = None) -> Experiment:
    with backend.write() as session:
        restored = store.set_lifecycle(session, experiment_id, Lifecycle.ACTIVE)
        audit.record(session, actor or Actor(name=LOCAL_USER), "experiment.restored",
                     subject_type="experiment", subject_id=experiment_id, details={"name": restored.name})
        return restored
