"""Business KPIs in the database: the values logged per endpoint (``business_metrics``) and the
figures per window, which add the ``values`` of the feedback on the endpoint's live answers.

The figures are one GROUP BY on the database over the union of both sources; the feedback's JSON
object is unpacked there too (``json_each`` on SQLite, ``json_each_text`` on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Float, and_, case, cast, func, insert, literal, literal_column, select, true, union_all,
)
from sqlalchemy.orm import Session

from modelward.store.backend import rows_written
from modelward.store.dialect import bucket_epoch, time_bucket
from modelward.store.rows.kpis import BusinessMetricRow
from modelward.store.rows.predictions import PredictionFeedbackRow, PredictionIndexRow



def add(session: Session, values: Sequence[dict[str, Any]]) -> int:
    """Insert checked rows (endpoint, name, value, at, version, request_id, actor, recorded_at)."""
    if not values:
        return 0
    rows = [{**v, "at": v["at"].astimezone(UTC), "recorded_at": v["recorded_at"].astimezone(UTC)} for v in values]
    session.flush()
    session.connection().execute(insert(BusinessMetricRow), rows)
    rows_written(session, BusinessMetricRow.__tablename__, len(rows))
    return len(rows)


def figures(
    session: Session, endpoint: str, *, since: datetime, until: datetime, width_s: int | None,
    names: Sequence[str] | None, version: int | None,
) -> list[dict[str, Any]]:
    """Per (window start in epoch seconds, or None for the whole range; KPI name; version): count,
    sum, min, max of the values in [since, until), and which sources gave them (``logged``,
    ``feedback``: booleans). Unordered."""
    scope: dict[str, Any] = {"since": since, "until": until, "width_s": width_s, "names": names, "version": version}
    both = union_all(_logged(session, endpoint, **scope), _feedback(session, endpoint, **scope)).subquery("kpi")
    keys = [both.c.bucket, both.c.name, both.c.version]
    query = select(*keys, func.count(), func.sum(both.c.value), func.min(both.c.value), func.max(both.c.value),
                   func.max(both.c.logged), func.max(both.c.feedback)).group_by(*keys)
    found = []
    rows: Any = session.execute(query)
    for bucket, name, v, count, total, low, high, logged, feedback in rows:
        found.append({"bucket": None if width_s is None else bucket_epoch(bucket), "name": name,
                      "version": None if v is None else int(v), "count": int(count), "sum": float(total),
                      "min": float(low), "max": float(high), "logged": bool(logged), "feedback": bool(feedback)})
    return found


def _logged(
    session: Session, endpoint: str, *, since: datetime, until: datetime, width_s: int | None,
    names: Sequence[str] | None, version: int | None,
) -> Any:
    row = BusinessMetricRow
    columns = [row.name.label("name"), row.version.label("version"), row.value.label("value"),
               literal(1).label("logged"), literal(0).label("feedback")]
    query = select(*_with_bucket(session, row.at, width_s, columns)).where(
        row.endpoint == endpoint, row.at >= since, row.at < until)
    if names is not None:
        query = query.where(row.name.in_(list(names)))
    return query if version is None else query.where(row.version == version)


def _feedback(
    session: Session, endpoint: str, *, since: datetime, until: datetime, width_s: int | None,
    names: Sequence[str] | None, version: int | None,
) -> Any:
    """One row per (feedback, KPI name) of the endpoint's live answers in range, at the answer's
    time and version."""
    answer, feedback = PredictionIndexRow, PredictionFeedbackRow
    entries = _object_entries(session, feedback.values)
    columns = [entries.c.key.label("name"), answer.version.label("version"),
               cast(entries.c.value, Float).label("value"), literal(0).label("logged"), literal(1).label("feedback")]
    query = (select(*_with_bucket(session, answer.at, width_s, columns))
             .select_from(feedback)
             .join(answer, and_(answer.request_id == feedback.request_id, answer.mode == "live",
                                answer.endpoint == endpoint))
             .join(entries, true())
             .where(feedback.endpoint == endpoint, answer.at >= since, answer.at < until))
    if names is not None:
        query = query.where(entries.c.key.in_(list(names)))
    return query if version is None else query.where(answer.version == version)


def _object_entries(session: Session, column: Any) -> Any:
    """The (key, value) pairs of a JSON object column as a table; nothing for NULL, JSON null or
    (SQLite, which stores the text unchecked) text that is not JSON."""
    if _postgres(session):
        only_objects = case((func.json_typeof(column) == "object", column))
        return func.json_each_text(only_objects).table_valued("key", "value").alias("entry")
    only_objects = case((func.json_valid(column) == 0, None), (func.json_type(column) == "object", column))
    return func.json_each(only_objects).table_valued("key", "value").alias("entry")


def _with_bucket(session: Session, at: Any, width_s: int | None, columns: list[Any]) -> list[Any]:
    # The whole range is one bucket, 0: a constant we wrote, safe inline.
    bucket = literal_column("0") if width_s is None else time_bucket(session, at, width_s)
    return [bucket.label("bucket"), *columns]


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
