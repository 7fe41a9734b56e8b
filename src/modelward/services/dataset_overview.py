"""Everything known about one logged dataset, for its page: the dataset, the runs that read or
wrote it, its attached expectations and every check, every personal-data scan, and its governed
properties (``data_governance``: purposes, consent, retention) when they are set."""

from __future__ import annotations

from typing import Any

from modelward.domain.lineage import Direction
from modelward.services import data_checks, personal_data
from modelward.services.backend import Backend
from modelward.store import expectations as check_store
from modelward.store import lineage as lineage_store
from modelward.store import personal_data as scan_store

GOVERNANCE_PROPERTY = "data_governance"
SHOWN = 100


def overview(backend: Backend, dataset: str) -> dict[str, Any]:
    """{dataset, properties, governance, runs: [{run_id, direction, name}], checks, scans} of a
    dataset by id or digest; checks and scans newest first (at most ``SHOWN`` each)."""
    found = data_checks.resolve(backend, dataset)
    with backend.read() as session:
        artifact = lineage_store.get_artifact(session, found.id)
        runs = [{"run_id": execution.run_id, "name": execution.name, "direction": direction.value}
                for direction in (Direction.OUTPUT, Direction.INPUT)
                for execution in lineage_store.executions_of_artifact(session, found.id, direction)
                if execution.run_id]
        checks = check_store.of_dataset(session, found.id, limit=SHOWN)
        scans = scan_store.of_subject(session, "dataset", found.id, limit=SHOWN)
    governance = artifact.properties.get(GOVERNANCE_PROPERTY)
    return {"dataset": found, "expectations": artifact.properties.get(data_checks.EXPECTATIONS_PROPERTY),
            "governance": governance if isinstance(governance, dict) else None, "runs": runs,
            "checks": checks, "scans": scans, "personal_data": artifact.properties.get(personal_data.SCAN_PROPERTY),
            "created_at": artifact.created_at}


__all__ = ["overview"]
