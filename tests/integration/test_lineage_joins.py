"""Lineage joined to registration, model cards, reports and datasets (both databases)."""

from __future__ import annotations

import pytest

from modelward.domain.actors import Actor
from modelward.domain.datasets import DatasetCreate, DatasetStats
from modelward.domain.lineage import ArtifactKind, ArtifactSpec, ExecutionSpec, ExecutionType
from modelward.errors import NotFound
from modelward.services import (
    artifacts,
    datasets,
    evaluations,
    lineage,
    model_cards,
    registry,
    reports,
    runs,
)
from tests.governance.helpers import (
    AUTHOR,
    cancer_frame,
    dataset,
    fair_model,
    register_model,
    set_model_policy,
)
from tests.registry.helpers import ALICE, run_with_model

TRAIN_DIGEST = "sha256:" + "ab" * 32

WRITER = Actor(name="lineage-writer")


def _log_training_data(backend, run_id: str, *, digest: str = TRAIN_DIGEST, rows: int = 569):  # type: ignore[no-untyped-def]
    return datasets.log(backend, DatasetCreate(name="loans", digest=digest, run_id=run_id, direction="input",
                                               statistics=DatasetStats(row_count=rows)), actor=ALICE)


def test_registration_walks_back_to_the_run_and_its_data_and_forward_for_impact(backend) -> None:  # type: ignore[no-untyped-def]
    run_id = run_with_model(backend)
    train = _log_training_data(backend, run_id)
    version = registry.register_version(backend, ALICE, "scorer", run_id=run_id)

    up = lineage.upstream(backend, f"models:/scorer/{version.version}")
    registration = next(n for n in up.executions() if n.type == ExecutionType.REGISTRATION.value)
    assert registration.name == "register scorer v1"
    run_node = next(n for n in up.executions() if n.run_id == run_id)
    assert run_node.params == {"depth": "3"}
    assert [n.id for n in up.artifacts(ArtifactKind.DATASET)] == [train.id]
    model_files = {n.uri for n in up.artifacts(ArtifactKind.MODEL)}
    assert f"runs:/{run_id}/model/model.skops" in model_files and "models:/scorer/1" in model_files

    down = lineage.downstream(backend, f"dataset:{train.id}")
    assert "models:/scorer/1" in {n.uri for n in down.artifacts(ArtifactKind.MODEL)}
    assert up.node(up.root).uri == "models:/scorer/1"


def test_files_the_run_logged_as_outputs_are_the_nodes_the_registration_reads(backend) -> None:  # type: ignore[no-untyped-def]
    run_id = run_with_model(backend)
    logged = lineage.record(backend, actor=WRITER, execution=ExecutionSpec(run_id=run_id), outputs=[
        ArtifactSpec(kind=ArtifactKind.MODEL, run_artifact_path="model/model.skops")]).outputs[0]
    registry.register_version(backend, ALICE, "joined", run_id=run_id)
    graph = lineage.upstream(backend, "models:/joined/1", max_depth=1)
    registration = graph.executions()[0]
    graph = lineage.upstream(backend, registration.key, max_depth=1)
    inputs = graph.artifacts(ArtifactKind.MODEL)
    assert logged.id in {n.id for n in inputs} and len(inputs) == 3  # one node per file, the logged one reused
    assert [a.id for a in lineage.run_record(backend, run_id).outputs].count(logged.id) == 1


def test_identical_files_of_another_run_do_not_join_its_lineage(backend) -> None:  # type: ignore[no-untyped-def]
    first, second = run_with_model(backend), run_with_model(backend)  # same bytes in both runs
    _log_training_data(backend, first)
    registry.register_version(backend, ALICE, "twin", run_id=first)
    registry.register_version(backend, ALICE, "twin", run_id=second)
    up = lineage.upstream(backend, "models:/twin/2")
    assert {n.run_id for n in up.executions() if n.run_id} == {second}
    assert up.artifacts(ArtifactKind.DATASET) == []
    down = lineage.downstream(backend, f"run:{first}")
    assert {n.uri for n in down.artifacts(ArtifactKind.MODEL) if n.uri.startswith("models:/")} == {"models:/twin/1"}


def test_version_refs_by_alias_and_unknown_versions(backend) -> None:  # type: ignore[no-untyped-def]
    run_id = run_with_model(backend)
    registry.register_version(backend, ALICE, "aliased", run_id=run_id)
    registry.set_alias(backend, ALICE, "aliased", "champion", 1)
    assert lineage.upstream(backend, "models:/aliased@champion").root == lineage.upstream(backend, "models:/aliased/1").root
    with pytest.raises(NotFound):
        lineage.upstream(backend, "models:/aliased/7")


def test_a_lone_file_model_and_an_upload_style_source(backend) -> None:  # type: ignore[no-untyped-def]
    run_id = run_with_model(backend, {"weights/model.onnx": b"onnx-bytes"})
    registry.register_version(backend, ALICE, "lone", run_id=run_id, artifact_path="weights/model.onnx")
    uris = {n.uri for n in lineage.upstream(backend, "models:/lone/1").artifacts(ArtifactKind.MODEL)}
    assert uris == {f"runs:/{run_id}/weights/model.onnx", "models:/lone/1"}


