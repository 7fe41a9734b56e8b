#!/usr/bin/env python3
"""modelward SDK benchmark on the embedded SQLite store (SDK -> in-process ASGI app -> SQLite).

Phases (``--phases``, default all):
  bulk    ``client.runs.log_metric_columns`` with 10 keys x 1,000 steps = 10,000 points per
          call, one call per run over ``--bulk-runs`` runs      -> points/s, call latency
  fluent  ``modelward.start_run()`` + ``modelward.log_metric`` in a tight loop
          (``--fluent-points``), then ``modelward.flush()``     -> per-call latency
          (perf_counter_ns around every call: median/p99 us), end-to-end points/s
  sync    ``start_run(synchronous=True)`` + ``--sync-calls`` log_metric calls -> calls/s
  search  experiments of 1,000 and 10,000 runs (20 params, 10 tags, 10 metrics x 3 steps,
          see bench/_data.py); 20 x filtered+ordered top-50 through the SDK and through
          ``modelward.services.runs.search`` directly; unfiltered top-50; full listing
          with ``search_all`` (pages of 1,000). Results are checked against the answer
          computed from the generated data.

Human lines while running, then ONE JSON object on the last line (and in --json-out).

    python bench/sdk_bench.py --json-out bench/results/modelward.json
    python bench/sdk_bench.py --phases search --search-sizes 1000
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _data import SEARCH_FILTER, SEARCH_MAX, SEARCH_ORDER, search_run_data  # noqa: E402

ALL_PHASES = ["bulk", "fluent", "sync", "search"]


def log(msg: str) -> None:
    print(msg, flush=True)


def pct(values, q):
    """Nearest-rank percentile, as in mlflow_workload.py."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))
    return s[k]


def lat_ms(values_s):
    ms = [v * 1000.0 for v in values_s]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p95_ms": round(pct(ms, 95), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


# --------------------------------------------------------------------------- phases


def phase_bulk(client, n_runs: int, n_keys: int, n_steps: int, res: dict) -> None:
    exp = client.experiments.create(f"bulk-{time.time_ns()}")
    base_ts = int(time.time() * 1000)
    keys = [f"m{k}" for k in range(n_keys) for _ in range(n_steps)]
    steps = [s for _ in range(n_keys) for s in range(n_steps)]
    stamps = [base_ts + s for s in steps]
    per_call, t_create = [], []
    points = 0
    cpu_calls = 0.0
    t0 = time.perf_counter()
    for i in range(n_runs):
        a = time.perf_counter()
        run = client.runs.create(exp.id, name=f"bulk-{i}")
        values = [((i * 7919 + j) % 10007) / 10007.0 for j in range(len(keys))]
        b, cb = time.perf_counter(), time.process_time()
        client.runs.log_metric_columns(run.id, keys, values, steps, stamps)
        per_call.append(time.perf_counter() - b)
        cpu_calls += time.process_time() - cb
        t_create.append(b - a)
        points += len(keys)
    wall = time.perf_counter() - t0
    calls = sum(per_call)
    res.update(
        runs=n_runs, points_per_call=len(keys), points=points,
        wall_s=round(wall, 3),
        points_per_s_incl_create=round(points / wall),
        points_per_s=round(points / calls),
        points_per_cpu_s=round(points / cpu_calls),
        log_metric_columns_call=lat_ms(per_call),
        create_run=lat_ms(t_create),
    )
    # check: the last run holds every point
    hist = client.runs.metric_history(run.id, "m0")
    res["check_points_read_back_m0"] = len(hist)
    log(
        f"BULK    {points:,} points in {n_runs} calls of {len(keys):,}: {points / calls:,.0f} points/s "
        f"(log_metric_columns median {res['log_metric_columns_call']['median_ms']:.1f} ms; "
        f"incl. create_run {points / wall:,.0f} points/s; {points / cpu_calls:,.0f} points per CPU-second); read back {len(hist)} points of m0"
    )


