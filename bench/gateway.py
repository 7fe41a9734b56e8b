#!/usr/bin/env python3
"""The serving gateway against MLflow's scoring server, side by side in one run.

    python bench/gateway.py [--quick] [--out bench/results/gateway]

One scikit-learn model (iris ``LogisticRegression``), fitted once, is registered and approved in
a temporary modelward store (a second version for the canary split) and logged with
``mlflow.sklearn.log_model`` to a temporary MLflow store. Then, in this order:

1. **In-process baseline**: the estimator's own ``predict`` on the same rows as a DataFrame.
2. **Latency**: sequential requests on one kept-alive socket, framed by hand (httpx alone costs
   about 0.5 ms a request), the same ``dataframe_split`` bytes to every server, batch of 1 and
   of 100; modelward direct with the prediction log on, direct with it off (a second process
   started with ``MODELWARD_PREDICTION_LOG=false``), a 50/50 split by sticky key (every request
   carries a ``modelward-routing-key`` header, the direct ones too) and ``mlflow models serve``,
   each with one worker. The cases take turns in rounds so drift in the machine's load
   reaches them all alike. Overhead = the gateway's p50 minus the in-process p50.
3. **Where the time goes**: the gateway's codec and the whole ASGI app in-process (no socket),
   a raw ``GET /health`` on each server (the HTTP floor), and one cProfile of the ASGI app.
4. **Throughput**: ``modelward serve --workers 2`` against ``mlflow models serve -w 2`` under a
   load generator in a separate process (asyncio, ``--connections`` kept-alive raw-socket
   connections, as many to each worker as to the other), bounded by a request count and a time,
   whichever comes first; the three servers run at once and take turns, twice, and the best run
   of each counts (another session's load on the machine only ever takes throughput away).

The load generator shares the machine's cores with the servers; its own CPU share and the
servers' are reported beside each throughput. ``--quick`` is a small trial (under 2 minutes).
``python bench/gateway.py load ...`` is the load generator itself (started by the run).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL = "iris"
BATCHES = (1, 100)
BODIES_PER_BATCH = 8  # distinct bodies per batch size, sent in turn
CONNECT_GAP_S = 0.02
IDLE_S = 0.0002
FULL = {"latency": 3000, "warmup": 300, "rounds": 5, "inprocess": 3000, "profile": 2000,
        "load_requests": 20_000, "load_seconds": 15.0, "load_repetitions": 2, "connections": 16, "health": 1000}
QUICK = {"latency": 300, "warmup": 50, "rounds": 3, "inprocess": 300, "profile": 300,
         "load_requests": 2000, "load_seconds": 4.0, "load_repetitions": 1, "connections": 16, "health": 200}


# -- the same model, in both stores ------------------------------------------------------------


def iris_frame() -> Any:
    sys.path.insert(0, str(ROOT))  # the store is prepared as the deployment tests prepare theirs
    from tests.deployments.helpers import iris

    return iris()


def fit(c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    features, target = iris_frame()
    return LogisticRegression(C=c, max_iter=500).fit(features, target)


def prepare_modelward(home: Path, estimator: Any, canary: Any) -> dict[str, Any]:
    """Two approved versions; endpoint 'direct' serves the first, 'canary' splits 50/50."""
    from modelward.services import deployments
    from modelward.services.backend import Backend
    from modelward.settings import Settings
    from tests.deployments.helpers import APPROVER, approve, register_estimator, set_policy

    backend = Backend.from_settings(Settings(home=home))
    try:
        set_policy(backend, MODEL)
        first = register_estimator(backend, MODEL, estimator)
        approve(backend, MODEL, first)
        second = register_estimator(backend, MODEL, canary)
        approve(backend, MODEL, second)
        deployments.create(backend, APPROVER, "direct", model=MODEL, environment="production", version=first)
        deployments.create(backend, APPROVER, "canary", model=MODEL, environment="production", version=first)
        deployments.set_traffic(backend, APPROVER, "canary", {first: 50, second: 50})
    finally:
        backend.close()
    return {"versions": [first, second]}


def prepare_mlflow(work: Path, estimator: Any) -> dict[str, str]:
    import mlflow

    features, _ = iris_frame()
    tracking_uri = f"sqlite:///{work / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.create_experiment("gateway-bench", artifact_location=(work / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(estimator, name="model", input_example=features.head(3))
    return {"tracking_uri": tracking_uri, "model_uri": info.model_uri}


# -- request bodies: the same bytes to every server ----------------------------------------------


def bodies(batch: int) -> list[tuple[bytes, Any]]:
    """``dataframe_split`` bodies of ``batch`` iris rows, each with the same rows as a DataFrame."""
    import orjson
    import pandas as pd

    features, _ = iris_frame()
    columns = list(features.columns)
    values = features.to_numpy().tolist()
    made = []
    for k in range(BODIES_PER_BATCH):
        rows = [values[(k * 17 + j) % len(values)] for j in range(batch)]
        body = orjson.dumps({"dataframe_split": {"columns": columns, "data": rows}})
        made.append((body, pd.DataFrame(rows, columns=columns)))
    return made


# -- servers -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A server process in its own process group (uvicorn's workers are its children)."""

    def __init__(self, label: str, argv: list[str], env: dict[str, str], ready_path: str, log: Path,
                 workers: int) -> None:
        self.label, self.port, self.workers = label, free_port(), workers
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.log = log
        self.process = subprocess.Popen(argv, env={**os.environ, **env}, stdout=open(log, "wb"),
                                        stderr=subprocess.STDOUT, start_new_session=True, cwd=log.parent)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{label} exited with {self.process.returncode}:\n{log.read_text()[-3000:]}")
            if raw_get(self.port, ready_path) == 200:
                return
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{label} did not become ready:\n{log.read_text()[-3000:]}")

    def tree(self) -> list[Any]:
        import psutil

        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def cpu_seconds(self) -> dict[int, float]:
        import psutil

        seconds = {}
        for proc in self.tree():
            try:
                times = proc.cpu_times()
                seconds[proc.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return seconds

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def modelward_server(label: str, home: Path, workers: int, *, prediction_log: bool, logs: Path) -> Server:
    env = {"MODELWARD_HOME": str(home), "MODELWARD_PREDICTION_LOG": "true" if prediction_log else "false"}
    argv = [sys.executable, "-m", "modelward", "serve", "--port", "{port}", "--workers", str(workers)]
    return Server(label, argv, env, "/ready", logs / f"{label}.log", workers)


def mlflow_server(label: str, mlflow: dict[str, str], workers: int, logs: Path) -> Server:
    argv = [sys.executable, "-m", "mlflow", "models", "serve", "-m", mlflow["model_uri"], "--env-manager", "local",
            "-h", "127.0.0.1", "-p", "{port}", "-w", str(workers)]
    return Server(label, argv, {"MLFLOW_TRACKING_URI": mlflow["tracking_uri"]}, "/ping", logs / f"{label}.log",
                  workers)


def raw_get(port: int, path: str) -> int | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            head = sock.recv(64)
        return int(head.split()[1]) if head.startswith(b"HTTP/") else None
    except OSError:
        return None


# -- the latency client: one kept-alive socket, nothing but framing ---------------------------------------


class RawHTTP:
    def __init__(self, port: int) -> None:
        self.host = f"127.0.0.1:{port}"
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def request(self, method: str, path: str, body: bytes = b"", headers: str = "") -> bytes:
        """The request's bytes, framed once (sent as they are by ``send``)."""
        return (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n{headers}"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def send(self, request: bytes) -> tuple[int, bytes, bytes]:
        self.sock.sendall(request)
        data = self.pending
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in lines if line[:15].lower() == b"content-length:")
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.pending = rest[length:]
        return int(lines[0].split()[1]), header, rest[:length]

    def close(self) -> None:
        self.sock.close()


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    at = lambda q: ordered[min(len(ordered) - 1, int(len(ordered) * q))]  # noqa: E731
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered), 4), "p90_ms": round(at(0.90), 4),
            "p99_ms": round(at(0.99), 4), "mean_ms": round(statistics.fmean(ordered), 4)}


