"""Side-by-side Markdown table of two mlflow_workload.py results (MLflow's server vs ours).

    python bench/server_table.py bench/results/server_mlflow_medium.json bench/results/server_modelward_medium.json

Every figure the workload records, for both servers, with "times better" for modelward: for
rates (per second) ours ÷ MLflow's, for latencies MLflow's ÷ ours, so above 1 always means faster.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

# (label, path into "results", unit); units ending in "/s" are rates (higher is better).
FIGURES: list[tuple[str, str, str]] = [
    ("Client start (first call)", "first_call_ms", "ms"),
    ("Bulk ingest: metric points", "ingest.metric_points_per_s", "points/s"),
    ("Bulk ingest: runs", "ingest.runs_per_s", "runs/s"),
    ("create_run, median", "ingest.create_run.median_ms", "ms"),
    ("log_batch 20 params + 10 tags, median", "ingest.log_batch_params_tags.median_ms", "ms"),
    ("log_batch 1,000 metrics, median", "ingest.log_batch_1000_metrics.median_ms", "ms"),
    ("log_batch 1,000 metrics, p95", "ingest.log_batch_1000_metrics.p95_ms", "ms"),
    ("set_terminated, median", "ingest.set_terminated.median_ms", "ms"),
    ("Fluent mlflow.log_metric, mean", "chatty.fluent_mlflow_log_metric.mean_ms", "ms"),
    ("Fluent mlflow.log_metric", "chatty.fluent_mlflow_log_metric.calls_per_s", "calls/s"),
    ("MlflowClient.log_metric, median", "chatty.client_log_metric.latency.median_ms", "ms"),
    ("MlflowClient.log_metric, p95", "chatty.client_log_metric.latency.p95_ms", "ms"),
    ("Filtered ordered search_runs top 50, median", "search.search_runs_filtered.latency.median_ms", "ms"),
    ("Filtered ordered search_runs top 50, p95", "search.search_runs_filtered.latency.p95_ms", "ms"),
    ("Unfiltered search_runs top 50, median", "search.search_runs_unfiltered_top50.latency.median_ms", "ms"),
    ("get_metric_history (100 points), median", "search.get_metric_history.latency.median_ms", "ms"),
    ("Full listing of the experiment, pages of 1,000", "search.search_runs_full_listing.runs_per_s", "runs/s"),
    ("create_registered_model", "registry.create_registered_model_ms", "ms"),
    ("create_model_version, median", "registry.create_model_version.latency.median_ms", "ms"),
    ("set_registered_model_alias, median", "registry.set_registered_model_alias.latency.median_ms", "ms"),
    ("get_model_version_by_alias, median", "registry.get_model_version_by_alias.latency.median_ms", "ms"),
    ("search_model_versions (all versions), median", "registry.search_model_versions.latency.median_ms", "ms"),
    ("Artifact upload, 20 MB", "artifacts.upload_mb_per_s", "MB/s"),
    ("Artifact download, 20 MB", "artifacts.download_mb_per_s", "MB/s"),
]
CHECKS = [
    "search.search_runs_filtered.results_correct", "registry.get_model_version_by_alias.correct",
    "artifacts.roundtrip_sha256_ok",
]


def _get(results: dict[str, Any], path: str) -> Any:
    value: Any = results
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if isinstance(value, float) else str(value)


def times_better(theirs: float | None, ours: float | None, unit: str) -> str:
    if not theirs or not ours:
        return "—"
    ratio = ours / theirs if unit.endswith("/s") else theirs / ours
    return f"{ratio:.1f}×"


def table(mlflow: dict[str, Any], modelward: dict[str, Any]) -> str:
    theirs, ours = mlflow["results"], modelward["results"]
    lines = [
        f"| Measure | unit | MLflow {mlflow.get('mlflow_version', '')} server | modelward server | modelward faster by |",
        "|---|---|---|---|---|",
    ]
    for label, path, unit in FIGURES:
        a, b = _get(theirs, path), _get(ours, path)
        lines.append(f"| {label} | {unit} | {_fmt(a)} | {_fmt(b)} | {times_better(a, b, unit)} |")
    checks = ", ".join(f"{path.split('.')[-2]}: {_get(theirs, path)} / {_get(ours, path)}" for path in CHECKS)
    lines.append("")
    lines.append(f"Correctness checks (MLflow / modelward): {checks}. Errors: "
                 f"{len(mlflow.get('errors') or [])} / {len(modelward.get('errors') or [])}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mlflow_json", type=Path)
    parser.add_argument("modelward_json", type=Path)
    args = parser.parse_args()
    print(table(json.loads(args.mlflow_json.read_text()), json.loads(args.modelward_json.read_text())))


if __name__ == "__main__":
    main()