def phase_fluent(modelward, n_points: int, res: dict) -> None:
    run = modelward.start_run(name="fluent-bench", capture_output=False, log_environment=False)
    log_metric = modelward.log_metric
    clock = time.perf_counter_ns
    lat = [0] * n_points
    log_metric("warmup", 0.0, step=0)
    modelward.flush()
    gc_was = gc.isenabled()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n_points):
        a = clock()
        log_metric("loss", 1.0 / (i + 1), step=i)
        lat[i] = clock() - a
    t_loop = time.perf_counter() - t0
    flush_error = None
    try:
        modelward.flush()
    except Exception as exc:  # noqa: BLE001  (a rejected background batch is reported here)
        flush_error = f"{type(exc).__name__}: {exc}"
    t_all = time.perf_counter() - t0
    cpu_all = time.process_time() - c0
    run.end()
    hist = run.client.runs.metric_history(run.id, "loss")
    us = sorted(x / 1000.0 for x in lat)
    res.update(
        points=n_points,
        loop_s=round(t_loop, 3),
        flush_s=round(t_all - t_loop, 3),
        end_to_end_s=round(t_all, 3),
        end_to_end_points_per_s=round(n_points / t_all),
        end_to_end_cpu_s=round(cpu_all, 3),
        loop_calls_per_s=round(n_points / t_loop),
        log_metric_us={
            "median": round(statistics.median(us), 2),
            "p90": round(pct(us, 90), 2),
            "p99": round(pct(us, 99), 2),
            "p999": round(pct(us, 99.9), 2),
            "max": round(us[-1], 1),
            "mean": round(statistics.fmean(us), 2),
        },
        gc_enabled=gc_was,
        points_read_back=len(hist),
        points_lost=n_points - len(hist),
        flush_error=flush_error,
    )
    log(
        f"FLUENT  log_metric x{n_points:,}: median {res['log_metric_us']['median']:.2f} us, "
        f"p99 {res['log_metric_us']['p99']:.2f} us, max {res['log_metric_us']['max']:.0f} us; "
        f"loop {t_loop:.2f}s + flush {t_all - t_loop:.2f}s -> {n_points / t_all:,.0f} points/s end to end; "
        f"read back {len(hist):,}" + (f" -- LOST {n_points - len(hist):,}: {flush_error}" if flush_error else "")
    )


def phase_sync(modelward, n_calls: int, res: dict) -> None:
    run = modelward.start_run(name="sync-bench", synchronous=True, capture_output=False, log_environment=False)
    modelward.log_metric("warmup", 0.0)
    lat = []
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n_calls):
        a = time.perf_counter()
        modelward.log_metric("loss", 1.0 / (i + 1), step=i)
        lat.append(time.perf_counter() - a)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    run.end()
    res.update(calls=n_calls, wall_s=round(wall, 3), cpu_ms_per_call=round(cpu / n_calls * 1000, 3), calls_per_s=round(n_calls / wall, 1), latency=lat_ms(lat))
    log(
        f"SYNC    log_metric(synchronous) x{n_calls}: {n_calls / wall:,.0f} calls/s "
        f"(median {res['latency']['median_ms']:.2f} ms, p95 {res['latency']['p95_ms']:.2f} ms, "
        f"{cpu / n_calls * 1000:.2f} ms CPU per call)"
    )


