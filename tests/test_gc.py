"""Garbage collection removes what nothing references, and nothing else."""

from __future__ import annotations

from modelward.sdk.client import Client


def test_gc_removes_blobs_freed_by_a_permanent_delete(client: Client, unique: str) -> None:
    kept_experiment = client.experiments.create(f"gc-keep-{unique}")
    doomed_experiment = client.experiments.create(f"gc-doom-{unique}")
    kept = client.runs.create(kept_experiment.id)
    doomed = client.runs.create(doomed_experiment.id)
    shared = client.artifacts.upload_bytes(kept.id, "shared.bin", b"shared bytes " + unique.encode())
    client.artifacts.upload_bytes(doomed.id, "shared.bin", b"shared bytes " + unique.encode())
    only = client.artifacts.upload_bytes(doomed.id, "only.bin", b"only here " + unique.encode())

    client.experiments.delete(doomed_experiment.id, permanent=True)
    assert only.digest not in client.gc(dry_run=True)["removed"]  # inside the grace period
    preview = client.gc(dry_run=True, grace_seconds=0)
    assert only.digest in preview["removed"] and shared.digest not in preview["removed"]
    assert client.gc(dry_run=True, grace_seconds=0)["removed"] == preview["removed"]  # dry run kept it

    report = client.gc(grace_seconds=0)
    assert only.digest in report["removed"] and report["bytes_freed"] >= len(b"only here ")
    assert client.artifacts.read_bytes(kept.id, "shared.bin").startswith(b"shared bytes")
    assert only.digest not in client.gc(grace_seconds=0)["removed"]


def test_gc_needs_the_admin_role_over_http(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from modelward.api.app import create_app
    from modelward.settings import Settings

    with TestClient(create_app(Settings(home=tmp_path, auth=True)), raise_server_exceptions=False) as http:
        assert http.post("/api/v1/gc").status_code == 401


def test_gc_removes_stray_files_no_row_knows(settings, unique: str) -> None:  # type: ignore[no-untyped-def]
    from modelward.artifacts import ArtifactStore

    with Client(settings=settings) as embedded:
        blob = ArtifactStore(settings.resolved_artifact_root).put_bytes(b"stray " + unique.encode())
        assert blob.digest not in embedded.gc()["removed"]  # younger than the grace period
        assert blob.digest in embedded.gc(grace_seconds=0)["removed"]
        assert not ArtifactStore(settings.resolved_artifact_root).exists(blob.digest)
