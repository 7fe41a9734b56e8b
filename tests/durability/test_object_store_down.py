"""The object store unreachable: a server whose artifact root is on S3 (a moto server process of
the test's own, killed and started again). Uploads and downloads fail cleanly — 503 with
Retry-After and one message naming the object store, on the native and the MLflow routes, and
as ServiceUnavailable in the SDK — within a bounded time, no failed upload leaves an artifact
row, and once the store is back uploads work again."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import modelward
from modelward.errors import ServiceUnavailable
from tests.conftest import require_service
from tests.durability.harness import MotoServer, crashes_in_logs, create_experiment, download_problems, end_all
from tests.fixtures.servers import ServerProcess, start_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BUCKET = "durability-artifacts"
# Bounded waits on an unreachable store: botocore's defaults are a 60 s connect timeout and
# several attempts, each retried again by s3fs.
S3_OPTIONS = {"config_kwargs": {"connect_timeout": 2, "read_timeout": 30, "retries": {"max_attempts": 2}}}
TIMEOUT_S = 60  # a request answered later than this counts as a hang


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[MotoServer]:
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        require_service("moto server", False, f"pip install 'moto[server]' ({exc})")
    server = MotoServer(tmp_path / "moto")
    server.start(BUCKET)
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def s3_server(moto: MotoServer, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"MODELWARD_ARTIFACT_ROOT": f"s3://{BUCKET}/root", "MODELWARD_S3_ENDPOINT_URL": moto.endpoint,
           "MODELWARD_ARTIFACT_STORAGE_OPTIONS": json.dumps(S3_OPTIONS), "MODELWARD_WEBHOOKS_ENABLED": "false",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    server = start_server(tmp_path / "server", env, ready_timeout_s=240)
    try:
        yield server
    finally:
        end_all([server])


def _assert_object_store_503(answer: httpx.Response, code: str) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) >= 1
    body = answer.json()
    assert body["error_code"] == code
    assert "object store" in body["message"], body


def test_uploads_fail_cleanly_while_the_object_store_is_down(moto: MotoServer, s3_server: ServerProcess,
                                                            tmp_path: Path) -> None:
    url = s3_server.url
    experiment_id = create_experiment(url, "durability-s3")
    with httpx.Client(base_url=url, timeout=TIMEOUT_S) as http, modelward.Client(tracking_uri=url) as sdk:
        run_id = sdk.runs.create(experiment_id).id
        before = os.urandom(64 * 1024)
        sdk.artifacts.upload_bytes(run_id, "before.bin", before)
        assert sdk.artifacts.read_bytes(run_id, "before.bin") == before

        moto.kill()
        native = http.put(f"/api/v1/runs/{run_id}/artifacts/during.bin", content=b"x" * 100_000)
        _assert_object_store_503(native, "TEMPORARILY_UNAVAILABLE")
        mlflow = http.put(f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/during-mlflow.bin",
                          content=b"y" * 100_000)
        _assert_object_store_503(mlflow, "TEMPORARILY_UNAVAILABLE")
        _assert_object_store_503(http.get(f"/api/v1/runs/{run_id}/artifacts/before.bin"), "TEMPORARILY_UNAVAILABLE")
        sdk.http.retry_budget_s = 3  # the SDK retries a 503 for a while, then says why
        local = tmp_path / "during-sdk.bin"
        local.write_bytes(b"z" * 100_000)
        with pytest.raises(ServiceUnavailable, match="object store"):
            sdk.artifacts.upload(run_id, local)
        # No failed upload left a row; the metadata store still answers.
        assert [f.path for f in sdk.artifacts.list(run_id)] == ["before.bin"]
        assert http.post(f"/api/v1/runs/{run_id}/batch", json={"params": {"during": "outage"}}).status_code == 204

        moto.start(BUCKET)  # back (empty: moto keeps nothing across a restart)
        sdk.http.retry_budget_s = 30
        after = os.urandom(6 * 1024 * 1024)  # streamed and verified in chunks on the way out
        stored = sdk.artifacts.upload_bytes(run_id, "after.bin", after)
        assert stored.digest == hashlib.sha256(after).hexdigest()
        assert sdk.artifacts.read_bytes(run_id, "after.bin") == after
        mlflow_after = http.put(f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/m.bin",
                                content=b"m" * 1000)
        assert mlflow_after.status_code == 200, mlflow_after.text
        listed = {f["path"]: f for f in http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"]}
        assert sorted(listed) == ["after.bin", "before.bin", "m.bin"]
        assert not download_problems(http, run_id, listed["after.bin"]) + download_problems(http, run_id, listed["m.bin"])
    assert not crashes_in_logs([s3_server])
