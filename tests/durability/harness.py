"""What the durability tests share: writer processes, the check of every acknowledged write,
latency figures, and the real services a test starts and breaks itself (server processes, a
throw-away PostgreSQL cluster, a moto S3 server). Everything is on loopback, every wait is
bounded, and every process started here is ended by the caller's ``finally``."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.servers import ServerProcess, free_port, start_server

REPO = Path(__file__).resolve().parents[2]
WORKLOAD = Path(__file__).with_name("workload.py")
DEFAULT_SECONDS = 60.0


def load_seconds() -> float:
    """How long a load run lasts: MODELWARD_DURABILITY_SECONDS (the issue asks 60 s; shorter
    while developing)."""
    return float(os.environ.get("MODELWARD_DURABILITY_SECONDS", DEFAULT_SECONDS))


# Bounded retries of the real mlflow client (its defaults: 7 retries, back-off factor 2, 120 s
# per request): it honours the server's Retry-After on 503, and backs off on refused connections
# while a killed server restarts.
MLFLOW_CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "10",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


# -- servers -------------------------------------------------------------------------------


def server_env(database_url: str | None, artifact_root: Path | str, shared: Path, **extra: str) -> dict[str, str]:
    """The environment of one process of a deployment: the same database, artifact root and
    audit signing key for every process."""
    env = {"MODELWARD_ARTIFACT_ROOT": str(artifact_root),
           "MODELWARD_AUDIT_SIGNING_KEY": str(shared / "audit-signing-key.pem"),
           "MODELWARD_WEBHOOKS_ENABLED": "false", **extra}
    if database_url:
        env["MODELWARD_DATABASE_URL"] = database_url
    return env


def start_servers(base: Path, count: int, env: dict[str, str]) -> list[ServerProcess]:
    return [start_server(base / f"server-{i}", env, ready_timeout_s=240) for i in range(count)]


def port_of(server: ServerProcess) -> int:
    return int(server.url.rsplit(":", 1)[1])


def kill_9(server: ServerProcess) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=30)


def restart(servers: list[ServerProcess], env: dict[str, str]) -> list[ServerProcess]:
    """New processes on the killed ones' ports and homes (the clients keep their URLs), started
    side by side. The wait is generous: the other processes and the writers keep the machine busy."""
    with ThreadPoolExecutor(len(servers)) as pool:
        futures = [pool.submit(start_server, old.home, env, port=port_of(old), ready_timeout_s=240) for old in servers]
    failed = [future.exception() for future in futures if future.exception() is not None]
    if failed:  # none may outlive the test: end those that did start
        end_all([future.result() for future in futures if future.exception() is None])
        raise failed[0]
    return [future.result() for future in futures]


def end_all(servers: Iterable[ServerProcess]) -> None:
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass


def crashes_in_logs(servers: Iterable[ServerProcess]) -> list[str]:
    """Lines of unexpected crashes (answered 500) in the servers' logs."""
    found = []
    for server in servers:
        found += [line for line in server.log().splitlines() if " crashed" in line or "INTERNAL_ERROR" in line]
    return found


def create_experiment(url: str, name: str) -> str:
    with httpx.Client(base_url=url, timeout=60) as http:
        answer = http.post("/api/v1/experiments", json={"name": name})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])


# -- writers -------------------------------------------------------------------------------


