"""Lineage nouns, in the spirit of ML Metadata and OpenLineage, and graph exports. No I/O.

Artifacts (data, models, evaluations, ...) and executions (runs, pipeline steps,
registrations, deployments, OpenLineage job runs) are the nodes; events join them:
``artifact --input--> execution`` and ``execution --output--> artifact``. Contexts
(experiment, pipeline run, job) group executions.

A node is named by a ``NodeRef`` string: ``artifact:<id>``, ``execution:<id>`` or
``run:<run id>`` (the execution that stands for a tracking run).
"""

from __future__ import annotations

import enum
import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelward.errors import InvalidInput


class ArtifactKind(str, enum.Enum):
    RAW_SOURCE = "raw_source"
    DATASET = "dataset"
    DATA_SPLIT = "data_split"
    FEATURES = "features"
    SCHEMA = "schema"
    STATISTICS = "statistics"
    MODEL = "model"
    EVALUATION = "evaluation"
    ENDPOINT = "endpoint"
    CUSTOM = "custom"


class ExecutionType(str, enum.Enum):
    RUN = "run"
    PIPELINE_STEP = "pipeline_step"
    TRANSFORMATION = "transformation"
    EVALUATION = "evaluation"
    REGISTRATION = "registration"
    DEPLOYMENT = "deployment"
    OPENLINEAGE = "openlineage"
    CUSTOM = "custom"


class ContextType(str, enum.Enum):
    EXPERIMENT = "experiment"
    PIPELINE_RUN = "pipeline_run"
    JOB = "job"
    CUSTOM = "custom"


class Direction(str, enum.Enum):
    INPUT = "input"
    OUTPUT = "output"


class NodeKind(str, enum.Enum):
    ARTIFACT = "artifact"
    EXECUTION = "execution"


# -- what callers send --------------------------------------------------------------------


class ArtifactSpec(BaseModel):
    """An artifact to find or create. Identity: ``id``; else (kind, digest); else (kind, uri).

    ``run_artifact_path`` names a file already logged to the execution's run: the server
    takes its digest from the artifact index (it never opens a client-supplied location).
    """

    id: str | None = None
    kind: ArtifactKind = ArtifactKind.CUSTOM
    name: str | None = None
    digest: str | None = None
    uri: str | None = None
    run_artifact_path: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("properties")
    @classmethod
    def _no_server_written_properties(cls, properties: dict[str, Any]) -> dict[str, Any]:
        # What the server records about a dataset after it is logged has its own door; taken from a
        # client's properties it would show a check, scan or redaction that never happened.
        for key, door in SERVER_WRITTEN_PROPERTIES.items():
            if key in properties:
                raise InvalidInput(f"the property '{key}' is set through {door}, not when an artifact is logged")
        return properties


GOVERNED_PROPERTY = "data_governance"  # a dataset's purpose, consent, retention: domain.data_governance
SERVER_WRITTEN_PROPERTIES = {
    GOVERNED_PROPERTY: "the dataset governance API (PUT /api/v1/datasets/{dataset}/governance)",
    "data_check": "a check of the stored snapshot (POST /api/v1/datasets/{dataset}/checks)",
    "expectations": "the expectations of the logged dataset (expectations=), which are then checked",
    "personal_data": "a scan (POST /api/v1/datasets/{dataset}/personal-data)",
    "redacted": "a deletion request (POST /api/v1/erasure)",
}


class ExecutionSpec(BaseModel):
    """An execution to find or create. Identity: ``run_id``; else (type, external_id); else new."""

    type: ExecutionType = ExecutionType.CUSTOM
    name: str | None = None
    run_id: str | None = None
    external_id: str | None = None
    status: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class ContextSpec(BaseModel):
    type: ContextType
    name: str


# -- what the store returns ---------------------------------------------------------------


class LineageArtifact(BaseModel):
    id: str
    kind: ArtifactKind
    name: str
    digest: str | None = None
    uri: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"artifact:{self.id}"


class LineageExecution(BaseModel):
    id: str
    type: ExecutionType
    name: str
    run_id: str | None = None
    external_id: str | None = None
    status: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime

    @property
    def ref(self) -> str:
        return f"execution:{self.id}"