def populate(client, backend, exp_id: str, start: int, stop: int, base_ts: int, expected: dict, via: str) -> float:
    """Runs ``start..stop-1`` with 20 params, 10 tags and 10 metrics x 3 steps each.

    ``via='sdk'``: ``runs.create`` + one ``runs.log_metric_columns`` per run (the public path).
    ``via='sql'``: the same rows written with SQLAlchemy Core executemany, 500 runs per
    transaction (runs, params, tags, metrics, latest_metrics), so a 10,000-run experiment
    can be built in well under a minute; only the search is being measured there.
    """
    from datetime import UTC, datetime

    from sqlalchemy import select

    from modelward.domain.names import new_id
    from modelward.store.rows import LatestMetricRow, MetricRow, ParamRow, RunRow, TagRow

    t0 = time.perf_counter()
    if via == "sdk":
        for i in range(start, stop):
            params, tags, keys, values, steps, stamps = search_run_data(i, base_ts)
            started = datetime.fromtimestamp((base_ts + i) / 1000, UTC)
            run = client.runs.create(exp_id, name=f"run-{i:05d}", start_time=started)
            client.runs.log_metric_columns(run.id, keys, values, steps, stamps, params=params, tags=tags)
            latest = dict(zip(keys, values))  # steps ascend, so the last value wins
            expected[run.id] = (params["p1"], latest["m0"], latest["m1"])
        return time.perf_counter() - t0
    for lo in range(start, stop, 500):
        chunk = range(lo, min(stop, lo + 500))
        data = {i: search_run_data(i, base_ts) for i in chunk}
        ids = {i: new_id() for i in chunk}
        with backend.write() as session:
            session.execute(RunRow.__table__.insert(), [
                {"id": ids[i], "experiment_id": exp_id, "name": f"run-{i:05d}", "status": "RUNNING",
                 "lifecycle": "active", "user": "bench", "environment": {},
                 "start_time": datetime.fromtimestamp((base_ts + i) / 1000, UTC)} for i in chunk])
            pks = dict(session.execute(select(RunRow.id, RunRow.pk).where(RunRow.id.in_(list(ids.values())))).all())
            params, tags, points, latest = [], [], [], []
            for i in chunk:
                pk = pks[ids[i]]
                p, t, keys, values, steps, stamps = data[i]
                params += [{"run_pk": pk, "key": k, "value": v} for k, v in p.items()]
                tags += [{"run_pk": pk, "key": k, "value": v} for k, v in t.items()]
                rows = [{"run_pk": pk, "key": k, "value": v, "step": s, "timestamp_ms": ts}
                        for k, v, s, ts in zip(keys, values, steps, stamps)]
                points += rows
                newest = {r["key"]: r for r in rows}  # steps ascend, so the last row wins
                latest += newest.values()
                expected[ids[i]] = (p["p1"], newest["m0"]["value"], newest["m1"]["value"])
            for table, rows in ((ParamRow, params), (TagRow, tags), (MetricRow, points), (LatestMetricRow, latest)):
                session.execute(table.__table__.insert(), rows)
    return time.perf_counter() - t0


def time_calls(fn, n):
    """Wall latency of each call, plus the process CPU time (all threads) per call: on a
    shared, overloaded machine CPU time shows the cost without the wait for a core."""
    fn()  # warm-up, not timed
    lat, cpu = [], []
    for _ in range(n):
        a, c = time.perf_counter(), time.process_time()
        fn()
        lat.append(time.perf_counter() - a)
        cpu.append(time.process_time() - c)
    out = lat_ms(lat)
    out["cpu_median_ms"] = round(statistics.median(cpu) * 1000, 3)
    return out


