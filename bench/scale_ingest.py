#!/usr/bin/env python3
"""Ingest through 4 server processes on PostgreSQL: modelward against MLflow, in one run.

    python bench/scale_ingest.py --admin-url postgresql://modelward@127.0.0.1:55432/postgres \
        --clients 8 --runs 30 --json-out bench/results/scale_ingest.json

For each side, one after the other: a fresh database, 4 server processes on it (ports P..P+3:
``mlflow server --workers 1`` four times, or ``modelward server`` four times after one
``modelward db upgrade``), then ``--clients`` client processes spread round-robin over the 4
ports, all released at the same instant. Each client runs the shared MLflow workload's ingest
phase (``../shared/bench/mlflow_workload.py --phases ingest``: per run ``create_run``, a
``log_batch`` of 20 params and 10 tags, a ``log_batch`` of 1,000 metric points,
``set_terminated``) through the real ``mlflow`` client into its own experiment. Reported:
metric points/s over the ingest window (all points / first ingest start to last end) and p50/p99 of
each call kind over every call of every client. The databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

CALLS = ["create_run", "log_batch_params_tags", "log_batch_1000_metrics", "set_terminated"]
DEFAULT_WORKLOAD = Path(__file__).resolve().parents[2] / "shared" / "bench" / "mlflow_workload.py"


def client_main(args: argparse.Namespace) -> None:
    """One client process: the workload's ingest phase, keeping every latency sample."""
    spec = importlib.util.spec_from_file_location("mlflow_workload", args.workload)
    assert spec is not None and spec.loader is not None
    workload = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(workload)
    summary = workload.lat_summary

    def keeping_samples(values_s: list[float]) -> dict[str, Any]:
        return {**summary(values_s), "all_ms": [v * 1000.0 for v in values_s]}

    workload.lat_summary = keeping_samples
    time.sleep(max(0.0, args.start_at - time.time()))  # every client starts at the same instant
    started = time.time()
    workload.main(["--tracking-uri", args.tracking_uri, "--phases", "ingest", "--runs", str(args.runs),
                   "--experiment-name", args.experiment_name, "--label", args.label, "--json-out", args.json_out])
    result = json.loads(Path(args.json_out).read_text())
    result["window"] = [started, time.time()]
    Path(args.json_out).write_text(json.dumps(result))


def _wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 600) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"server for {url} exited with {proc.returncode}")
        time.sleep(0.2)
    raise SystemExit(f"{url} never became ready")


