"""``client.lineage``: record and query the lineage graph, reproduce and diff runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from modelward.domain.lineage import (
    EXPORTERS,
    ArtifactKind,
    ArtifactSpec,
    ContextSpec,
    ExecutionSpec,
    GraphNode,
    LineageArtifact,
    LineageExecution,
    LineageGraph,
    LineageRecord,
    Origin,
    OriginDataset,
    ReproSpec,
    RunDiff,
    TrainingRun,
)
from modelward.errors import NotFound
from modelward.sdk._http import HttpSession


def _path(value: str) -> str:
    return quote(value, safe="")


def _artifact(spec: ArtifactSpec | dict[str, Any]) -> dict[str, Any]:
    return ArtifactSpec.model_validate(spec).model_dump(mode="json", exclude_none=True)


class Lineage:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    # -- recording ---------------------------------------------------------------------------
    def record(
        self,
        execution: ExecutionSpec | dict[str, Any],
        *,
        inputs: Sequence[ArtifactSpec | dict[str, Any]] = (),
        outputs: Sequence[ArtifactSpec | dict[str, Any]] = (),
        contexts: Sequence[ContextSpec | dict[str, Any]] = (),
    ) -> LineageRecord:
        body = {
            "execution": ExecutionSpec.model_validate(execution).model_dump(mode="json", exclude_none=True),
            "inputs": [_artifact(a) for a in inputs], "outputs": [_artifact(a) for a in outputs],
            "contexts": [ContextSpec.model_validate(c).model_dump(mode="json") for c in contexts],
        }
        return LineageRecord.model_validate(self._http.call("POST", "/api/v1/lineage/record", json=body))

    def log_input(self, run_id: str, artifact: ArtifactSpec | dict[str, Any]) -> LineageArtifact:
        """Mark an artifact (by id, digest, URI or a file the run logged) as read by the run."""
        return self.record({"run_id": run_id}, inputs=[artifact]).inputs[0]

    def log_output(self, run_id: str, artifact: ArtifactSpec | dict[str, Any]) -> LineageArtifact:
        """Mark an artifact as written by the run, e.g. ``{"kind": "model", "run_artifact_path": "model.skops"}``."""
        return self.record({"run_id": run_id}, outputs=[artifact]).outputs[0]

    # -- queries -----------------------------------------------------------------------------
    def _graph(self, endpoint: str, params: dict[str, Any]) -> LineageGraph:
        params = {k: v for k, v in params.items() if v is not None}
        return LineageGraph.model_validate(self._http.call("GET", f"/api/v1/lineage/{endpoint}", params=params))

    def upstream(self, ref: str, *, depth: int | None = None) -> LineageGraph:
        """What produced ``ref`` ('artifact:ID', 'run:ID', 'execution:ID' or a bare id)."""
        return self._graph("upstream", {"ref": ref, "depth": depth})

    def downstream(self, ref: str, *, depth: int | None = None) -> LineageGraph:
        """What depends on ``ref``: impact analysis."""
        return self._graph("downstream", {"ref": ref, "depth": depth})

    def path(self, source: str, target: str, *, depth: int | None = None) -> LineageGraph:
        return self._graph("path", {"source": source, "target": target, "depth": depth})

    def export(self, graph: LineageGraph, format: str) -> str:
        """The graph as 'json', 'dot' (Graphviz) or 'mermaid' text."""
        return EXPORTERS[format](graph)

    def artifact(self, artifact_id: str) -> LineageArtifact:
        return LineageArtifact.model_validate(self._http.call("GET", f"/api/v1/lineage/artifacts/{_path(artifact_id)}"))

    def run(self, run_id: str) -> LineageRecord:
        """A run's execution with its inputs and outputs."""
        return LineageRecord.model_validate(self._http.call("GET", f"/api/v1/lineage/runs/{_path(run_id)}"))

    def pipeline(self, pipeline_run_id: str) -> list[LineageExecution]:
        data = self._http.call("GET", f"/api/v1/lineage/pipelines/{_path(pipeline_run_id)}")
        return [LineageExecution.model_validate(item) for item in data["executions"]]

    # -- the questions people ask -------------------------------------------------------------
    def origin(self, ref: str) -> Origin:
        """What produced ``ref``: a model version ('models:/NAME/V', 'models:/NAME@ALIAS',
        'NAME/V', 'NAME@ALIAS'), a model file, a dataset, ...: the runs, their params,
        metrics and code version, and the datasets upstream."""
        return Origin.model_validate(self._http.call("GET", "/api/v1/lineage/origin", params={"ref": ref}))

    def training_runs(self, ref: str) -> list[TrainingRun]:
        """The runs that produced ``ref`` (a model), each with its exact hyperparameters and metrics."""
        return self.origin(ref).runs

    def hyperparameters(self, ref: str) -> dict[str, str]:
        """The hyperparameters of the run that trained the model ``ref``."""
        runs = self.training_runs(ref)
        if not runs:
            raise NotFound(f"no run produced '{ref}'")
        return runs[0].params

    def training_data(self, ref: str) -> list[OriginDataset]:
        """The datasets the runs that produced ``ref`` read."""
        return [d for d in self.origin(ref).datasets if d.role == "training"]

    def code(self, ref: str) -> dict[str, dict[str, Any]]:
        """Run id -> the code version (git commit, branch, remote, dirty, command) that produced ``ref``."""
        return {run.run_id: run.code for run in self.training_runs(ref)}

    def evaluations(self, ref: str) -> list[LineageArtifact]:
        """Every evaluation recorded downstream of the model ``ref``."""
        data = self._http.call("GET", "/api/v1/lineage/evaluations", params={"ref": ref})
        return [LineageArtifact.model_validate(item) for item in data["artifacts"]]

    def impact(self, ref: str, *, depth: int | None = None) -> dict[str, list[GraphNode]]:
        """What a change to ``ref`` (a dataset) affects: downstream models, evaluations, runs, ..."""
        graph = self.downstream(ref, depth=depth)
        impact: dict[str, list[GraphNode]] = {}
        for node in graph.nodes:
            if node.key != graph.root:
                impact.setdefault(node.type, []).append(node)
        return impact

    # -- reproducibility -------------------------------------------------------------------------
    def reproduce(self, run_id: str) -> ReproSpec:
        return ReproSpec.model_validate(self._http.call("GET", f"/api/v1/lineage/runs/{_path(run_id)}/reproduce"))

    def diff(self, run_a: str, run_b: str) -> RunDiff:
        return RunDiff.model_validate(self._http.call("GET", "/api/v1/lineage/runs/diff", params={"a": run_a, "b": run_b}))

    def openlineage(self, event: dict[str, Any]) -> LineageRecord:
        """Send one OpenLineage run event (as a dict) to the server."""
        return LineageRecord.model_validate(self._http.call("POST", "/api/v1/lineage/openlineage", json=event))


__all__ = ["ArtifactKind", "Lineage"]
