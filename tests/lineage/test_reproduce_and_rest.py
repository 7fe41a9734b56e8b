"""Reproduce and diff through the SDK on every backend; the REST exports; atomic record_in."""

from __future__ import annotations

import pytest

from modelward.domain.lineage import ArtifactKind, ArtifactSpec, ExecutionSpec, ExecutionType
from modelward.sdk.client import Client
from modelward.services import lineage
from modelward.services.backend import Backend
from modelward.store import lineage as store
from tests.lineage.scenario import PARAMS, build


def test_reproduce_and_diff_through_the_sdk(client: Client, unique: str) -> None:
    p = build(client, unique)
    spec = client.lineage.reproduce(p.train)
    assert spec.params == PARAMS and spec.step_name == "train" and spec.pipeline_run_id == f"pipe-{unique}"
    assert [(i.name, i.digest) for i in spec.inputs] == [("clean/train", p.train_split.digest)]
    assert "no git commit was recorded: the code version is unknown" in spec.warnings
    diff = client.lineage.diff(p.evals[0], p.evals[1])
    assert diff.params == {} and diff.data == {}
    assert client.lineage.diff(p.prep, p.train).params == {k: [None, v] for k, v in PARAMS.items()}


def test_rest_exports_graph_text(client: Client, unique: str) -> None:
    p = build(client, unique)
    response = client.http._client.get("/api/v1/lineage/upstream", params={"ref": p.model.id, "format": "dot"})
    assert response.status_code == 200 and response.text.startswith("digraph lineage {")
    mermaid = client.http._client.get("/api/v1/lineage/downstream", params={"ref": p.raw.id, "format": "mermaid"})
    assert mermaid.text.startswith("flowchart LR") and "evaluation: holdout" in mermaid.text
    assert client.http._client.get("/api/v1/lineage/upstream", params={"ref": p.model.id, "depth": 999}).status_code == 400


def test_record_in_commits_with_the_callers_unit_of_work(backend: Backend) -> None:
    spec = ExecutionSpec(type=ExecutionType.REGISTRATION, external_id="credit/1", name="register credit v1")
    model = ArtifactSpec(kind=ArtifactKind.MODEL, digest="sha256:" + "1" * 64, name="credit")
    with pytest.raises(RuntimeError), backend.write() as session:
        lineage.record_in(session, execution=spec, inputs=[model])
        raise RuntimeError("registration failed after lineage was recorded")
    with backend.read() as session:
        assert store.find_execution(session, ExecutionType.REGISTRATION, "credit/1") is None
        assert store.find_artifact(session, ArtifactKind.MODEL, digest=model.digest, uri=None) is None
    with backend.write() as session:
        recorded = lineage.record_in(session, execution=spec, inputs=[model])
    graph = lineage.downstream(backend, f"artifact:{recorded.inputs[0].id}")
    assert [n.type for n in graph.executions()] == ["registration"]
    with backend.read() as session:
        assert store.find_execution(session, ExecutionType.REGISTRATION, "credit/1") is not None
