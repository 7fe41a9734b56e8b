#!/usr/bin/env python3
"""Server time per tracking call, as raw HTTP, on a fresh store and on a full one.

    # a store with 100,000 runs and 10,000,000 metric points, filled through the embedded SDK
    python bench/server_calls.py populate --home /tmp/mw-full --runs 100000 --points 10000000
    # then, against any server speaking MLflow's REST API (ours or `mlflow server`):
    python bench/server_calls.py time --tracking-uri http://127.0.0.1:5056 [--calls 300] [--json-out F]

``time`` sends each request on one kept-alive socket with its body encoded once (no HTTP
library: httpx alone costs about 0.5 ms a request), reads the answer without parsing it, and reports the median and p90 in ms of
``log-metric``, ``set-tag``, ``log-parameter`` and a 1,000-point ``log-batch``, into a new run
of a new experiment (so the figures show what the store's size costs, not the run's). What
remains above the server's own time is the loopback and framing: a raw ``GET /health``
takes 0.23 ms here.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time
import uuid
from urllib.parse import urlsplit

import httpx

API = "/api/2.0/mlflow"


class RawHTTP:
    """HTTP/1.1 POSTs on one kept-alive socket, with nothing but framing on the client side:
    httpx itself costs about 0.5 ms per request here, more than the calls being measured."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.netloc
        self.sock = socket.create_connection((parts.hostname, parts.port or 80))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            data += self.sock.recv(65536)
        header, _, rest = data.partition(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
        while len(rest) < length:
            rest += self.sock.recv(65536)
        return int(lines[0].split()[1]), rest

    def close(self) -> None:
        self.sock.close()


def timed(client: RawHTTP, path: str, bodies: list[bytes]) -> dict[str, float]:
    samples = []
    for body in bodies:
        start = time.perf_counter()
        status, answer = client.post(API + path, body)
        samples.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise SystemExit(f"{path} answered {status}: {answer[:200]!r}")
    samples = samples[len(samples) // 10:]  # the first tenth warms connection and caches
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 3), "p90_ms": round(samples[int(len(samples) * 0.9)], 3)}


def time_calls(args: argparse.Namespace) -> dict[str, object]:
    with httpx.Client(base_url=args.tracking_uri, timeout=60) as client:
        experiment = client.post(API + "/experiments/create", json={"name": f"calls-{uuid.uuid4().hex[:8]}"})
        experiment.raise_for_status()
        run = client.post(API + "/runs/create", json={"experiment_id": experiment.json()["experiment_id"],
                                                       "start_time": int(time.time() * 1000)})
        run.raise_for_status()
        run_id = run.json()["run"]["info"]["run_id"]
    raw = RawHTTP(args.tracking_uri)
    try:
        n = args.calls
        now = int(time.time() * 1000)
        dumps = lambda body: json.dumps(body).encode()  # noqa: E731
        results = {
            "log_metric": timed(raw, "/runs/log-metric", [
                dumps({"run_id": run_id, "key": "loss", "value": i / n, "timestamp": now + i, "step": i}) for i in range(n)]),
            "set_tag": timed(raw, "/runs/set-tag", [
                dumps({"run_id": run_id, "key": f"tag{i}", "value": "v"}) for i in range(n)]),
            "log_param": timed(raw, "/runs/log-parameter", [
                dumps({"run_id": run_id, "key": f"param{i}", "value": "v"}) for i in range(n)]),
            "log_batch_1000": timed(raw, "/runs/log-batch", [
                dumps({"run_id": run_id, "metrics": [
                    {"key": f"m{j % 10}", "value": j / 7, "timestamp": now + i, "step": i * 100 + j // 10}
                    for j in range(1000)]})
                for i in range(max(20, n // 10))]),
        }
    finally:
        raw.close()
    return {"tracking_uri": args.tracking_uri, "calls": n, "results": results}


def populate(args: argparse.Namespace) -> None:
    """Fill a modelward store through the embedded SDK's bulk path: runs of 100 points each
    until ``--points``, spread over ``--runs`` runs (the rest of the runs get none)."""
    os.environ["MODELWARD_HOME"] = args.home
    import modelward as mw

    client = mw.Client()
    experiment = client.experiments.get_or_create("populated")
    per_run = max(1, args.points // args.runs)
    made, points, started = 0, 0, time.perf_counter()
    while made < args.runs:
        chunk = min(500, args.runs - made)
        count = min(per_run, max(0, (args.points - points) // chunk))
        specs = [{"experiment_id": experiment.id, "params": {"lr": str(i % 7), "depth": str(i % 5)},
                  "tags": {"team": f"t{i % 3}"}, "status": "FINISHED",
                  "metrics": {f"m{k}": [(i * s + k) % 97 / 97 for s in range(count // 4)] for k in range(4)}}
                 for i in range(made, made + chunk)]
        client.runs.create_many(specs)
        made += chunk
        points += chunk * (count // 4) * 4
        if made % 10_000 < chunk:
            print(f"  {made:,} runs, {points:,} points, {time.perf_counter() - started:.0f} s", flush=True)
    print(f"populated {args.home}: {made:,} runs, {points:,} points in {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fill = sub.add_parser("populate")
    fill.add_argument("--home", required=True)
    fill.add_argument("--runs", type=int, default=100_000)
    fill.add_argument("--points", type=int, default=10_000_000)
    timing = sub.add_parser("time")
    timing.add_argument("--tracking-uri", required=True)
    timing.add_argument("--calls", type=int, default=300)
    timing.add_argument("--json-out")
    args = parser.parse_args()
    if args.command == "populate":
        populate(args)
        return
    result = time_calls(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_out:
        with open(args.json_out, "w") as out:
            out.write(text + "\n")


if __name__ == "__main__":
    main()
