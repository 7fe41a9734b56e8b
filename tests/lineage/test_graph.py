"""The lineage graph in the service layer: recording, identity, recursive walks (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from modelward.domain.actors import Actor
from modelward.domain.lineage import (
    ArtifactKind,
    ArtifactSpec,
    ExecutionSpec,
    ExecutionType,
    NodeKind,
    to_dot,
    to_mermaid,
    tree_lines,
)
from modelward.domain.tracking import ProcessInfo
from modelward.errors import InvalidInput, NotFound
from modelward.services import experiments, lineage, runs
from modelward.services.backend import Backend

ACTOR = Actor(name="alice")

WRITER = Actor(name="lineage-writer")


def _run(backend: Backend, name: str, *, pipeline: str | None = None, params: dict[str, str] | None = None) -> str:
    experiment = experiments.get_or_create(backend, "lineage-tests")
    run = runs.start(backend, ACTOR, experiment_id=experiment.id, name=name,
                     process=ProcessInfo(pipeline_run_id=pipeline, step_name=name if pipeline else None))
    if params:
        runs.log_batch(backend, run.id, actor=ACTOR, params=params)
    return run.id


def _data(digest_char: str, kind: ArtifactKind = ArtifactKind.DATASET, name: str = "data") -> ArtifactSpec:
    return ArtifactSpec(kind=kind, name=name, digest="sha256:" + digest_char * 64)


def test_a_run_with_an_input_dataset_and_an_output_model_gets_both_edges(backend: Backend) -> None:
    run_id = _run(backend, "train", params={"lr": "0.1", "depth": "3"})
    recorded = lineage.record(backend, actor=WRITER, execution=ExecutionSpec(run_id=run_id),
                              inputs=[_data("a")], outputs=[_data("b", ArtifactKind.MODEL, "clf")])
    assert recorded.execution.type is ExecutionType.RUN
    model = recorded.outputs[0]
    graph = lineage.upstream(backend, f"artifact:{model.id}")
    assert graph.root == f"artifact:{model.id}"
    keys = {node.key for node in graph.nodes}
    assert keys == {f"artifact:{model.id}", f"execution:{recorded.execution.id}", f"artifact:{recorded.inputs[0].id}"}
    run_node = graph.executions()[0]
    assert run_node.run_id == run_id and run_node.params == {"lr": "0.1", "depth": "3"}
    assert {(e.source, e.target, e.type.value) for e in graph.edges} == {
        (f"artifact:{recorded.inputs[0].id}", f"execution:{recorded.execution.id}", "input"),
        (f"execution:{recorded.execution.id}", f"artifact:{model.id}", "output"),
    }
    # the run itself is a reference too
    assert lineage.upstream(backend, f"run:{run_id}").root == f"execution:{recorded.execution.id}"
    # whoever links data to a run is one of its writers (an author of what it backs)
    assert runs.writers(backend, run_id)[WRITER.name] == ["inputs", "outputs"]


def test_same_kind_and_digest_is_one_node_so_pipeline_steps_chain(backend: Backend) -> None:
    prep = _run(backend, "prep", pipeline="p1")
    train = _run(backend, "train", pipeline="p1", params={"C": "1.0"})
    evaluate = _run(backend, "eval", pipeline="p1")
    first = lineage.record(backend, actor=WRITER, execution=ExecutionSpec(run_id=prep), inputs=[_data("0", ArtifactKind.RAW_SOURCE)],
                           outputs=[_data("1")])
    lineage.record(backend, actor=WRITER, execution=ExecutionSpec(run_id=train), inputs=[_data("1")],
                   outputs=[_data("2", ArtifactKind.MODEL, "m")])
    last = lineage.record(backend, actor=WRITER, execution=ExecutionSpec(run_id=evaluate), inputs=[_data("2", ArtifactKind.MODEL)],
                          outputs=[_data("3", ArtifactKind.EVALUATION, "report")])
    assert first.execution.type is ExecutionType.PIPELINE_STEP
    evaluation = last.outputs[0]
    up = lineage.upstream(backend, evaluation.id)
    assert [n.type for n in up.nodes if n.kind is NodeKind.ARTIFACT] == ["evaluation", "model", "dataset", "raw_source"]
    assert max(n.depth for n in up.nodes) == 6
    # depth limit
    limited = lineage.upstream(backend, evaluation.id, max_depth=2)
    assert {n.type for n in limited.nodes} == {"evaluation", "pipeline_step", "model"}
    # impact analysis from the raw source
    down = lineage.downstream(backend, first.inputs[0].id)
    assert {n.type for n in down.artifacts()} == {"raw_source", "dataset", "model", "evaluation"}
    assert [e.name for e in lineage.pipeline(backend, "p1")] == ["prep", "train", "eval"]
    # path between raw source and evaluation, either way round
    between = lineage.path(backend, evaluation.id, first.inputs[0].id)
    assert len(between.nodes) == 7
    assert lineage.path(backend, first.outputs[0].id, f"run:{prep}").nodes  # the producer of dataset 1
    unrelated = lineage.record(backend, actor=WRITER, execution=ExecutionSpec(type=ExecutionType.CUSTOM, name="x"),
                               outputs=[_data("9")])
    assert lineage.path(backend, unrelated.outputs[0].id, evaluation.id).nodes == []


def test_walks_terminate_on_cycles(backend: Backend) -> None:
    a = lineage.record(backend, actor=WRITER, execution=ExecutionSpec(type=ExecutionType.OPENLINEAGE, external_id="j1"),
                       inputs=[_data("c")], outputs=[_data("d")])
    lineage.record(backend, actor=WRITER, execution=ExecutionSpec(type=ExecutionType.OPENLINEAGE, external_id="j2"),
                   inputs=[_data("d")], outputs=[_data("c")])
    graph = lineage.upstream(backend, a.inputs[0].id, max_depth=200)
    assert len(graph.nodes) == 4
    assert len(lineage.downstream(backend, a.inputs[0].id).edges) == 4


def test_recording_is_idempotent_and_merges_properties(backend: Backend) -> None:
    run_id = _run(backend, "r")
    spec = ArtifactSpec(kind=ArtifactKind.DATASET, digest="sha256:" + "e" * 64, properties={"rows": 3})
    one = lineage.record(backend, actor=WRITER, execution=ExecutionSpec(run_id=run_id), inputs=[spec])
    spec2 = spec.model_copy(update={"properties": {"rows": 4, "cols": 2}})
    two = lineage.record(backend, actor=WRITER, execution=ExecutionSpec(run_id=run_id), inputs=[spec2])
    assert one.execution.id == two.execution.id and one.inputs[0].id == two.inputs[0].id
    assert two.inputs[0].properties == {"rows": 3, "cols": 2}
    assert len(lineage.run_record(backend, run_id).inputs) == 1


def test_bad_references_are_clear_errors(backend: Backend) -> None:
    with pytest.raises(InvalidInput, match="needs an 'id', a 'digest'"):
        lineage.record(backend, actor=WRITER, execution=ExecutionSpec(type=ExecutionType.CUSTOM), inputs=[ArtifactSpec()])
    with pytest.raises(InvalidInput, match="needs a 'run_id'"):
        lineage.record(backend, actor=WRITER, execution=ExecutionSpec(type=ExecutionType.RUN))
    with pytest.raises(NotFound):
        lineage.upstream(backend, "artifact:nope")
    with pytest.raises(NotFound):
        lineage.record(backend, actor=WRITER, execution=ExecutionSpec(run_id="missing"))
    with pytest.raises(InvalidInput, match="depth"):
        lineage.upstream(backend, "x", max_depth=-1)


def test_exports_are_text_of_the_same_graph(backend: Backend) -> None:
    run_id = _run(backend, "train", params={"lr": "0.5"})
    rec = lineage.record(backend, actor=WRITER, execution=ExecutionSpec(run_id=run_id), inputs=[_data("f", name='weird "name"')],
                         outputs=[_data("0", ArtifactKind.MODEL, "m")])
    graph = lineage.upstream(backend, rec.outputs[0].id)
    dot = to_dot(graph)
    assert dot.startswith("digraph lineage {") and dot.count("->") == 2 and '\\"name\\"' in dot
    mermaid = to_mermaid(graph)
    assert mermaid.startswith("flowchart LR") and mermaid.count("-->") == 2 and "#quot;" in mermaid
    lines = tree_lines(graph)
    assert lines[0].startswith("model: m") and "lr=0.5" in lines[1] and lines[2].strip().startswith("dataset:")
