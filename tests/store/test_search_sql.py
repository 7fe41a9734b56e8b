from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from modelward.domain.search import parse_filter, parse_order_by
from modelward.store.rows import (
    Base,
    ExperimentRow,
    LatestMetricRow,
    ParamRow,
    RunRow,
    TagRow,
)
from modelward.store.search import apply_order, run_filter_clause

JAN = [datetime(2024, 1, day, 12, tzinfo=UTC) for day in range(1, 6)]

# run id -> (name, status, user, start, end, metrics, params, tags)
RUNS = {
    "r1": ("alpha", "FINISHED", "ann", JAN[0], JAN[1], {"acc": 0.9, "loss": 0.3},
           {"model": "resnet", "lr": "0.1"}, {"team": "cv", "mlflow.runName": "alpha"}),
    "r2": ("beta", "FAILED", "bob", JAN[1], None, {"acc": 0.7},
           {"model": "ResNet-50", "lr": "0.01"}, {"team": "nlp"}),
    "r3": (None, "RUNNING", "ann", JAN[2], None, {"acc": 0.95, "val/loss": 0.2},
           {"model": "bert"}, {}),
    "r4": ("delta", "FINISHED", None, JAN[3], JAN[4], {},
           {"my.param": "x", "model": "axb"}, {"team": "vision"}),
    # Same start as r2: only the tie-breaker orders them (run id ascending, as MLflow).
    "r5": ("epsilon", "KILLED", "cy", JAN[1], JAN[2], {"acc": 0.7},
           {"model": "a_b"}, {}),
}  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/t.db"
    else:
        url = request.getfixturevalue("postgres_database")  # a fresh database (conftest)
    engine = sqlalchemy.create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(ExperimentRow(id="e1", name="exp", created_at=JAN[0], updated_at=JAN[0]))
        for run_id, (name, status, user, start, end, metrics, params, tags) in RUNS.items():
            run = RunRow(id=run_id, experiment_id="e1", name=name, status=status, user=user,
                         start_time=start, end_time=end, environment={})  # fmt: skip
            session.add(run)
            session.flush()
            session.add_all(
                LatestMetricRow(run_pk=run.pk, key=k, value=v, step=0, timestamp_ms=0)
                for k, v in metrics.items()
            )
            session.add_all(ParamRow(run_pk=run.pk, key=k, value=v) for k, v in params.items())
            session.add_all(TagRow(run_pk=run.pk, key=k, value=v) for k, v in tags.items())
        session.commit()
        yield session
    engine.dispose()


def search(session: Session, text: str | None, order_by: list[str] | None = None) -> list[str]:
    stmt = select(RunRow.id).where(run_filter_clause(parse_filter(text)))
    return list(session.scalars(apply_order(stmt, parse_order_by(order_by))))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, ["r4", "r3", "r2", "r5", "r1"]),
        ("metrics.acc > 0.8", ["r3", "r1"]),
        ("metrics.acc = 0.7", ["r2", "r5"]),
        ("metrics.acc != 0.7", ["r3", "r1"]),
        ("metrics.acc IN (0.9, 0.95)", ["r3", "r1"]),
        ("metrics.acc IS NULL", ["r4"]),
        ("metrics.`val/loss` < 0.5", ["r3"]),
        ("params.model LIKE 'res%'", ["r1"]),
        ("params.model ILIKE 'RES%'", ["r2", "r1"]),
        ("params.model LIKE 'a\\\\_b'", ["r5"]),
        ("params.model LIKE 'a_b'", ["r4", "r5"]),
        ("params.model IN ('bert', 'resnet')", ["r3", "r1"]),
        ("params.model NOT IN ('bert', 'resnet')", ["r4", "r2", "r5"]),
        ("params.lr != '0.1'", ["r2"]),
        ('params."my.param" = "x"', ["r4"]),
        ("tags.mlflow.runName = 'alpha'", ["r1"]),
        ("tags.team = 'vision' OR tags.team = 'nlp'", ["r4", "r2"]),
        ("tags.team IS NULL", ["r3", "r5"]),
        ("NOT tags.team IS NOT NULL", ["r3", "r5"]),
        ("not status = 'FINISHED'", ["r3", "r2", "r5"]),
        ("run_name IS NULL", ["r3"]),
        ("NOT run_name = 'alpha'", ["r4", "r3", "r2", "r5"]),
        ("attributes.user_id != 'ann'", ["r2", "r5"]),
        ("name ILIKE '%LT%'", ["r4"]),
        ("start_time >= '2024-01-03'", ["r4", "r3"]),
        (f"start_time < {int(JAN[1].timestamp() * 1000)}", ["r1"]),
        ("end_time < '2024-01-03T11:30:00-01:00' and end_time is not null", ["r5", "r1"]),
        ("experiment_id = 'e1' and status IN ('FAILED', 'KILLED')", ["r2", "r5"]),
        (
            "metrics.acc >= 0.7 and (params.model ilike '%net%' or tags.team = 'nlp') "
            "and not user = 'cy'",
            ["r2", "r1"],
        ),
    ],
)
def test_filters(session: Session, text: str, expected: list[str]) -> None:
    assert search(session, text) == expected


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ([], ["r4", "r3", "r2", "r5", "r1"]),
        (["metrics.acc DESC"], ["r3", "r1", "r2", "r5", "r4"]),
        (["metrics.acc"], ["r2", "r5", "r1", "r3", "r4"]),
        (["params.lr ASC"], ["r2", "r1", "r4", "r3", "r5"]),
        (["params.lr DESC"], ["r1", "r2", "r4", "r3", "r5"]),
        (["tags.team desc", "metrics.acc desc"], ["r4", "r2", "r1", "r3", "r5"]),
        (["name DESC"], ["r5", "r4", "r2", "r1", "r3"]),
        (["attributes.start_time asc"], ["r1", "r2", "r5", "r3", "r4"]),
        (["user", "metrics.acc desc"], ["r3", "r1", "r2", "r5", "r4"]),
    ],
)
def test_orderings(session: Session, order_by: list[str], expected: list[str]) -> None:
    assert search(session, None, order_by) == expected


def test_filter_and_order_together(session: Session) -> None:
    assert search(session, "metrics.acc > 0.5", ["metrics.acc ASC"]) == ["r2", "r5", "r1", "r3"]


@pytest.mark.parametrize(
    "text",
    [
        "params.x = \"a' OR 1=1 --\"",
        "params.model = \"resnet' OR '1'='1\"",
        "params.model IN (\"x'); DROP TABLE runs; --\")",
        "tags.`team' OR 1=1 --` = 'nlp'",
        "name LIKE '%'' OR 1=1 --'",
    ],
)
def test_injection_text_is_only_data(session: Session, text: str) -> None:
    assert search(session, text) == []
    assert search(session, None) == ["r4", "r3", "r2", "r5", "r1"]


def test_values_are_bound_parameters() -> None:
    text = "params.model LIKE 'x%' and name ILIKE 'y' and metrics.a IN (1, 2)"
    compiled = select(RunRow.id).where(run_filter_clause(parse_filter(text)))
    sql = str(compiled.compile(dialect=postgresql.dialect()))
    assert "x%" not in sql and "'y'" not in sql
    assert " LIKE " in sql and " ILIKE " in sql


def test_paging_with_limit_is_stable(session: Session) -> None:
    stmt = apply_order(select(RunRow.id), parse_order_by(["metrics.acc"]))
    pages = [list(session.scalars(stmt.limit(2).offset(offset))) for offset in (0, 2, 4)]
    assert sum(pages, []) == ["r2", "r5", "r1", "r3", "r4"]
