"""Run queries: the run itself, its params, tags, metrics, and search. Never commit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, tuple_
from sqlalchemy import insert as sql_insert
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from modelward.domain.search import Expr, OrderKey
from modelward.domain.tracking import Lifecycle, Metric, ProcessInfo, Run, RunStatus
from modelward.errors import Conflict, InvalidInput, NotFound
from modelward.store.backend import rows_written
from modelward.store.dialect import aware, upsert
from modelward.store.rows import LatestMetricRow, MetricRow, ParamRow, RunRow, TagRow
from modelward.store.search import apply_order, run_filter_clause, split_on_leading_key


def _row(session: Session, run_id: str) -> RunRow:
    row = session.scalar(select(RunRow).where(RunRow.id == run_id))
    if row is None:
        raise NotFound(f"run '{run_id}' does not exist")
    return row


def pk_of(session: Session, run_id: str) -> int:
    pk = session.scalar(select(RunRow.pk).where(RunRow.id == run_id))
    if pk is None:
        raise NotFound(f"run '{run_id}' does not exist")
    return pk


_PK_AND_LIFECYCLE = select(RunRow.pk, RunRow.lifecycle).where(RunRow.id == bindparam("run_id"))


def writable_pk(session: Session, run_id: str) -> int:
    """The run's key, refusing deleted runs: nothing is logged to a run in the bin."""
    # Every write starts here: one prepared statement on the connection, not a new ORM query.
    row = session.connection().execute(_PK_AND_LIFECYCLE, {"run_id": run_id}).first()
    if row is None:
        raise NotFound(f"run '{run_id}' does not exist")
    _refuse_deleted(run_id, row.lifecycle)
    return int(row.pk)


def _refuse_deleted(run_id: str, lifecycle: str) -> None:
    if lifecycle != Lifecycle.ACTIVE.value:
        raise Conflict(f"run '{run_id}' is deleted; restore it before logging to it")


def writable_row(session: Session, run_id: str) -> RunRow:
    """``writable_pk``'s checks, answering the whole row (for ``update_row``)."""
    row = _row(session, run_id)
    _refuse_deleted(run_id, row.lifecycle)
    return row


def row_of(session: Session, run_id: str) -> RunRow:
    return _row(session, run_id)


def experiment_id_of(session: Session, run_id: str) -> str:
    experiment_id = session.scalar(select(RunRow.experiment_id).where(RunRow.id == run_id))
    if experiment_id is None:
        raise NotFound(f"run '{run_id}' does not exist")
    return experiment_id


def latest_metrics(session: Session, run_pk: int) -> dict[str, float]:
    """The run's latest value of each metric (what ``Run.metrics`` holds), in one query."""
    return {
        key: _nan_if_null(value)
        for key, value in session.execute(
            select(LatestMetricRow.key, LatestMetricRow.value).where(LatestMetricRow.run_pk == run_pk)
        )
    }


def _to_entity(
    row: RunRow, params: dict[str, str], metrics: dict[str, float], tags: dict[str, str]
) -> Run:
    return Run(
        id=row.id,
        experiment_id=row.experiment_id,
        name=row.name,
        status=RunStatus(row.status),
        lifecycle=Lifecycle(row.lifecycle),
        user=row.user,
        parent_run_id=row.parent_run_id,
        start_time=aware(row.start_time),
        end_time=aware(row.end_time) if row.end_time else None,
        error_message=row.error_message,
        error_traceback=row.error_traceback,
        process=ProcessInfo(
            pipeline_run_id=row.pipeline_run_id,
            trigger_type=row.trigger_type,
            process_type=row.process_type,
            step_name=row.step_name,
        ),
        environment=row.environment or {},
        params=params,
        metrics=metrics,
        tags=tags,
    )