def phase_search(client, sizes: list[int], n_queries: int, sdk_upto: int, res: dict) -> None:
    from modelward.services import runs as run_service

    backend = client.http._client.app.state.backend  # the embedded app's own backend
    exp = client.experiments.create(f"search-{time.time_ns()}")
    base_ts = int(time.time() * 1000) - 10_000_000
    expected: dict[str, tuple[str, float, float]] = {}
    have = 0
    for n in sorted(sizes):
        out = res.setdefault(str(n), {})
        out["populate"] = []
        for lo, hi, via in ((have, min(n, max(have, sdk_upto)), "sdk"), (max(have, sdk_upto), n, "sql")):
            if hi <= lo:
                continue
            t_pop = populate(client, backend, exp.id, lo, hi, base_ts, expected, via)
            out["populate"].append({"via": via, "runs_added": hi - lo, "wall_s": round(t_pop, 2),
                                    "runs_per_s": round((hi - lo) / t_pop, 1)})
            log(f"SEARCH  populated runs {lo:,}..{hi - 1:,} via {via} in {t_pop:.1f}s ({(hi - lo) / t_pop:,.1f} runs/s)")
        have = n

        want = sorted(
            (rid for rid, (p1, m0, _m1) in expected.items() if p1 == "x" and m0 > 0.5),
            key=lambda rid: -expected[rid][2],
        )[:SEARCH_MAX]

        def sdk_search():
            return client.runs.search([exp.id], SEARCH_FILTER, order_by=SEARCH_ORDER, max_results=SEARCH_MAX)

        def svc_search():
            return run_service.search(backend, experiment_ids=[exp.id], filter=SEARCH_FILTER,
                                      order_by=SEARCH_ORDER, max_results=SEARCH_MAX)

        page = sdk_search()
        got = [r.id for r in page.runs]
        m1 = [r.metrics["m1"] for r in page.runs]
        ok = (
            got == want
            and m1 == sorted(m1, reverse=True)
            and all(r.metrics["m0"] > 0.5 and r.params["p1"] == "x" for r in page.runs)
        )
        svc_ok = [r.id for r in svc_search().runs] == want
        out["filtered_top50_sdk"] = dict(results=len(got), correct=ok, latency=time_calls(sdk_search, n_queries))
        out["filtered_top50_service"] = dict(correct=svc_ok, latency=time_calls(svc_search, n_queries))
        f_sdk, f_svc = out["filtered_top50_sdk"]["latency"], out["filtered_top50_service"]["latency"]
        log(
            f"SEARCH  {n:,} runs, filtered+ordered top {SEARCH_MAX} (got {len(got)}, correct={ok and svc_ok}): "
            f"SDK median {f_sdk['median_ms']:.1f} ms p95 {f_sdk['p95_ms']:.1f} ms (cpu {f_sdk['cpu_median_ms']:.1f}); "
            f"service median {f_svc['median_ms']:.1f} ms p95 {f_svc['p95_ms']:.1f} ms (cpu {f_svc['cpu_median_ms']:.1f})"
        )

        def sdk_top():
            return client.runs.search([exp.id], None, max_results=SEARCH_MAX)

        def svc_top():
            return run_service.search(backend, experiment_ids=[exp.id], max_results=SEARCH_MAX)

        top = sdk_top().runs
        top_ok = [r.name for r in top] == [f"run-{i:05d}" for i in range(n - 1, n - 1 - SEARCH_MAX, -1)]
        out["unfiltered_top50_sdk"] = dict(correct=top_ok, latency=time_calls(sdk_top, n_queries))
        out["unfiltered_top50_service"] = dict(latency=time_calls(svc_top, n_queries))
        log(
            f"SEARCH  {n:,} runs, unfiltered top {SEARCH_MAX} (correct={top_ok}): SDK median "
            f"{out['unfiltered_top50_sdk']['latency']['median_ms']:.1f} ms; service median "
            f"{out['unfiltered_top50_service']['latency']['median_ms']:.1f} ms"
        )

        walls, total = [], 0
        reps = 3 if n <= 2000 else 1  # a 10k listing through the SDK takes several seconds
        for _ in range(reps):
            a = time.perf_counter()
            total = sum(1 for _ in client.runs.search_all([exp.id], page_size=1000))
            walls.append(time.perf_counter() - a)
        svc_walls = []
        for _ in range(reps):
            a = time.perf_counter()
            token, svc_total = None, 0
            while True:
                pg = run_service.search(backend, experiment_ids=[exp.id], max_results=1000, page_token=token)
                svc_total += len(pg.runs)
                token = pg.next_page_token
                if not token:
                    break
            svc_walls.append(time.perf_counter() - a)
        med, svc_med = statistics.median(walls), statistics.median(svc_walls)
        out["full_listing"] = dict(
            runs=total, correct=total == n, page_size=1000, repetitions=reps,
            sdk_wall_s_median=round(med, 3), sdk_runs_per_s=round(total / med),
            service_wall_s_median=round(svc_med, 3), service_runs_per_s=round(svc_total / svc_med),
        )
        log(
            f"SEARCH  {n:,} runs, full listing (search_all, pages of 1000): SDK {med:.2f}s "
            f"({total / med:,.0f} runs/s); service {svc_med:.2f}s ({svc_total / svc_med:,.0f} runs/s)"
        )


# --------------------------------------------------------------------------- main


