#!/usr/bin/env python3
"""Where the time goes on the embedded bulk-ingest and search paths.

    python bench/profile_paths.py ingest            # layer-by-layer costs of one 10,000-point batch
    python bench/profile_paths.py ingest --yappi    # + a profile over every thread (needs yappi)
    python bench/profile_paths.py search --home DIR --experiment NAME   # on a populated store

``ingest`` times each layer of ``runs.log_metric_columns`` in isolation (median of
repeated calls, wall and CPU): SDK encoding, the in-process HTTP hop (TestClient) with
an empty handler, FastAPI body parsing + pydantic validation (a handler added to the
embedded app at runtime: nothing in src/ is changed), the service, and the store's SQL,
next to alternative ways to insert the same rows (``exec_driver_sql`` executemany,
plain sqlite3). ``search`` times the SDK call, the service call, the run-row query alone,
the three data queries, entity building and JSON encoding, and prints the query plan.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def timed(fn, n=15, warm=2):
    for _ in range(warm):
        fn()
    wall, cpu = [], []
    for _ in range(n):
        a, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - a)
        cpu.append(time.process_time() - c)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def show(label, result):
    wall, cpu = result
    print(f"  {label:<66s} {wall:8.2f} ms wall {cpu:8.2f} ms cpu", flush=True)


def ingest(args) -> None:
    import orjson
    from fastapi import Request, Response

    import modelward
    from modelward.api.schemas import LogBatch
    from modelward.domain.actors import Actor
    from modelward.domain.tracking import encode_float
    from modelward.services import runs as svc
    from modelward.settings import Settings
    from modelward.store import runs as store
    from modelward.store.rows import LatestMetricRow, MetricRow

    home = Path(args.home or tempfile.mkdtemp(prefix="modelward-prof-"))
    client = modelward.Client(settings=Settings(home=home))
    app = client.http._client.app
    backend = app.state.backend

    # runtime-only probe routes on this process's embedded app
    async def raw_body(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    def parsed_body(body: LogBatch) -> Response:
        return Response(status_code=204)

    globals().update(Request=Request, Response=Response, LogBatch=LogBatch)  # annotations are strings
    app.add_api_route("/bench/raw", raw_body, methods=["POST"])
    app.add_api_route("/bench/parsed", parsed_body, methods=["POST"])

    exp = client.experiments.create(f"prof-{time.time_ns()}")
    n_keys, n_steps = 10, 1000
    base = int(time.time() * 1000)
    keys = [f"m{k}" for k in range(n_keys) for _ in range(n_steps)]
    steps = [s for _ in range(n_keys) for s in range(n_steps)]
    stamps = [base + s for s in steps]
    values = [((j * 7919) % 10007) / 10007.0 for j in range(len(keys))]
    runs = iter([client.runs.create(exp.id).id for _ in range(200)])
    body_dict = {"params": {}, "tags": {}, "metrics": {"keys": keys, "values": [encode_float(v) for v in values],
                                                       "steps": steps, "timestamps_ms": stamps}}
    body = orjson.dumps(body_dict)
    print(f"one batch: {len(keys):,} points, {len(body):,} bytes of JSON")

    print("whole call")
    show("SDK runs.log_metric_columns (embedded, end to end)",
         timed(lambda: client.runs.log_metric_columns(next(runs), keys, values, steps, stamps)))
    print("layers, each alone")
    show("SDK: encode_float over values + orjson.dumps",
         timed(lambda: orjson.dumps({"metrics": {"keys": keys, "values": [encode_float(float(v)) for v in values],
                                                 "steps": steps, "timestamps_ms": stamps}})))
    show("in-process HTTP hop: TestClient POST, handler only reads the body",
         timed(lambda: client.http.call("POST", "/bench/raw", json=body_dict)))
    show("  same, empty body (pure per-request overhead)",
         timed(lambda: client.http.call("POST", "/bench/raw", json={}), n=50))
    show("HTTP hop + FastAPI body parse (stdlib json) + pydantic LogBatch",
         timed(lambda: client.http.call("POST", "/bench/parsed", json=body_dict)))
    import json as stdjson

    show("  stdlib json.loads of the body (what Request.json() does)", timed(lambda: stdjson.loads(body)))
    show("  orjson.loads of the body", timed(lambda: orjson.loads(body)))
    show("  pydantic LogBatch.model_validate(dict)", timed(lambda: LogBatch.model_validate(body_dict)))
    show("  pydantic LogBatch.model_validate_json(bytes) (one pass, no dict)",
         timed(lambda: LogBatch.model_validate_json(body)))
    show("service runs.log_batch (validation + transaction + SQL)",
         timed(lambda: svc.log_batch(backend, next(runs), actor=Actor(name="bench"), metric_keys=keys, metric_values=values,
                                     metric_steps=steps, metric_timestamps_ms=stamps)))

    def in_txn(work):
        def go():
            with backend.write() as session:
                pk = store.writable_pk(session, next(runs))
                work(session, pk)
        return go

    show("store: BEGIN IMMEDIATE + writable_pk + COMMIT, nothing else", timed(in_txn(lambda s, pk: None)))
    show("store.log_metrics (rows + SA insert executemany + latest upsert)",
         timed(in_txn(lambda s, pk: store.log_metrics(s, pk, keys, values, steps, stamps))))

    def dict_rows(pk):
        return [{"run_pk": pk, "key": k, "value": None if v != v else v, "step": s, "timestamp_ms": t}
                for k, v, s, t in zip(keys, values, steps, stamps)]

    show("  building the 10,000 row dicts", timed(lambda: dict_rows(1)))
    show("  SA Core insert(MetricRow) executemany of the dicts",
         timed(in_txn(lambda s, pk: s.execute(MetricRow.__table__.insert(), dict_rows(pk)))))
    ins = "INSERT INTO metrics (run_pk, key, value, step, timestamp_ms) VALUES (?, ?, ?, ?, ?)"
    show("  alternative: exec_driver_sql executemany of tuples",
         timed(in_txn(lambda s, pk: s.connection().exec_driver_sql(
             ins, [(pk, k, v, st, t) for k, v, st, t in zip(keys, values, steps, stamps)]))))

    def raw_sqlite(s, pk):
        cur = s.connection().connection.driver_connection.cursor()
        cur.executemany(ins, zip([pk] * len(keys), keys, values, steps, stamps))

    show("  alternative: sqlite3 cursor.executemany over a zip (no list)", timed(in_txn(raw_sqlite)))
    from modelward.store.dialect import upsert
    from sqlalchemy import tuple_

    newest = [{"run_pk": 0, "key": f"m{k}", "value": 0.5, "step": 999, "timestamp_ms": base} for k in range(n_keys)]

    def latest(s, pk):
        rows = [dict(r, run_pk=pk) for r in newest]
        upsert(s, LatestMetricRow, rows, keys=["run_pk", "key"], update=["value", "step", "timestamp_ms"],
               where=lambda ex: tuple_(ex.step, ex.timestamp_ms) >= tuple_(LatestMetricRow.step, LatestMetricRow.timestamp_ms))

    show("  latest_metrics upsert of 10 keys", timed(in_txn(latest)))

    if args.yappi:
        import yappi

        yappi.set_clock_type("cpu")
        yappi.start()
        for _ in range(10):
            client.runs.log_metric_columns(next(runs), keys, values, steps, stamps)
        yappi.stop()
        print("\nyappi (CPU clock, all threads), 10 calls of 10,000 points, top own-time functions:")
        stats = yappi.get_func_stats()
        stats.sort("tsub", "desc")
        for st in list(stats)[:25]:
            print(f"  {st.tsub:7.3f}s own {st.ttot:7.3f}s total {st.ncall:8d} calls  {Path(st.module).name}:{st.name}:{st.lineno}")
        print("per thread CPU:")
        for t in yappi.get_thread_stats():
            print(f"  {t.name:<28s} {t.ttot:7.3f}s")
    client.close()


def search(args) -> None:
    import orjson
    from sqlalchemy import select

    import modelward
    from modelward.domain.search import parse_filter, parse_order_by
    from modelward.services import runs as svc
    from modelward.settings import Settings
    from modelward.store import runs as store
    from modelward.store.rows import RunRow
    from modelward.store.search import apply_order, run_filter_clause

    client = modelward.Client(settings=Settings(home=Path(args.home)))
    backend = client.http._client.app.state.backend
    exp = client.experiments.get_by_name(args.experiment)
    flt, order = "metrics.m0 > 0.5 and params.p1 = 'x'", ["metrics.m1 DESC"]
    n = sum(1 for _ in client.runs.search_all([exp.id]))
    print(f"experiment {exp.name}: {n:,} runs")

    def stmt_for(filter_, order_, limit):
        stmt = select(RunRow).where(run_filter_clause(parse_filter(filter_)))
        stmt = stmt.where(RunRow.experiment_id.in_([exp.id])).where(RunRow.lifecycle == "active")
        return apply_order(stmt, parse_order_by(order_)).limit(limit + 1).offset(0)

    for label, f, o, limit in (("filtered+ordered top 50", flt, order, 50), ("unfiltered top 50", None, [], 50),
                               ("unfiltered page of 1000", None, [], 1000)):
        print(label)
        show("SDK runs.search", timed(lambda: client.runs.search([exp.id], f, order_by=o, max_results=limit), n=args.n))
        show("service runs.search", timed(lambda: svc.search(backend, experiment_ids=[exp.id], filter=f, order_by=o,
                                                             max_results=limit), n=args.n))
        stmt = stmt_for(f, o, limit)

        def rows_only():
            with backend.read() as s:
                return list(s.scalars(stmt))

        show("  run-row query only (ORM RunRow objects)", timed(rows_only, n=args.n))
        with backend.read() as s:
            compiled = stmt.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
            sql = str(compiled)

            def raw():
                cur = s.connection().connection.driver_connection.execute(sql)
                return cur.fetchall()

            show("  the same SQL through sqlite3 directly", timed(raw, n=args.n))
            if label.startswith("filtered"):
                plan = s.connection().connection.driver_connection.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
                print("  query plan:")
                for row in plan:
                    print("    " + str(row[-1]))
            rows = list(s.scalars(stmt))[:limit]
            show("  _entities: params/tags/latest-metric queries + Run models", timed(lambda: store._entities(s, rows), n=args.n))
        page = svc.search(backend, experiment_ids=[exp.id], filter=f, order_by=o, max_results=limit)
        show("  response: page.model_dump_json()", timed(lambda: page.model_dump_json(), n=args.n))
        from modelward.domain.tracking import RunPage

        data = orjson.dumps(orjson.loads(page.model_dump_json()))
        show("  SDK side: RunPage.model_validate(orjson.loads(...))",
             timed(lambda: RunPage.model_validate(orjson.loads(data)), n=args.n))
    client.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["ingest", "search"])
    ap.add_argument("--home", default=None)
    ap.add_argument("--experiment", default=None, help="search: name of a populated experiment")
    ap.add_argument("--yappi", action="store_true")
    ap.add_argument("-n", type=int, default=10)
    args = ap.parse_args()
    os.environ.pop("MODELWARD_TRACKING_URI", None)
    print(f"load average {os.getloadavg()}, python {sys.version.split()[0]}")
    (ingest if args.what == "ingest" else search)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
