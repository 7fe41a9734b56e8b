"""A metric point is (run, key, step, timestamp, value): storing it again stores nothing.

A client that retries a batch after a lost response sends the same points twice; MLflow's
primary key makes that harmless, and so does ours (NaN included, stored as NULL).
"""

from __future__ import annotations

import math

from sqlalchemy import text

from modelward.domain.actors import Actor
from modelward.services import experiments, runs
from modelward.services.backend import Backend
from modelward.store.db import downgrade, upgrade

ACTOR = Actor(name="t")


def _run(backend: Backend) -> str:
    experiment = experiments.create(backend, "points")
    return runs.start(backend, ACTOR, experiment_id=experiment.id).id


def _batch(backend: Backend, run_id: str) -> None:
    runs.log_batch(
        backend, run_id, actor=ACTOR, metric_keys=["loss", "loss", "acc", "nan"],
        metric_values=[0.5, 0.25, 0.9, math.nan], metric_steps=[0, 1, 0, 0],
        metric_timestamps_ms=[1000, 2000, 1000, 1000],
    )


def _count(backend: Backend) -> int:
    with backend.engine.connect() as connection:
        return connection.execute(text("SELECT COUNT(*) FROM metrics")).scalar_one()


def test_a_retried_batch_stores_each_point_once(backend: Backend) -> None:
    run_id = _run(backend)
    _batch(backend, run_id)
    _batch(backend, run_id)  # the retry after a lost response
    assert _count(backend) == 4
    history = runs.metric_history(backend, run_id, "loss")
    assert [(p.step, p.value) for p in history] == [(0, 0.5), (1, 0.25)]
    assert math.isnan(runs.metric_history(backend, run_id, "nan")[0].value)
    assert runs.get(backend, run_id).metrics["loss"] == 0.25


def test_a_different_value_at_the_same_step_and_time_is_a_new_point(backend: Backend) -> None:
    run_id = _run(backend)
    for value in (1.0, 2.0, 1.0):
        runs.log_batch(backend, run_id, actor=ACTOR, metric_keys=["m"], metric_values=[value],
                       metric_steps=[3], metric_timestamps_ms=[5000])
    assert sorted(p.value for p in runs.metric_history(backend, run_id, "m")) == [1.0, 2.0]


def test_duplicates_inside_one_batch_are_stored_once(backend: Backend) -> None:
    run_id = _run(backend)
    runs.log_batch(backend, run_id, actor=ACTOR, metric_keys=["m"] * 3, metric_values=[1.0, 1.0, math.nan],
                   metric_steps=[0, 0, 0], metric_timestamps_ms=[7, 7, 7])
    runs.log_batch(backend, run_id, actor=ACTOR, metric_keys=["m"], metric_values=[math.nan],
                   metric_steps=[0], metric_timestamps_ms=[7])
    assert _count(backend) == 2


def test_the_migration_removes_points_stored_twice_before_it(backend: Backend) -> None:
    run_id = _run(backend)
    _batch(backend, run_id)
    downgrade(backend.engine, "0011")  # the old schema let a retry store the points again
    with backend.engine.begin() as connection:
        connection.execute(text(
            'INSERT INTO metrics (run_pk, "key", value, step, timestamp_ms) '
            'SELECT run_pk, "key", value, step, timestamp_ms FROM metrics'
        ))
    assert _count(backend) == 8
    upgrade(backend.engine)
    assert _count(backend) == 4
    assert [p.value for p in runs.metric_history(backend, run_id, "loss")] == [0.5, 0.25]
