#!/usr/bin/env python3
"""Read paths at scale on PostgreSQL: does search, listing, get-run and the lineage walks stay
flat as the store grows from 10,000 to 1,000,000 runs?

    python bench/scale.py --admin-url postgresql://modelward@127.0.0.1:55432/postgres \
        --database bench_scale_runs --sizes 10000,100000,1000000 --json-out bench/results/scale.json

Fills one database with bulk SQL through modelward's own tables (``INSERT ... SELECT FROM
generate_series``): runs in experiments of 10,000 (so 1, 10 and 100 experiments), each run with
5 params, 3 tags and 5 latest metrics; and, once, a lineage graph of 100,000 nodes in 4,762
chains of 21 nodes (dataset -> transformation -> features -> ... -> deployment), each execution
also reading the same level of the neighbouring chain, so a depth-20 walk fans out over 11
chains. After each growth step it runs ANALYZE, starts a ``modelward server`` subprocess on the
database and times each query as raw HTTP on one kept-alive httpx connection (median and p90 of
``--repeats`` after ``--warmup``). Every query targets experiment 0 (always the same 10,000
runs), so the figures show what the rest of the store costs. ``--explain`` also runs the
queries in-process, captures their SQL and prints ``EXPLAIN (ANALYZE, BUFFERS)`` of each.
The database is created if missing and grown, never shrunk; ``--drop`` drops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
import psutil
import psycopg

RUNS_PER_EXPERIMENT = 10_000
CHAIN_NODES = 21  # 11 artifacts and 10 executions: a walk from one end to the other is depth 20
LINEAGE_NODES = 100_000
EXPERIMENT_0 = "1000"
API = "/api/2.0/mlflow"

# Each chain: artifact kinds at the even positions, execution types at the odd ones.
ARTIFACT_KINDS = ["raw_source", "dataset", "data_split", "features", "features", "model", "evaluation",
                  "model", "statistics", "model", "endpoint"]
EXECUTION_TYPES = ["transformation", "transformation", "pipeline_step", "pipeline_step", "run",
                   "evaluation", "registration", "pipeline_step", "registration", "deployment"]
RUN_POSITION = 9  # the execution at position 9 (type "run") is a tracked run's execution


def populate_runs_sql(lo: int, hi: int) -> list[str]:
    """Statements adding runs lo..hi-1 (pk = i + 1) with their params, tags and latest metrics."""
    series = f"generate_series({lo}, {hi - 1}) AS i"
    return [
        f"""INSERT INTO experiments (id, name, lifecycle, created_at, updated_at)
            SELECT (1000 + e)::text, 'scale-' || e, 'active', now(), now()
            FROM generate_series({lo // RUNS_PER_EXPERIMENT}, {(hi - 1) // RUNS_PER_EXPERIMENT}) AS e
            ON CONFLICT DO NOTHING""",
        f"""INSERT INTO runs (pk, id, experiment_id, name, status, lifecycle, "user", start_time, end_time, environment)
            SELECT i + 1, md5('run-' || i), (1000 + i / {RUNS_PER_EXPERIMENT})::text, 'run-' || i, 'FINISHED',
                   'active', 'bench', timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second',
                   timestamptz '2026-01-01 00:05:00+00' + i * interval '1 second', '{{}}'::json
            FROM {series}""",
        f"""INSERT INTO params (run_pk, key, value)
            SELECT i + 1, k.key, CASE k.key
                WHEN 'lr' THEN (ARRAY['0.001', '0.01', '0.03', '0.1'])[1 + (i * 7 + i / 13) % 4]
                WHEN 'batch_size' THEN (ARRAY['32', '64', '128', '256'])[1 + (i / 4) % 4]
                WHEN 'optimizer' THEN (ARRAY['adam', 'sgd', 'rmsprop'])[1 + i % 3]
                WHEN 'seed' THEN (i % 1000)::text
                ELSE (ARRAY['xgb', 'lgbm', 'mlp', 'rf', 'logreg'])[1 + (i / 3) % 5] END
            FROM {series} CROSS JOIN (VALUES ('lr'), ('batch_size'), ('optimizer'), ('seed'), ('model')) AS k(key)""",
        f"""INSERT INTO tags (run_pk, key, value)
            SELECT i + 1, k.key, CASE k.key
                WHEN 'team' THEN (ARRAY['vision', 'nlp', 'ranking', 'fraud', 'churn'])[1 + (i / 2) % 5]
                WHEN 'dataset' THEN 'ds-' || lpad((i % 1000)::text, 4, '0')
                ELSE 'bench' END
            FROM {series} CROSS JOIN (VALUES ('team'), ('dataset'), ('mlflow.user')) AS k(key)""",
        f"""INSERT INTO latest_metrics (run_pk, key, value, step, timestamp_ms)
            SELECT i + 1, k.key, (abs(hashtext(k.key || i)) % 1000000) / 1000000.0, 99,
                   1767225600000 + i * 1000
            FROM {series} CROSS JOIN (VALUES ('acc'), ('loss'), ('f1'), ('auc'), ('latency_ms')) AS k(key)""",
        "SELECT setval(pg_get_serial_sequence('runs', 'pk'), (SELECT max(pk) FROM runs))",
    ]


def populate_lineage_sql(chains: int) -> list[str]:
    """The lineage graph: ``chains`` chains of CHAIN_NODES nodes; node (c, p) has id 'l<c>_<p>'."""
    kinds = "ARRAY[" + ", ".join(f"'{k}'" for k in ARTIFACT_KINDS) + "]"
    types = "ARRAY[" + ", ".join(f"'{t}'" for t in EXECUTION_TYPES) + "]"
    node = "('l' || c || '_' || p)"
    return [
        f"""INSERT INTO lineage_artifacts (id, kind, identity, name, digest, uri, properties, created_at)
            SELECT {node}, ({kinds})[1 + p / 2], 'uri:s3://bench/' || c || '/' || p, 'chain-' || c || '-' || p,
                   NULL, 's3://bench/' || c || '/' || p, '{{}}'::json, now()
            FROM generate_series(0, {chains - 1}) AS c CROSS JOIN generate_series(0, {CHAIN_NODES - 1}, 2) AS p""",
        f"""INSERT INTO lineage_executions (id, type, name, run_id, external_id, status, properties, created_at, updated_at)
            SELECT {node}, ({types})[1 + p / 2], 'step-' || c || '-' || p,
                   CASE WHEN p = {RUN_POSITION} AND c < (SELECT count(*) FROM runs) THEN md5('run-' || c) END,
                   CASE WHEN p = {RUN_POSITION} AND c < (SELECT count(*) FROM runs) THEN NULL ELSE {node} END,
                   'COMPLETE', '{{}}'::json, now(), now()
            FROM generate_series(0, {chains - 1}) AS c CROSS JOIN generate_series(1, {CHAIN_NODES - 2}, 2) AS p""",
        # inputs: its own chain's artifact before it, and the neighbouring chain's; output: the next one
        f"""INSERT INTO lineage_events (execution_id, artifact_id, direction, created_at)
            SELECT {node}, 'l' || ((c + n) % {chains}) || '_' || (p - 1), 'input', now()
            FROM generate_series(0, {chains - 1}) AS c CROSS JOIN generate_series(1, {CHAIN_NODES - 2}, 2) AS p
                 CROSS JOIN (VALUES (0), (1)) AS nb(n)""",
        f"""INSERT INTO lineage_events (execution_id, artifact_id, direction, created_at)
            SELECT {node}, 'l' || c || '_' || (p + 1), 'output', now()
            FROM generate_series(0, {chains - 1}) AS c CROSS JOIN generate_series(1, {CHAIN_NODES - 2}, 2) AS p""",
    ]


def database_url(admin_url: str, database: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + database


def ensure_database(admin_url: str, database: str, home: Path) -> str:
    url = database_url(admin_url, database)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
            admin.execute(f'CREATE DATABASE "{database}"')
    env = {**os.environ, "MODELWARD_HOME": str(home), "MODELWARD_DATABASE_URL": url}
    subprocess.run(["modelward", "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
    return url


def run_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])


def grow(url: str, target: int, batch: int = 100_000) -> float:
    """Add runs until the store holds ``target``; answers the seconds it took (with ANALYZE)."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        have = int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
        for lo in range(have, target, batch):
            hi = min(lo + batch, target)
            with conn.transaction():
                for sql in populate_runs_sql(lo, hi):
                    conn.execute(sql)
            print(f"  runs {hi:,}", flush=True)
        if not conn.execute("SELECT 1 FROM lineage_artifacts LIMIT 1").fetchone():
            with conn.transaction():
                for sql in populate_lineage_sql(LINEAGE_NODES // CHAIN_NODES + 1):
                    conn.execute(sql)
            print("  lineage graph", flush=True)
        conn.execute("ANALYZE")
    return time.perf_counter() - started


@contextmanager
def server(url: str, home: Path, port: int) -> Iterator[tuple[str, int]]:
    env = {**os.environ, "MODELWARD_HOME": str(home), "MODELWARD_DATABASE_URL": url}
    log = open(home / f"server-{port}.log", "wb")
    proc = subprocess.Popen(["modelward", "server", "--port", str(port)], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"server exited: see {log.name}")
            time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


FILTERED = "metrics.acc > 0.9 and params.lr = '0.01'"


def queries(chains: int, size: int) -> dict[str, tuple[str, str, Any]]:
    """name -> (method, path, body or query params); lineage refs pick chains in the middle."""
    search = f"{API}/runs/search"
    leaf, root = f"artifact:l{chains // 2}_{CHAIN_NODES - 1}", f"artifact:l{chains // 3}_0"
    every_experiment = [str(1000 + e) for e in range((size - 1) // RUNS_PER_EXPERIMENT + 1)]
    return {
        "search: metrics.acc > 0.9 and params.lr = '0.01', order by metrics.acc DESC, top 50": (
            "POST", search, {"experiment_ids": [EXPERIMENT_0], "max_results": 50,
                             "filter": FILTERED, "order_by": ["metrics.acc DESC"]}),
        "the same search over every experiment (the whole store)": (
            "POST", search, {"experiment_ids": every_experiment, "max_results": 50,
                             "filter": FILTERED, "order_by": ["metrics.acc DESC"]}),
        "search: tags.team = 'fraud' (1 run in 5), top 50": (
            "POST", search, {"experiment_ids": [EXPERIMENT_0], "max_results": 50, "filter": "tags.team = 'fraud'"}),
        "search: tags.dataset = 'ds-0042' (1 run in 1,000), top 50": (
            "POST", search, {"experiment_ids": [EXPERIMENT_0], "max_results": 50, "filter": "tags.dataset = 'ds-0042'"}),
        "listing: first page of 50": (
            "POST", search, {"experiment_ids": [EXPERIMENT_0], "max_results": 50}),
        "listing: page 101 of 50 (page token at offset 5,000)": (
            "POST", search, {"experiment_ids": [EXPERIMENT_0], "max_results": 50,
                             "page_token": "b2Zmc2V0OjUwMDA="}),  # base64 of 'offset:5000', as the server issues it
        "listing over every experiment: first page of 50": (
            "POST", search, {"experiment_ids": every_experiment, "max_results": 50}),
        "get-run": ("GET", f"{API}/runs/get", {"run_id": "md5:4321"}),
        "lineage upstream, depth 20 (native API)": (
            "GET", "/api/v1/lineage/upstream", {"ref": leaf, "depth": 20}),
        "lineage impact (downstream), depth 20 (native API)": (
            "GET", "/api/v1/lineage/downstream", {"ref": root, "depth": 20}),
    }


def md5_run_id(index: int) -> str:
    import hashlib
    return hashlib.md5(f"run-{index}".encode()).hexdigest()


def _cpu_seconds(process: psutil.Process) -> float:
    """CPU time of the server and its children: unlike the wall clock, not inflated by a busy machine."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        times = each.cpu_times()
        total += times.user + times.system
    return total


def time_queries(base: str, pid: int, chains: int, size: int, warmup: int, repeats: int) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    process = psutil.Process(pid)
    with httpx.Client(base_url=base, timeout=60) as client:  # one kept-alive connection
        for name, (method, path, payload) in queries(chains, size).items():
            if payload.get("run_id") == "md5:4321":
                payload = {"run_id": md5_run_id(4321)}
            samples: list[float] = []
            answer: Any = None
            for round_ in range(warmup + repeats):
                if round_ == warmup:
                    cpu_before = _cpu_seconds(process)
                started = time.perf_counter()
                if method == "POST":
                    response = client.post(path, json=payload)
                else:
                    response = client.get(path, params=payload)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{name}: HTTP {response.status_code} {response.text[:300]}")
                if round_ >= warmup:
                    samples.append(elapsed)
                answer = response.json()
            cpu_ms = (_cpu_seconds(process) - cpu_before) * 1000 / repeats
            samples.sort()
            results[name] = {"median_ms": round(statistics.median(samples), 2),
                             "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 2),
                             "server_cpu_ms": round(cpu_ms, 2), "answer": _shape(answer)}
            print(f"  {name}: {results[name]['median_ms']} ms (p90 {results[name]['p90_ms']}, server CPU "
                  f"{results[name]['server_cpu_ms']} ms), {results[name]['answer']}", flush=True)
    return results


def _shape(answer: Any) -> str:
    """What came back, to see that each query did real work (runs found, nodes walked)."""
    if "runs" in answer:
        return f"{len(answer['runs'])} runs" + (", more" if answer.get("next_page_token") else "")
    if "run" in answer:
        return "1 run"
    if "nodes" in answer:
        return f"{len(answer['nodes'])} nodes, {len(answer.get('edges', []))} edges"
    return "?"


def explain(url: str, home: Path, chains: int, size: int,
            session_settings: tuple[str, ...] = ()) -> tuple[dict[str, list[str]], dict[str, dict[str, float]]]:
    """Each query in-process, its SQL captured and run again under EXPLAIN (ANALYZE, BUFFERS)."""
    from sqlalchemy import event

    from modelward.services import lineage, runs
    from modelward.settings import Settings
    from modelward.store.backend import Backend

    backend = Backend.from_settings(Settings(home=home, database_url=url), migrate=False)
    captured: list[tuple[str, Any]] = []
    event.listen(backend.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, params, context, many: captured.append((statement, params)))
    plans: dict[str, list[str]] = {}
    totals: dict[str, dict[str, float]] = {}
    for name, (_method, path, payload) in queries(chains, size).items():
        captured.clear()
        if path.endswith("/runs/search"):
            runs.search(backend, experiment_ids=payload["experiment_ids"], filter=payload.get("filter"),
                        order_by=payload.get("order_by"), max_results=payload["max_results"],
                        page_token=payload.get("page_token"))
        elif path.endswith("/upstream"):
            lineage.upstream(backend, payload["ref"], max_depth=payload["depth"])
        elif path.endswith("/downstream"):
            lineage.downstream(backend, payload["ref"], max_depth=payload["depth"])
        else:
            continue
        statements = [(s, p) for s, p in captured if s.lstrip().upper().startswith(("SELECT", "WITH"))]
        lines: list[str] = []
        sql_ms, buffers = 0.0, 0
        with backend.engine.connect() as conn:
            cursor = conn.connection.driver_connection.cursor()
            for setting in session_settings:  # e.g. "SET random_page_cost = 1.1", to compare plans
                cursor.execute(setting)
            for statement, params in statements:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                plan = [row[0] for row in cursor.fetchall()]
                total = plan[-1] if plan else ""
                sql_ms += float(total.split(":")[1].split()[0])
                buffers += _top_buffers(plan)
                lines.append(f"-- {statement.split(chr(10))[0][:100]} ... [{total}]")
                lines.extend(plan)
        plans[name] = lines
        totals[name] = {"statements": len(statements), "sql_ms": round(sql_ms, 2), "buffers": buffers}
    backend.close()
    return plans, totals


def _top_buffers(plan: list[str]) -> int:
    """Shared buffers (hit + read) of a plan's top node: the pages the statement touched."""
    for line in plan:  # the top node's details come before its children's
        if "Buffers:" in line:
            shared = line.split("shared", 1)[1].split(",")[0]  # "hit=N read=M" before any ", temp ..."
            return sum(int(part.split("=")[1]) for part in shared.split() if part.startswith(("hit=", "read=")))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql://modelward@127.0.0.1:55432/postgres")
    parser.add_argument("--database", default="bench_scale_runs")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--port", type=int, default=5091)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each query at each size")
    parser.add_argument("--pgoptions", default="", help="PGOPTIONS for the server's and EXPLAIN's connections, "
                        "e.g. '-c random_page_cost=1.1'")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    if args.pgoptions:  # libpq reads it: the server subprocess and the in-process EXPLAIN both get it
        os.environ["PGOPTIONS"] = args.pgoptions
    home = Path(tempfile.mkdtemp(prefix="mw-scale-"))
    url = ensure_database(args.admin_url, args.database, home)
    chains = LINEAGE_NODES // CHAIN_NODES + 1
    report: dict[str, Any] = {"database": args.database, "lineage_nodes": chains * CHAIN_NODES,
                              "pgoptions": args.pgoptions, "sizes": {}}
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"== {size:,} runs", flush=True)
        if run_count(url) > size:
            raise SystemExit(f"the store already holds more than {size:,} runs; sizes must grow")
        seconds = grow(url, size)
        print(f"  populated and analyzed in {seconds:.0f} s; load average {os.getloadavg()}", flush=True)
        entry: dict[str, Any] = {"populate_s": round(seconds, 1), "load_before": os.getloadavg()}
        with server(url, home, args.port) as (base, pid):
            entry["queries"] = time_queries(base, pid, chains, size, args.warmup, args.repeats)
        entry["load_after"] = os.getloadavg()
        if args.explain:
            entry["plans"], entry["sql"] = explain(url, home, chains, size)
            for name, lines in entry["plans"].items():
                print(f"-- plan: {name}")
                print("\n".join(lines))
            for name, total in entry["sql"].items():
                print(f"  SQL {name}: {total}")
        report["sizes"][str(size)] = entry
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=1))
    if args.drop:
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{args.database}" WITH (FORCE)')
    sys.exit(0)


if __name__ == "__main__":
    main()
