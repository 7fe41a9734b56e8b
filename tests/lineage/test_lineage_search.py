"""Finding where to start a lineage walk by name (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from modelward.domain.actors import Actor
from modelward.domain.datasets import DatasetCreate
from modelward.errors import InvalidInput
from modelward.services import datasets, experiments, lineage, lineage_search, registry, runs

ACTOR = Actor(name="ana")


def test_search_finds_runs_versions_and_datasets_by_part_of_their_name(backend) -> None:  # type: ignore[no-untyped-def]
    experiment = experiments.create(backend, "search")
    run = runs.start(backend, ACTOR, experiment_id=experiment.id, name="Train_Churn 'v2'")
    runs.start(backend, ACTOR, experiment_id=experiment.id, name="trainXchurn")  # `_` must not be a wildcard
    datasets.log(backend, DatasetCreate(name="churn_2024.parquet", digest="sha256:" + "a" * 64, run_id=run.id,
                                        direction="input"), actor=ACTOR)
    registry.create_model(backend, ACTOR, "churn_model")
    found = lineage_search.find(backend, "CHURN")
    by_kind = {kind: [m for m in found if m["kind"] == kind] for kind in ("run", "model version", "dataset")}
    assert {m["name"] for m in by_kind["run"]} == {"Train_Churn 'v2'", "trainXchurn"}
    assert by_kind["dataset"][0]["name"] == "churn_2024.parquet"
    assert by_kind["dataset"][0]["ref"].startswith("artifact:")
    assert [m["name"] for m in lineage_search.find(backend, "n_c")] == ["Train_Churn 'v2'"]
    assert [m["name"] for m in lineage_search.find(backend, "'v2")] == ["Train_Churn 'v2'"]
    assert lineage_search.find(backend, "%") == [] and lineage_search.find(backend, "  ") == []
    walk = lineage.downstream(backend, by_kind["dataset"][0]["ref"])  # the reference starts a walk
    assert any(node.run_id == run.id for node in walk.nodes)
    with pytest.raises(InvalidInput, match="limited to 200"):
        lineage_search.find(backend, "x" * 201)
