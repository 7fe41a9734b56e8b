"""Lineage use cases: record executions with their inputs and outputs, and walk the graph.

For other use cases (registration, deployment) that must commit their lineage together
with their own rows, call ``record_in(session, ...)`` inside their unit of work;
``record(backend, ...)`` is the same in a transaction of its own::

    from modelward.domain.lineage import ArtifactKind, ArtifactSpec, ExecutionSpec, ExecutionType
    with backend.write() as session:
        version = registry_store.create_version(session, ...)
        lineage.record_in(
            session,
            execution=ExecutionSpec(type=ExecutionType.REGISTRATION, external_id=f"{model}/{n}",
                                    name=f"register {model} v{n}"),
            inputs=[ArtifactSpec(kind=ArtifactKind.MODEL, digest=version.digest, name=model)],
            outputs=[ArtifactSpec(kind=ArtifactKind.MODEL, uri=f"models:/{model}/{n}", name=f"{model}/{n}")],
        )

Artifacts with the same kind and digest (else the same kind and URI) are one node, so a
pipeline step that consumes what an earlier step produced joins the chain by itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from modelward.artifacts import normalize_logical_path
from modelward.domain.actors import Actor
from modelward.domain.datasets import DATASET_KINDS
from modelward.domain.lineage import (
    ArtifactKind,
    ArtifactSpec,
    ContextSpec,
    ContextType,
    Direction,
    ExecutionSpec,
    ExecutionType,
    GraphEdge,
    GraphNode,
    LineageArtifact,
    LineageExecution,
    LineageGraph,
    LineageRecord,
    NodeKind,
    parse_ref,
)
from modelward.errors import InvalidInput, NotFound
from modelward.services.backend import Backend
from modelward.store import artifact_index
from modelward.store import governance as governance_store
from modelward.store import lineage as store
from modelward.store import registry as registry_store
from modelward.store import run_writers
from modelward.store import runs as run_store
from modelward.store.lineage import UnitOfWork

DEFAULT_DEPTH = 25
MAX_DEPTH = 200
MAX_NAME = 512
MAX_URI = 1024
MAX_DIGEST = 140


# -- recording --------------------------------------------------------------------------------


def record(
    backend: Backend,
    *,
    execution: ExecutionSpec,
    inputs: Sequence[ArtifactSpec] = (),
    outputs: Sequence[ArtifactSpec] = (),
    contexts: Sequence[ContextSpec] = (),
    actor: Actor,
) -> LineageRecord:
    """Find or create the execution and artifacts and join them, in one transaction. Inputs and
    outputs linked to a run make ``actor`` one of the run's writers (an author of what it backs)."""
    with backend.write() as session:
        found = record_in(session, execution=execution, inputs=inputs, outputs=outputs, contexts=contexts)
        kinds = [kind for kind, given in (("inputs", inputs), ("outputs", outputs)) if given]
        if execution.run_id is not None and kinds:
            run_writers.record(session, run_store.pk_of(session, execution.run_id), actor.name, kinds,
                               datetime.now(UTC))
        return found


def record_in(
    session: UnitOfWork,
    *,
    execution: ExecutionSpec,
    inputs: Sequence[ArtifactSpec] = (),
    outputs: Sequence[ArtifactSpec] = (),
    contexts: Sequence[ContextSpec] = (),
) -> LineageRecord:
    """``record`` inside the caller's unit of work (nothing is committed here)."""
    for spec in [*inputs, *outputs]:
        _check_artifact_spec(spec)
    stored_execution, implied_contexts = _ensure_execution(session, execution)
    resolved_inputs = [_ensure_artifact(session, spec, execution.run_id) for spec in inputs]
    resolved_outputs = [_ensure_artifact(session, spec, execution.run_id) for spec in outputs]
    store.add_events(session, stored_execution.id, [
        *((artifact.id, Direction.INPUT) for artifact in resolved_inputs),
        *((artifact.id, Direction.OUTPUT) for artifact in resolved_outputs),
    ])
    for context in [*implied_contexts, *contexts]:
        store.associate(session, store.ensure_context(session, context.type.value, context.name), stored_execution.id)
    return LineageRecord(execution=stored_execution, inputs=resolved_inputs, outputs=resolved_outputs)


