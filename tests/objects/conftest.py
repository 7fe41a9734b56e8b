"""One ``modelward server`` process on an s3:// root (moto's server mode), for the module.

The server runs as a real subprocess so its memory can be measured (/proc/PID/status) and the
mlflow client and the SDK reach it over loopback as they would any deployment.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.servers import ServerProcess, start_server, stop_server

MIB = 1 << 20


@dataclass
class S3Root:
    endpoint: str
    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")

    def blob_key(self, digest: str) -> str:
        return f"{self.prefix}/blobs/{digest[:2]}/{digest[2:]}"

    def keys(self, under: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}/{under}")
        return [item["Key"] for item in listing.get("Contents", [])]

    def corrupt(self, digest: str) -> None:
        """Flip one byte of the stored blob in place, keeping its size."""
        s3 = self.client()
        data = bytearray(s3.get_object(Bucket=self.bucket, Key=self.blob_key(digest))["Body"].read())
        data[len(data) // 2] ^= 0xFF
        s3.put_object(Bucket=self.bucket, Key=self.blob_key(digest), Body=bytes(data))

    def storage_options(self) -> dict[str, object]:
        return {"key": "testing", "secret": "testing",
                "client_kwargs": {"endpoint_url": self.endpoint, "region_name": "us-east-1"}}


@pytest.fixture(scope="module")
def s3_root(s3_server: tuple[str, str]) -> S3Root:
    endpoint, bucket = s3_server
    return S3Root(endpoint, bucket, f"objects-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def s3_modelward(s3_root: S3Root, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``modelward server`` on the s3:// root, with direct transfer offered."""
    env = {
        "MODELWARD_ARTIFACT_ROOT": s3_root.uri,
        "MODELWARD_S3_ENDPOINT_URL": s3_root.endpoint,
        "MODELWARD_S3_REGION": "us-east-1",
        "MODELWARD_ARTIFACT_DIRECT_TRANSFER": "true",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    }
    server = start_server(tmp_path_factory.mktemp("s3-server"), env)
    yield server
    stop_server(server)


def random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``; their SHA-256."""
    hasher = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            block = os.urandom(min(MIB, left))
            hasher.update(block)
            out.write(block)
            left -= len(block)
    return hasher.hexdigest()


def file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(MIB):
            yield chunk


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no {field}")


class PeakRss:
    """How far a process's resident memory rose above where it stood when this started."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak (VmHWM) restarts from now
        self.before = rss_kib(pid, "VmRSS")

    def growth_bytes(self) -> int:
        return (rss_kib(self.pid, "VmHWM") - self.before) * 1024
