"""Registry queries: registered models, versions, files, tags and aliases. Never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import ColumnElement, and_, delete, exists, func, literal, or_, select, true
from sqlalchemy.orm import Session

from modelward.domain.registry import (
    STAGE_TAG,
    AliasEvent,
    Condition,
    ModelVersion,
    RegisteredModel,
    VersionFile,
)
from modelward.errors import AlreadyExists, Conflict, NotFound
from modelward.store.dialect import aware, upsert
from modelward.store.search import case_sensitive_like
from modelward.store.rows import (
    ModelAliasEventRow,
    ModelAliasRow,
    ModelVersionFileRow,
    ModelVersionRow,
    ModelVersionTagRow,
    RegisteredModelRow,
    RegisteredModelTagRow,
    RunRow,
)

STAGE_NONE = "None"
"""The stage of a version without the stage tag."""

# -- registered models ----------------------------------------------------------------------


def model_row(session: Session, name: str, *, lock: bool = False) -> RegisteredModelRow:
    """The model's row; ``lock`` takes a row lock (PostgreSQL) that serialises writers of it."""
    stmt = select(RegisteredModelRow).where(RegisteredModelRow.name == name)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(f"registered model '{name}' does not exist")
    return row


def _models(session: Session, rows: Sequence[RegisteredModelRow], *, new: bool = False) -> list[RegisteredModel]:
    """Models with their tags, aliases and newest version number; ``new`` for models created in
    this transaction, which can have neither versions nor aliases yet."""
    ids = [row.id for row in rows]
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    aliases: dict[str, dict[str, int]] = {i: {} for i in ids}
    latest: dict[str, int] = {}
    if ids:
        for model_id, key, value in session.execute(
            select(RegisteredModelTagRow.model_id, RegisteredModelTagRow.key, RegisteredModelTagRow.value)
            .where(RegisteredModelTagRow.model_id.in_(ids))
        ):
            tags[model_id][key] = value
    if ids and not new:
        for model_id, alias, version in session.execute(
            select(ModelAliasRow.model_id, ModelAliasRow.alias, ModelVersionRow.version)
            .join(ModelVersionRow, ModelVersionRow.pk == ModelAliasRow.version_pk)
            .where(ModelAliasRow.model_id.in_(ids))
        ):
            aliases[model_id][alias] = version
        for model_id, newest in session.execute(
            select(ModelVersionRow.model_id, func.max(ModelVersionRow.version))
            .where(ModelVersionRow.model_id.in_(ids)).group_by(ModelVersionRow.model_id)
        ):
            latest[model_id] = newest
    return [
        RegisteredModel(
            id=row.id, name=row.name, description=row.description, tags=tags[row.id],
            aliases=aliases[row.id], latest_version=latest.get(row.id), created_by=row.created_by,
            created_at=aware(row.created_at), updated_at=aware(row.updated_at),
        )
        for row in rows
    ]