def _check_artifact_spec(spec: ArtifactSpec) -> None:
    if spec.id is None and spec.digest is None and spec.uri is None and spec.run_artifact_path is None:
        raise InvalidInput("a lineage artifact needs an 'id', a 'digest', a 'uri' or a 'run_artifact_path'")
    for field, value, limit in (("name", spec.name, MAX_NAME), ("uri", spec.uri, MAX_URI),
                                ("digest", spec.digest, MAX_DIGEST)):
        if value is not None and (not value.strip() or len(value) > limit):
            raise InvalidInput(f"lineage artifact '{field}' must be 1 to {limit} characters, got {len(value)}")


def _ensure_execution(session: UnitOfWork, spec: ExecutionSpec) -> tuple[LineageExecution, list[ContextSpec]]:
    if spec.run_id is None:
        if spec.type in (ExecutionType.RUN, ExecutionType.PIPELINE_STEP):
            raise InvalidInput(f"an execution of type '{spec.type.value}' needs a 'run_id'")
        name = spec.name or spec.external_id or spec.type.value
        return store.ensure_execution(session, spec, _clip(name)), []
    run = run_store.row_of(session, spec.run_id)
    implied = [ContextSpec(type=ContextType.EXPERIMENT, name=run.experiment_id)]
    if run.pipeline_run_id:
        implied.append(ContextSpec(type=ContextType.PIPELINE_RUN, name=run.pipeline_run_id))
    if spec.type is ExecutionType.CUSTOM:
        kind = ExecutionType.PIPELINE_STEP if run.pipeline_run_id or run.step_name else ExecutionType.RUN
        spec = spec.model_copy(update={"type": kind})
    if run.step_name and "step_name" not in spec.properties:
        spec = spec.model_copy(update={"properties": {**spec.properties, "step_name": run.step_name}})
    name = spec.name or run.name or run.id
    return store.ensure_execution(session, spec, _clip(name)), implied


def _ensure_artifact(session: UnitOfWork, spec: ArtifactSpec, run_id: str | None) -> LineageArtifact:
    if spec.id is not None:
        return store.get_artifact(session, spec.id)
    if spec.run_artifact_path is not None:
        spec = _from_run_artifact(session, spec, run_id)
    name = spec.name or (spec.uri.rstrip("/").rsplit("/", 1)[-1] if spec.uri else None) or (spec.digest or "")[:12]
    return store.ensure_artifact(session, spec, _clip(name or spec.kind.value))


def _from_run_artifact(session: UnitOfWork, spec: ArtifactSpec, run_id: str | None) -> ArtifactSpec:
    """Take the digest of a file the run already logged (the server never opens client paths)."""
    if run_id is None:
        raise InvalidInput("'run_artifact_path' needs an execution with a 'run_id'")
    path = normalize_logical_path(spec.run_artifact_path or "")
    stored = artifact_index.get(session, run_store.pk_of(session, run_id), path)
    return spec.model_copy(update={
        "digest": spec.digest or f"sha256:{stored.digest}",
        "uri": spec.uri or f"runs:/{run_id}/{path}",
        "name": spec.name or path.rsplit("/", 1)[-1],
        "run_artifact_path": None,
    })


def _clip(name: str) -> str:
    return name[:MAX_NAME]


# -- reading ----------------------------------------------------------------------------------


def version_uri(name: str, version: int) -> str:
    """The URI of the MODEL artifact that stands for a registered model version."""
    return f"models:/{name}/{version}"