def version_of(header: bytes) -> str | None:
    at = header.find(b"modelward-version: ")
    return header[at + 19:header.find(b"\r\n", at)].decode() if at >= 0 else None


class LatencyCase:
    """One server, one path, one batch size: its requests framed up front, its samples gathered over rounds."""

    def __init__(self, name: str, port: int, path: str, batch: int, made: list[tuple[bytes, Any]],
                 routed: bool) -> None:
        self.name, self.batch, self.port = name, batch, port
        self.client = RawHTTP(port)
        keys = [f"modelward-routing-key: client-{i}\r\n" if routed else "" for i in range(64)]
        self.requests = [self.client.request("POST", path, body, keys[i % len(keys)])
                         for i, (body, _) in enumerate(made * 8)]
        self.samples: list[float] = []
        self.round_p50: list[float] = []
        self.versions: Counter[str] = Counter()
        self.answers: dict[int, bytes] = {}

    def run(self, count: int, *, keep: bool) -> None:
        if keep:  # a fresh connection: the server closes one left idle for 5 s while other cases ran
            self.client.close()
            self.client = RawHTTP(self.port)
            for request in self.requests[:20]:
                self.client.send(request)
        samples, requests, send = [], self.requests, self.client.send
        for i in range(count):
            request = requests[i % len(requests)]
            start = time.perf_counter()
            status, header, answer = send(request)
            samples.append((time.perf_counter() - start) * 1000)
            if status != 200:
                raise SystemExit(f"{self.name} batch {self.batch} answered {status}: {answer[:300]!r}")
            if keep:
                self.versions[version_of(header) or "-"] += 1
                self.answers.setdefault(i % BODIES_PER_BATCH, answer)
        if keep:
            self.samples += samples
            self.round_p50.append(round(statistics.median(samples), 4))


