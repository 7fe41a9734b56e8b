"""Run search compiled to SQLAlchemy: filters become correlated EXISTS, orderings outer joins.

Values always travel as bound parameters. A comparison on a metric, param or tag means
"the run has this key and its value matches", so ``!=`` and ``NOT IN`` need the key to
exist and ``IS NULL`` means the run has no such key. That is MLflow's rule on both of its
stores (mlflow/store/tracking/sqlalchemy_store.py inner-joins the key's rows;
``SearchUtils._does_run_match_clause`` answers False for a missing key).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    and_,
    inspect,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from modelward.domain.search import (
    TIME_ATTRIBUTES,
    And,
    Comparison,
    Expr,
    Field,
    Not,
    Or,
    OrderKey,
    Value,
    as_utc_datetime,
)
from modelward.store.rows import ExperimentRow, ExperimentTagRow, LatestMetricRow, ParamRow, RunRow, TagRow

SelectT = TypeVar("SelectT", bound=Select[Any])
KeyedRow = type[LatestMetricRow] | type[ParamRow] | type[TagRow]

_KEYED: dict[str, KeyedRow] = {"metrics": LatestMetricRow, "params": ParamRow, "tags": TagRow}
_NULLABLE = frozenset(c.key for c in inspect(RunRow).columns if c.nullable)
_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "LIKE": lambda column, pattern: _CaseSensitiveLike(
        column, literal(pattern), literal(_like_to_glob(pattern))
    ),
    "ILIKE": lambda column, pattern: column.ilike(pattern, escape="\\"),
    "IN": lambda column, values: column.in_(values),
    "NOT IN": lambda column, values: column.not_in(values),
}


def case_sensitive_like(column: Any, pattern: str) -> ColumnElement[bool]:
    """``column LIKE pattern``, case-sensitive on every database (MLflow's LIKE; ILIKE folds case)."""
    return _COMPARE["LIKE"](column, pattern)


def run_filter_clause(expr: Expr | None) -> ColumnElement[bool]:
    """A WHERE clause over ``RunRow`` for a parsed filter (``true()`` for no filter)."""
    if expr is None:
        return true()
    if isinstance(expr, And):
        return and_(*(run_filter_clause(item) for item in expr.items))
    if isinstance(expr, Or):
        return or_(*(run_filter_clause(item) for item in expr.items))
    if isinstance(expr, Not):
        return not_(run_filter_clause(expr.item))
    if expr.field.kind == "attributes":
        return _attribute_clause(expr)
    return _keyed_clause(expr)


def apply_order(stmt: SelectT, order_keys: Sequence[OrderKey]) -> SelectT:
    """Order a select over ``RunRow``; missing values sort last in both directions.

    ``start_time DESC, id ASC`` always ends the ordering, so pages are stable: runs that
    started in the same millisecond come in run id order, as in MLflow's SQL store
    (``SqlRun.start_time.desc(), SqlRun.run_uuid``), in one order on every page.
    """
    clauses: list[ColumnElement[Any]] = []
    for order in order_keys:
        stmt, column, nullable = _order_column(stmt, order.field)
        if nullable:
            # NULLS LAST is not portable (SQLite < 3.30); false sorts before true everywhere.
            clauses.append(column.is_(None))
        clauses.append(column.desc() if order.descending else column.asc())
    return stmt.order_by(*clauses, RunRow.start_time.desc(), RunRow.id.asc())


def split_on_leading_key(stmt: SelectT, order_keys: Sequence[OrderKey]) -> tuple[SelectT, SelectT]:
    """For an ordering led by a metric, param or tag: (runs that have a value for it, in
    order; runs that have none, in order). Together, in that sequence, they are exactly
    ``apply_order(stmt, order_keys)``; apart, the first can walk the (key, value) index
    and stop at the page's end instead of sorting every run of the experiment.
    """
    first, rest = order_keys[0], order_keys[1:]
    row = aliased(_KEYED[first.field.kind])
    present = and_(row.run_pk == RunRow.pk, row.key == first.field.key, row.value.is_not(None))
    having = stmt.join(row, present).order_by(row.value.desc() if first.descending else row.value.asc())
    lacking_row = aliased(_KEYED[first.field.kind])
    lacking = stmt.where(~select(literal_column("1")).where(
        lacking_row.run_pk == RunRow.pk, lacking_row.key == first.field.key, lacking_row.value.is_not(None)
    ).correlate(RunRow).exists())
    return apply_order(having, rest), apply_order(lacking, rest)


def _order_column(stmt: SelectT, field: Field) -> tuple[SelectT, ColumnElement[Any], bool]:
    if field.kind == "attributes":
        return stmt, getattr(RunRow, field.key), field.key in _NULLABLE
    row = aliased(_KEYED[field.kind])
    # (run_pk, key) is the primary key, so the join adds at most one row per run.
    stmt = stmt.outerjoin(row, and_(row.run_pk == RunRow.pk, row.key == field.key))
    return stmt, row.value, True


def _keyed_clause(cmp: Comparison) -> ColumnElement[bool]:
    row = _KEYED[cmp.field.kind]
    conditions: list[ColumnElement[bool]] = [row.run_pk == RunRow.pk, row.key == cmp.field.key]
    if cmp.op not in ("IS NULL", "IS NOT NULL"):
        convert = float if cmp.field.kind == "metrics" else str
        conditions.append(_COMPARE[cmp.op](row.value, _bind(cmp.value, convert)))
    found = select(literal_column("1")).where(*conditions).correlate(RunRow).exists()
    return not_(found) if cmp.op == "IS NULL" else found


def _attribute_clause(cmp: Comparison) -> ColumnElement[bool]:
    column = getattr(RunRow, cmp.field.key)
    if cmp.op == "IS NULL":
        return column.is_(None)  # type: ignore[no-any-return]
    if cmp.op == "IS NOT NULL":
        return column.is_not(None)  # type: ignore[no-any-return]
    convert = as_utc_datetime if cmp.field.key in TIME_ATTRIBUTES else str
    clause = _COMPARE[cmp.op](column, _bind(cmp.value, convert))
    if cmp.field.key in _NULLABLE:
        # Keep the result two-valued so that NOT (name = 'a') also matches unnamed runs.
        clause = and_(column.is_not(None), clause)
    return clause


def _bind(value: Value | tuple[Value, ...] | None, convert: Callable[[Any], Any]) -> Any:
    if isinstance(value, tuple):
        return [convert(v) for v in value]
    return convert(value)


class _CaseSensitiveLike(FunctionElement[bool]):
    """``column LIKE pattern`` that is case-sensitive everywhere; SQLite's LIKE folds case."""

    type = Boolean()
    inherit_cache = True
    name = "case_sensitive_like"


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _glob = element.clauses
    like = column.like(pattern, escape="\\")
    return f"({compiler.process(like, **kw)})"


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_glob(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, _pattern, glob = element.clauses
    return f"({compiler.process(column, **kw)} GLOB {compiler.process(glob, **kw)})"


def _like_to_glob(pattern: str) -> str:
    """Translate a LIKE pattern (backslash escapes) into the same GLOB pattern."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            if char == "\\":
                char = next(chars, "\\")
            out.append(f"[{char}]" if char in "*?[" else char)
    return "".join(out)


# -- experiments (MLflow's experiment search) --------------------------------------------

_EXPERIMENT_COLUMNS = {
    "name": ExperimentRow.name, "experiment_id": ExperimentRow.id, "lifecycle": ExperimentRow.lifecycle,
    "creation_time": ExperimentRow.created_at, "last_update_time": ExperimentRow.updated_at,
}
_EXPERIMENT_TIMES = frozenset({"creation_time", "last_update_time"})


def experiment_filter_clause(expr: Expr | None) -> ColumnElement[bool]:
    """A WHERE clause over ``ExperimentRow`` for a filter parsed with the EXPERIMENTS
    vocabulary: attributes and ``tags.<key>`` (a tag comparison needs the tag to exist)."""
    if expr is None:
        return true()
    if isinstance(expr, And):
        return and_(*(experiment_filter_clause(item) for item in expr.items))
    if isinstance(expr, Or):
        return or_(*(experiment_filter_clause(item) for item in expr.items))
    if isinstance(expr, Not):
        return not_(experiment_filter_clause(expr.item))
    if expr.field.kind == "tags":
        conditions: list[ColumnElement[bool]] = [
            ExperimentTagRow.experiment_id == ExperimentRow.id, ExperimentTagRow.key == expr.field.key]
        if expr.op not in ("IS NULL", "IS NOT NULL"):
            conditions.append(_COMPARE[expr.op](ExperimentTagRow.value, _bind(expr.value, str)))
        found = select(literal_column("1")).where(*conditions).correlate(ExperimentRow).exists()
        return not_(found) if expr.op == "IS NULL" else found
    column = _EXPERIMENT_COLUMNS[expr.field.key]
    if expr.op == "IS NULL":
        return column.is_(None)  # type: ignore[no-any-return]
    if expr.op == "IS NOT NULL":
        return column.is_not(None)  # type: ignore[no-any-return]
    convert = as_utc_datetime if expr.field.key in _EXPERIMENT_TIMES else str
    return _COMPARE[expr.op](column, _bind(expr.value, convert))


def apply_experiment_order(stmt: SelectT, order_keys: Sequence[OrderKey]) -> SelectT:
    """Order a select over ``ExperimentRow`` as MLflow's SQL store does: by default
    ``creation_time DESC``, and ``experiment_id ASC`` always last, breaking ties."""
    clauses: list[ColumnElement[Any]] = []
    for order in order_keys:
        column = _EXPERIMENT_COLUMNS[order.field.key]
        clauses.append(column.desc() if order.descending else column.asc())
    if not clauses:
        clauses.append(ExperimentRow.created_at.desc())
    return stmt.order_by(*clauses, ExperimentRow.id.asc())


__all__ = ["apply_experiment_order", "apply_order", "case_sensitive_like", "experiment_filter_clause", "run_filter_clause",
           "split_on_leading_key"]
