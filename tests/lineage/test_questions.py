"""The seed's lineage questions, answered through the SDK (SQLite, PostgreSQL, remote server)."""

from __future__ import annotations

import pandas as pd

from modelward.sdk.client import Client
from tests.lineage.scenario import PARAMS, build


def test_exact_hyperparameters_used_to_train_a_model(client: Client, unique: str) -> None:
    p = build(client, unique)
    assert client.lineage.hyperparameters(f"artifact:{p.model.id}") == PARAMS
    trained_by = client.lineage.training_runs(p.model.id)
    assert [r.run_id for r in trained_by] == [p.train] and trained_by[0].metrics == {"train_auc": 0.91}
    # the upstream walk carries params and input digests at each step
    up = client.lineage.upstream(f"artifact:{p.model.id}")
    steps = {n.run_id: n for n in up.executions() if n.run_id}
    assert set(steps) == {p.train, p.prep} and steps[p.train].params == PARAMS
    digests = {n.name: n.digest for n in up.artifacts()}
    assert digests["clean/train"] == p.train_split.digest and digests["raw"] == p.raw.digest


def test_all_evaluations_run_on_a_model(client: Client, unique: str) -> None:
    p = build(client, unique)
    found = client.lineage.evaluations(p.model.id)
    assert {e.name for e in found} == {"holdout", "fairness"}
    assert {e.properties["metrics"]["auc"] for e in found} == {0.88, 0.86}
    assert all(e.digest and e.uri and e.uri.startswith("runs:/") for e in found)


def test_data_snapshot_after_a_transformation_step(client: Client, unique: str) -> None:
    p = build(client, unique)
    outputs = [d for d in client.datasets.of_run(p.prep, "output") if d.snapshot]
    assert [d.id for d in outputs] == [p.clean.id]
    pd.testing.assert_frame_equal(client.datasets.load_snapshot(outputs[0]), p.clean_frame)


def test_a_datasets_statistics_schema_and_distributions(client: Client, unique: str) -> None:
    p = build(client, unique)
    raw = client.datasets.get(p.raw.id)
    assert raw.data_schema is not None
    assert [(c.name, c.nullable) for c in raw.data_schema.columns] == [("x", True), ("y", False), ("src", False)]
    stats = raw.statistics
    assert stats is not None and stats.row_count == 60 and stats.columns["x"].missing == 9
    assert sum(stats.columns["x"].histogram["counts"]) == 51
    assert stats.columns["src"].top == [{"value": unique, "count": 60}]


def test_what_a_change_to_a_dataset_affects_downstream(client: Client, unique: str) -> None:
    p = build(client, unique)
    impact = client.lineage.impact(f"dataset:{p.raw.id}")
    assert [n.id for n in impact["model"]] == [p.model.id]
    assert {n.id for n in impact["evaluation"]} == {e.id for e in p.evaluations}
    assert {n.run_id for n in impact["pipeline_step"]} == {p.prep, p.train, *p.evals}
    assert client.lineage.path(f"dataset:{p.raw.id}", f"artifact:{p.evaluations[0].id}").nodes
    steps = client.lineage.pipeline(f"pipe-{unique}")
    assert [s.name for s in steps] == ["prep", "train", "eval-holdout", "eval-fairness"]