def _entities(session: Session, rows: Sequence[RunRow]) -> list[Run]:
    """Runs with their data, in three queries whatever the number of runs."""
    pks = [row.pk for row in rows]
    params: dict[int, dict[str, str]] = {pk: {} for pk in pks}
    tags: dict[int, dict[str, str]] = {pk: {} for pk in pks}
    metrics: dict[int, dict[str, float]] = {pk: {} for pk in pks}
    if pks:
        for run_pk, key, value in session.execute(
            select(ParamRow.run_pk, ParamRow.key, ParamRow.value).where(ParamRow.run_pk.in_(pks))
        ):
            params[run_pk][key] = value
        for run_pk, key, value in session.execute(
            select(TagRow.run_pk, TagRow.key, TagRow.value).where(TagRow.run_pk.in_(pks))
        ):
            tags[run_pk][key] = value
        for run_pk, key, value in session.execute(
            select(LatestMetricRow.run_pk, LatestMetricRow.key, LatestMetricRow.value).where(
                LatestMetricRow.run_pk.in_(pks)
            )
        ):
            metrics[run_pk][key] = _nan_if_null(value)
    return [_to_entity(row, params[row.pk], metrics[row.pk], tags[row.pk]) for row in rows]


def create(session: Session, *, tags: dict[str, str] | None = None, **fields: Any) -> Run:
    """A new run, with ``tags``. Being new, it has no params or metrics: only its tags are read back."""
    return create_with_pk(session, tags=tags, **fields)[0]


def create_with_pk(session: Session, *, tags: dict[str, str] | None = None, **fields: Any) -> tuple[Run, int]:
    """``create``, and the new run's key (to record its creator without looking it up)."""
    row = RunRow(**fields)
    session.add(row)
    session.flush()
    read_tags: dict[str, str] = {}
    if tags:
        set_tags(session, row.pk, tags)
        read_tags = dict(session.execute(select(TagRow.key, TagRow.value).where(TagRow.run_pk == row.pk)).all())
    return _to_entity(row, {}, {}, read_tags), row.pk


def get(session: Session, run_id: str) -> Run:
    return _entities(session, [_row(session, run_id)])[0]


def get_many(session: Session, run_ids: Sequence[str]) -> list[Run]:
    rows = {row.id: row for row in session.scalars(select(RunRow).where(RunRow.id.in_(run_ids)))}
    missing = [run_id for run_id in run_ids if run_id not in rows]
    if missing:
        raise NotFound(f"run '{missing[0]}' does not exist")
    return _entities(session, [rows[run_id] for run_id in run_ids])


def update(session: Session, run_id: str, **fields: Any) -> Run:
    return update_row(session, _row(session, run_id), **fields)


def update_row(session: Session, row: RunRow, **fields: Any) -> Run:
    for name, value in fields.items():
        setattr(row, name, value)
    session.flush()
    return _entities(session, [row])[0]


def set_lifecycle(session: Session, run_id: str, lifecycle: Lifecycle, when: datetime | None) -> None:
    row = _row(session, run_id)
    row.lifecycle = lifecycle.value
    row.deleted_at = when if lifecycle is Lifecycle.DELETED else None
    session.flush()


def purge(session: Session, run_id: str) -> None:
    session.execute(delete(RunRow).where(RunRow.id == _row(session, run_id).id))


def log_params(session: Session, run_pk: int, params: dict[str, str]) -> None:
    """Params are write-once: the same value again is fine, a different one is refused."""
    if not params:
        return
    connection = session.connection()
    existing: dict[str, str] = {
        key: value for key, value in connection.execute(_PARAMS_NAMED, {"run_pk": run_pk, "keys": list(params)})
    }
    for key, old in existing.items():
        if old != params[key]:
            raise InvalidInput(
                f"param '{key}' was already logged with value '{old}'; "
                f"refusing to change it to '{params[key]}' (params are immutable)"
            )
    new = [{"run_pk": run_pk, "key": k, "value": v} for k, v in params.items() if k not in existing]
    if new:
        connection.execute(_INSERT_PARAM, new)


_PARAMS_NAMED = select(ParamRow.key, ParamRow.value).where(
    ParamRow.run_pk == bindparam("run_pk"), ParamRow.key.in_(bindparam("keys", expanding=True))
)
_INSERT_PARAM = ParamRow.__table__.insert()


def set_tags(session: Session, run_pk: int, tags: dict[str, str]) -> None:
    upsert(
        session,
        TagRow,
        [{"run_pk": run_pk, "key": k, "value": v} for k, v in tags.items()],
        keys=["run_pk", "key"],
        update=["value"],
    )