def check_answers(case: LatencyCase, expected: list[list[int]]) -> None:
    """Every server must answer the rows' classes as the estimator in this process does."""
    import orjson

    for index, answer in case.answers.items():
        got = orjson.loads(answer)["predictions"]
        if got != expected[index]:
            raise SystemExit(f"{case.name} batch {case.batch}: body {index} answered {got[:5]}..., "
                             f"in-process {expected[index][:5]}...")


def in_process(estimator: Any, made: list[tuple[bytes, Any]], count: int, *, idle_s: float = 0.0) -> dict[str, float]:
    """``estimator.predict`` per call, back to back, or after ``idle_s`` asleep (as a server meets a request:
    after a wait, its caches cooler; on this machine 0.2 ms of sleep makes a 1-row predict ~30% slower)."""
    frames = [frame for _, frame in made]
    for frame in frames * 10:
        estimator.predict(frame)
    samples = []
    for i in range(count):
        frame = frames[i % len(frames)]
        if idle_s:
            time.sleep(idle_s)
        start = time.perf_counter()
        estimator.predict(frame)
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def health_floor(port: int, path: str, count: int) -> dict[str, float]:
    client = RawHTTP(port)
    try:
        request = client.request("GET", path)
        for _ in range(count // 5):
            client.send(request)
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            client.send(request)
            samples.append((time.perf_counter() - start) * 1000)
        return percentiles(samples)
    finally:
        client.close()


def latency(servers: dict[str, Server], made: dict[int, list[tuple[bytes, Any]]], expected: dict[int, Any],
            config: dict[str, Any]) -> dict[str, Any]:
    targets = [("modelward direct, log on", "mw_on", "/serve/direct/predict", True),
               ("modelward direct, log off", "mw_off", "/serve/direct/predict", True),
               ("modelward 50/50 split", "mw_on", "/serve/canary/predict", True),
               ("mlflow models serve", "mlflow", "/invocations", False)]
    cases = [LatencyCase(name, servers[server].port, path, batch, made[batch], routed)
             for batch in BATCHES for name, server, path, routed in targets]
    for case in cases:
        case.run(config["warmup"], keep=False)
    per_round = config["latency"] // config["rounds"]
    for round_ in range(config["rounds"]):
        for case in cases if round_ % 2 == 0 else reversed(cases):
            case.run(per_round, keep=True)
    results: dict[str, Any] = {}
    for case in cases:
        case.client.close()
        if not case.name.endswith("split"):
            check_answers(case, expected[case.batch])
        results.setdefault(f"batch_{case.batch}", {})[case.name] = {
            **percentiles(case.samples), "round_p50_ms": case.round_p50, "versions": dict(case.versions)}
    return results


# -- where the time goes, in-process ----------------------------------------------------------------------


def codec_and_app(home: Path, made: dict[int, list[tuple[bytes, Any]]], config: dict[str, Any],
                  out: Path, suffix: str) -> dict[str, Any]:
    """The gateway's codec + predict and its whole ASGI app, in this process (no socket), and a
    cProfile of the app at batch 1 (written to ``profile_batch_1.txt``)."""
    from modelward.api.gateway import Gateway, serving_app
    from modelward.formats.scoring import parse_request, render_predictions
    from modelward.services.backend import Backend
    from modelward.settings import Settings

    results: dict[str, Any] = {}
    for log_on in (True, False):
        settings = Settings(home=home, prediction_log=log_on)
        backend = Backend.from_settings(settings)
        gateway = Gateway(backend, settings)
        gateway.start(eager=True)
        app = serving_app(gateway)
        try:
            served = gateway.view("direct").models[gateway.view("direct").router.pick(None)]
            for batch in BATCHES:
                label = f"batch_{batch}"
                entry = results.setdefault(label, {})
                if log_on:
                    entry["parse_request"] = _timed(lambda b: parse_request(b, "application/json", served.signature),
                                                    made[batch], config["inprocess"])
                    entry["parse + predict + render"] = _timed(
                        lambda b: render_predictions(served.predict_checked(
                            parse_request(b, "application/json", served.signature).frame)),
                        made[batch], config["inprocess"])
                key = "ASGI app, log on" if log_on else "ASGI app, log off"
                entry[key] = asyncio.run(_drive(app, made[batch], config["inprocess"]))
            if log_on:
                profiler = cProfile.Profile()
                asyncio.run(_drive(app, made[1], config["profile"], profiler=profiler))
                text = io.StringIO()
                stats = pstats.Stats(profiler, stream=text).strip_dirs()
                stats.sort_stats("tottime").print_stats(35)
                stats.sort_stats("cumulative").print_stats(45)
                (out / f"profile_batch_1{suffix}.txt").write_text(text.getvalue())
                results["profile_shares_batch_1"] = profile_shares(stats)
        finally:
            gateway.stop()
            backend.close()
    return results


PROFILED = {  # (file, function) -> what it is, for the shares of the request path's profiled time
    ("gateway.py", "answer"): "the whole route (100%)",
    ("model_pool.py", "predict_checked"): "scikit-learn's predict (its input validation, mostly)",
    ("scoring.py", "parse_request"): "JSON decode, signature check, DataFrame (parse_request)",
    ("scoring.py", "render_predictions"): "JSON encode of the answer",
    ("gateway.py", "_request_id"): "request id (uuid4)",
    ("predictions.py", "submit"): "prediction log: queueing the record",
    ("responses.py", "__init__"): "Starlette Response",
    ("requests.py", "body"): "reading the body",
}


def profile_shares(stats: Any) -> dict[str, float]:
    """Cumulative time of the parts of the request path, as shares of the route's."""
    found: dict[str, float] = {}
    for (filename, _, function), (_, _, _, cumulative, _) in stats.stats.items():
        label = PROFILED.get((Path(filename).name, function))
        if label is not None:
            found[label] = found.get(label, 0.0) + cumulative
    total = found.get("the whole route (100%)") or 1.0
    return {label: round(value / total, 3) for label, value in found.items()}


def log_writer_cost(home: Path, estimator: Any, made: dict[int, list[tuple[bytes, Any]]]) -> dict[str, Any]:
    """CPU of the prediction log's writer per record (its Parquet part and index rows, as its
    thread writes them), for records as the gateway makes them: the checked frame and the
    predictions. Off the request path, but in the same process and under the same GIL."""
    import uuid

    from modelward.domain.predictions import PredictionRecord
    from modelward.services.backend import Backend
    from modelward.settings import Settings
    from modelward.store import predictions as store

    backend = Backend.from_settings(Settings(home=home))
    results: dict[str, Any] = {}
    try:
        for batch in BATCHES:
            frame = made[batch][0][1]
            outputs = estimator.predict(frame)

            def write(count: int) -> float:
                records = [PredictionRecord(
                    request_id=uuid.uuid4().hex, endpoint="writer-cost", model_name=MODEL, version=1, mode="live",
                    at=datetime.now(UTC), latency_ms=1.0, status=200, error=None, inputs=frame, outputs=outputs,
                    rows=batch) for _ in range(count)]
                started = time.process_time()
                part = store.new_part_name("writer-cost", records[0].at.date())
                store.write_part(backend.artifacts, part, records)
                with backend.write() as session:
                    store.insert_index(session, part, records)
                return time.process_time() - started

            write(50)
            results[f"batch_{batch}"] = {"cpu_ms_per_record": round(write(500) * 1000 / 500, 4),
                                         "records_per_batch": 500,
                                         "inputs_as_logged": store._to_json(frame)[:120]}
    finally:
        backend.close()
    return results


def _timed(call: Any, made: list[tuple[bytes, Any]], count: int) -> dict[str, float]:
    payloads = [body for body, _ in made]
    for body in payloads * 10:
        call(body)
    samples = []
    for i in range(count):
        body = payloads[i % len(payloads)]
        start = time.perf_counter()
        call(body)
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


async def _drive(app: Any, made: list[tuple[bytes, Any]], count: int, *, profiler: Any = None) -> dict[str, float]:
    """Call the ASGI app as uvicorn would, one request at a time, and time each call."""
    async def call(body: bytes) -> int:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/direct/predict", "raw_path": b"/direct/predict", "root_path": "",
                 "query_string": b"", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
                 "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                             (b"content-length", str(len(body)).encode()),
                             (b"modelward-routing-key", b"client-1")]}
        sent = {"status": 0}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]

        await app(scope, receive, send)
        return sent["status"]

    payloads = [body for body, _ in made]
    for body in payloads * 10:
        await call(body)
    samples = []
    if profiler is not None:
        profiler.enable()
    for i in range(count):
        start = time.perf_counter()
        status = await call(payloads[i % len(payloads)])
        samples.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise SystemExit(f"the in-process app answered {status}")
    if profiler is not None:
        profiler.disable()
    return percentiles(samples)


