"""``modelward import --from-mlflow``: a real MLflow source, written with the real mlflow client,
copied into a modelward store and compared item by item through modelward's services.

Three kinds of source: an ``mlflow server`` process on loopback (SQLite backend, proxied
artifacts), a ``sqlite:///`` store read in-process, and a file store (``./mlruns``).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from modelward.cli import app
from modelward.domain.actors import Actor, Role
from modelward.domain.registry import CANDIDATE
from modelward.domain.tracking import Lifecycle
from modelward.errors import NotFound, ServiceUnavailable
from modelward.services import artifacts, audit, experiments, policies, registry, runs
from modelward.services.backend import Backend
from modelward.services.mlflow_import import (
    PENDING_TAG,
    SOURCE_VERSION_TAG,
    MlflowImportSummary,
    display_uri,
    import_from_mlflow,
)
from modelward.settings import Settings
from tests.fixtures.servers import free_port

# Seconds on a quiet machine; the mlflow server's start and the ~150 requests that write its
# source take minutes on a loaded CI runner, so the per-test backstop is wider than the default.
pytestmark = pytest.mark.timeout(900)

IMPORTER = Actor(name="migrator", roles=frozenset({Role.ADMIN}))
MODEL = "churn-model"
PROTECTING_POLICY = "protected_aliases: [{alias: champion}]\n"  # a global policy: champion is governed


@dataclass
class Source:
    """What the MLflow side holds, as the test wrote it (the expected values)."""

    uri: str
    experiments: dict[str, str] = field(default_factory=dict)  # name -> MLflow id
    run_ids: list[str] = field(default_factory=list)
    deleted_run: str = ""
    parent: str = ""
    children: list[str] = field(default_factory=list)
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # run id -> path -> bytes
    logged_model_id: str = ""
    version_runs: dict[int, str] = field(default_factory=dict)  # MLflow version -> run id


def _file(run_dir: Path, path: str, data: bytes) -> None:
    target = run_dir / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


@contextmanager
def _default_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's registry resolves ``models:/m-...`` sources with a default client: point it here."""
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved


def build_source(uri: str, scratch: Path) -> Source:
    with _default_tracking_uri(uri):
        return _build_source(uri, scratch)


