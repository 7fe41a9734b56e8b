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
from modelward.domain.datasets import CLIENT_PROFILE, DATASET_KINDS
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
    Origin,
    OriginDataset,
    TrainingRun,
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
    spec = spec.model_copy(update={"name": _clip(name or spec.kind.value)})
    if spec.kind in DATASET_KINDS:
        return ensure_dataset(session, spec)
    return store.ensure_artifact(session, spec, spec.name or spec.kind.value)


_PROFILE_KEYS = ("schema", "statistics", "source_type", "profile_source")


def ensure_dataset(session: UnitOfWork, spec: ArtifactSpec) -> LineageArtifact:
    """One node per dataset, a dataset being its content (digest) at its location (``uri``,
    which is how an OpenLineage (namespace, name) is spelled), whichever was heard of first.

    With a location and a digest: the node with both; else a node with the digest and no
    location yet, which takes the location; else a node known only by the location (e.g.
    from an OpenLineage event), which takes the digest. Any other name-only node at the
    location is merged into the chosen one, its edges carried over. With a location alone:
    the name-only node there, else the newest node there. With a digest alone: the node with
    it and no location, else the newest with it.
    """
    name = spec.name or spec.kind.value
    at_location = store.artifacts_at(session, spec.uri, DATASET_KINDS) if spec.uri else []
    name_only = [a for a in at_location if a.digest is None]
    if spec.digest is None:
        found = at_location[0] if at_location else store.create_dataset(session, spec, name)
        return _apply_dataset_properties(session, found, spec.properties)
    same_content = store.with_digest(session, spec.kind, spec.digest)
    if spec.uri is None:
        found = same_content[0] if same_content else store.create_dataset(session, spec, name)
        return _apply_dataset_properties(session, found, spec.properties)
    here = [a for a in same_content if a.uri == spec.uri]
    unplaced = [a for a in same_content if a.uri is None]
    if here:
        found = here[0]
    elif unplaced:
        found = store.assign_identity(session, unplaced[0].id, kind=spec.kind, digest=None, uri=spec.uri, name=None)
    elif name_only:
        found = store.assign_identity(session, name_only.pop(0).id, kind=spec.kind, digest=spec.digest,
                                      uri=spec.uri, name=spec.name)
    else:
        found = store.create_dataset(session, spec, name)
    for other in name_only:
        if other.id != found.id:
            found = store.merge_artifacts(session, found.id, other.id)
    return _apply_dataset_properties(session, found, spec.properties)


def _apply_dataset_properties(session: UnitOfWork, found: LineageArtifact, properties: dict[str, Any]) -> LineageArtifact:
    """New keys are added; a profile computed from the data replaces one taken from OpenLineage
    facets (which stay under 'openlineage'), never the other way round."""
    updates = {k: v for k, v in properties.items() if k not in found.properties}
    profiled = properties.get("profile_source") == CLIENT_PROFILE
    if profiled and found.properties.get("profile_source") != CLIENT_PROFILE:
        updates.update({k: properties[k] for k in _PROFILE_KEYS if k in properties})
    return store.update_artifact_properties(session, found.id, updates) if updates else found


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


def _model_version_of(session: UnitOfWork, ref: str) -> tuple[str, int] | None:
    """'models:/NAME/VERSION', 'models:/NAME@ALIAS', and the native 'NAME/VERSION' and
    'NAME@ALIAS' -> (name, version); None if ``ref`` has none of these forms."""
    text = ref.strip()
    prefixed = text.startswith("models:/")
    body = text.removeprefix("models:/")
    if "@" in body:
        name, alias = body.rsplit("@", 1)
        if name and alias:
            return name, registry_store.alias_target(session, registry_store.model_row(session, name), alias).version
    else:
        name, _, number = body.rpartition("/")
        if name and number.isdigit():
            return name, int(number)
    if prefixed:
        raise InvalidInput(f"model reference {ref!r} must be 'models:/NAME/VERSION' or 'models:/NAME@ALIAS'")
    return None


def _version_node(session: UnitOfWork, name: str, version: int) -> tuple[NodeKind, str]:
    """The MODEL artifact that stands for a registered version (its registration's output)."""
    registry_store.version_row(session, name, version)  # NotFound for an unknown version
    found = store.find_artifact(session, ArtifactKind.MODEL, digest=None, uri=version_uri(name, version))
    if found is None:
        raise NotFound(f"version {version} of model '{name}' has no lineage (it was registered before lineage, "
                       "or from a source that is not a run of this server)")
    return NodeKind.ARTIFACT, found.id


