"""Datasets: a lineage artifact with a content digest, a schema, statistics and maybe a snapshot.

Profiles are computed by the client (``modelward.sdk.datasets``) and arrive here as data;
nothing in this module reads data files.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from modelward.domain.lineage import ArtifactKind, LineageArtifact
from modelward.errors import InvalidInput

DATASET_KINDS = (ArtifactKind.RAW_SOURCE, ArtifactKind.DATASET, ArtifactKind.DATA_SPLIT, ArtifactKind.FEATURES)
SOURCE_TYPES = ("dataframe", "file", "uri")
DATASET_PATHS = "dataset_paths"  # a run's execution property: dataset id -> where the run found the file
CLIENT_PROFILE = "client"  # ``profile_source``: schema and statistics computed from the data by the SDK
OPENLINEAGE_PROFILE = "openlineage"  # ... or taken from an OpenLineage event's facets
_DIGEST_RE = re.compile(r"^[A-Za-z0-9_\-]+:[0-9a-f]{16,128}$|^[0-9a-f]{64}$")


def canonical_uri(uri: str) -> str:
    """One spelling of a dataset location: scheme and host in lower case, no trailing slash,
    and ``file:/x``, ``file://localhost/x`` and ``file:///x`` all as ``file:///x``."""
    text = uri.strip()
    parts = urlsplit(text)
    if not parts.scheme or "://" not in text and parts.scheme.lower() != "file":
        return text.rstrip("/") or text
    scheme = parts.scheme.lower()
    if scheme == "file":
        host = "" if parts.netloc.lower() in ("", "localhost") else parts.netloc
        return f"file://{'//' + host if host else ''}/{parts.path.lstrip('/')}".rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}{query}"


def dataset_uri(namespace: str, name: str) -> str:
    """The location of the OpenLineage dataset (namespace, name), the way a source URI spells it:
    ('s3://bucket', 'path/x.csv') -> 's3://bucket/path/x.csv', ('postgres://db:5432', 'a.b.t')
    -> 'postgres://db:5432/a.b.t', ('file', '/data/x.csv') -> 'file:///data/x.csv'. Both
    namings of one dataset meet at this string, so they are one lineage node."""
    namespace = namespace.strip()
    if namespace.lower() == "file":
        return "file:///" + name.lstrip("/")
    return canonical_uri(namespace).rstrip("/") + "/" + name.lstrip("/")


class ColumnSchema(BaseModel):
    name: str
    type: str
    nullable: bool | None = None


class DatasetSchema(BaseModel):
    columns: list[ColumnSchema] = Field(default_factory=list)


class ColumnStats(BaseModel):
    count: int | None = None
    missing: int | None = None
    mean: float | None = None
    std: float | None = None
    min: Any = None
    max: Any = None
    quantiles: dict[str, float] = Field(default_factory=dict, description="'0.25' -> value")
    histogram: dict[str, list[float]] | None = Field(default=None, description="{'edges': [...], 'counts': [...]}")
    distinct: int | None = None
    top: list[dict[str, Any]] = Field(default_factory=list, description="categoricals: [{'value', 'count'}]")


class DatasetStats(BaseModel):
    row_count: int | None = None
    columns: dict[str, ColumnStats] = Field(default_factory=dict)


class Snapshot(BaseModel):
    """Where a stored copy lives: a run artifact (its bytes are content-addressed by ``digest``)."""

    run_id: str
    path: str
    digest: str
    size: int
    format: str = "parquet"


