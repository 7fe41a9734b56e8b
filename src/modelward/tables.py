"""Runs as tables (pandas): the compare view, CSV export and the UI's run comparison."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from modelward.domain.tracking import Run

ATTRIBUTE_COLUMNS = [
    "run_id", "name", "experiment_id", "status", "user", "start_time", "end_time", "duration_s",
    "parent_run_id",
]


def run_record(run: Run) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": run.id, "name": run.name, "experiment_id": run.experiment_id,
        "status": run.status.value, "user": run.user, "start_time": run.start_time,
        "end_time": run.end_time, "duration_s": run.duration_s, "parent_run_id": run.parent_run_id,
    }
    record.update({f"params.{k}": v for k, v in sorted(run.params.items())})
    record.update({f"metrics.{k}": v for k, v in sorted(run.metrics.items())})
    record.update({f"tags.{k}": v for k, v in sorted(run.tags.items())})
    return record


def runs_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run; params, metrics (latest values) and tags as prefixed columns."""
    frame = pd.DataFrame([run_record(run) for run in runs])
    if frame.empty:
        return pd.DataFrame(columns=ATTRIBUTE_COLUMNS)
    data_columns = sorted(c for c in frame.columns if c not in ATTRIBUTE_COLUMNS)
    return frame[ATTRIBUTE_COLUMNS + data_columns]


def differing_columns(frame: pd.DataFrame) -> list[str]:
    """Columns whose values are not all the same across the rows (what a diff highlights)."""
    return [
        column for column in frame.columns
        if column not in ("run_id", "name", "start_time", "end_time", "duration_s")
        and frame[column].astype(str).nunique(dropna=False) > 1
    ]