def _resolve_model_uri(session: UnitOfWork, ref: str) -> tuple[NodeKind, str]:
    """'models:/NAME/VERSION' or 'models:/NAME@ALIAS' -> the version's MODEL artifact."""
    body = ref.strip().removeprefix("models:/")
    if "@" in body:
        name, alias = body.rsplit("@", 1)
        version = registry_store.alias_target(session, registry_store.model_row(session, name), alias).version
    else:
        name, _, number = body.rpartition("/")
        if not name or not number.isdigit():
            raise InvalidInput(f"model reference {ref!r} must be 'models:/NAME/VERSION' or 'models:/NAME@ALIAS'")
        version = int(number)
    registry_store.version_row(session, name, version)  # NotFound for an unknown version
    found = store.find_artifact(session, ArtifactKind.MODEL, digest=None, uri=version_uri(name, version))
    if found is None:
        raise NotFound(f"version {version} of model '{name}' has no lineage (it was registered before lineage)")
    return NodeKind.ARTIFACT, found.id


def resolve(session: UnitOfWork, ref: str) -> tuple[NodeKind, str]:
    """'artifact:ID', 'dataset:ID', 'execution:ID', 'run:RUN_ID', 'models:/NAME/VERSION' (or
    'models:/NAME@ALIAS') or a bare id of any of them."""
    if isinstance(ref, str) and ref.strip().startswith("models:/"):
        return _resolve_model_uri(session, ref)
    prefix, value = parse_ref(ref)
    if prefix in ("", "run"):
        execution = store.execution_of_run(session, value)
        if execution is not None:
            return NodeKind.EXECUTION, execution.id
        if prefix == "run":
            run_store.row_of(session, value)  # NotFound for an unknown run
            raise NotFound(f"run '{value}' has no lineage yet (it logged no inputs or outputs)")
    if prefix in ("", "artifact"):
        try:
            return NodeKind.ARTIFACT, store.get_artifact(session, value).id
        except NotFound:
            if prefix:
                raise
    if prefix in ("", "execution"):
        try:
            return NodeKind.EXECUTION, store.get_execution(session, value).id
        except NotFound:
            if prefix:
                raise
    raise NotFound(f"no run, lineage artifact or execution named '{value}'")


def _depth(max_depth: int | None) -> int:
    depth = DEFAULT_DEPTH if max_depth is None else max_depth
    if not 0 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"depth must be between 0 and {MAX_DEPTH}, got {depth}")
    return depth


def upstream(backend: Backend, ref: str, *, max_depth: int | None = None) -> LineageGraph:
    """What produced ``ref``: executions (with their runs' params and metrics) and their inputs."""
    return _walk(backend, ref, upstream=True, max_depth=max_depth)


def downstream(backend: Backend, ref: str, *, max_depth: int | None = None) -> LineageGraph:
    """What depends on ``ref``: impact analysis of a dataset, model, ..."""
    return _walk(backend, ref, upstream=False, max_depth=max_depth)


def _walk(backend: Backend, ref: str, *, upstream: bool, max_depth: int | None) -> LineageGraph:
    depth = _depth(max_depth)
    with backend.read() as session:
        kind, node_id = resolve(session, ref)
        depths = store.walk(session, kind, node_id, upstream=upstream, max_depth=depth)
        nodes, edges = store.subgraph(session, depths)
    return LineageGraph(root=f"{kind.value}:{node_id}", direction="upstream" if upstream else "downstream",
                        nodes=nodes, edges=edges)


def path(backend: Backend, source: str, target: str, *, max_depth: int | None = None) -> LineageGraph:
    """Every node on a path from ``source`` to ``target`` (tried in both directions); empty if none."""
    depth = _depth(max_depth)
    with backend.read() as session:
        a, b = resolve(session, source), resolve(session, target)
        for start, end in ((a, b), (b, a)):
            below = store.walk(session, *start, upstream=False, max_depth=depth)
            if (end[0].value, end[1]) not in below:
                continue
            above = store.walk(session, *end, upstream=True, max_depth=depth)
            on_path = {key: value for key, value in below.items() if key in above}
            nodes, edges = store.subgraph(session, on_path)
            return LineageGraph(root=f"{start[0].value}:{start[1]}", direction="path", nodes=nodes, edges=edges)
    return LineageGraph(root=f"{a[0].value}:{a[1]}", direction="path", nodes=[], edges=[])


