"""OpenLineage run events (https://openlineage.io/spec) mapped into the lineage graph.

A job run becomes an execution of type 'openlineage' keyed by its runId; its input and
output datasets are identified by (namespace, name) as OpenLineage does, spelled as the
location 'namespace/name' (``dataset_uri``), so the same table seen by Airflow, Spark, dbt
and the SDK (which logs it with its digest, by namespace/name or by that source URI) is one
node, whichever is heard of first. The job and any parent run become contexts. The schema
facet becomes the dataset schema and the data-quality facets its statistics, unless the SDK
computed them from the data: then the facets are kept under 'openlineage' beside them.
Events of one run (START ... COMPLETE) accumulate onto the same execution.

The whole event is checked before anything is written, and written in one transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.datasets import CLIENT_PROFILE, OPENLINEAGE_PROFILE, dataset_uri
from modelward.domain.lineage import (
    ArtifactKind,
    ArtifactSpec,
    ContextSpec,
    ContextType,
    ExecutionSpec,
    ExecutionType,
    LineageArtifact,
    LineageRecord,
)
from modelward.domain.expectations import OPENLINEAGE_FACET, Expectations, parse_expectations
from modelward.errors import InvalidInput
from modelward.services import data_checks, lineage
from modelward.services.backend import Backend
from modelward.store import lineage as store

EVENT_TYPES = {"START": "RUNNING", "RUNNING": "RUNNING", "COMPLETE": "COMPLETE", "FAIL": "FAILED",
               "ABORT": "ABORTED", "OTHER": None}
TERMINAL = {"COMPLETE", "FAILED", "ABORTED"}
MAX_DATASETS = 1000


def _bad(field: str, problem: str) -> InvalidInput:
    return InvalidInput(f"invalid OpenLineage event: '{field}' {problem}")


def _object(value: Any, field: str, *, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _bad(field, "is required and must be an object" if required else "must be an object")
    return value


def _text(container: dict[str, Any], key: str, field: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _bad(field, "is required and must be a non-empty string")
    if len(value) > 1000:
        raise _bad(field, "is longer than 1000 characters")
    return value


def _check_time(event: dict[str, Any]) -> str:
    value = _text(event, "eventTime", "eventTime")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise _bad("eventTime", f"must be an ISO 8601 date-time, got {value!r}") from None
    return value


def _check_run_id(run: dict[str, Any]) -> str:
    run_id = _text(run, "runId", "run.runId")
    try:
        uuid.UUID(run_id)
    except ValueError:
        raise _bad("run.runId", f"must be a UUID, got {run_id!r}") from None
    return run_id


def _datasets(event: dict[str, Any], key: str, facet_key: str) -> list[ArtifactSpec]:
    items = event.get(key) or []
    if not isinstance(items, list):
        raise _bad(key, "must be a list")
    if len(items) > MAX_DATASETS:
        raise _bad(key, f"holds more than {MAX_DATASETS} datasets")
    specs = []
    for index, item in enumerate(items):
        field = f"{key}[{index}]"
        item = _object(item, field)
        namespace, name = _text(item, "namespace", f"{field}.namespace"), _text(item, "name", f"{field}.name")
        facets = _object(item.get("facets"), f"{field}.facets", required=False)
        io_facets = _object(item.get(facet_key), f"{field}.{facet_key}", required=False)
        specs.append(ArtifactSpec(
            kind=ArtifactKind.DATASET, name=name, uri=dataset_uri(namespace, name),
            properties=_dataset_properties(namespace, name, facets, io_facets, field),
        ))
    return specs


def _dataset_properties(
    namespace: str, name: str, facets: dict[str, Any], io_facets: dict[str, Any], field: str
) -> dict[str, Any]:
    properties: dict[str, Any] = {"source_type": "openlineage", "namespace": namespace, "ol_name": name}
    if "schema" in facets:
        properties["schema"] = _schema(_object(facets["schema"], f"{field}.facets.schema"), f"{field}.facets.schema")
    quality = io_facets.get("dataQualityMetrics") or facets.get("dataQualityMetrics")
    output_stats = io_facets.get("outputStatistics")
    if quality is not None or output_stats is not None:
        properties["statistics"] = _statistics(quality, output_stats, field)
    assertions = io_facets.get("dataQualityAssertions") or facets.get("dataQualityAssertions")
    if isinstance(assertions, dict) and isinstance(assertions.get("assertions"), list):
        properties["assertions"] = assertions["assertions"]
    declared = io_facets.get(OPENLINEAGE_FACET) or facets.get(OPENLINEAGE_FACET)
    if declared is not None:
        where = f"{field}.facets.{OPENLINEAGE_FACET}"
        properties[_DECLARED] = _declared_expectations(_object(declared, where), where)
    return properties


_DECLARED = "_modelward_expectations"  # taken out of the properties before they are stored


def _declared_expectations(facet: dict[str, Any], field: str) -> Expectations:
    try:
        return parse_expectations(facet.get("expectations"))
    except InvalidInput as exc:
        raise _bad(f"{field}.expectations", str(exc).removeprefix("invalid expectations: ")) from None


def _schema(facet: dict[str, Any], field: str) -> dict[str, Any]:
    fields = facet.get("fields", [])
    if not isinstance(fields, list):
        raise _bad(f"{field}.fields", "must be a list")
    columns = []
    for index, column in enumerate(fields):
        column = _object(column, f"{field}.fields[{index}]")
        columns.append({"name": _text(column, "name", f"{field}.fields[{index}].name"),
                        "type": str(column.get("type") or "unknown"), "nullable": None})
    return {"columns": columns}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _statistics(quality: Any, output_stats: Any, field: str) -> dict[str, Any]:
    stats: dict[str, Any] = {"row_count": None, "columns": {}}
    if quality is not None:
        quality = _object(quality, f"{field}.dataQualityMetrics")
        stats["row_count"] = quality.get("rowCount")
        metrics = _object(quality.get("columnMetrics"), f"{field}.dataQualityMetrics.columnMetrics", required=False)
        for column, values in metrics.items():
            values = _object(values, f"{field}.dataQualityMetrics.columnMetrics.{column}")
            quantiles = values.get("quantiles") if isinstance(values.get("quantiles"), dict) else {}
            stats["columns"][column] = {
                "count": values.get("count"), "missing": values.get("nullCount"),
                "distinct": values.get("distinctCount"), "min": _number(values.get("min")),
                "max": _number(values.get("max")),
                "quantiles": {str(k): float(v) for k, v in quantiles.items() if _number(v) is not None},
            }
    if isinstance(output_stats, dict) and stats["row_count"] is None:
        stats["row_count"] = output_stats.get("rowCount")
    if stats["row_count"] is not None and not isinstance(stats["row_count"], int):
        raise _bad(f"{field}.rowCount", "must be an integer")
    return stats


def _contexts(job_namespace: str, job_name: str, run_facets: dict[str, Any]) -> list[ContextSpec]:
    contexts = [ContextSpec(type=ContextType.JOB, name=f"{job_namespace}/{job_name}")]
    parent = _object(run_facets.get("parent"), "run.facets.parent", required=False)
    if parent:
        parent_run = _object(parent.get("run"), "run.facets.parent.run")
        contexts.append(ContextSpec(type=ContextType.PIPELINE_RUN, name=_text(parent_run, "runId", "run.facets.parent.run.runId")))
    return contexts


def ingest(backend: Backend, event: Any, *, actor: Actor | None = None) -> LineageRecord:
    """Check one OpenLineage run event, then store it in one transaction (or not at all). Datasets
    declaring expectations (a ``modelwardExpectations`` facet) are then checked as ``actor``."""
    event = _object(event, "event")
    if "run" not in event and ("dataset" in event or "job" in event):
        raise _bad("run", "is required: only OpenLineage run events are accepted")
    event_time = _check_time(event)
    event_type = event.get("eventType", "OTHER")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise _bad("eventType", f"must be one of {', '.join(EVENT_TYPES)}, got {event_type!r}")
    run = _object(event.get("run"), "run")
    run_id = _check_run_id(run)
    run_facets = _object(run.get("facets"), "run.facets", required=False)
    job = _object(event.get("job"), "job")
    namespace, name = _text(job, "namespace", "job.namespace"), _text(job, "name", "job.name")
    job_facets = _object(job.get("facets"), "job.facets", required=False)
    inputs = _datasets(event, "inputs", "inputFacets")
    outputs = _datasets(event, "outputs", "outputFacets")
    declared = [spec.properties.pop(_DECLARED, None) for spec in [*inputs, *outputs]]
    contexts = _contexts(namespace, name, run_facets)
    properties: dict[str, Any] = {
        "job": {"namespace": namespace, "name": name}, "producer": event.get("producer"),
        "last_event_type": event_type, "last_event_time": event_time,
        "run_facets": run_facets, "job_facets": job_facets,
    }
    if event_type == "START":
        properties["started_at"] = event_time
    elif EVENT_TYPES[event_type] in TERMINAL:
        properties["ended_at"] = event_time
    with backend.write() as session:
        status = EVENT_TYPES[event_type]
        existing = store.find_execution(session, ExecutionType.OPENLINEAGE, run_id)
        if existing is not None and existing.status in TERMINAL and status not in TERMINAL:
            status = None  # a late START or RUNNING does not reopen a finished run
        record = lineage.record_in(
            session,
            execution=ExecutionSpec(type=ExecutionType.OPENLINEAGE, external_id=run_id, name=f"{namespace}/{name}",
                                    status=status, properties=properties),
            inputs=inputs, outputs=outputs, contexts=contexts,
        )
        for spec, artifact in zip([*inputs, *outputs], [*record.inputs, *record.outputs], strict=True):
            _apply_facets(session, artifact, spec.properties)
    for declaration, artifact in zip(declared, [*record.inputs, *record.outputs], strict=True):
        if declaration is not None:
            data_checks.check_logged(backend, artifact.id, declaration, actor=actor or Actor(name="openlineage"),
                                     trigger="openlineage")
    return record


_FACETS = ("schema", "statistics")


def _apply_facets(session: store.UnitOfWork, artifact: LineageArtifact, facets: dict[str, Any]) -> None:
    """The newest event's facets are kept under 'openlineage'; its schema and statistics
    describe the dataset too, unless the SDK computed them from the data."""
    current = artifact.properties
    seen = {"namespace": facets["namespace"], "name": facets["ol_name"],
            **{k: facets[k] for k in (*_FACETS, "assertions") if k in facets}}
    updates: dict[str, Any] = {k: facets[k] for k in ("source_type", "namespace", "ol_name") if k not in current}
    merged = {**(current.get("openlineage") or {}), **seen}
    if current.get("openlineage") != merged:
        updates["openlineage"] = merged
    if "assertions" in facets and current.get("assertions") != facets["assertions"]:
        updates["assertions"] = facets["assertions"]
    described = {k: facets[k] for k in _FACETS if k in facets}
    if described and current.get("profile_source") != CLIENT_PROFILE:
        changed = {k: v for k, v in described.items() if current.get(k) != v}
        if changed or current.get("profile_source") != OPENLINEAGE_PROFILE:
            updates.update(changed, profile_source=OPENLINEAGE_PROFILE)
    if updates:
        store.update_artifact_properties(session, artifact.id, updates)
