"""After a bulk load the planner's statistics are refreshed without anyone running ANALYZE."""

from __future__ import annotations

from sqlalchemy import text

from modelward.domain.actors import Actor
from modelward.services import experiments, runs
from modelward.services.backend import Backend
from modelward.store.statistics import PlannerStatistics

ACTOR = Actor(name="t")


def _bulk_load(backend: Backend, n_runs: int, points_per_run: int) -> None:
    experiment = experiments.create(backend, "bulk")
    specs = [
        runs.NewRun(experiment_id=experiment.id, params={"lr": str(i)}, tags={"team": "a"},
                    metrics=runs.NewMetrics(keys=["loss"] * points_per_run, values=[float(s) for s in range(points_per_run)],
                                            steps=list(range(points_per_run))))
        for i in range(n_runs)
    ]
    runs.create_many(backend, ACTOR, specs)


def _analyzed_tables(backend: Backend) -> set[str]:
    with backend.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            rows = connection.execute(text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"))
        else:
            rows = connection.execute(text("SELECT DISTINCT tbl FROM sqlite_stat1")) if connection.execute(
                text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() else []
        return {row[0] for row in rows}


def test_a_bulk_load_gets_the_tables_it_grew_analyzed(backend: Backend) -> None:
    backend.statistics = PlannerStatistics(backend.engine, min_rows=500)
    assert "metrics" not in _analyzed_tables(backend)
    _bulk_load(backend, n_runs=50, points_per_run=20)  # 1,000 points, 50 runs
    backend.statistics.wait()
    assert backend.statistics.analyzed["metrics"] == 1
    assert backend.statistics.analyzed["runs"] == 0  # 50 runs are below the threshold
    assert "metrics" in _analyzed_tables(backend)


def test_small_writes_do_not_analyze(backend: Backend) -> None:
    backend.statistics = PlannerStatistics(backend.engine, min_rows=500)
    _bulk_load(backend, n_runs=3, points_per_run=10)
    backend.statistics.wait()
    assert sum(backend.statistics.analyzed.values()) == 0
    assert "metrics" not in _analyzed_tables(backend)