class DatasetCreate(BaseModel):
    """A dataset as the client profiled it."""

    name: str
    kind: ArtifactKind = ArtifactKind.DATASET
    digest: str | None = None
    uri: str | None = None
    namespace: str | None = Field(default=None, description="OpenLineage namespace; with 'name' it names the dataset")
    source_type: str = "dataframe"
    data_schema: DatasetSchema | None = Field(default=None, alias="schema")
    statistics: DatasetStats | None = None
    parent_id: str | None = None
    split: str | None = None
    snapshot_path: str | None = Field(default=None, description="a file already logged to run_id")
    path: str | None = Field(default=None, max_length=1024,
                             description="where run_id found the file: relative to its working folder, or absolute")
    run_id: str | None = None
    direction: str | None = Field(default=None, description="'input' or 'output' of run_id")
    properties: dict[str, Any] = Field(default_factory=dict)
    expectations: dict[str, Any] | None = Field(
        default=None, description="a declaration of expectations (docs/data.md): checked on the snapshot once logged")

    model_config = {"populate_by_name": True}

    def location(self) -> str | None:
        """Where the dataset is, in the one spelling OpenLineage events of it also get."""
        if self.namespace is not None:
            return dataset_uri(self.namespace, self.name)
        return canonical_uri(self.uri) if self.uri is not None else None

    def check(self) -> None:
        if not self.name.strip():
            raise InvalidInput("dataset 'name' must not be empty")
        if self.kind not in DATASET_KINDS:
            allowed = ", ".join(kind.value for kind in DATASET_KINDS)
            raise InvalidInput(f"dataset 'kind' must be one of {allowed}, got {self.kind.value!r}")
        if self.source_type not in SOURCE_TYPES:
            raise InvalidInput(f"dataset 'source_type' must be one of {', '.join(SOURCE_TYPES)}, got {self.source_type!r}")
        if self.digest is None and self.uri is None and self.namespace is None:
            raise InvalidInput("a dataset needs a 'digest', a 'uri' or an OpenLineage 'namespace'")
        if self.namespace is not None and not self.namespace.strip():
            raise InvalidInput("dataset 'namespace' must not be empty")
        if self.namespace is not None and self.uri is not None and self.location() != canonical_uri(self.uri):
            raise InvalidInput(f"dataset 'uri' {self.uri!r} is not where namespace {self.namespace!r} and name "
                               f"{self.name!r} point ({self.location()!r}): give one or the other")
        if self.digest is not None and not _DIGEST_RE.match(self.digest):
            raise InvalidInput(f"dataset 'digest' {self.digest!r} is not 'algorithm:hex' or 64 hex characters")
        if self.split is not None and self.parent_id is None:
            raise InvalidInput("a data split needs the 'parent_id' of the dataset it was split from")
        if self.direction not in (None, "input", "output"):
            raise InvalidInput(f"dataset 'direction' must be 'input' or 'output', got {self.direction!r}")
        if self.path is not None and (not self.path.strip() or "\x00" in self.path):
            raise InvalidInput("dataset 'path' must be a non-empty file path")
        if (self.direction or self.snapshot_path or self.path) and not self.run_id:
            raise InvalidInput("'direction', 'snapshot_path' and 'path' need the 'run_id' they belong to")


class Dataset(BaseModel):
    id: str
    name: str
    kind: ArtifactKind
    digest: str | None = None
    uri: str | None = None
    source_type: str | None = None
    data_schema: DatasetSchema | None = Field(default=None, alias="schema")
    statistics: DatasetStats | None = None
    parent_id: str | None = None
    split: str | None = None
    snapshot: Snapshot | None = None
    expectations: dict[str, Any] | None = Field(default=None, description="the declaration attached to the dataset")
    data_check: dict[str, Any] | None = Field(default=None, description="its latest check: check_id, status, failed")
    redacted: list[dict[str, Any]] = Field(
        default_factory=list, description="deletion requests that rewrote its snapshot: "
        "{request_id, rows_removed, old_digest, new_digest, at, by}")

    model_config = {"populate_by_name": True, "serialize_by_alias": True}

    @classmethod
    def from_artifact(cls, artifact: LineageArtifact) -> Dataset:
        props = artifact.properties
        return cls(
            id=artifact.id, name=artifact.name, kind=artifact.kind, digest=artifact.digest,
            uri=artifact.uri, source_type=props.get("source_type"),
            schema=DatasetSchema.model_validate(props["schema"]) if props.get("schema") else None,
            statistics=DatasetStats.model_validate(props["statistics"]) if props.get("statistics") else None,
            parent_id=props.get("parent_id"), split=props.get("split"),
            snapshot=Snapshot.model_validate(props["snapshot"]) if props.get("snapshot") else None,
            expectations=props.get("expectations"), data_check=props.get("data_check"),
            redacted=list(props.get("redacted") or []),
        )
