#!/usr/bin/env python3
"""MLflow baseline: run the shared MLflow workload against MLflow's own in-process store.

Two measurements, each saved as JSON under ``bench/results/``:

1. ``mlflow_<scale>.json``: ``/work/shared/bench/mlflow_workload.py`` unchanged, against
   ``sqlite:///$TMP/mlflow.db`` with ``--artifact-root $TMP/art``, phases
   ingest,chatty,search (ingest = 1,000 points per run via log_batch of 1000 metrics).
2. ``mlflow_search_<N>.json``: an experiment of N runs populated through
   ``MlflowClient`` (create_run + one log_batch with 20 params, 10 tags, 10 metrics x 3
   steps + set_terminated; the same data ``bench/sdk_bench.py`` puts in modelward, see
   ``bench/_data.py``), then the workload's ``search`` phase on it (``--phases search
   --experiment-name``). The full 1,000-points-per-run ingest is too slow for MLflow
   in-process (a few thousand points/s), so the big experiment is populated this way.

Usage:
    python bench/compare_mlflow.py                     # small workload + 1,000-run search
    python bench/compare_mlflow.py --scale medium --search-runs 0
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _data import search_run_data  # noqa: E402

WORKLOAD = Path(os.environ.get("MLFLOW_WORKLOAD", "/work/shared/bench/mlflow_workload.py"))


def run_workload(args: list[str], json_out: Path) -> dict:
    cmd = [sys.executable, str(WORKLOAD), *args, "--json-out", str(json_out)]
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout.splitlines():
        if not line.startswith("{"):
            print("   ", line, flush=True)
    return json.loads(json_out.read_text())


def populate(uri: str, artifact_root: str, name: str, n_runs: int) -> dict:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment(name, artifact_location=os.path.join(artifact_root, name))
    base_ts = int(time.time() * 1000)
    t0 = time.perf_counter()
    for i in range(n_runs):
        params, tags, keys, values, steps, stamps = search_run_data(i, base_ts)
        run = client.create_run(exp_id, run_name=f"run-{i:05d}", start_time=base_ts + i)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, t, s) for k, v, s, t in zip(keys, values, steps, stamps)],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        client.set_terminated(run.info.run_id, "FINISHED")
        if (i + 1) % max(1, n_runs // 5) == 0:
            el = time.perf_counter() - t0
            print(f"    populate: {i + 1}/{n_runs} runs in {el:.1f}s ({(i + 1) / el:.1f} runs/s)", flush=True)
    wall = time.perf_counter() - t0
    return {"runs": n_runs, "wall_s": round(wall, 2), "runs_per_s": round(n_runs / wall, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="small", choices=["small", "medium", "large"])
    ap.add_argument("--phases", default="ingest,chatty,search")
    ap.add_argument("--search-runs", type=int, default=1000, help="0 skips the N-run search comparison")
    ap.add_argument("--skip-workload", action="store_true")
    ap.add_argument("--results", default=str(HERE / "results"))
    ap.add_argument("--tmp", default=None, help="scratch folder (default: a new temp dir)")
    args = ap.parse_args()

    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.tmp or tempfile.mkdtemp(prefix="mlflow-baseline-"))
    tmp.mkdir(parents=True, exist_ok=True)
    summary: dict = {"tmp": str(tmp)}

    if not args.skip_workload:
        work = tmp / f"workload-{args.scale}"
        work.mkdir(exist_ok=True)
        out = run_workload(
            ["--tracking-uri", f"sqlite:///{work}/mlflow.db", "--artifact-root", f"{work}/art",
             "--scale", args.scale, "--phases", args.phases, "--label", f"mlflow in-process {args.scale}"],
            results / f"mlflow_{args.scale}.json",
        )
        summary["workload"] = {"file": f"mlflow_{args.scale}.json", "total_wall_s": out["total_wall_s"]}

    if args.search_runs:
        n = args.search_runs
        work = tmp / f"search-{n}"
        work.mkdir(exist_ok=True)
        uri = f"sqlite:///{work}/mlflow.db"
        name = f"search{n}"
        print(f"+ populating {n} runs in MLflow ({uri}) through MlflowClient", flush=True)
        pop = populate(uri, f"{work}/art", name, n)
        out = run_workload(
            ["--tracking-uri", uri, "--phases", "search", "--experiment-name", name,
             "--label", f"mlflow in-process search over {n} runs (20 params, 10 tags, 10 metrics x 3 steps)"],
            results / f"mlflow_search_{n}.json",
        )
        out["populate"] = pop
        (results / f"mlflow_search_{n}.json").write_text(json.dumps(out, indent=2) + "\n")
        summary["search"] = {"file": f"mlflow_search_{n}.json", "populate": pop}

    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
