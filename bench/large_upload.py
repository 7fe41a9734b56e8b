#!/usr/bin/env python3
"""A large artifact through ``modelward server``: the server's peak memory and the throughput.

    python bench/large_upload.py [--size-mb 1024] [--roots s3,local] [--paths native,mlflow,direct]
                                 [--workdir /tmp/mw-large] [--json-out F] [--s3-part-mb N]

For each artifact root (``s3``: a bucket on a moto server, ``python -m moto.server``, started
here on loopback; ``local``: a folder) one ``modelward server`` process is started, and one file
of ``--size-mb`` random MiB goes through it by each path:

- ``native``: ``PUT /api/v1/runs/{id}/artifacts/{path}`` streamed by httpx, then a streamed GET;
- ``mlflow``: the mlflow client's ``log_artifact`` and ``download_artifacts`` through
  ``mlflow-artifacts`` (the artifact proxy);
- ``direct`` (s3 only): modelward's SDK with ``artifact_direct_transfer`` on (the bytes go to
  the object store by presigned URLs; the server hashes the staged object once on "complete").

Before each transfer the server's peak RSS (``VmHWM`` in /proc/PID/status) is reset (writing 5 to
/proc/PID/clear_refs); after it, the peak growth over the RSS before is reported, with MiB/s of
the whole transfer (upload: until the server answered; download: until the last byte was
hashed). Every download is checked against the file's SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

MIB = 1 << 20
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not come up at {url}")


def start_moto(workdir: Path) -> tuple[subprocess.Popen, str, str]:
    port = free_port()
    log = open(workdir / "moto.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **CREDENTIALS})
    endpoint = f"http://127.0.0.1:{port}"
    wait_until_up(endpoint, process, "moto server")
    import boto3

    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint, **_boto_credentials()).create_bucket(Bucket=bucket)
    return process, endpoint, bucket


def _boto_credentials() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def start_modelward(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "server.log", "wb")
    full_env = {**os.environ, "MODELWARD_HOME": str(home), **env}
    full_env.pop("MODELWARD_TRACKING_URI", None)
    process = subprocess.Popen([sys.executable, "-m", "modelward", "server", "--port", str(port)],
                               env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=home)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/ready", process, "modelward server")
    return process, url


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


class PeakMeter:
    """The growth of a process's peak RSS over its RSS when the meter started."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        except OSError:
            pass  # not allowed here: VmHWM then still holds the peak since start
        self.before = rss_kib(pid, "VmRSS")
        self.started = time.perf_counter()

    def stop(self, size: int) -> dict[str, float]:
        seconds = time.perf_counter() - self.started
        peak = rss_kib(self.pid, "VmHWM")
        return {"seconds": round(seconds, 2), "mib_per_s": round(size / MIB / seconds, 1),
                "rss_before_mib": round(self.before / 1024, 1), "peak_growth_mib": round((peak - self.before) / 1024, 1)}


def make_file(path: Path, size: int) -> str:
    hasher = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(size // MIB):
            block = os.urandom(MIB)
            hasher.update(block)
            out.write(block)
    return hasher.hexdigest()


def file_chunks(path: Path):
    with open(path, "rb") as handle:
        while chunk := handle.read(MIB):
            yield chunk


def sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    for chunk in file_chunks(path):
        hasher.update(chunk)
    return hasher.hexdigest()


def bench_native(url: str, pid: int, source: Path, digest: str) -> dict[str, dict[str, float]]:
    size = source.stat().st_size
    with httpx.Client(base_url=url, timeout=None) as http:
        experiment = http.post("/api/v1/experiments", json={"name": f"native-{uuid.uuid4().hex[:6]}"}).json()
        run = http.post("/api/v1/runs", json={"experiment_id": experiment["id"]}).json()
        meter = PeakMeter(pid)
        answer = http.put(f"/api/v1/runs/{run['id']}/artifacts/big.bin", content=file_chunks(source))
        answer.raise_for_status()
        upload = meter.stop(size)
        assert answer.json()["digest"] == digest, answer.text
        meter, hasher = PeakMeter(pid), hashlib.sha256()
        with http.stream("GET", f"/api/v1/runs/{run['id']}/artifacts/big.bin") as response:
            response.raise_for_status()
            for chunk in response.iter_bytes(MIB):
                hasher.update(chunk)
        download = meter.stop(size)
        assert hasher.hexdigest() == digest, "the native download differs"
    return {"upload": upload, "download": download}


def bench_mlflow(url: str, pid: int, source: Path, digest: str, workdir: Path) -> dict[str, dict[str, float]]:
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "1800")  # the answer comes once the store has the file
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a retried 1 GiB PUT would be measured twice
    size = source.stat().st_size
    client = MlflowClient(tracking_uri=url)
    run = client.create_run(client.create_experiment(f"mlflow-{uuid.uuid4().hex[:6]}"))
    meter = PeakMeter(pid)
    client.log_artifact(run.info.run_id, str(source))
    upload = meter.stop(size)
    target = workdir / f"mlflow-download-{uuid.uuid4().hex[:6]}"
    target.mkdir()
    meter = PeakMeter(pid)
    downloaded = client.download_artifacts(run.info.run_id, source.name, str(target))
    assert sha256_of(Path(downloaded)) == digest, "the mlflow download differs"
    download = meter.stop(size)
    shutil.rmtree(target)
    return {"upload": upload, "download": download}