def delete_tag(session: Session, run_pk: int, key: str) -> None:
    result = session.execute(delete(TagRow).where(TagRow.run_pk == run_pk, TagRow.key == key))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"tag '{key}' does not exist on this run")


def log_metrics(
    session: Session,
    run_pk: int,
    keys: Sequence[str],
    values: Sequence[float],
    steps: Sequence[int],
    timestamps_ms: Sequence[int],
) -> None:
    """Append metric points and move each key's latest value forward."""
    rows = [
        (run_pk, k, None if v != v else v, s, t)  # NaN is stored as NULL
        for k, v, s, t in zip(keys, values, steps, timestamps_ms, strict=True)
    ]
    if not rows:
        return
    # The hot path of ingestion: the driver's own executemany over tuples is twice as fast
    # as SQLAlchemy's per-row parameter processing, and the SQL has no user input.
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(  # a point already stored (a retried batch) is stored once
        f'INSERT INTO metrics (run_pk, "key", value, step, timestamp_ms) VALUES ({", ".join([mark] * 5)})'
        " ON CONFLICT DO NOTHING",
        rows,
    )
    rows_written(session, "metrics", len(rows))
    newest: dict[str, tuple[int, str, float | None, int, int]] = {}
    for row in rows:
        held = newest.get(row[1])
        if held is None or (row[3], row[4]) >= (held[3], held[4]):
            newest[row[1]] = row
    upsert(
        session,
        LatestMetricRow,
        [{"run_pk": r[0], "key": r[1], "value": r[2], "step": r[3], "timestamp_ms": r[4]} for r in newest.values()],
        keys=["run_pk", "key"],
        update=["value", "step", "timestamp_ms"],
        where=_newer_point,
    )


def _newer_point(excluded: Any) -> Any:
    return tuple_(excluded.step, excluded.timestamp_ms) >= tuple_(LatestMetricRow.step, LatestMetricRow.timestamp_ms)


def metric_history(session: Session, run_pk: int, key: str) -> list[Metric]:
    rows = session.execute(
        select(MetricRow.key, MetricRow.value, MetricRow.step, MetricRow.timestamp_ms)
        .where(MetricRow.run_pk == run_pk, MetricRow.key == key)
        .order_by(MetricRow.step, MetricRow.timestamp_ms, MetricRow.id)
    )
    return [Metric(key=k, value=_nan_if_null(v), step=s, timestamp_ms=t) for k, v, s, t in rows]


def _nan_if_null(value: float | None) -> float:
    return math.nan if value is None else value


def metric_keys(session: Session, run_pk: int) -> list[str]:
    return list(
        session.scalars(
            select(LatestMetricRow.key).where(LatestMetricRow.run_pk == run_pk).order_by(LatestMetricRow.key)
        )
    )


def search(
    session: Session,
    *,
    experiment_ids: Sequence[str] | None,
    expr: Expr | None,
    order: list[OrderKey],
    lifecycle: Lifecycle | None,
    limit: int,
    offset: int,
) -> tuple[list[Run], bool]:
    """One page of runs, and whether another page follows."""
    stmt = select(RunRow).where(run_filter_clause(expr))
    if experiment_ids is not None:
        stmt = stmt.where(RunRow.experiment_id.in_(list(experiment_ids)))
    if lifecycle is not None:
        stmt = stmt.where(RunRow.lifecycle == lifecycle.value)
    if order and order[0].field.kind != "attributes":
        rows = _page_led_by_key(session, stmt, order, limit + 1, offset)
    else:
        rows = list(session.scalars(apply_order(stmt, order).limit(limit + 1).offset(offset)))
    return _entities(session, rows[:limit]), len(rows) > limit


def _page_led_by_key(session: Session, stmt: Any, order: list[OrderKey], size: int, offset: int) -> list[RunRow]:
    having, lacking = split_on_leading_key(stmt, order)
    rows = list(session.scalars(having.limit(size).offset(offset)))
    if len(rows) == size:
        return rows
    if rows or offset == 0:
        having_total = offset + len(rows)
    else:  # the page starts past every run that has the key: count them to place it
        having_total = session.scalar(select(func.count()).select_from(having.order_by(None).subquery())) or 0
    rest = session.scalars(lacking.limit(size - len(rows)).offset(max(offset - having_total, 0)))
    return rows + list(rest)


