"""Find where to start a lineage walk by name: runs, registered model versions and datasets
whose name contains the text (any case), each with the reference the lineage walk takes."""

from __future__ import annotations

from typing import Any

from modelward.domain.datasets import DATASET_KINDS
from modelward.errors import InvalidInput
from modelward.services import registry
from modelward.services import runs as run_service
from modelward.services.backend import Backend
from modelward.store import lineage as lineage_store

MAX_QUERY_CHARS = 200
VERSIONS_PER_MODEL = 5


def _like(text: str) -> str:
    """A quoted ILIKE pattern for the filter language matching ``text`` anywhere, literally:
    LIKE's wildcards escaped with backslashes, then the string quoted as the filter language
    reads it (which takes one level of backslashes itself)."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return "'" + pattern.replace("\\", "\\\\").replace("'", "\\'") + "'"


def find(backend: Backend, text: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """Matches as ``{"kind", "name", "detail", "ref"}``: runs, then model versions, then datasets."""
    query = text.strip()
    if not query:
        return []
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"a lineage search is limited to {MAX_QUERY_CHARS} characters")
    return _runs(backend, query, limit) + _model_versions(backend, query, limit) + _datasets(backend, query, limit)


def _runs(backend: Backend, query: str, limit: int) -> list[dict[str, Any]]:
    found = run_service.search(backend, filter=f"attributes.run_name ILIKE {_like(query)}", max_results=limit).runs
    return [{"kind": "run", "name": run.name or run.id, "ref": f"run:{run.id}",
             "detail": f"{run.status.value.lower()}, started {run.start_time:%Y-%m-%d %H:%M}" if run.start_time
             else run.status.value.lower()} for run in found]


def _model_versions(backend: Backend, query: str, limit: int) -> list[dict[str, Any]]:
    matches = []
    for model in registry.search_models(backend, filter=f"name ILIKE {_like(query)}", max_results=limit).models:
        versions = registry.search_versions(backend, model_name=model.name, max_results=VERSIONS_PER_MODEL).versions
        for version in versions:
            matches.append({"kind": "model version", "name": f"{model.name} v{version.version}",
                            "ref": f"models:/{model.name}/{version.version}",
                            "detail": version.status.replace("_", " ")})
    return matches[:limit]


def _datasets(backend: Backend, query: str, limit: int) -> list[dict[str, Any]]:
    with backend.read() as session:
        found = lineage_store.artifacts_named_like(session, kinds=DATASET_KINDS, text=query, limit=limit)
    return [{"kind": "dataset", "name": artifact.name, "ref": f"artifact:{artifact.id}",
             "detail": ", ".join(part for part in (artifact.kind.value.replace("_", " "),
                                                  (artifact.digest or "")[:19]) if part)} for artifact in found]