FRAME = cancer_frame()
MODEL = fair_model(FRAME)


@pytest.fixture
def evaluated(backend):  # type: ignore[no-untyped-def]
    """A version trained on a logged dataset and evaluated on a snapshotted one."""
    set_model_policy(backend, "credit")
    data = dataset(backend, FRAME)
    snapshot = artifacts.stat(backend, data["run_id"], data["path"])
    test_set = datasets.log(backend, DatasetCreate(
        name="holdout", digest="sha256:" + "cd" * 32, run_id=data["run_id"], direction="output",
        snapshot_path=data["path"], statistics=DatasetStats(row_count=len(FRAME))), actor=AUTHOR)
    version = register_model(backend, "credit", MODEL, FRAME)
    run_id = registry.get_version(backend, "credit", version).source_run_id
    runs.log_batch(backend, run_id, actor=AUTHOR, params={"C": "1.0"})
    train = _log_training_data(backend, run_id)
    evaluation = evaluations.evaluate(backend, AUTHOR, "credit", version, dataset=data)
    assert evaluation.passed, evaluation.failures
    assert test_set.snapshot is not None and test_set.snapshot.digest == snapshot.digest
    return backend, version, run_id, train, test_set, evaluation


def test_summary_for_version_has_runs_datasets_and_evaluations(evaluated) -> None:  # type: ignore[no-untyped-def]
    backend, version, run_id, train, test_set, evaluation = evaluated
    summary = lineage.summary_for_version(backend, "credit", version)
    assert summary["recorded"] and summary["ref"] == f"models:/credit/{version}"
    assert [(r["run_id"], r["params"]) for r in summary["training_runs"]] == [(run_id, {"C": "1.0"})]
    by_role = {d["role"]: d for d in summary["datasets"]}
    assert (by_role["training"]["id"], by_role["training"]["digest"], by_role["training"]["rows"]) == (
        train.id, TRAIN_DIGEST, 569)
    assert by_role["training"]["used_by"] == [run_id]
    assert (by_role["evaluation"]["id"], by_role["evaluation"]["rows"]) == (test_set.id, len(FRAME))
    [recorded] = summary["evaluations"]
    assert recorded["id"] == evaluation.id and recorded["passed"]
    assert recorded["metrics"]["roc_auc"] == pytest.approx(evaluation.result["metrics"]["metrics"]["roc_auc"])


def test_card_of_an_evaluated_version_shows_its_data_metrics_and_fairness(evaluated) -> None:  # type: ignore[no-untyped-def]
    backend, version, _, _, test_set, evaluation = evaluated
    card = model_cards.generate(backend, AUTHOR, "credit", version)
    accuracy = evaluation.result["metrics"]["metrics"]["accuracy"]
    assert card.metrics.performance_measures["evaluation.accuracy"] == pytest.approx(accuracy)
    assert "evaluation.roc_auc" in card.metrics.performance_measures
    assert [(d.name, d.digest, d.rows) for d in card.training_data.datasets] == [("loans", TRAIN_DIGEST, 569)]
    assert [d.name for d in card.evaluation_data.datasets] == [test_set.name]
    rows = card.quantitative_analyses.evaluations
    assert rows[0]["evaluation"] == evaluation.id and rows[0]["accuracy"] == pytest.approx(accuracy)
    groups = {r["group"]: r for r in rows if r.get("sensitive_feature") == "sex"}
    assert {"F", "M", "(all)"} <= set(groups) and isinstance(groups["F"]["count"], int)
    assert "demographic_parity_difference" in groups["(all)"]
    markdown = model_cards.render(card, "markdown")[1]
    assert "evaluation.roc_auc" in markdown and "holdout" in markdown and "loans" in markdown
    assert f"| sex | F | {groups['F']['count']} |" in markdown  # the fairness-by-group table's row


def test_report_lineage_section_shows_runs_data_and_evaluations(evaluated) -> None:  # type: ignore[no-untyped-def]
    backend, version, run_id, _, _, evaluation = evaluated
    markdown, _ = reports.compliance_report(backend, "credit", version, fmt="md")
    section = markdown.split("\n## Lineage", 1)[1].split("\n## Evaluations", 1)[0]
    assert f"Run `{run_id}`" in section and "`C=1.0`" in section
    assert f"| training | loans | dataset | `{TRAIN_DIGEST}` | 569 |" in section
    assert "| evaluation | holdout |" in section and evaluation.id in section and "roc_auc=" in section
    html, _ = reports.compliance_report(backend, "credit", version, fmt="html")
    assert "<h3>Training runs</h3>" in html and "holdout" in html


def test_summary_of_an_unevaluated_version_and_of_an_unknown_one(backend) -> None:  # type: ignore[no-untyped-def]
    registry.register_version(backend, ALICE, "plain", run_id=run_with_model(backend))
    summary = lineage.summary_for_version(backend, "plain", 1)
    assert summary["recorded"] and summary["evaluations"] == [] and summary["datasets"] == []
    with pytest.raises(NotFound):
        lineage.summary_for_version(backend, "plain", 2)