def start_servers(side: str, db_url: str, work: Path, ports: list[int], procs: list[subprocess.Popen[bytes]]) -> None:
    """Start the 4 servers, appending each to ``procs`` at once (so a failed start still stops them)."""
    if side == "modelward":
        env = {**os.environ, "MODELWARD_HOME": str(work / "home"), "MODELWARD_DATABASE_URL": db_url}
        subprocess.run(["modelward", "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        for port in ports:
            log = open(work / f"server-{port}.log", "wb")
            procs.append(subprocess.Popen(["modelward", "server", "--port", str(port)], env=env,
                                          stdout=log, stderr=log, start_new_session=True))
        for port, proc in zip(ports, procs):
            _wait_ready(f"http://127.0.0.1:{port}/ready", proc)
        return
    store = "postgresql+psycopg://" + db_url.split("://", 1)[1]
    for index, port in enumerate(ports):
        log = open(work / f"server-{port}.log", "wb")
        proc = subprocess.Popen(
            ["mlflow", "server", "--backend-store-uri", store, "--artifacts-destination", str(work / "artifacts"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], stdout=log, stderr=log,
            start_new_session=True)  # `mlflow server` runs uvicorn as a child: stop the whole group
        procs.append(proc)
        if index == 0:  # the first one creates the schema; the others find it
            _wait_ready(f"http://127.0.0.1:{port}/health", proc)
    for port, proc in zip(ports, procs):
        _wait_ready(f"http://127.0.0.1:{port}/health", proc)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # each server was started in its own session
    except ProcessLookupError:
        pass


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def run_side(side: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    database = f"bench_ingest_{side}_{os.getpid()}"
    db_url = args.admin_url.rsplit("/", 1)[0] + "/" + database
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    ports = [args.port + i for i in range(4)]
    side_dir = work / side
    side_dir.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        start_servers(side, db_url, side_dir, ports, procs)
        start_at = time.time() + args.settle
        load_before = os.getloadavg()
        clients = []
        for index in range(args.clients):
            out = side_dir / f"client-{index}.json"
            clients.append((out, subprocess.Popen(
                [sys.executable, __file__, "client", "--workload", str(args.workload),
                 "--tracking-uri", f"http://127.0.0.1:{ports[index % 4]}", "--runs", str(args.runs),
                 "--experiment-name", f"ingest-{side}-{index}", "--label", side, "--json-out", str(out),
                 "--start-at", str(start_at)], stdout=subprocess.DEVNULL)))
        for _, proc in clients:
            proc.wait()
        load_after = os.getloadavg()
    finally:
        stop(procs)
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    results = [json.loads(out.read_text()) for out, _ in clients]
    errors = [e for r in results for e in r["errors"]]
    ingests = [r["results"]["ingest"] for r in results if "ingest" in r["results"]]
    points = sum(i["metric_points"] for i in ingests)
    # The ingest phases' window: from the first client's first create_run to the last one's end
    # (each client's client set-up and first calls before its ingest phase stay outside it).
    window = (max(r["window"][1] for r in results)
              - min(r["window"][1] - r["results"]["ingest"]["wall_s"] for r in results if "ingest" in r["results"]))
    calls = {}
    for call in CALLS:
        samples = [v for i in ingests for v in i[call]["all_ms"]]
        calls[call] = {"n": len(samples), "p50_ms": round(statistics.median(samples), 2),
                       "p99_ms": round(pct(samples, 99), 2)}
    summary = {"side": side, "clients": args.clients, "runs_per_client": args.runs, "metric_points": points,
               "window_s": round(window, 2), "points_per_s": round(points / window, 1), "calls": calls,
               "errors": len(errors), "error_samples": errors[:3], "load_before": load_before, "load_after": load_after}
    print(json.dumps({k: v for k, v in summary.items() if k != "error_samples"}), flush=True)
    return summary


def table(sides: dict[str, dict[str, Any]]) -> str:
    mlf, mw = sides["mlflow"], sides["modelward"]
    rows = ["| Measure | MLflow server ×4 | modelward server ×4 | ratio |", "|---|---|---|---|",
            f"| Metric points/s, {mw['clients']} clients | {mlf['points_per_s']:,.0f} | {mw['points_per_s']:,.0f} | "
            f"{mw['points_per_s'] / mlf['points_per_s']:.1f}× |"]
    for call in CALLS:
        a, b = mlf["calls"][call], mw["calls"][call]
        rows.append(f"| `{call}` p50 / p99 ms | {a['p50_ms']} / {a['p99_ms']} | {b['p50_ms']} / {b['p99_ms']} | "
                    f"{a['p50_ms'] / b['p50_ms']:.1f}× / {a['p99_ms'] / b['p99_ms']:.1f}× |")
    rows.append(f"| Errors | {mlf['errors']} | {mw['errors']} | |")
    return "\n".join(rows)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        parser = argparse.ArgumentParser()
        parser.add_argument("command")
        for name in ("--workload", "--tracking-uri", "--experiment-name", "--label", "--json-out"):
            parser.add_argument(name, required=True)
        parser.add_argument("--runs", type=int, required=True)
        parser.add_argument("--start-at", type=float, required=True)
        client_main(parser.parse_args())
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql://modelward@127.0.0.1:55432/postgres")
    parser.add_argument("--workload", type=Path, default=Path(os.environ.get("MLFLOW_WORKLOAD", DEFAULT_WORKLOAD)))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=30, help="runs per client (1,000 points each)")
    parser.add_argument("--port", type=int, default=5081)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds for the clients to import mlflow")
    parser.add_argument("--sides", default="mlflow,modelward")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mw-scale-ingest-"))
    sides = {side: run_side(side, args, work) for side in args.sides.split(",")}
    if set(sides) == {"mlflow", "modelward"}:
        print(table(sides))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(sides, indent=1))


if __name__ == "__main__":
    main()
