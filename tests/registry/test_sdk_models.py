"""client.models end to end: embedded (SQLite, PostgreSQL) and remote (a real server)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelward.errors import IntegrityError, InvalidInput, NotFound


def _model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {sklearn: {}}\n")
    (folder / "sub" / "weights.bin").write_bytes(b"\x00\x01weights")
    (folder / "requirements.txt").write_text("scikit-learn==1.4.0\n")
    return folder


def test_register_local_folder_download_and_resolve(client, unique, tmp_path):
    name = f"sdk-{unique}"
    version = client.models.register(name, local_path=_model_folder(tmp_path), description="local", tags={"k": "v"})
    assert (version.version, version.source, version.flavor) == (1, "upload", "sklearn")
    assert sorted(f.path for f in version.files) == ["MLmodel", "requirements.txt", "sub/weights.bin"]
    out = client.models.download(name, 1, tmp_path / "out")
    assert (out / "sub" / "weights.bin").read_bytes() == b"\x00\x01weights"
    client.models.set_alias(name, "champion", 1, reason="first")
    assert client.models.resolve(f"models:/{name}@champion").version.version == 1
    assert client.models.resolve(f"models:/{name}/1").version.artifact_digest == version.artifact_digest
    assert client.models.resolve(f"models:/{name}/latest").version.version == 1
    resolved = client.models.resolve(f"runs:/{version.source_run_id}/model")
    assert sorted(f.path for f in resolved.files) == sorted(f.path for f in version.files)
    with pytest.raises(InvalidInput):
        client.models.resolve("s3://bucket/model")


def test_register_single_local_file(client, unique, tmp_path):
    weights = tmp_path / "clf.onnx"
    weights.write_bytes(b"onnx")
    version = client.models.register(f"one-{unique}", local_path=weights)
    assert [f.path for f in version.files] == ["clf.onnx"]


def test_register_from_run_alias_history_and_compare(client, unique):
    exp = client.experiments.create(f"exp-{unique}")
    run_ids = []
    for acc in (0.8, 0.9):
        run = client.runs.create(exp.id)
        client.runs.log_batch(run.id, params={"lr": "0.1"})
        client.runs.log_metric(run.id, "acc", acc)
        client.artifacts.upload_bytes(run.id, "model/model.bin", f"w{acc}".encode())
        run_ids.append(run.id)
    name = f"reg-{unique}"
    for run_id in run_ids:
        client.models.register(name, run_id=run_id)
    assert [v.version for v in client.models.versions(name)] == [2, 1]
    before = datetime.now(UTC)
    client.models.set_alias(name, "champion", 1)
    between = datetime.now(UTC)
    client.models.set_alias(name, "champion", 2, reason="better")
    assert client.models.get_by_alias(name, "champion").version == 2
    assert client.models.get_by_alias(name, "champion", as_of=between).version == 1
    with pytest.raises(NotFound):
        client.models.get_by_alias(name, "champion", as_of=before)
    assert [e.version for e in client.models.alias_history(name, "champion")] == [1, 2]
    comparison = client.models.compare(name, [1, 2])
    assert comparison.metrics["acc"] == {"1": 0.8, "2": 0.9}
    frame = comparison.to_frame()
    assert list(frame.columns) == ["1", "2"] and frame.loc["metrics.acc", "2"] == 0.9
    with pytest.raises(NotFound, match="no artifact at 'missing'"):
        client.models.register(name, run_id=run_ids[0], artifact_path="missing")
    with pytest.raises(InvalidInput, match="model name"):
        client.models.register("bad/name", run_id=run_ids[0])
    assert client.models.search(f"name = '{name}'").models[0].aliases == {"champion": 2}
    client.models.delete_alias(name, "champion")
    client.models.delete_version(name, 1)
    client.models.delete(name)
    with pytest.raises(NotFound):
        client.models.get(name)


def test_tampered_blob_is_refused_on_download(client, unique, tmp_path, request):
    version = client.models.register(f"tamper-{unique}", local_path=_model_folder(tmp_path))
    if client.http.embedded:
        root = Path(client.settings.resolved_artifact_root)
    else:
        root = request.getfixturevalue("live_server").home / "artifacts"
    target = next(f for f in version.files if f.path == "sub/weights.bin")
    blob = root / "blobs" / target.digest[:2] / target.digest[2:]
    blob.write_bytes(b"\x00\x01weightz")  # same size, different bytes
    with pytest.raises(IntegrityError):
        client.models.download(version.model_name, version.version, tmp_path / "out")
    assert not (tmp_path / "out" / "sub" / "weights.bin").exists()
