"""The real mlflow client through the round-robin in front of three server processes on
PostgreSQL and S3: whatever process answers, every read gives back what was written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.fixtures.cluster import Cluster, ObjectStore

mlflow = pytest.importorskip("mlflow")
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]  # three processes start on a busy machine


def test_connections_are_spread_over_the_processes_in_turn(cluster: Cluster) -> None:
    before = dict(cluster.proxy.connections)
    for _ in range(6):
        with httpx.Client(base_url=cluster.url) as fresh:  # a new connection each time
            assert fresh.get("/ready").json()["status"] == "ready"
    given = {backend: count - before.get(backend, 0) for backend, count in cluster.proxy.connections.items()}
    assert sorted(given.values()) == [2, 2, 2]


def _clients(cluster: Cluster):  # type: ignore[no-untyped-def]
    """An mlflow client on the round-robin, and one straight on each process."""
    from mlflow import MlflowClient

    urls = [cluster.url] + [server.url for server in cluster.servers]
    return [MlflowClient(tracking_uri=url, registry_uri=url) for url in urls]


def test_a_tracking_and_registry_workload_reads_back_alike_from_every_process(
        cluster: Cluster, object_store: ObjectStore, tmp_path: Path, unique: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", cluster.url)
    client, *direct = _clients(cluster)
    experiment_id = client.create_experiment(f"cluster-{unique}", tags={"team": "platform"})
    run_id = client.create_run(experiment_id, tags={"purpose": "scale-out"}).info.run_id
    client.log_param(run_id, "alpha", "0.5")
    for step in range(5):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    client.set_tag(run_id, "stage", "dev")
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"\x00\x01weights-" + unique.encode() * 500)
    client.log_artifact(run_id, str(weights), artifact_path="model")
    client.set_terminated(run_id)
    name = f"cluster-model-{unique}"
    client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id).version
    client.set_registered_model_alias(name, "champion", version)

    for reader in [client, *direct]:  # the proxy, then each process by itself
        run = reader.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.params == {"alpha": "0.5"}
        assert run.data.tags["purpose"] == "scale-out" and run.data.tags["stage"] == "dev"
        assert run.data.metrics == {"loss": pytest.approx(0.2)}
        history = reader.get_metric_history(run_id, "loss")
        assert [(m.step, m.value) for m in history] == [(s, pytest.approx(1.0 / (s + 1))) for s in range(5)]
        assert reader.get_experiment(experiment_id).tags["team"] == "platform"
        found = reader.search_runs([experiment_id], filter_string="params.alpha = '0.5'")
        assert [r.info.run_id for r in found] == [run_id]
        assert [f.path for f in reader.list_artifacts(run_id, "model")] == ["model/model.bin"]
        out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}"
        fetched = Path(reader.download_artifacts(run_id, "model/model.bin", str(out)))
        assert fetched.read_bytes() == weights.read_bytes()
        assert reader.get_model_version_by_alias(name, "champion").version == version
        assert [v.run_id for v in reader.search_model_versions(f"name = '{name}'")] == [run_id]
        assert name in [m.name for m in reader.search_registered_models(f"name = '{name}'")]

    digest = hashlib.sha256(weights.read_bytes()).hexdigest()  # blobs are stored by content: blobs/ab/cdef...
    stored = [key for key in _keys(object_store, cluster.bucket) if key.endswith(f"blobs/{digest[:2]}/{digest[2:]}")]
    assert len(stored) == 1, _keys(object_store, cluster.bucket)
    assert object_store.client().get_object(Bucket=cluster.bucket, Key=stored[0])["Body"].read() == weights.read_bytes()


def _keys(object_store: ObjectStore, bucket: str) -> list[str]:
    s3 = object_store.client()
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]