def get_artifact(backend: Backend, artifact_id: str) -> LineageArtifact:
    with backend.read() as session:
        return store.get_artifact(session, artifact_id)


def run_record(backend: Backend, run_id: str) -> LineageRecord:
    """A run's execution with its inputs and outputs."""
    with backend.read() as session:
        run_store.row_of(session, run_id)
        execution = store.execution_of_run(session, run_id)
        if execution is None:
            raise NotFound(f"run '{run_id}' has no lineage yet (it logged no inputs or outputs)")
        return LineageRecord(
            execution=execution,
            inputs=store.artifacts_of_execution(session, execution.id, Direction.INPUT),
            outputs=store.artifacts_of_execution(session, execution.id, Direction.OUTPUT),
        )


def producers(backend: Backend, ref: str) -> LineageGraph:
    """The executions that output an artifact, with their params, metrics and inputs (depth 2)."""
    return upstream(backend, ref, max_depth=2)


def evaluations(backend: Backend, ref: str, *, max_depth: int = 4) -> list[LineageArtifact]:
    """Evaluation artifacts downstream of a model (or any node)."""
    graph = downstream(backend, ref, max_depth=max_depth)
    with backend.read() as session:
        return [store.get_artifact(session, node.id) for node in graph.artifacts(ArtifactKind.EVALUATION)]


def pipeline(backend: Backend, pipeline_run_id: str) -> list[LineageExecution]:
    with backend.read() as session:
        return store.executions_in_context(session, ContextType.PIPELINE_RUN.value, pipeline_run_id)


# -- a model version's lineage, summarised (reports, model cards) ---------------------------------

_RUN_TYPES = (ExecutionType.RUN.value, ExecutionType.PIPELINE_STEP.value)
_DATASET_TYPES = {kind.value for kind in DATASET_KINDS}


def summary_for_version(backend: Backend, name: str, version: int) -> dict[str, Any]:
    """What a version came from and how it was evaluated, as plain data::

        {"model", "version", "ref", "recorded": bool,
         "training_runs": [{"run_id", "name", "params", "metrics"}],
         "datasets": [{"id", "name", "kind", "digest", "uri", "rows", "snapshot", "role", "used_by"}],
         "evaluations": [{"id", "created_at", "passed", "dataset", "metrics"}]}

    ``role`` is 'training' (read by a training run), 'upstream' (further back) or 'evaluation'.
    """
    with backend.read() as session:
        return version_summary_in(session, name, version)


def version_summary_in(session: UnitOfWork, name: str, version: int) -> dict[str, Any]:
    """``summary_for_version`` inside the caller's unit of work."""
    row = registry_store.version_row(session, name, version)  # NotFound for an unknown version
    summary: dict[str, Any] = {"model": name, "version": version, "ref": version_uri(name, version),
                               "recorded": False, "training_runs": [], "datasets": [], "evaluations": []}
    found = store.find_artifact(session, ArtifactKind.MODEL, digest=None, uri=version_uri(name, version))
    if found is not None:
        summary["recorded"] = True
        depths = store.walk(session, NodeKind.ARTIFACT, found.id, upstream=True, max_depth=DEFAULT_DEPTH)
        nodes, edges = store.subgraph(session, depths)
        runs, datasets = _training_runs_and_datasets(nodes, edges)
        summary["training_runs"], summary["datasets"] = runs, datasets
    evaluations = governance_store.evaluations(session, row, name)  # newest first
    summary["evaluations"] = [_evaluation_summary(e) for e in evaluations]
    known = {d["id"] for d in summary["datasets"]}
    for evaluation in evaluations:
        for dataset in _evaluation_datasets(session, evaluation):
            if dataset["id"] not in known:
                known.add(dataset["id"])
                summary["datasets"].append(dataset)
    return summary