def count(session: Session, experiment_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(RunRow)
    if experiment_id is not None:
        stmt = stmt.where(RunRow.experiment_id == experiment_id)
    return session.scalar(stmt) or 0


def count_by_experiment(session: Session, experiment_ids: Sequence[str]) -> dict[str, int]:
    counts = {experiment_id: 0 for experiment_id in experiment_ids}
    if experiment_ids:
        rows = session.execute(
            select(RunRow.experiment_id, func.count())
            .where(RunRow.experiment_id.in_(list(experiment_ids)), RunRow.lifecycle == Lifecycle.ACTIVE.value)
            .group_by(RunRow.experiment_id)
        )
        counts.update({experiment_id: n for experiment_id, n in rows})
    return counts


def children_of(session: Session, run_id: str) -> list[str]:
    return list(session.scalars(select(RunRow.id).where(RunRow.parent_run_id == run_id)))


def record_heartbeat(session: Session, run_id: str, when: datetime) -> str:
    """Stamp a RUNNING run's heartbeat; answer the run's status (others are left alone)."""
    row = session.execute(select(RunRow.pk, RunRow.status, RunRow.lifecycle).where(RunRow.id == run_id)).first()
    if row is None:
        raise NotFound(f"run '{run_id}' does not exist")
    _refuse_deleted(run_id, row.lifecycle)
    if row.status == RunStatus.RUNNING.value:
        session.execute(sql_update(RunRow).where(RunRow.pk == row.pk).values(last_heartbeat_at=when))
    return str(row.status)


def silent_runs(session: Session, cutoff: datetime, limit: int) -> list[tuple[int, str, datetime]]:
    """RUNNING runs whose last heartbeat is older than ``cutoff`` (never-beating runs are not
    watched): (pk, id, last heartbeat), one index range scan."""
    rows = session.execute(
        select(RunRow.pk, RunRow.id, RunRow.last_heartbeat_at)
        .where(RunRow.status == RunStatus.RUNNING.value, RunRow.last_heartbeat_at < cutoff,
               RunRow.lifecycle == Lifecycle.ACTIVE.value)
        .order_by(RunRow.last_heartbeat_at)
        .limit(limit)
    )
    return [(pk, run_id, aware(beat)) for pk, run_id, beat in rows if beat is not None]


def kill_if_silent(session: Session, run_pk: int, cutoff: datetime, *, end_time: datetime, message: str) -> bool:
    """Mark the run KILLED if it is still RUNNING and still silent since before ``cutoff``
    (a heartbeat that arrived meanwhile wins); whether it was marked."""
    result = session.execute(
        sql_update(RunRow)
        .where(RunRow.pk == run_pk, RunRow.status == RunStatus.RUNNING.value, RunRow.last_heartbeat_at < cutoff)
        .values(status=RunStatus.KILLED.value, end_time=end_time, error_message=message)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def insert_runs(session: Session, runs: Sequence[dict[str, Any]]) -> list[int]:
    """New run rows in one flush (one multi-row INSERT where the driver allows); their keys."""
    rows = [RunRow(**fields) for fields in runs]
    session.add_all(rows)
    session.flush()
    rows_written(session, "runs", len(rows))
    return [row.pk for row in rows]


def insert_params_and_tags(
    session: Session, params: Sequence[tuple[int, dict[str, str]]], tags: Sequence[tuple[int, dict[str, str]]]
) -> None:
    """Params and tags of runs created in this transaction (they have none yet): one INSERT each."""
    param_rows = [{"run_pk": pk, "key": k, "value": v} for pk, items in params for k, v in items.items()]
    tag_rows = [{"run_pk": pk, "key": k, "value": v} for pk, items in tags for k, v in items.items()]
    if param_rows:
        session.execute(sql_insert(ParamRow), param_rows)
        rows_written(session, "params", len(param_rows))
    if tag_rows:
        session.execute(sql_insert(TagRow), tag_rows)
        rows_written(session, "tags", len(tag_rows))