class LineageRecord(BaseModel):
    """What one ``record`` call stored: the execution and its resolved artifacts."""

    execution: LineageExecution
    inputs: list[LineageArtifact] = Field(default_factory=list)
    outputs: list[LineageArtifact] = Field(default_factory=list)


class GraphNode(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")
    key: str = Field(description="'artifact:<id>' or 'execution:<id>'")
    kind: NodeKind
    id: str
    type: str = Field(description="artifact kind or execution type")
    name: str
    depth: int
    digest: str | None = None
    uri: str | None = None
    run_id: str | None = None
    status: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict, description="a run's hyperparameters")
    metrics: dict[str, float] = Field(default_factory=dict, description="a run's latest metrics")


class GraphEdge(BaseModel):
    source: str
    target: str
    type: Direction


class LineageGraph(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")
    root: str
    direction: str = Field(description="'upstream', 'downstream' or 'path'")
    nodes: list[GraphNode]
    edges: list[GraphEdge]

    def node(self, key: str) -> GraphNode:
        for node in self.nodes:
            if node.key == key:
                return node
        raise KeyError(key)

    def artifacts(self, *kinds: ArtifactKind | str) -> list[GraphNode]:
        wanted = {ArtifactKind(kind).value for kind in kinds}
        return [n for n in self.nodes if n.kind is NodeKind.ARTIFACT and (not wanted or n.type in wanted)]

    def executions(self) -> list[GraphNode]:
        return [n for n in self.nodes if n.kind is NodeKind.EXECUTION]


class TrainingRun(BaseModel):
    """A run that produced a node (a model version, a model file, an evaluation, ...)."""

    model_config = ConfigDict(ser_json_inf_nan="strings")
    key: str = Field(description="the run's execution, 'execution:<id>'")
    run_id: str
    name: str
    type: str = Field(description="'run' or 'pipeline_step'")
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    code: dict[str, Any] = Field(default_factory=dict, description="git commit, branch, remote, dirty; command, cwd")
    inputs: list[str] = Field(default_factory=list, description="keys of the datasets the run read")


class OriginDataset(BaseModel):
    """A dataset upstream of a node: read by a producing run ('training') or further back ('upstream')."""

    key: str
    id: str
    name: str
    kind: str
    digest: str | None = None
    uri: str | None = None
    rows: int | None = None
    snapshot: dict[str, Any] | None = None
    role: str = Field(description="'training' or 'upstream'")
    used_by: list[str] = Field(default_factory=list, description="run ids that read it")


class Origin(BaseModel):
    """What produced a node: the runs (through registrations and other non-run steps), their
    params, metrics and code version, and the data upstream of them."""

    ref: str
    root: str
    runs: list[TrainingRun] = Field(default_factory=list)
    datasets: list[OriginDataset] = Field(default_factory=list)


_REF_RE = re.compile(r"^(artifact|execution|run|dataset):(.+)$")


def parse_ref(ref: str) -> tuple[str, str]:
    """'artifact:ID' / 'dataset:ID' / 'execution:ID' / 'run:RUN_ID' -> (prefix, id); bare ids -> ('', id)."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput("a lineage reference must be a non-empty string such as 'run:<id>'")
    match = _REF_RE.match(ref.strip())
    if match is None:
        return "", ref.strip()
    prefix, value = match.groups()
    return ("artifact" if prefix == "dataset" else prefix), value


# -- exports: pure functions, graph -> text -------------------------------------------------


def _label(node: GraphNode) -> str:
    if node.kind is NodeKind.ARTIFACT:
        digest = f" {node.digest[:12]}" if node.digest else ""
        return f"{node.type}: {node.name}{digest}"
    return f"{node.type}: {node.name}"


def to_json(graph: LineageGraph) -> str:
    return json.dumps(graph.model_dump(mode="json"), indent=2, sort_keys=True)


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: LineageGraph) -> str:
    lines = ["digraph lineage {", "  rankdir=LR;"]
    for node in graph.nodes:
        shape = "box" if node.kind is NodeKind.EXECUTION else "ellipse"
        lines.append(f"  {_dot_quote(node.key)} [label={_dot_quote(_label(node))}, shape={shape}];")
    for edge in graph.edges:
        lines.append(f"  {_dot_quote(edge.source)} -> {_dot_quote(edge.target)} [label={edge.type.value}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(key: str, ids: dict[str, str]) -> str:
    return ids.setdefault(key, f"n{len(ids)}")


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("\n", " ")


def to_mermaid(graph: LineageGraph) -> str:
    ids: dict[str, str] = {}
    lines = ["flowchart LR"]
    for node in graph.nodes:
        node_id = _mermaid_id(node.key, ids)
        text = _mermaid_text(_label(node))
        shape = f'["{text}"]' if node.kind is NodeKind.EXECUTION else f'(["{text}"])'
        lines.append(f"  {node_id}{shape}")
    for edge in graph.edges:
        lines.append(f"  {_mermaid_id(edge.source, ids)} -->|{edge.type.value}| {_mermaid_id(edge.target, ids)}")
    return "\n".join(lines) + "\n"


def tree_lines(graph: LineageGraph) -> list[str]:
    """The graph as an indented tree from its root (a node met twice is marked, not repeated)."""
    upstream = graph.direction == "upstream"
    children: dict[str, list[str]] = {}
    for edge in graph.edges:
        parent, child = (edge.target, edge.source) if upstream else (edge.source, edge.target)
        children.setdefault(parent, []).append(child)
    by_key = {node.key: node for node in graph.nodes}
    lines: list[str] = []
    seen: set[str] = set()

    def walk(key: str, indent: int) -> None:
        node = by_key.get(key)
        if node is None:
            return
        again = key in seen
        extra = ""
        if node.params and not again:
            extra = "  params: " + ", ".join(f"{k}={v}" for k, v in sorted(node.params.items()))
        lines.append("  " * indent + f"{_label(node)} [{key}]" + (" (see above)" if again else "") + extra)
        if again:
            return
        seen.add(key)
        for child in sorted(children.get(key, [])):
            walk(child, indent + 1)

    walk(graph.root, 0)
    return lines


EXPORTERS = {"json": to_json, "dot": to_dot, "mermaid": to_mermaid}


# -- reproducibility ------------------------------------------------------------------------


# What a reproduction sets for the rerun (``modelward runs reproduce`` writes them into run.sh):
REPRODUCES_ENV = "MODELWARD_REPRODUCES_RUN"  # the original run's id; the SDK tags new runs with it
REPRODUCES_TAG = "modelward.reproduces"
PARAMS_FILE_ENV = "MODELWARD_PARAMS_FILE"  # params.json: the original run's params


class InputData(BaseModel):
    id: str | None = None
    name: str
    kind: str
    digest: str | None = None
    uri: str | None = None
    path: str | None = Field(default=None, description="where the run found the file (relative to its cwd, or absolute)")
    snapshot: dict[str, Any] | None = Field(default=None, description="{'run_id', 'path', 'digest'} if stored")


class UnpinnedPackage(BaseModel):
    """An installed package the requirements cannot pin, and why."""

    name: str
    version: str | None = None
    reason: str


class ReproSpec(BaseModel):
    """What is needed to rerun a run: code version, command, params, environment and data."""

    run_id: str
    run_name: str | None = None
    experiment_id: str
    code: dict[str, Any] = Field(default_factory=dict, description="git commit, branch, remote, dirty")
    command: list[str] = Field(default_factory=list)
    cwd: str | None = None
    python: str | None = None
    executable: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    requirements: list[str] = Field(default_factory=list, description="'name==version' of packages from an index")
    unpinned: list[UnpinnedPackage] = Field(default_factory=list)
    inputs: list[InputData] = Field(default_factory=list)
    pipeline_run_id: str | None = None
    step_name: str | None = None
    warnings: list[str] = Field(default_factory=list)


class RunDiff(BaseModel):
    """What differs between two runs; each entry is [value in a, value in b] (None if absent)."""

    model_config = ConfigDict(ser_json_inf_nan="strings")
    a: str
    b: str
    params: dict[str, list[str | None]] = Field(default_factory=dict)
    metrics: dict[str, list[float | None]] = Field(default_factory=dict)
    environment: dict[str, list[Any]] = Field(default_factory=dict)
    packages: dict[str, list[str | None]] = Field(default_factory=dict)
    data: dict[str, list[str | None]] = Field(default_factory=dict, description="input name -> digests")

    @property
    def identical(self) -> bool:
        return not (self.params or self.metrics or self.environment or self.packages or self.data)


def diff_maps(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[Any]]:
    return {key: [a.get(key), b.get(key)] for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)}