# -- throughput: the load generator ----------------------------------------------------------------------


def load_main(args: argparse.Namespace) -> None:
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(_load(args))
    else:
        result = uvloop.run(_load(args))
    print(json.dumps(result))


async def _load(args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    body = Path(args.body_file).read_bytes()
    request = (f"POST {args.path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    connections, per_worker = await _balanced_connections(args)
    warm = await _phase(connections, request, args.port, max(args.connections * 10, args.requests // 20), 10.0)
    me = psutil.Process()
    print("START", flush=True)  # the parent samples the servers' CPU between START and END
    cpu_before, started = me.cpu_times(), time.perf_counter()
    timed = await _phase(connections, request, args.port, args.requests, args.seconds)
    elapsed = time.perf_counter() - started
    cpu_after = me.cpu_times()
    print("END", flush=True)
    for _, writer in connections:
        writer.close()
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    latencies = timed.pop("latencies")
    return {"connections": args.connections, "connections_per_worker": per_worker,
            "warmup_requests": warm["completed"], **timed,
            "elapsed_s": round(elapsed, 3), "requests_per_s": round(timed["completed"] / elapsed, 1),
            "generator_cpu_s": round(cpu, 3), "generator_cpu_share_of_one_core": round(cpu / elapsed, 3),
            "latency_under_load": percentiles(latencies) if latencies else None}


async def _balanced_connections(args: argparse.Namespace) -> tuple[list[Any], list[int]]:
    """``--connections`` connections, as many to each worker as to the next.

    uvicorn's workers share one listening socket and whichever wakes first accepts, so connections
    opened from one client mostly land on one worker (a trial run measured MLflow's two workers at
    0.3 and 3.4 CPU-seconds). A connection is kept when its worker (the server process holding the
    accepted socket, found with psutil) has fewer than its share, else closed and opened again."""
    import psutil

    root = psutil.Process(args.server_pid)
    share = -(-args.connections // args.workers)
    kept: list[Any] = []
    held: Counter[int] = Counter()
    for _ in range(args.connections * 20):
        if len(kept) == args.connections:
            break
        reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        port = writer.get_extra_info("sockname")[1]
        owner = None
        for _ in range(200):  # the accept may trail the connect by a moment; a worker may still be starting
            owner = _owner_of(root, port)
            if owner is not None:
                break
            await asyncio.sleep(0.005)
        if owner is not None and held[owner] < share:
            held[owner] += 1
            kept.append((reader, writer))
        else:
            writer.close()
        await asyncio.sleep(CONNECT_GAP_S)
    if len(kept) < args.connections:
        raise SystemExit(f"could not balance {args.connections} connections over {args.workers} workers: {dict(held)}")
    return kept, sorted(held.values())


def _owner_of(root: Any, port: int) -> int | None:
    """The process under ``root`` holding the server side of our connection from ``port``."""
    import psutil

    for proc in [root, *root.children(recursive=True)]:
        try:
            if any(c.raddr and c.raddr.port == port for c in proc.net_connections(kind="tcp4")):
                return int(proc.pid)
        except psutil.Error:
            continue
    return None


async def _phase(connections: list[Any], request: bytes, port: int, total: int, seconds: float) -> dict[str, Any]:
    state = {"sent": 0, "completed": 0, "errors": 0, "statuses": Counter(), "latencies": []}
    deadline = time.perf_counter() + seconds

    async def drive(index: int) -> None:
        reader, writer = connections[index]
        while state["sent"] < total and time.perf_counter() < deadline:
            state["sent"] += 1
            start = time.perf_counter()
            try:
                writer.write(request)
                header = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in header.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                state["errors"] += 1
                state["statuses"][type(exc).__name__] += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                connections[index] = (reader, writer)
                continue
            status = int(header[9:12])
            state["statuses"][str(status)] += 1
            if status == 200:
                state["completed"] += 1
                state["latencies"].append((time.perf_counter() - start) * 1000)
            else:
                state["errors"] += 1

    await asyncio.gather(*(drive(i) for i in range(len(connections))))
    state["statuses"] = dict(state["statuses"])
    return state


def throughput(server: Server, path: str, body: bytes, config: dict[str, Any], work: Path) -> dict[str, Any]:
    body_file = work / f"body-{len(body)}.json"
    body_file.write_bytes(body)
    started = time.perf_counter()
    generator = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "load", "--port", str(server.port), "--path", path,
         "--body-file", str(body_file), "--connections", str(config["connections"]),
         "--requests", str(config["load_requests"]), "--seconds", str(config["load_seconds"]),
         "--server-pid", str(server.process.pid), "--workers", str(server.workers)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert generator.stdout is not None
    before = after = None
    lines = []
    for line in generator.stdout:
        if line.strip() == "START":
            before = server.cpu_seconds()
        elif line.strip() == "END":
            after = server.cpu_seconds()
        else:
            lines.append(line)
    errors_out = generator.stderr.read() if generator.stderr is not None else ""
    if generator.wait() != 0 or before is None or after is None:
        raise SystemExit(f"the load generator failed:\n{errors_out[-3000:]}")
    result = json.loads("".join(lines))
    per_process = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    cpu = sum(per_process.values())
    result["server_cpu_s"] = round(cpu, 2)
    result["server_cpu_share_of_two_cores"] = round(cpu / result["elapsed_s"] / 2, 3)
    result["server_cpu_s_per_process"] = sorted(round(v, 2) for v in per_process.values() if v > 0.05)
    result["server_cpu_ms_per_request"] = round(cpu * 1000 / max(result["completed"], 1), 3)
    result["generator_cpu_ms_per_request"] = round(result["generator_cpu_s"] * 1000 / max(result["completed"], 1), 3)
    result["generator_wall_s"] = round(time.perf_counter() - started, 2)  # warm-up and connection set-up included
    return result


# -- the run -------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import mlflow
    import sklearn

    load = os.getloadavg()
    return {"date_utc": datetime.now(UTC).isoformat(timespec="seconds"), "loadavg": [round(x, 2) for x in load],
            "cpus": os.cpu_count(), "python": platform.python_version(), "mlflow": mlflow.__version__,
            "sklearn": sklearn.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--quick", action="store_true", help="a small trial: few requests, short load runs")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "gateway"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary stores and server logs")
    gen = sub.add_parser("load", help="the load generator (run by the benchmark)")
    gen.add_argument("--port", type=int, required=True)
    gen.add_argument("--path", required=True)
    gen.add_argument("--body-file", required=True)
    gen.add_argument("--connections", type=int, default=16)
    gen.add_argument("--requests", type=int, default=20_000)
    gen.add_argument("--seconds", type=float, default=20.0)
    gen.add_argument("--server-pid", type=int, required=True, help="the server's first process")
    gen.add_argument("--workers", type=int, required=True)
    table = sub.add_parser("table", help="the Markdown tables of docs/performance.md from a results file")
    table.add_argument("results")
    args = parser.parse_args()
    if args.command == "load":
        load_main(args)
        return
    if args.command == "table":
        print(markdown(json.loads(Path(args.results).read_text())))
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    config = QUICK if args.quick else FULL
    suffix = "_quick" if args.quick else ""  # a trial never overwrites the measured figures
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mw-gateway-bench-"))
    report: dict[str, Any] = {"config": config, "quick": args.quick, "machine_start": machine()}
    servers: dict[str, Server] = {}
    began = time.perf_counter()
    say = lambda text: print(f"[{time.perf_counter() - began:5.0f} s] {text}", flush=True)  # noqa: E731
    try:
        say(f"preparing the stores in {work}")
        estimator, other = fit(1.0), fit(1.5)
        report["modelward_store"] = prepare_modelward(work / "modelward", estimator, other)
        mlflow = prepare_mlflow(work / "mlflow", estimator)
        report["mlflow_model_uri"] = mlflow["model_uri"]
        made = {batch: bodies(batch) for batch in BATCHES}
        expected = {batch: [estimator.predict(frame).tolist() for _, frame in made[batch]] for batch in BATCHES}

        say("in-process baseline and codec")
        report["in_process_predict"] = {f"batch_{b}": in_process(estimator, made[b], config["inprocess"])
                                        for b in BATCHES}
        report["in_process_predict_after_idle"] = {
            f"batch_{b}": in_process(estimator, made[b], config["inprocess"], idle_s=IDLE_S) for b in BATCHES}
        report["in_process_gateway"] = codec_and_app(work / "modelward", made, config, out, suffix)
        report["prediction_log_writer"] = log_writer_cost(work / "modelward", estimator, made)

        say("latency: starting one-worker servers")
        servers["mw_on"] = modelward_server("modelward-log-on", work / "modelward", 1, prediction_log=True, logs=work)
        servers["mw_off"] = modelward_server("modelward-log-off", work / "modelward", 1, prediction_log=False,
                                             logs=work)
        servers["mlflow"] = mlflow_server("mlflow-1-worker", mlflow, 1, work)
        report["machine_latency"] = machine()
        say("latency: sending")
        report["latency"] = latency(servers, made, expected, config)
        report["http_floor_get"] = {
            "modelward GET /health": health_floor(servers["mw_on"].port, "/health", config["health"]),
            "mlflow GET /ping": health_floor(servers["mlflow"].port, "/ping", config["health"])}
        for name in list(servers):
            servers.pop(name).stop()

        say("throughput: starting two-worker servers")
        loaded = {
            "modelward serve --workers 2": (modelward_server(
                "modelward-2-workers", work / "modelward", 2, prediction_log=True, logs=work), "/serve/direct/predict"),
            "modelward serve --workers 2, log off": (modelward_server(
                "modelward-2-workers-log-off", work / "modelward", 2, prediction_log=False, logs=work),
                "/serve/direct/predict"),
            "mlflow models serve -w 2": (mlflow_server("mlflow-2-workers", mlflow, 2, work), "/invocations")}
        servers.update({label: server for label, (server, _) in loaded.items()})
        report["machine_throughput"] = machine()
        report["throughput"] = {}
        for batch in BATCHES:
            runs: dict[str, list[dict[str, Any]]] = {label: [] for label in loaded}
            for repetition in range(config["load_repetitions"]):  # the servers take turns, as in the latency part
                for label, (server, path) in loaded.items():
                    say(f"  {label}, batch {batch}, run {repetition + 1}")
                    runs[label].append(throughput(server, path, made[batch][0][0], config, work))
            # The best run of each: on a shared machine the others' load only ever takes throughput away.
            report["throughput"][f"batch_{batch}"] = {
                label: {**max(done, key=lambda r: r["requests_per_s"]),
                        "all_runs_requests_per_s": [r["requests_per_s"] for r in done]}
                for label, done in runs.items()}
        for label in loaded:
            servers.pop(label).stop()
        report["machine_end"] = machine()
    finally:
        for server in servers.values():
            server.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report["summary"] = summary(report)
    name = f"gateway{suffix}.json"
    (out / name).write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"\nwritten: {out / name}")


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The targets of issue 13, item 7, judged on this run's figures."""
    figures: dict[str, Any] = {}
    for batch in BATCHES:
        key = f"batch_{batch}"
        lat, base = report["latency"][key], report["in_process_predict"][key]["p50_ms"]
        on, off = lat["modelward direct, log on"], lat["modelward direct, log off"]
        split, mlf = lat["modelward 50/50 split"], lat["mlflow models serve"]
        load = report["throughput"][key]
        mw_rps = load["modelward serve --workers 2"]["requests_per_s"]
        mlf_rps = load["mlflow models serve -w 2"]["requests_per_s"]
        mw_off_rps = load["modelward serve --workers 2, log off"]["requests_per_s"]
        noise = max(on["round_p50_ms"]) - min(on["round_p50_ms"])
        # "Measurable": every round's split p50 above every round's direct p50 (the rounds took turns).
        split_measurable = min(split["round_p50_ms"]) > max(on["round_p50_ms"])
        figures[key] = {
            "overhead_p50_ms": round(on["p50_ms"] - base, 4),
            "overhead_p50_log_off_ms": round(off["p50_ms"] - base, 4),
            "overhead_p50_vs_idle_baseline_ms": round(
                on["p50_ms"] - report["in_process_predict_after_idle"][key]["p50_ms"], 4),
            "overhead_p99_ms": round(on["p99_ms"] - report["in_process_predict"][key]["p99_ms"], 4),
            "mlflow_overhead_p50_ms": round(mlf["p50_ms"] - base, 4),
            "p50_mlflow_over_modelward": round(mlf["p50_ms"] / on["p50_ms"], 2),
            "log_on_vs_off_p50_change": round(on["p50_ms"] / off["p50_ms"] - 1, 4),
            "split_minus_direct_p50_ms": round(split["p50_ms"] - on["p50_ms"], 4),
            "direct_round_p50_spread_ms": round(noise, 4),
            "throughput_modelward_over_mlflow": round(mw_rps / mlf_rps, 2),
            "throughput_modelward_log_off_over_mlflow": round(mw_off_rps / mlf_rps, 2),
            "targets": {
                "p50 overhead < 1 ms": on["p50_ms"] - base < 1.0,
                "log on/off changes p50 by < 10%": abs(on["p50_ms"] / off["p50_ms"] - 1) < 0.10,
                "split adds no measurable latency (its round p50s not all above direct's)": not split_measurable,
                **({"throughput >= 5x MLflow": mw_rps / mlf_rps >= 5} if batch == 1 else {}),
            },
        }
    return figures


def print_table(report: dict[str, Any]) -> None:
    print(f"\nmachine: {report['machine_start']} ... load at end {report['machine_end']['loadavg']}")
    for batch in BATCHES:
        key = f"batch_{batch}"
        base = report["in_process_predict"][key]
        print(f"\n== batch of {batch} ==")
        print(f"{'latency, one kept-alive socket':38} {'p50 ms':>8} {'p99 ms':>8} {'overhead p50':>13}")
        print(f"{'in-process estimator.predict':38} {base['p50_ms']:8.3f} {base['p99_ms']:8.3f}")
        idle = report["in_process_predict_after_idle"][key]
        print(f"{'  the same, 0.2 ms asleep before each':38} {idle['p50_ms']:8.3f} {idle['p99_ms']:8.3f}")
        for name, figures in report["in_process_gateway"][key].items():
            print(f"{'in-process ' + name:38} {figures['p50_ms']:8.3f} {figures['p99_ms']:8.3f}")
        for name, figures in report["latency"][key].items():
            print(f"{name:38} {figures['p50_ms']:8.3f} {figures['p99_ms']:8.3f} "
                  f"{figures['p50_ms'] - base['p50_ms']:13.3f}   rounds {figures['round_p50_ms']}")
        print(f"{'throughput, ' + str(report['config']['connections']) + ' connections':38} {'req/s':>8} "
              f"{'errors':>8} {'gen CPU':>8} {'srv CPU':>8} {'srv ms/req':>10}")
        for name, figures in report["throughput"][key].items():
            print(f"{name:38} {figures['requests_per_s']:8.0f} {figures['errors']:8d} "
                  f"{figures['generator_cpu_share_of_one_core']:8.2f} {figures['server_cpu_share_of_two_cores']:8.2f}"
                  f" {figures['server_cpu_ms_per_request']:10.3f}   {figures['completed']} in {figures['elapsed_s']} s,"
                  f" per process {figures['server_cpu_s_per_process']}, p50 under load "
                  f"{figures['latency_under_load']['p50_ms']} ms")
        print("summary:", json.dumps(report["summary"][key], indent=1))
    print("\nprediction log writer, CPU ms per record:",
          {k: v["cpu_ms_per_record"] for k, v in report["prediction_log_writer"].items()})
    floor = report["http_floor_get"]
    print("\nHTTP floor:", {k: v["p50_ms"] for k, v in floor.items()})


def markdown(report: dict[str, Any]) -> str:
    """The latency and throughput tables, batch of 1 and of 100 side by side."""
    lat, load, summ = report["latency"], report["throughput"], report["summary"]
    keys = [f"batch_{b}" for b in BATCHES]

    def row(label: str, cell: Any) -> str:
        return f"| {label} | " + " | ".join(cell(key) for key in keys) + " |"

    def p50_p99(figures: dict[str, float]) -> str:
        return f"{figures['p50_ms']:.3f} / {figures['p99_ms']:.2f}"

    def rounds(key: str, name: str) -> str:
        values = lat[key][name]["round_p50_ms"]
        return f"{min(values):.3f}–{max(values):.3f}"

    def split_cell(key: str) -> str:
        return (f"{summ[key]['split_minus_direct_p50_ms']:+.3f} (rounds {rounds(key, 'modelward direct, log on')}"
                f" / {rounds(key, 'modelward 50/50 split')})")

    def generator_cell(key: str) -> str:
        return " / ".join(f"{f['generator_cpu_share_of_one_core']:.0%}" for f in load[key].values())

    asgi = report["in_process_gateway"]
    lines = ["| Latency, p50 / p99 ms | batch of 1 | batch of 100 |", "|---|---|---|",
             row("in-process `estimator.predict(frame)`: the baseline",
                 lambda k: p50_p99(report["in_process_predict"][k])),
             row("the same, 0.2 ms asleep before each call",
                 lambda k: p50_p99(report["in_process_predict_after_idle"][k])),
             row("in-process gateway app (ASGI, no socket), log on", lambda k: p50_p99(asgi[k]["ASGI app, log on"])),
             row("in-process gateway app, log off", lambda k: p50_p99(asgi[k]["ASGI app, log off"]))]
    for name in ("modelward direct, log on", "modelward direct, log off", "modelward 50/50 split", "mlflow models serve"):
        lines.append(row(f"**{name}**", lambda k, n=name: p50_p99(lat[k][n])))
    lines += [row("overhead p50: modelward direct (log on) − baseline", lambda k: f"{summ[k]['overhead_p50_ms']:.3f}"),
              row("overhead p50: modelward direct (log off) − baseline",
                  lambda k: f"{summ[k]['overhead_p50_log_off_ms']:.3f}"),
              row("overhead p50: MLflow − baseline", lambda k: f"{summ[k]['mlflow_overhead_p50_ms']:.3f}"),
              row("MLflow p50 ÷ modelward p50", lambda k: f"{summ[k]['p50_mlflow_over_modelward']:.1f}×"),
              row("prediction log on vs off, p50", lambda k: f"{summ[k]['log_on_vs_off_p50_change']:+.1%}"),
              row("split − direct, p50 ms (per-round p50s: direct / split)", split_cell),
              "", "| Throughput, requests/s, best run (errors; every run) | batch of 1 | batch of 100 |", "|---|---|---|"]
    names = list(load[keys[0]])
    def rate(key: str, name: str) -> str:
        figures = load[key][name]
        others = [f"{r:,.0f}" for r in figures["all_runs_requests_per_s"]]
        return f"{figures['requests_per_s']:,.0f} ({figures['errors']}; runs: {', '.join(others)})"

    for name in names:
        lines.append(row(f"**{name}**", lambda k, n=name: rate(k, n)))
    lines.append(row("modelward ÷ MLflow, log on / log off", lambda k: (
        f"{summ[k]['throughput_modelward_over_mlflow']:.2f}× / {summ[k]['throughput_modelward_log_off_over_mlflow']:.2f}×")))
    for name in names:
        lines.append(row(f"{name}: server CPU ms per request (share of the 2 cores)", lambda k, n=name: (
            f"{load[k][n]['server_cpu_ms_per_request']:.2f} ({load[k][n]['server_cpu_share_of_two_cores']:.0%})")))
    lines.append(row("load generator's CPU, share of one core (same order)", generator_cell))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