@dataclass
class Workload:
    """``mlflow_writers`` + ``sdk_writers`` writer processes spread over ``urls``."""

    folder: Path
    urls: list[str]
    experiment_id: str
    mlflow_writers: int = 8
    sdk_writers: int = 8
    seconds: float = 60.0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        kinds = ["mlflow"] * self.mlflow_writers + ["sdk"] * self.sdk_writers
        env = {**os.environ, **MLFLOW_CLIENT_ENV, "PYTHONPATH": str(REPO / "src")}
        for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_URI"):
            env.pop(name, None)
        for i, client in enumerate(kinds):
            name = f"{client}-{i}"
            spec = {"client": client, "url": self.urls[i % len(self.urls)], "experiment_id": self.experiment_id,
                    "folder": str(self.folder), "name": name, "seconds": self.seconds,
                    "max_seconds": self.seconds + 300}
            spec_path = self.folder / f"spec-{name}.json"
            spec_path.write_text(json.dumps(spec))
            log = open(self.folder / f"writer-{name}.log", "wb")
            self.processes.append(subprocess.Popen([sys.executable, str(WORKLOAD), str(spec_path)], env=env,
                                                   stdout=log, stderr=subprocess.STDOUT, cwd=self.folder))
            log.close()

    def go(self, ready_timeout: float = 300) -> None:
        """Wait until every writer has imported its client, then let them all start."""
        deadline = time.monotonic() + ready_timeout
        while len(list(self.folder.glob("ready-*"))) < len(self.processes):
            self._check_alive()
            assert time.monotonic() < deadline, "writers did not get ready in time"
            time.sleep(0.1)
        (self.folder / "go").touch()

    def stop(self) -> None:
        (self.folder / "stop").touch()

    def wait(self, timeout: float) -> None:
        """Wait for every writer to end by itself (bounded), then check they all ended well."""
        deadline = time.monotonic() + timeout
        for process in self.processes:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
        failed = [(p.args, p.returncode) for p in self.processes if p.returncode != 0]
        assert not failed, f"writer processes failed: {failed}\n{self.logs()}"

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)

    def _check_alive(self) -> None:
        dead = [p for p in self.processes if p.poll() is not None]
        assert not dead, f"a writer exited early:\n{self.logs()}"

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
                         for path in sorted(self.folder.glob("writer-*.log")))

    def acks(self) -> list[dict[str, Any]]:
        records = []
        for path in sorted(self.folder.glob("acks-*.jsonl")):
            if path.name.startswith("acks-warmup-"):
                continue
            for line in path.read_text().splitlines():
                if line.strip():  # a writer killed mid-line would leave half a line: not acknowledged
                    try:
                        records.append({**json.loads(line), "writer": path.stem.removeprefix("acks-")})
                    except json.JSONDecodeError:
                        pass
        return records

    def errors(self) -> list[dict[str, Any]]:
        return [record for record in self.acks() if record["op"] == "error"]

    def latencies(self) -> dict[str, list[float]]:
        merged: dict[str, list[float]] = defaultdict(list)
        for path in self.folder.glob("latency-*.json"):
            for kind, values in json.loads(path.read_text()).items():
                merged[kind] += values
        return dict(merged)


def latency_table(latencies: dict[str, list[float]], seconds: float) -> str:
    """One line per call kind: count, calls per second, p50 and p99 in milliseconds."""
    lines = [f"{'call':<22} {'count':>7} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8}"]
    for kind in sorted(latencies):
        values = sorted(latencies[kind])
        p50 = statistics.median(values)
        p99 = values[min(len(values) - 1, int(round(0.99 * (len(values) - 1))))]
        lines.append(f"{kind:<22} {len(values):>7} {len(values) / seconds:>7.1f} {p50:>8.1f} {p99:>8.1f}")
    total = sum(len(v) for v in latencies.values())
    lines.append(f"{'all calls':<22} {total:>7} {total / seconds:>7.1f}")
    return "\n".join(lines)


# -- checking the store --------------------------------------------------------------------


def missing_acknowledged(url: str, acks: list[dict[str, Any]]) -> list[str]:
    """Every acknowledged write that the store does not hold (read back through the API)."""
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in acks:
        if record["op"] != "error":
            by_run[record["run"]].append(record)
    with httpx.Client(base_url=url, timeout=120) as http, ThreadPoolExecutor(4) as pool:
        problems = pool.map(lambda item: _missing_in_run(http, *item), by_run.items())
        return [problem for found in problems for problem in found]