def _build_source(uri: str, scratch: Path) -> Source:
    """Two experiments (a deleted one, and MLflow's Default), 20 runs with params, tags, metric histories (NaN,
    many steps), nested artifacts, a dataset input, a nested run tree, an MLflow 3 logged
    model, and a registered model with three versions and two aliases."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    source = Source(uri=uri)
    churn = client.create_experiment("team/churn", tags={"team": "risk", "mlflow.note.content": "churn models"})
    vision = client.create_experiment("vision", tags={"team": "cv"})
    source.experiments = {"team/churn": churn, "vision": vision}
    for index in range(20):
        experiment_id = churn if index < 12 else vision
        parent = source.parent if 1 <= index <= 3 else None
        tags = {"mlflow.user": f"user{index % 3}", "variant": f"v{index}"}
        if parent:
            tags["mlflow.parentRunId"] = parent
        run = client.create_run(experiment_id, start_time=1_700_000_000_000 + index * 1000, tags=tags,
                                run_name=f"run-{index:02d}")
        run_id = run.info.run_id
        source.run_ids.append(run_id)
        if index == 0:
            source.parent = run_id
        elif parent:
            source.children.append(run_id)
        stamp = 1_700_000_100_000 + index
        metrics = [Metric("loss", 1.0 / (step + 1) + index, stamp + step, step) for step in range(6)]
        metrics += [Metric("acc", 0.5 + step / 10, stamp, step) for step in range(3)]
        metrics += [Metric("acc", 0.9, stamp + 50, 2)]  # the same step twice, as MLflow keeps both
        metrics += [Metric("grad_norm", float("nan") if index % 4 == 0 else 0.1 * index, stamp, 0)]
        client.log_batch(run_id, metrics=metrics, params=[Param("lr", str(0.01 * (index + 1))),
                                                          Param("depth", str(index % 5))],
                         tags=[RunTag("stage", "train")])
        files = {"notes.txt": f"run {index}\n".encode(), f"plots/epoch/{index}/curve.csv": b"x,y\n1,2\n" * (index + 1)}
        if index < 3:
            files["model/MLmodel"] = b"artifact_path: model\nflavors:\n  sklearn:\n    pickled_model: model.pkl\n"
            files["model/model.pkl"] = os.urandom(2048 + index)  # bytes only: nothing ever loads them
        run_dir = scratch / run_id
        for path, data in files.items():
            _file(run_dir, path, data)
        client.log_artifacts(run_id, str(run_dir))
        source.files[run_id] = files
        if index == 5:
            client.log_inputs(run_id, [DatasetInput(
                Dataset(name="customers", digest="abc123", source_type="local", source='{"uri": "customers.csv"}'),
                tags=[InputTag("mlflow.data.context", "training")])])
        status = "FAILED" if index == 7 else "FINISHED"
        if index != 8:  # run 8 stays RUNNING
            client.set_terminated(run_id, status=status, end_time=1_700_000_200_000 + index)
    source.deleted_run = source.run_ids[9]
    client.delete_run(source.deleted_run)
    old = client.create_experiment("old-experiment")
    old_run = client.create_run(old, run_name="forgotten").info.run_id
    client.log_metric(old_run, "loss", 0.3, step=1)
    client.set_terminated(old_run)
    client.delete_experiment(old)
    source.experiments["old-experiment"] = old
    source.run_ids.append(old_run)
    source.files[old_run] = {}

    logged = client.create_logged_model(churn, name="clf", source_run_id=source.run_ids[2])
    model_dir = scratch / "logged-model"
    _file(model_dir, "MLmodel", b"artifact_path: clf\nflavors:\n  python_function: {}\n")
    _file(model_dir, "weights/w.bin", os.urandom(4096))
    client.log_model_artifacts(logged.model_id, str(model_dir))
    client.finalize_logged_model(logged.model_id, "READY")
    source.logged_model_id = logged.model_id

    client.create_registered_model(MODEL, tags={"owner": "risk"}, description="predicts churn")
    for number, run_id in ((1, source.run_ids[0]), (2, source.run_ids[1])):
        client.create_model_version(MODEL, f"runs:/{run_id}/model", run_id=run_id, tags={"note": f"v{number}"},
                                    description=f"version {number}")
        source.version_runs[number] = run_id
    client.create_model_version(MODEL, f"models:/{logged.model_id}", run_id=source.run_ids[2],
                                model_id=logged.model_id, description="from a logged model")
    source.version_runs[3] = source.run_ids[2]
    client.set_registered_model_alias(MODEL, "champion", "2")
    client.set_registered_model_alias(MODEL, "challenger", "3")
    return source


def _target(tmp_path: Path, name: str = "store") -> Backend:
    backend = Backend.from_settings(Settings(home=tmp_path / name))
    policies.set_policy(backend, IMPORTER, PROTECTING_POLICY)
    return backend


def check_imported(backend: Backend, source: Source) -> None:
    """Everything the source holds, found in modelward: names, tags, lifecycles, every run
    field and metric point, every artifact byte, versions, aliases, governance state."""
    client = MlflowClient(tracking_uri=source.uri, registry_uri=source.uri)
    for name, mlflow_id in source.experiments.items():
        theirs = client.get_experiment(mlflow_id)
        ours = experiments.get_by_name(backend, name)
        assert {k: v for k, v in ours.tags.items() if not k.startswith("mlflow.import.")} == theirs.tags
        assert ours.lifecycle is (Lifecycle.DELETED if theirs.lifecycle_stage == "deleted" else Lifecycle.ACTIVE)
    assert experiments.get_by_name(backend, "team/churn").description == "churn models"
    for run_id in source.run_ids:
        theirs, ours = client.get_run(run_id), runs.get(backend, run_id)
        assert ours.name == theirs.info.run_name
        assert ours.status.value == theirs.info.status
        assert int(ours.start_time.timestamp() * 1000) == theirs.info.start_time
        assert (ours.end_time and int(ours.end_time.timestamp() * 1000)) == theirs.info.end_time
        assert ours.user == theirs.info.user_id
        assert ours.params == theirs.data.params
        assert {k: v for k, v in ours.tags.items() if k != "modelward.inputs"} == theirs.data.tags
        assert PENDING_TAG not in ours.tags
        assert ours.experiment_id == experiments.get_by_name(
            backend, client.get_experiment(theirs.info.experiment_id).name).id
        expected_lifecycle = Lifecycle.DELETED if run_id == source.deleted_run else Lifecycle.ACTIVE
        if theirs.info.experiment_id != source.experiments["old-experiment"]:
            assert ours.lifecycle is expected_lifecycle
        for key in theirs.data.metrics:
            expected = sorted(((m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key)),
                              key=lambda p: (p[0], p[1], str(p[2])))
            got = sorted(((m.step, m.timestamp_ms, m.value) for m in runs.metric_history(backend, run_id, key)),
                         key=lambda p: (p[0], p[1], str(p[2])))
            assert len(got) == len(expected), (run_id, key)
            for (step, stamp, value), (step2, stamp2, value2) in zip(got, expected, strict=True):
                assert (step, stamp) == (step2, stamp2)
                assert (math.isnan(value) and math.isnan(value2)) or value == value2
        if run_id == source.deleted_run:
            continue
        stored = {f.path for f in artifacts.list_(backend, run_id)}
        expected_paths = set(source.files[run_id])
        if run_id == source.run_ids[2]:
            expected_paths |= {f"logged-models/{source.logged_model_id}/MLmodel",
                               f"logged-models/{source.logged_model_id}/weights/w.bin"}
        assert stored == expected_paths
        for path, data in source.files[run_id].items():
            assert artifacts.read_bytes(backend, run_id, path) == data
    assert runs.get(backend, source.children[0]).parent_run_id == source.parent
    inputs = runs.get(backend, source.run_ids[5]).tags["modelward.inputs"]
    assert "customers" in inputs and "abc123" in inputs

    model = registry.get_model(backend, MODEL)
    assert model.description == "predicts churn" and model.tags == {"owner": "risk"}
    versions = {v.version: v for v in registry.search_versions(backend, model_name=MODEL).versions}
    assert sorted(versions) == [1, 2, 3]
    for number, run_id in source.version_runs.items():
        version = versions[number]
        assert version.source_run_id == run_id
        assert version.status == CANDIDATE  # never approved by an import, whatever MLflow says
        assert version.tags[SOURCE_VERSION_TAG] == str(number)
    assert versions[1].description == "version 1" and versions[1].tags["note"] == "v1"
    assert {f.path for f in versions[1].files} == {"MLmodel", "model.pkl"}
    _, chunks = registry.open_file(backend, MODEL, 1, "model.pkl")
    assert b"".join(chunks) == source.files[source.run_ids[0]]["model/model.pkl"]
    assert {f.path for f in versions[3].files} == {"MLmodel", "weights/w.bin"}
    assert registry.get_by_alias(backend, MODEL, "challenger").version == 3
    with pytest.raises(NotFound):  # champion is protected: a candidate may not carry it
        registry.get_by_alias(backend, MODEL, "champion")


def check_summary(summary: MlflowImportSummary, source: Source) -> None:
    assert summary.experiments == 4 and summary.runs == 21 and summary.models == 1 and summary.versions == 3
    assert summary.metric_points == 20 * 11 + 1
    assert summary.artifacts == sum(len(files) for run_id, files in source.files.items()) + 2
    assert summary.aliases == 1 and summary.deleted_runs == 1 + 1 and summary.deleted_experiments == 1
    skipped = [s for s in summary.skipped if "champion" in s.what]
    assert len(skipped) == 1 and "protected" in skipped[0].reason, summary.skipped
    text = str(summary)
    assert "\n" not in text
    assert text.startswith("imported 4 experiments, 21 runs, 221 metric points, ")
    assert "1 models with 3 versions and 1 aliases from " in text and "champion" in text


# -- sources -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One ``mlflow server`` on loopback for the module: SQLite backend, proxied artifacts."""
    home = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = open(home / "server.log", "wb")  # noqa: SIM115 - the child writes into it until stopped
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{home}/mlflow.db",
         "--artifacts-destination", str(home / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=home,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited:\n{(home / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"mlflow server never became ready:\n{(home / 'server.log').read_text()}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def server_source(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> Source:
    return build_source(mlflow_server, tmp_path_factory.mktemp("server-files"))


@pytest.fixture(scope="module")
def sqlite_source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """One MLflow SQLite store for the module; each test imports it into a fresh modelward store."""
    home = tmp_path_factory.mktemp("mlflow-sqlite")
    return build_source(f"sqlite:///{home}/mlflow.db", home / "files")


def test_an_mlflow_server_is_imported_whole_and_twice_is_once(server_source: Source, tmp_path: Path) -> None:
    backend = _target(tmp_path)
    stages: set[str] = set()
    summary = import_from_mlflow(backend, server_source.uri, actor=IMPORTER,
                                 progress=lambda stage, done, total: stages.add(stage))
    check_summary(summary, server_source)
    check_imported(backend, server_source)
    assert {"experiments", "runs", "metrics", "artifacts", "models"} <= stages
    imported = audit.list_(backend, action="run.imported", limit=10_000)
    assert len(imported) == 21 and {e.actor for e in imported} == {IMPORTER.name}
    registered = audit.list_(backend, action="model_version.registered", limit=100)
    assert len(registered) == 3 and {e.actor for e in registered} == {IMPORTER.name}
    assert audit.list_(backend, action="mlflow.imported", limit=1)[0].details["runs"] == 21
    assert audit.verify(backend).ok

    again = import_from_mlflow(backend, server_source.uri, actor=IMPORTER)
    assert (again.experiments, again.runs, again.versions, again.artifacts, again.aliases) == (0, 0, 0, 0, 0)
    assert again.runs_present == 21 and again.versions_present == 3
    assert len(registry.search_versions(backend, model_name=MODEL).versions) == 3
    assert len(audit.list_(backend, action="run.imported", limit=10_000)) == 21
    assert runs.count_by_experiment(backend, [experiments.get_by_name(backend, "vision").id]) == {
        experiments.get_by_name(backend, "vision").id: 8}


def test_a_sqlite_store_is_imported_in_process(sqlite_source: Source, tmp_path: Path) -> None:
    backend = _target(tmp_path)
    summary = import_from_mlflow(backend, sqlite_source.uri, actor=IMPORTER)
    check_summary(summary, sqlite_source)
    check_imported(backend, sqlite_source)


def test_the_one_command_imports_and_a_bad_source_is_one_line(sqlite_source: Source) -> None:
    """``modelward import --from-mlflow URI`` on the store of the current settings (./.modelward)."""
    with _backend(Settings()) as backend:
        policies.set_policy(backend, IMPORTER, PROTECTING_POLICY)
    result = CliRunner().invoke(app, ["import", "--from-mlflow", sqlite_source.uri, "--quiet"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, (result.output, result.exception)
    line = result.stdout.strip()
    assert line.startswith("imported 4 experiments, 21 runs, 221 metric points, 48 artifacts, 1 models with 3 "
                           "versions and 1 aliases from sqlite:///") and "champion" in line
    with _backend(Settings()) as backend:
        check_imported(backend, sqlite_source)
        assert {e.actor for e in audit.list_(backend, action="run.imported", limit=100)} == {audit_name()}

    missing = CliRunner().invoke(app, ["import", "--from-mlflow", "sqlite:///nowhere/mlflow.db"])
    # a modelward error: ``modelward``'s entry point (run_app) prints it as one line, exit non-zero
    assert missing.exit_code != 0 and isinstance(missing.exception, NotFound)
    assert "no MLflow store at sqlite:///nowhere/mlflow.db" in str(missing.exception)
    assert not Path("nowhere").exists()  # MLflow would have created an empty store there


@contextmanager
def _backend(settings: Settings) -> Iterator[Backend]:
    backend = Backend.from_settings(settings)
    try:
        yield backend
    finally:
        backend.close()


def audit_name() -> str:
    """Who the CLI acts as without auth: the local operator, by login name."""
    import getpass

    return getpass.getuser()


def test_a_file_store_is_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 writes file stores only when asked
    source = build_source(store.as_uri(), tmp_path / "files")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # the import reads it without being asked
    backend = _target(tmp_path)
    summary = import_from_mlflow(backend, str(store), actor=IMPORTER)
    assert os.environ.get("MLFLOW_ALLOW_FILE_STORE") is None
    check_summary(summary, source)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    check_imported(backend, source)


def test_an_interrupted_import_resumes_and_a_missing_source_is_refused(sqlite_source: Source, tmp_path: Path) -> None:
    source, uri = sqlite_source, sqlite_source.uri
    backend = _target(tmp_path)
    calls = 0

    def stop_midway(stage: str, done: int, total: int | None) -> None:
        nonlocal calls
        if stage == "artifacts":
            calls += 1
            if calls == 5:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_from_mlflow(backend, uri, actor=IMPORTER, progress=stop_midway)
    cut = runs.search(backend, filter=f"tags.`{PENDING_TAG}` = 'true'", lifecycle=None).runs
    assert cut  # the runs of the batch being copied when it stopped are marked
    summary = import_from_mlflow(backend, uri, actor=IMPORTER)
    assert summary.resumed_runs == len(cut) and summary.runs >= len(cut)
    assert summary.runs + summary.runs_present == 21
    check_imported(backend, source)

    with pytest.raises(NotFound, match="no MLflow store"):
        import_from_mlflow(backend, f"sqlite:///{tmp_path}/typo.db")
    assert not (tmp_path / "typo.db").exists()
    with pytest.raises(ServiceUnavailable, match="cannot read the MLflow source"):
        import_from_mlflow(backend, f"http://127.0.0.1:{free_port()}")


def test_a_password_in_the_source_uri_stays_out_of_the_records() -> None:
    assert display_uri("postgresql://mig:s3cret@db:5432/mlflow") == "postgresql://mig:***@db:5432/mlflow"
    assert display_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"

