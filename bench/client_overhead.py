"""How much of a call through the mlflow client is the server, and how much the client itself.

Against one running server (MLflow's or ours), the same three requests the workload times,
each sent two ways on a kept-alive connection: as raw HTTP with httpx (the request body built
once, the response read but not parsed into entities), and through ``MlflowClient``. The gap
is the client's own cost: building protobuf requests, parsing responses into entities,
``requests`` overhead. No server can answer faster than the raw figure plus that gap.

    python bench/client_overhead.py --tracking-uri http://127.0.0.1:5056 [--calls 50]

Prints one JSON object: per request, median ms raw and through the client.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections.abc import Callable

import httpx
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

SEARCH_FILTER = "metrics.m0 > 0.5 and params.p1 = 'x'"
SEARCH_ORDER = ["metrics.m1 DESC"]


def median_ms(call: Callable[[], object], calls: int) -> float:
    call()  # warm: connection, caches
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(samples), 3)


def populate(client: MlflowClient, runs: int) -> str:
    """An experiment shaped like the workload's: 20 params, 10 metrics x 3 steps per run."""
    experiment_id = client.create_experiment(f"overhead-{uuid.uuid4().hex[:8]}")
    now = int(time.time() * 1000)
    for index in range(runs):
        run_id = client.create_run(experiment_id).info.run_id
        metrics = [Metric(f"m{k}", ((index * 7 + k * 13) % 100) / 100, now, step) for k in range(10) for step in range(3)]
        params = [Param(f"p{k}", "xyzw"[(index + k) % 4]) for k in range(20)]
        client.log_batch(run_id, metrics=metrics, params=params)
    return experiment_id


def measure(uri: str, calls: int, runs: int) -> dict[str, dict[str, float]]:
    client = MlflowClient(uri)
    experiment_id = populate(client, runs)
    run_id = client.create_run(experiment_id).info.run_id
    http = httpx.Client(base_url=uri, timeout=60)
    now = int(time.time() * 1000)
    batch = [Metric("bulk", float(i), now, i) for i in range(1000)]
    batch_json = {"run_id": run_id, "metrics": [
        {"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step} for m in batch]}
    search_json = {"experiment_ids": [experiment_id], "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER,
                   "max_results": 50, "run_view_type": "ACTIVE_ONLY"}
    metric_json = {"run_id": run_id, "key": "single", "value": 1.0, "timestamp": now, "step": 0}

    def raw(path: str, body: dict) -> Callable[[], object]:  # type: ignore[type-arg]
        return lambda: http.post(f"/api/2.0/mlflow/{path}", json=body).raise_for_status().content

    figures = {
        "log_metric": {
            "raw_http_ms": median_ms(raw("runs/log-metric", metric_json), calls),
            "mlflow_client_ms": median_ms(lambda: client.log_metric(run_id, "single", 1.0, now, 0), calls),
        },
        "log_batch_1000_metrics": {
            "raw_http_ms": median_ms(raw("runs/log-batch", batch_json), max(5, calls // 5)),
            "mlflow_client_ms": median_ms(lambda: client.log_batch(run_id, metrics=batch), max(5, calls // 5)),
        },
        "search_runs_filtered_top50": {
            "raw_http_ms": median_ms(raw("runs/search", search_json), calls),
            "mlflow_client_ms": median_ms(lambda: client.search_runs(
                [experiment_id], SEARCH_FILTER, order_by=SEARCH_ORDER, max_results=50), calls),
        },
        "health": {"raw_http_ms": median_ms(lambda: http.get("/health").content, calls)},
    }
    for item in figures.values():
        if "mlflow_client_ms" in item:
            item["client_share_ms"] = round(item["mlflow_client_ms"] - item["raw_http_ms"], 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--runs", type=int, default=500, help="runs in the searched experiment (the workload's medium scale)")
    args = parser.parse_args()
    print(json.dumps({"tracking_uri": args.tracking_uri, **measure(args.tracking_uri, args.calls, args.runs)}))


if __name__ == "__main__":
    main()