def bench_direct(url: str, pid: int, source: Path, digest: str, workdir: Path) -> dict[str, dict[str, float]]:
    from modelward.sdk.client import Client

    size = source.stat().st_size
    with Client(url) as client:
        run = client.runs.create(client.experiments.create(f"direct-{uuid.uuid4().hex[:6]}").id)
        meter = PeakMeter(pid)
        stored = client.artifacts.upload_file(run.id, source, "big.bin")
        upload = meter.stop(size)
        assert stored.digest == digest, stored
        meter = PeakMeter(pid)
        target = client.artifacts.download_file(run.id, "big.bin", workdir / "direct-download.bin")
        download = meter.stop(size)
        assert sha256_of(target) == digest, "the direct download differs"
        target.unlink()
    return {"upload": upload, "download": download}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--roots", default="s3,local")
    parser.add_argument("--paths", default="native,mlflow,direct")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--s3-part-mb", type=int, default=None,
                        help="default_block_size of the s3:// root (default: modelward's, 8 MiB)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mw-large-"))
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "big.bin"
    size = args.size_mb * MIB
    if not source.exists() or source.stat().st_size != size:
        digest = make_file(source, size)
    else:
        digest = sha256_of(source)
    results: dict[str, object] = {"size_mib": args.size_mb}
    moto = None
    try:
        for root in args.roots.split(","):
            env = {"MODELWARD_MAX_REQUEST_BYTES": os.environ.get("MODELWARD_MAX_REQUEST_BYTES", str(64 * MIB))}
            if root == "s3":
                moto, endpoint, bucket = start_moto(workdir)
                env.update(CREDENTIALS, MODELWARD_S3_ENDPOINT_URL=endpoint, MODELWARD_S3_REGION="us-east-1")
                # moto assembles a multipart upload in Python, which takes minutes for 1 GiB on a
                # loaded machine: longer than botocore's 60 s read timeout, whose retry then races it.
                options: dict[str, object] = {"config_kwargs": {"read_timeout": 900}}
                if args.s3_part_mb:
                    options["default_block_size"] = args.s3_part_mb * MIB
                env["MODELWARD_ARTIFACT_STORAGE_OPTIONS"] = json.dumps(options)
            for path in args.paths.split(","):
                if path == "direct" and root != "s3":
                    continue
                if root == "s3":
                    env.update(MODELWARD_ARTIFACT_ROOT=f"s3://{bucket}/{path}",
                               MODELWARD_ARTIFACT_DIRECT_TRANSFER=str(path == "direct").lower())
                home = workdir / f"home-{root}-{path}"
                shutil.rmtree(home, ignore_errors=True)
                server, url = start_modelward(home, env)
                try:
                    if path == "native":
                        figures = bench_native(url, server.pid, source, digest)
                    elif path == "mlflow":
                        figures = bench_mlflow(url, server.pid, source, digest, workdir)
                    else:
                        figures = bench_direct(url, server.pid, source, digest, workdir)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                results[f"{root}/{path}"] = figures
                print(f"{root:5} {path:6} " + "  ".join(
                    f"{step}: {f['mib_per_s']:7.1f} MiB/s, peak RSS +{f['peak_growth_mib']:6.1f} MiB "
                    f"(from {f['rss_before_mib']:.0f})" for step, f in figures.items()), flush=True)
            if moto is not None:
                moto.terminate()
                moto.wait(timeout=30)
                moto = None
    finally:
        if moto is not None:
            moto.terminate()
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