def _missing_in_run(http: httpx.Client, run_id: str, records: list[dict[str, Any]]) -> list[str]:
    answer = http.get(f"/api/v1/runs/{run_id}")
    if answer.status_code != 200:
        return [f"run {run_id}: {answer.status_code} {answer.text[:200]}"]
    run = answer.json()
    problems = []
    histories: dict[str, set[tuple[int, float]]] = {}
    artifacts = None
    for record in records:
        op, key = record["op"], record.get("key")
        if op == "param" and run["params"].get(key) != record["value"]:
            problems.append(f"run {run_id}: param {key} is {run['params'].get(key)!r}, {record['value']!r} acknowledged")
        elif op == "tag" and run["tags"].get(key) != record["value"]:
            problems.append(f"run {run_id}: tag {key} is {run['tags'].get(key)!r}, {record['value']!r} acknowledged")
        elif op == "metric":
            if key not in histories:
                points = http.get(f"/api/v1/runs/{run_id}/metrics/{key}").json()["metrics"]
                histories[key] = {(p["step"], round(float(p["value"]), 9)) for p in points}
            if (record["step"], round(record["value"], 9)) not in histories[key]:
                problems.append(f"run {run_id}: metric {key} step {record['step']} = {record['value']} missing")
        elif op == "artifact":
            if artifacts is None:
                artifacts = {f["path"]: f for f in http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"]}
            stored = artifacts.get(record["path"])
            if stored is None or stored["digest"] != record["sha256"]:
                problems.append(f"run {run_id}: artifact {record['path']} is {stored}, {record['sha256']} acknowledged")
            else:
                problems += download_problems(http, run_id, stored)
    return problems


def download_problems(http: httpx.Client, run_id: str, stored: dict[str, Any]) -> list[str]:
    """A download of one listed artifact must come whole and hash to its recorded digest."""
    hasher, size = hashlib.sha256(), 0
    try:
        with http.stream("GET", f"/api/v1/runs/{run_id}/artifacts/{stored['path']}") as response:
            if response.status_code != 200:
                response.read()
                return [f"run {run_id}: download of {stored['path']} answered {response.status_code} {response.text[:200]}"]
            for chunk in response.iter_bytes():
                hasher.update(chunk)
                size += len(chunk)
    except httpx.HTTPError as exc:
        return [f"run {run_id}: download of {stored['path']} broke off: {exc}"]
    if hasher.hexdigest() != stored["digest"] or size != stored["size"]:
        return [f"run {run_id}: {stored['path']} downloads as {size} bytes hashing to {hasher.hexdigest()}, "
                f"recorded {stored['size']} bytes {stored['digest']}"]
    return []


def every_artifact_problems(url: str, experiment_id: str) -> tuple[int, list[str]]:
    """Every artifact row of every run of the experiment, downloaded and verified: no row may
    name a missing or partial blob. (The number of artifacts checked, the problems.)"""
    with httpx.Client(base_url=url, timeout=120) as http:
        run_ids, token = [], None
        for _ in range(1000):  # pages of 1000 runs; bounded
            body = {"experiment_ids": [experiment_id], "max_results": 1000, "page_token": token}
            page = http.post("/api/v1/runs/search", json=body).json()
            run_ids += [run["id"] for run in page["runs"]]
            token = page.get("next_page_token")
            if not token:
                break
        listed = [(run_id, stored) for run_id in run_ids
                  for stored in http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"]]
        with ThreadPoolExecutor(4) as pool:
            found = pool.map(lambda item: download_problems(http, *item), listed)
            return len(listed), [problem for problems in found for problem in problems]


def audit_verifies(url: str, home: Path) -> subprocess.CompletedProcess[str]:
    """``modelward audit verify`` against the server: exit 0 when the chain holds."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MODELWARD_TRACKING_URI": url, "MODELWARD_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "modelward", "audit", "verify"], env=env, cwd=home,
                          capture_output=True, text=True, timeout=300)


# -- a throw-away PostgreSQL cluster and a moto S3 server -----------------------------------


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own (scripts/start-postgres.sh with its own folder and port),
    which a test may restart without disturbing the shared one of the other tests."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
        self.url = ""

    def _as_postgres(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)

    def start(self) -> str:
        env = {**os.environ, "MODELWARD_PG_DIR": str(self.folder), "MODELWARD_PG_PORT": str(self.port)}
        done = subprocess.run(["bash", str(REPO / "scripts" / "start-postgres.sh")], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        self.url = done.stdout.strip().splitlines()[-1]
        return self.url

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        command = self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.folder), "-w", *args)
        # The server it starts keeps its standard output: a file, never a pipe we would wait on.
        with open(self.folder.with_name(self.folder.name + ".pg_ctl.log"), "ab") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, cwd="/")
        assert done.returncode == 0, f"pg_ctl {args} failed with {done.returncode}"

    def restart_fast(self) -> None:
        self.pg_ctl("restart", "-m", "fast", "-l", str(self.folder / "server.log"))

    def stop_fast(self) -> None:
        self.pg_ctl("stop", "-m", "fast")

    def destroy(self) -> None:
        subprocess.run(self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.folder), "-w", "stop", "-m",
                                         "immediate"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60, cwd="/")
        subprocess.run(["rm", "-rf", str(self.folder), self.folder.with_name(self.folder.name + ".pg_ctl.log")],
                       timeout=60)


def available_postgres_binaries() -> bool:
    return any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


class MotoServer:
    """``python -m moto.server`` as a process of its own, so a test can kill it (the object store
    gone) and start it again on the same port (moto keeps no data across a restart: the test
    creates the bucket again)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, bucket: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "moto.log", "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        import boto3

        s3 = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
        deadline = time.monotonic() + 60
        while True:
            try:
                s3.create_bucket(Bucket=bucket)
                return
            except Exception:
                assert self.process.poll() is None, (self.folder / "moto.log").read_text()
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.2)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


__all__ = ["ServerProcess"]
