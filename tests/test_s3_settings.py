"""An s3:// artifact root configured only through modelward's settings, against moto's server mode.

The session's moto fixture exports AWS_* credentials; these tests remove them, so the store can
reach the bucket only through what modelward.toml, ``MODELWARD_ARTIFACT_STORAGE_OPTIONS``,
``MODELWARD_S3_ENDPOINT_URL`` and ``MODELWARD_S3_REGION`` say.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from modelward.artifacts import VERIFY_WHOLE_BYTES
from modelward.errors import IntegrityError, ModelwardError
from modelward.sdk.client import Client
from modelward.settings import Settings
from tests.fixtures.servers import start_server, stop_server

AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
                 "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE")
LARGE = VERIFY_WHOLE_BYTES + (1 << 20) + 3


@dataclass
class Bucket:
    endpoint: str
    name: str
    prefix: str

    @property
    def root(self) -> str:
        return f"s3://{self.name}/{self.prefix}"

    def s3(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")

    def blob_key(self, digest: str) -> str:
        return f"{self.prefix}/blobs/{digest[:2]}/{digest[2:]}"

    def corrupt(self, digest: str) -> None:
        s3 = self.s3()
        data = bytearray(s3.get_object(Bucket=self.name, Key=self.blob_key(digest))["Body"].read())
        data[len(data) // 2] ^= 0xFF
        s3.put_object(Bucket=self.name, Key=self.blob_key(digest), Body=bytes(data))


@pytest.fixture
def bucket(s3_server: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> Bucket:
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)  # no ~/.aws either
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # nor an instance role
    endpoint, name = s3_server
    return Bucket(endpoint, name, f"store-{uuid.uuid4().hex[:8]}")


def test_the_settings_fold_endpoint_and_region_into_the_s3_options(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "modelward.toml").write_text(
        'artifact_root = "s3://bucket/root"\n'
        "[artifact_storage_options]\n"
        'key = "k"\nsecret = "s"\nendpoint_url = "http://from-the-table"\n'
        "client_kwargs = { verify = false }\n"
    )
    assert Settings().resolved_artifact_storage_options == {
        "key": "k", "secret": "s", "endpoint_url": "http://from-the-table", "client_kwargs": {"verify": False},
    }
    monkeypatch.setenv("MODELWARD_S3_ENDPOINT_URL", "http://from-the-environment:9000")
    monkeypatch.setenv("MODELWARD_S3_REGION", "eu-central-1")
    assert Settings().resolved_artifact_storage_options == {
        "key": "k", "secret": "s",
        "client_kwargs": {"verify": False, "endpoint_url": "http://from-the-environment:9000",
                          "region_name": "eu-central-1"},
    }
    monkeypatch.setenv("MODELWARD_ARTIFACT_STORAGE_OPTIONS", '{"secret": "from-env", "anon": true}')
    merged = Settings().artifact_storage_options  # key by key, the environment wins over the file
    assert merged["secret"] == "from-env" and merged["anon"] is True and merged["key"] == "k"


def test_s3_settings_leave_a_local_root_alone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MODELWARD_S3_ENDPOINT_URL", "http://minio:9000")
    assert Settings().resolved_artifact_storage_options == {}


@pytest.fixture
def configured(bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """An embedded client whose store reaches the bucket through modelward.toml and MODELWARD_* only."""
    (tmp_path / "modelward.toml").write_text(
        f'artifact_root = "{bucket.root}"\n[artifact_storage_options]\nkey = "testing"\nsecret = "testing"\n'
    )
    monkeypatch.setenv("MODELWARD_S3_ENDPOINT_URL", bucket.endpoint)
    monkeypatch.setenv("MODELWARD_S3_REGION", "us-east-1")
    with Client() as client:
        yield client


def test_an_artifact_logged_to_s3_through_the_settings_reads_back(configured: Client, bucket: Bucket, tmp_path):
    run = configured.runs.create(configured.experiments.create("s3").id)
    data = os.urandom(LARGE)
    stored = configured.artifacts.upload_bytes(run.id, "model/weights.bin", data)
    listing = bucket.s3().list_objects_v2(Bucket=bucket.name, Prefix=f"{bucket.prefix}/blobs/")
    assert [item["Key"] for item in listing["Contents"]] == [bucket.blob_key(stored.digest)]
    assert configured.artifacts.read_bytes(run.id, "model/weights.bin") == data
    target = configured.artifacts.download(run.id, "model/weights.bin", tmp_path / "out")
    assert target.read_bytes() == data
    assert not (tmp_path / ".modelward" / "artifacts" / "blobs").exists() or \
        not any((tmp_path / ".modelward" / "artifacts" / "blobs").iterdir())


def test_without_the_settings_the_bucket_is_not_reached(bucket: Bucket, tmp_path: Path):
    """Proves the test above used the settings: without them the same root cannot be written."""
    settings = Settings(home=tmp_path / "store", artifact_root=bucket.root)
    with Client(settings=settings) as client:
        run = client.runs.create(client.experiments.create("s3-unconfigured").id)
        with pytest.raises(ModelwardError) as raised:
            client.artifacts.upload_bytes(run.id, "x.bin", b"x")
    assert not isinstance(raised.value, IntegrityError)  # refused by S3 (no credentials), not by a check


@pytest.mark.parametrize("size", [1000, LARGE], ids=["small", "large"])
def test_a_corrupted_s3_blob_is_refused(configured: Client, bucket: Bucket, tmp_path: Path, size: int):
    run = configured.runs.create(configured.experiments.create(f"s3-corrupt-{size}").id)
    stored = configured.artifacts.upload_bytes(run.id, "weights.bin", os.urandom(size))
    bucket.corrupt(stored.digest)
    with pytest.raises(IntegrityError):
        configured.artifacts.read_bytes(run.id, "weights.bin")
    with pytest.raises(IntegrityError):
        configured.artifacts.download(run.id, "weights.bin", tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_server_on_s3_configured_by_environment_serves_and_guards_artifacts(bucket: Bucket, tmp_path: Path):
    env = {
        "MODELWARD_ARTIFACT_ROOT": bucket.root,
        "MODELWARD_ARTIFACT_STORAGE_OPTIONS": json.dumps({"key": "testing", "secret": "testing"}),
        "MODELWARD_S3_ENDPOINT_URL": bucket.endpoint,
        "MODELWARD_S3_REGION": "us-east-1",
    }
    server = start_server(tmp_path / "server", env=env)
    try:
        with Client(server.url) as client:
            run = client.runs.create(client.experiments.create("s3-server").id)
            good, bad = os.urandom(2000), os.urandom(LARGE)
            client.artifacts.upload_bytes(run.id, "good.bin", good)
            corrupted = client.artifacts.upload_bytes(run.id, "bad.bin", bad)
            assert client.artifacts.read_bytes(run.id, "good.bin") == good
            bucket.corrupt(corrupted.digest)
            url = f"{server.url}/api/v1/runs/{run.id}/artifacts/bad.bin"
            received = 0
            with httpx.stream("GET", url) as answer, pytest.raises(httpx.RemoteProtocolError):
                for chunk in answer.iter_bytes():
                    received += len(chunk)
            assert received < LARGE
            with pytest.raises(IntegrityError):
                client.artifacts.read_bytes(run.id, "bad.bin")
    finally:
        stop_server(server)