def _training_runs_and_datasets(nodes: list[GraphNode], edges: list[GraphEdge]) -> tuple[list[dict], list[dict]]:
    """Training runs: runs whose outputs the registration read. Their inputs are training data."""
    by_key = {node.key: node for node in nodes}
    inputs_of: dict[str, list[str]] = {}
    producers_of: dict[str, list[str]] = {}
    for edge in edges:
        if edge.type is Direction.INPUT:
            inputs_of.setdefault(edge.target, []).append(edge.source)
        else:
            producers_of.setdefault(edge.target, []).append(edge.source)
    registrations = [n.key for n in nodes if n.type == ExecutionType.REGISTRATION.value]
    training = sorted({producer for reg in registrations for artifact in inputs_of.get(reg, [])
                       for producer in producers_of.get(artifact, []) if by_key[producer].type in _RUN_TYPES})
    runs = [{"run_id": by_key[k].run_id, "name": by_key[k].name, "params": by_key[k].params,
             "metrics": by_key[k].metrics} for k in training]
    used_by: dict[str, list[str]] = {}
    for run in training:
        for artifact in inputs_of.get(run, []):
            used_by.setdefault(artifact, []).append(by_key[run].run_id or by_key[run].name)
    datasets = [_dataset_summary(node, "training" if node.key in used_by else "upstream", used_by.get(node.key, []))
                for node in nodes if node.kind is NodeKind.ARTIFACT and node.type in _DATASET_TYPES]
    datasets.sort(key=lambda d: (d["role"] != "training", d["name"]))
    return runs, datasets


def _dataset_summary(node: GraphNode | LineageArtifact, role: str, used_by: list[str]) -> dict[str, Any]:
    props = node.properties
    kind = node.type if isinstance(node, GraphNode) else node.kind.value
    statistics = props.get("statistics") if isinstance(props.get("statistics"), dict) else {}
    return {"id": node.id, "name": node.name, "kind": kind, "digest": node.digest, "uri": node.uri,
            "rows": statistics.get("row_count"), "snapshot": props.get("snapshot"), "role": role,
            "used_by": sorted(used_by)}


def evaluation_metrics(result: Any) -> dict[str, float]:
    """The finite scalar metrics of a stored evaluation result (``result.metrics.metrics``)."""
    report = result.get("metrics") if isinstance(result, dict) else None
    values = report.get("metrics") if isinstance(report, dict) else None
    return {k: float(v) for k, v in (values or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}


def _evaluation_summary(evaluation: Any) -> dict[str, Any]:
    result = evaluation.result if isinstance(evaluation.result, dict) else {}
    return {"id": evaluation.id, "created_at": evaluation.created_at.isoformat(), "passed": evaluation.passed,
            "dataset": evaluation.dataset.model_dump() if evaluation.dataset else None,
            "rows": result.get("n_rows"), "metrics": evaluation_metrics(result), "failures": list(evaluation.failures)}


def _evaluation_datasets(session: UnitOfWork, evaluation: Any) -> list[dict[str, Any]]:
    """The lineage dataset whose snapshot is the evaluation's file; else the file itself."""
    ref = evaluation.dataset
    if ref is None:
        return []
    execution = store.execution_of_run(session, ref.run_id)
    if execution is not None:
        for direction in (Direction.OUTPUT, Direction.INPUT):
            for artifact in store.artifacts_of_execution(session, execution.id, direction):
                snapshot = artifact.properties.get("snapshot") or {}
                if artifact.kind in DATASET_KINDS and snapshot.get("path") == ref.path:
                    return [_dataset_summary(artifact, "evaluation", [])]
    try:
        stored = artifact_index.get(session, run_store.pk_of(session, ref.run_id), normalize_logical_path(ref.path))
    except (NotFound, InvalidInput):
        return []
    rows = evaluation.result.get("n_rows") if isinstance(evaluation.result, dict) else None
    return [{"id": f"runs:/{ref.run_id}/{ref.path}", "name": ref.path.rsplit("/", 1)[-1], "kind": "file",
             "digest": f"sha256:{stored.digest}", "uri": f"runs:/{ref.run_id}/{ref.path}", "rows": rows,
             "snapshot": None, "role": "evaluation", "used_by": []}]