def _git_state() -> dict:
    import subprocess

    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=HERE, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:  # noqa: BLE001
            return None

    status = git("status", "--porcelain", "--", "src")
    state = {"repo_head": git("rev-parse", "--short", "HEAD"), "repo_src_dirty": bool(status)}
    if os.environ.get("BENCH_SRC_COMMIT"):  # set by bench/run_all.sh, which measures a clean snapshot
        state["measured_commit"] = os.environ["BENCH_SRC_COMMIT"]
    return state


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", default=None, help="modelward home (default: a fresh temp folder, removed after)")
    ap.add_argument("--phases", default=",".join(ALL_PHASES))
    ap.add_argument("--bulk-runs", type=int, default=50)
    ap.add_argument("--bulk-keys", type=int, default=10)
    ap.add_argument("--bulk-steps", type=int, default=1000)
    ap.add_argument("--fluent-points", type=int, default=200_000)
    ap.add_argument("--sync-calls", type=int, default=2000)
    ap.add_argument("--search-sizes", default="1000,10000")
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--populate-sdk-upto", type=int, default=1000,
                    help="search runs below this index are created through the SDK, the rest with SQLAlchemy "
                         "Core executemany in transactions of 500 runs (same rows, much faster)")
    ap.add_argument("--label", default="")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    for p in phases:
        if p not in ALL_PHASES:
            ap.error(f"unknown phase {p}")

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="modelward-bench-"))
    os.environ["MODELWARD_HOME"] = str(home)
    os.environ.pop("MODELWARD_TRACKING_URI", None)
    os.environ.pop("MODELWARD_DATABASE_URL", None)

    t_import = time.perf_counter()
    import modelward
    from modelward.settings import Settings

    import_ms = (time.perf_counter() - t_import) * 1000
    a = time.perf_counter()
    client = modelward.Client(settings=Settings(home=home))
    init_ms = (time.perf_counter() - a) * 1000
    import fastapi, pydantic, sqlalchemy, sqlite3, starlette  # noqa: E401

    out = {
        "tool": "bench/sdk_bench.py",
        "label": args.label,
        "store": client.http.where,
        "modelward_source": str(Path(modelward.__file__).parent),
        "modelward_version": modelward.__version__,
        "python": platform.python_version(),
        "versions": {"fastapi": fastapi.__version__, "starlette": starlette.__version__,
                     "pydantic": pydantic.__version__, "sqlalchemy": sqlalchemy.__version__,
                     "sqlite": sqlite3.sqlite_version},
        "host": {"cpus": os.cpu_count(), "platform": platform.platform(),
                 "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]},
        "git": _git_state(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "phases": phases,
        "results": {"import_ms": round(import_ms, 1), "client_init_ms": round(init_ms, 1)},
    }
    log(f"modelward {modelward.__version__} -> {client.http.where} (phases={phases})")
    log(f"FIRST   import modelward {import_ms:.0f} ms; Client() {init_ms:.0f} ms (creates the schema)")
    t_all = time.perf_counter()
    try:
        if "bulk" in phases:
            phase_bulk(client, args.bulk_runs, args.bulk_keys, args.bulk_steps, out["results"].setdefault("bulk", {}))
        if "fluent" in phases or "sync" in phases:
            modelward.set_experiment(f"fluent-{time.time_ns()}")
        if "fluent" in phases:
            phase_fluent(modelward, args.fluent_points, out["results"].setdefault("fluent", {}))
        if "sync" in phases:
            phase_sync(modelward, args.sync_calls, out["results"].setdefault("sync", {}))
        if "search" in phases:
            sizes = [int(s) for s in args.search_sizes.split(",") if s.strip()]
            phase_search(client, sizes, args.queries, args.populate_sdk_upto, out["results"].setdefault("search", {}))
    finally:
        out["total_wall_s"] = round(time.perf_counter() - t_all, 2)
        import resource

        out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        modelward.set_tracking_uri(None)  # closes the fluent client
        client.close()
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
    out["host"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    log(f"TOTAL   {out['total_wall_s']:.1f}s (load average {out['host']['loadavg_at_start']} -> "
        f"{out['host']['loadavg_at_end']})")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