def resolve(session: UnitOfWork, ref: str) -> tuple[NodeKind, str]:
    """'artifact:ID', 'dataset:ID', 'execution:ID', 'run:RUN_ID', 'models:/NAME/VERSION',
    'models:/NAME@ALIAS', 'NAME/VERSION', 'NAME@ALIAS' or a bare id of a run, artifact or execution."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput("a lineage reference must be a non-empty string such as 'run:<id>'")
    if ref.strip().startswith("models:/"):
        found = _model_version_of(session, ref)
        assert found is not None
        return _version_node(session, *found)
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
    version = _model_version_of(session, value) if not prefix else None
    if version is not None:
        return _version_node(session, *version)
    raise NotFound(f"no run, lineage artifact, execution or model version named '{value}'")


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
        found_origin = origin_in(session, f"artifact:{found.id}")
        summary["training_runs"] = [{"run_id": r.run_id, "name": r.name, "params": r.params, "metrics": r.metrics}
                                    for r in found_origin.runs]
        summary["datasets"] = [d.model_dump(exclude={"key"}) for d in found_origin.datasets]
    evaluations = governance_store.evaluations(session, row, name)  # newest first
    summary["evaluations"] = [_evaluation_summary(e) for e in evaluations]
    known = {d["id"] for d in summary["datasets"]}
    for evaluation in evaluations:
        for dataset in _evaluation_datasets(session, evaluation):
            if dataset["id"] not in known:
                known.add(dataset["id"])
                summary["datasets"].append(dataset)
    return summary


def producing_runs(root: str, nodes: list[GraphNode], edges: list[GraphEdge]) -> list[str]:
    """The run executions nearest ``root`` upstream: the walk passes through artifacts and
    executions that are not runs (a registration, a deployment, a split) and stops at each run,
    so the runs that produced a model's training data are not taken for its training runs."""
    by_key = {node.key: node for node in nodes}
    if root in by_key and by_key[root].type in _RUN_TYPES:
        return [root]
    above: dict[str, list[str]] = {}
    for edge in edges:
        above.setdefault(edge.target, []).append(edge.source)
    found: set[str] = set()
    seen, frontier = {root}, [root]
    while frontier:
        following = []
        for key in frontier:
            for source in above.get(key, []):
                if source in seen or source not in by_key:
                    continue
                seen.add(source)
                if by_key[source].type in _RUN_TYPES and by_key[source].kind is NodeKind.EXECUTION:
                    found.add(source)
                else:
                    following.append(source)
        frontier = following
    return sorted(found)


def _inputs_of(edges: list[GraphEdge]) -> dict[str, list[str]]:
    inputs: dict[str, list[str]] = {}
    for edge in edges:
        if edge.type is Direction.INPUT:
            inputs.setdefault(edge.target, []).append(edge.source)
    return inputs


def _origin_datasets(nodes: list[GraphNode], edges: list[GraphEdge], runs: list[str]) -> list[OriginDataset]:
    """Every dataset upstream: 'training' if a producing run read it, else 'upstream'."""
    by_key = {node.key: node for node in nodes}
    inputs_of = _inputs_of(edges)
    used_by: dict[str, list[str]] = {}
    for run in runs:
        for artifact in inputs_of.get(run, []):
            used_by.setdefault(artifact, []).append(by_key[run].run_id or by_key[run].name)
    found = []
    for node in nodes:
        if node.kind is not NodeKind.ARTIFACT or node.type not in _DATASET_TYPES:
            continue
        statistics = node.properties.get("statistics") if isinstance(node.properties.get("statistics"), dict) else {}
        found.append(OriginDataset(
            key=node.key, id=node.id, name=node.name, kind=node.type, digest=node.digest, uri=node.uri,
            rows=statistics.get("row_count") if isinstance(statistics.get("row_count"), int) else None,
            snapshot=node.properties.get("snapshot"), role="training" if node.key in used_by else "upstream",
            used_by=sorted(used_by.get(node.key, [])),
        ))
    found.sort(key=lambda d: (d.role != "training", d.name, d.id))
    return found


def _code_of(environment: dict[str, Any] | None) -> dict[str, Any]:
    env = environment or {}
    git = env.get("git") or {}
    code = {key: git.get(key) for key in ("commit", "branch", "remote", "dirty")} if git else {}
    for key in ("command", "cwd"):
        if env.get(key):
            code[key] = env[key]
    return code


def origin_in(session: UnitOfWork, ref: str) -> Origin:
    """``origin`` inside the caller's unit of work."""
    kind, node_id = resolve(session, ref)
    root = f"{kind.value}:{node_id}"
    depths = store.walk(session, kind, node_id, upstream=True, max_depth=DEFAULT_DEPTH)
    nodes, edges = store.subgraph(session, depths)
    by_key = {node.key: node for node in nodes}
    inputs_of = _inputs_of(edges)
    run_keys = producing_runs(root, nodes, edges)
    runs = []
    for key in run_keys:
        node = by_key[key]
        assert node.run_id is not None
        runs.append(TrainingRun(
            key=key, run_id=node.run_id, name=node.name, type=node.type, params=node.params, metrics=node.metrics,
            code=_code_of(run_store.get(session, node.run_id).environment),
            inputs=sorted(a for a in inputs_of.get(key, []) if by_key[a].type in _DATASET_TYPES),
        ))
    return Origin(ref=ref, root=root, runs=runs, datasets=_origin_datasets(nodes, edges, run_keys))


def origin(backend: Backend, ref: str) -> Origin:
    """What produced ``ref``: for a model version ('models:/NAME/V', 'models:/NAME@ALIAS',
    'NAME/V', ...) the walk goes through the registration to the run that logged the model
    files, and answers with that run's params, metrics, code version and data."""
    with backend.read() as session:
        return origin_in(session, ref)


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