def create_model(
    session: Session, *, model_id: str, name: str, description: str | None,
    tags: dict[str, str], created_by: str | None, now: datetime,
) -> RegisteredModel:
    if session.scalar(select(RegisteredModelRow.id).where(RegisteredModelRow.name == name)):
        raise AlreadyExists(f"registered model '{name}' already exists")
    row = RegisteredModelRow(
        id=model_id, name=name, description=description, last_version=0,
        created_by=created_by, created_at=now, updated_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except sa_exc.IntegrityError:  # a concurrent writer took the name between check and insert
        raise AlreadyExists(f"registered model '{name}' already exists") from None
    set_model_tags(session, row.id, tags)
    return _models(session, [row], new=True)[0]


def get_model(session: Session, name: str) -> RegisteredModel:
    return _models(session, [model_row(session, name)])[0]


def model_entity(session: Session, row: RegisteredModelRow) -> RegisteredModel:
    return _models(session, [row])[0]


def find_model(session: Session, name: str) -> RegisteredModel | None:
    row = session.scalar(select(RegisteredModelRow).where(RegisteredModelRow.name == name))
    return _models(session, [row])[0] if row is not None else None


def model_id_of(session: Session, name: str) -> str | None:
    return session.scalar(select(RegisteredModelRow.id).where(RegisteredModelRow.name == name))


def model_tag(session: Session, model_id: str, key: str) -> str | None:
    return session.scalar(select(RegisteredModelTagRow.value).where(
        RegisteredModelTagRow.model_id == model_id, RegisteredModelTagRow.key == key))


def touch_model(session: Session, row: RegisteredModelRow, now: datetime, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = now
    session.flush()


def rename_model(session: Session, row: RegisteredModelRow, new_name: str, now: datetime) -> None:
    if session.scalar(select(RegisteredModelRow.id).where(RegisteredModelRow.name == new_name)):
        raise AlreadyExists(f"registered model '{new_name}' already exists")
    touch_model(session, row, now, name=new_name)


def versions_with_status(session: Session, model_id: str, statuses: Sequence[str]) -> list[int]:
    return list(session.scalars(
        select(ModelVersionRow.version).where(ModelVersionRow.model_id == model_id, ModelVersionRow.status.in_(statuses))
        .order_by(ModelVersionRow.version)
    ))


def versions_backed_by(
    session: Session, statuses: Sequence[str], *, run_id: str | None = None, experiment_id: str | None = None,
) -> list[tuple[str, int, str]]:
    """(model, version, status) of versions in ``statuses`` whose source run is ``run_id`` or in the experiment."""
    stmt = (select(RegisteredModelRow.name, ModelVersionRow.version, ModelVersionRow.status)
            .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
            .where(ModelVersionRow.status.in_(statuses)))
    if run_id is not None:
        stmt = stmt.where(ModelVersionRow.source_run_id == run_id)
    if experiment_id is not None:
        stmt = stmt.where(ModelVersionRow.source_run_id.in_(
            select(RunRow.id).where(RunRow.experiment_id == experiment_id)))
    return [(name, version, status) for name, version, status in session.execute(stmt.limit(20))]


def aliases_of(session: Session, model_id: str) -> dict[str, int]:
    """alias -> version number, for one model."""
    rows = session.execute(
        select(ModelAliasRow.alias, ModelVersionRow.version)
        .join(ModelVersionRow, ModelVersionRow.pk == ModelAliasRow.version_pk).where(ModelAliasRow.model_id == model_id)
    )
    return {alias: version for alias, version in rows}


def set_model_tags(session: Session, model_id: str, tags: dict[str, str]) -> None:
    upsert(
        session, RegisteredModelTagRow,
        [{"model_id": model_id, "key": k, "value": v} for k, v in tags.items()],
        keys=["model_id", "key"], update=["value"],
    )


def delete_model_tag(session: Session, model_id: str, key: str) -> None:
    result = session.execute(
        delete(RegisteredModelTagRow).where(
            RegisteredModelTagRow.model_id == model_id, RegisteredModelTagRow.key == key
        )
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"tag '{key}' does not exist on this registered model")


def delete_model(session: Session, row: RegisteredModelRow) -> None:
    """The model and everything under it: aliases first (they hold versions), then the rest."""
    session.execute(delete(ModelAliasRow).where(ModelAliasRow.model_id == row.id))
    session.execute(delete(RegisteredModelRow).where(RegisteredModelRow.id == row.id))


def search_models(
    session: Session, conditions: list[Condition], *, limit: int, offset: int
) -> tuple[list[RegisteredModel], bool]:
    stmt = select(RegisteredModelRow).where(
        _where(conditions, {"name": RegisteredModelRow.name}, _model_tag_clause)
    )
    rows = list(session.scalars(stmt.order_by(RegisteredModelRow.name).limit(limit + 1).offset(offset)))
    return _models(session, rows[:limit]), len(rows) > limit


# -- versions ---------------------------------------------------------------------------------


def next_version_number(session: Session, row: RegisteredModelRow, *, touched_at: datetime | None = None) -> int:
    """Hand out the next number; the caller holds the model's row lock (see ``model_row``).

    ``touched_at`` also sets the model's ``updated_at`` (in the same UPDATE)."""
    row.last_version = (row.last_version or 0) + 1
    if touched_at is not None:
        row.updated_at = touched_at
    session.flush()
    return row.last_version


def _versions(
    session: Session, rows: Sequence[ModelVersionRow], *, names: dict[str, str] | None = None, new: bool = False,
) -> list[ModelVersion]:
    """Versions with their tags, files and aliases; ``names`` (model id -> name) when the caller
    knows them, ``new`` for versions created in this transaction (no alias can name them yet)."""
    pks = [row.pk for row in rows]
    names = dict(names or {})
    if rows and not all(row.model_id in names for row in rows):
        for model_id, name in session.execute(
            select(RegisteredModelRow.id, RegisteredModelRow.name)
            .where(RegisteredModelRow.id.in_(sorted({row.model_id for row in rows})))
        ):
            names[model_id] = name
    tags: dict[int, dict[str, str]] = {pk: {} for pk in pks}
    files: dict[int, list[VersionFile]] = {pk: [] for pk in pks}
    aliases: dict[int, list[str]] = {pk: [] for pk in pks}
    if pks:
        for pk, key, value in session.execute(
            select(ModelVersionTagRow.version_pk, ModelVersionTagRow.key, ModelVersionTagRow.value)
            .where(ModelVersionTagRow.version_pk.in_(pks))
        ):
            tags[pk][key] = value
        for pk, path, digest, size in session.execute(
            select(ModelVersionFileRow.version_pk, ModelVersionFileRow.path, ModelVersionFileRow.digest,
                   ModelVersionFileRow.size)
            .where(ModelVersionFileRow.version_pk.in_(pks)).order_by(ModelVersionFileRow.path)
        ):
            files[pk].append(VersionFile(path=path, digest=digest, size=size))
        for pk, alias in [] if new else session.execute(
            select(ModelAliasRow.version_pk, ModelAliasRow.alias)
            .where(ModelAliasRow.version_pk.in_(pks)).order_by(ModelAliasRow.alias)
        ):
            aliases[pk].append(alias)
    return [
        ModelVersion(
            model_name=names[row.model_id], version=row.version, description=row.description,
            status=row.status, source=row.source, source_run_id=row.source_run_id,
            artifact_digest=row.artifact_digest, files=files[row.pk], flavor=row.flavor,
            signature=row.signature, requirements=list(row.requirements or []),
            metrics=dict(row.metrics or {}), card=row.card, tags=tags[row.pk], aliases=aliases[row.pk],
            created_by=row.created_by, created_at=aware(row.created_at), updated_at=aware(row.updated_at),
        )
        for row in rows
    ]


def add_version(
    session: Session, *, model: RegisteredModelRow, version: int, files: list[VersionFile],
    tags: dict[str, str], **fields: Any,
) -> ModelVersion:
    row = ModelVersionRow(model_id=model.id, version=version, **fields)
    session.add(row)
    session.flush()
    if files:
        session.execute(
            ModelVersionFileRow.__table__.insert(),
            [{"version_pk": row.pk, "path": f.path, "digest": f.digest, "size": f.size} for f in files],
        )
    set_version_tags(session, row.pk, tags)
    return _versions(session, [row], names={model.id: model.name}, new=True)[0]


def version_row(session: Session, name: str, version: int) -> ModelVersionRow:
    row = session.scalar(
        select(ModelVersionRow).join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .where(RegisteredModelRow.name == name, ModelVersionRow.version == version)
    )
    if row is None:
        model_row(session, name)  # a missing model is the clearer message
        raise NotFound(f"version {version} of model '{name}' does not exist")
    return row


def get_version(session: Session, name: str, version: int) -> ModelVersion:
    return _versions(session, [version_row(session, name, version)])[0]


def version_entity(
    session: Session, row: ModelVersionRow, *, model: RegisteredModelRow | None = None
) -> ModelVersion:
    """The version of ``row``; pass its ``model`` row when at hand, to spare looking up its name."""
    return _versions(session, [row], names={model.id: model.name} if model is not None else None)[0]


def update_version(session: Session, row: ModelVersionRow, now: datetime, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = now
    session.flush()


def set_version_tags(session: Session, version_pk: int, tags: dict[str, str]) -> None:
    upsert(
        session, ModelVersionTagRow,
        [{"version_pk": version_pk, "key": k, "value": v} for k, v in tags.items()],
        keys=["version_pk", "key"], update=["value"],
    )


def delete_version_tag(session: Session, version_pk: int, key: str) -> None:
    result = session.execute(
        delete(ModelVersionTagRow).where(ModelVersionTagRow.version_pk == version_pk, ModelVersionTagRow.key == key)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"tag '{key}' does not exist on this model version")


def delete_version(session: Session, name: str, row: ModelVersionRow) -> None:
    """Refused while an alias points at the version: deleting it would leave the alias dangling."""
    held = list(session.scalars(select(ModelAliasRow.alias).where(ModelAliasRow.version_pk == row.pk)))
    if held:
        raise Conflict(
            f"version {row.version} of model '{name}' is pointed at by alias "
            f"{', '.join(repr(a) for a in sorted(held))}; move or delete the alias first"
        )
    session.execute(delete(ModelVersionRow).where(ModelVersionRow.pk == row.pk))


VERSION_ORDER_COLUMNS = {
    "name": RegisteredModelRow.name, "version_number": ModelVersionRow.version,
    "creation_timestamp": ModelVersionRow.created_at, "last_updated_timestamp": ModelVersionRow.updated_at,
}


def _version_order(order: Sequence[tuple[str, bool]] | None) -> list[Any]:
    """``order`` as (field, descending) pairs, ended by MLflow's tie-breakers (name ASC,
    version DESC); None: name, then newest version first."""
    if order is None:
        return [RegisteredModelRow.name, ModelVersionRow.version.desc()]
    clauses = [VERSION_ORDER_COLUMNS[f].desc() if desc else VERSION_ORDER_COLUMNS[f].asc() for f, desc in order]
    named = {f for f, _ in order}
    if "name" not in named:
        clauses.append(RegisteredModelRow.name.asc())
    if "version_number" not in named:
        clauses.append(ModelVersionRow.version.desc())
    return clauses


def search_versions(
    session: Session, conditions: list[Condition], *, limit: int, offset: int, model_name: str | None = None,
    order: Sequence[tuple[str, bool]] | None = None,
) -> tuple[list[ModelVersion], bool]:
    columns = {
        "name": RegisteredModelRow.name, "version_number": ModelVersionRow.version,
        "run_id": ModelVersionRow.source_run_id, "status": ModelVersionRow.status,
        "source": ModelVersionRow.source, "flavor": ModelVersionRow.flavor,
    }
    stmt = (
        select(ModelVersionRow)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .where(_where(conditions, columns, _version_tag_clause))
    )
    if model_name is not None:
        stmt = stmt.where(RegisteredModelRow.name == model_name)
    stmt = stmt.order_by(*_version_order(order))
    rows = list(session.scalars(stmt.limit(limit + 1).offset(offset)))
    return _versions(session, rows[:limit]), len(rows) > limit


def newest_per_stage(
    session: Session, model: RegisteredModelRow, stages: Sequence[str] | None = None
) -> list[ModelVersion]:
    """The newest version in each stage (the ``mlflow.current_stage`` tag, "None" without it),
    oldest first; only ``stages`` when given. One aggregate query, then only those versions."""
    stage = func.coalesce(ModelVersionTagRow.value, STAGE_NONE)
    stmt = (
        select(func.max(ModelVersionRow.version))
        .select_from(ModelVersionRow)
        .outerjoin(ModelVersionTagRow, and_(ModelVersionTagRow.version_pk == ModelVersionRow.pk,
                                            ModelVersionTagRow.key == STAGE_TAG))
        .where(ModelVersionRow.model_id == model.id)
        .group_by(stage)
    )
    if stages is not None:
        stmt = stmt.where(stage.in_(list(stages)))
    numbers = [number for number in session.scalars(stmt) if number is not None]
    if not numbers:
        return []
    rows = session.scalars(
        select(ModelVersionRow)
        .where(ModelVersionRow.model_id == model.id, ModelVersionRow.version.in_(numbers))
        .order_by(ModelVersionRow.version)
    )
    return _versions(session, list(rows), names={model.id: model.name})


def files_of(session: Session, row: ModelVersionRow) -> list[VersionFile]:
    return _versions(session, [row])[0].files


# -- aliases ----------------------------------------------------------------------------------


def set_alias(
    session: Session, *, model: RegisteredModelRow, alias: str, version: ModelVersionRow,
    actor: str | None, reason: str | None, now: datetime,
) -> None:
    upsert(
        session, ModelAliasRow,
        [{"model_id": model.id, "alias": alias, "version_pk": version.pk, "updated_at": now}],
        keys=["model_id", "alias"], update=["version_pk", "updated_at"],
    )
    _record_alias_event(session, model.id, alias, version.version, actor, reason, now)


def delete_alias(
    session: Session, *, model: RegisteredModelRow, alias: str, actor: str | None,
    reason: str | None, now: datetime,
) -> None:
    result = session.execute(
        delete(ModelAliasRow).where(ModelAliasRow.model_id == model.id, ModelAliasRow.alias == alias)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"alias '{alias}' does not exist on model '{model.name}'")
    _record_alias_event(session, model.id, alias, None, actor, reason, now)


def _record_alias_event(
    session: Session, model_id: str, alias: str, version: int | None,
    actor: str | None, reason: str | None, now: datetime,
) -> None:
    session.add(ModelAliasEventRow(model_id=model_id, alias=alias, version=version, actor=actor, at=now, reason=reason))
    session.flush()


def alias_target(session: Session, model: RegisteredModelRow, alias: str) -> ModelVersionRow:
    row = session.scalar(
        select(ModelVersionRow).join(ModelAliasRow, ModelAliasRow.version_pk == ModelVersionRow.pk)
        .where(ModelAliasRow.model_id == model.id, ModelAliasRow.alias == alias)
    )
    if row is None:
        raise NotFound(f"alias '{alias}' does not exist on model '{model.name}'")
    return row


def alias_version_at(session: Session, model: RegisteredModelRow, alias: str, as_of: datetime) -> int | None:
    """The version the alias named at ``as_of`` (None: unset then), from the history, in one query."""
    event = session.execute(
        select(ModelAliasEventRow.version)
        .where(ModelAliasEventRow.model_id == model.id, ModelAliasEventRow.alias == alias,
               ModelAliasEventRow.at <= as_of)
        .order_by(ModelAliasEventRow.at.desc(), ModelAliasEventRow.id.desc()).limit(1)
    ).first()
    return None if event is None else event.version


def alias_history(session: Session, model: RegisteredModelRow, alias: str | None = None) -> list[AliasEvent]:
    stmt = select(ModelAliasEventRow).where(ModelAliasEventRow.model_id == model.id)
    if alias is not None:
        stmt = stmt.where(ModelAliasEventRow.alias == alias)
    rows = session.scalars(stmt.order_by(ModelAliasEventRow.at, ModelAliasEventRow.id))
    return [
        AliasEvent(model_name=model.name, alias=r.alias, version=r.version, actor=r.actor, at=aware(r.at), reason=r.reason)
        for r in rows
    ]


# -- filters ----------------------------------------------------------------------------------
#
# A tag comparison means "the tag exists and its value matches": a model without the tag
# matches neither ``tags.k = 'a'`` nor ``tags.k != 'a'``, as in MLflow (its SQL store
# inner-joins the tag rows; its file store answers False for a missing tag). MLflow makes one
# exception, and so do we: a model or version without ``mlflow.prompt.is_prompt`` is not a
# prompt, so that tag reads as 'false' when missing. MLflow's client adds
# ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every search_registered_models and
# search_model_versions call, which must keep matching ordinary models.

TAG_DEFAULTS = {"mlflow.prompt.is_prompt": "false"}
"""Tags that read as a value when missing (MLflow's ``SearchModelUtils`` special case)."""


def _model_tag_clause(key: str, clause: Any) -> ColumnElement[bool]:
    return _tag_clause(RegisteredModelTagRow.model_id == RegisteredModelRow.id, RegisteredModelTagRow, key, clause)


def _version_tag_clause(key: str, clause: Any) -> ColumnElement[bool]:
    return _tag_clause(ModelVersionTagRow.version_pk == ModelVersionRow.pk, ModelVersionTagRow, key, clause)


def _tag_clause(owned: Any, row: Any, key: str, clause: Any) -> ColumnElement[bool]:
    found = exists().where(owned, row.key == key, clause(row.value))
    if key not in TAG_DEFAULTS:
        return found
    missing = ~exists().where(owned, row.key == key)
    return or_(found, and_(missing, clause(literal(TAG_DEFAULTS[key]))))


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return column == value  # type: ignore[no-any-return]
    if op == "!=":
        return column != value  # type: ignore[no-any-return]
    if op == "<":
        return column < value  # type: ignore[no-any-return]
    if op == "<=":
        return column <= value  # type: ignore[no-any-return]
    if op == ">":
        return column > value  # type: ignore[no-any-return]
    if op == ">=":
        return column >= value  # type: ignore[no-any-return]
    if op == "LIKE":
        return case_sensitive_like(column, value)  # SQLite's own LIKE folds case
    if op == "ILIKE":
        return func.lower(column).like(func.lower(value))
    if op == "IN":
        return column.in_(list(value))  # type: ignore[no-any-return]
    return column.not_in(list(value))  # type: ignore[no-any-return]


def _where(conditions: list[Condition], columns: dict[str, Any], tag_clause: Any) -> ColumnElement[bool]:
    clauses = []
    for c in conditions:
        if c.field == "tags":
            clauses.append(tag_clause(c.tag, lambda col, c=c: _compare(col, c.op, c.value)))
        else:
            clauses.append(_compare(columns[c.field], c.op, c.value))
    return and_(true(), *clauses)

