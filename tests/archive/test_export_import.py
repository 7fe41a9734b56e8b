"""``modelward export`` / ``modelward import``: whole stores through an archive, compared entity by entity.

Stores are real: the demo's (runs, metrics history, artifacts, registered versions, governance
decisions, deployments, the prediction log, alerts, an audit chain with signed checkpoints,
users) plus a token and a webhook, and a generated store of 10,000 runs. Backends are real:
SQLite files and local folders, PostgreSQL databases and an S3 bucket (moto's server mode).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from modelward.domain.actors import Role
from modelward.errors import Conflict, IntegrityError, InvalidInput, Unauthenticated
from modelward.sdk.client import Client
from modelward.services import access, audit, users, webhooks
from modelward.services import archive as service
from modelward.services.backend import Backend
from modelward.services.checkpoints import CHECKPOINT_DIR, KEY_DIR
from modelward.settings import Settings
from modelward.store import archive as store
from modelward.store.rows import Base
from tests.cli.conftest import modelward
from tests.fixtures.s3 import s3_storage_options

# The demo store takes a minute or two to build (once per module), under load longer.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TOKEN_USER = "ada.admin"
RUNS = 10_000
TABLES = Base.metadata.tables


# -- comparing stores ------------------------------------------------------------------------------


def dump(backend: Backend) -> dict[str, Any]:
    """Everything a store holds, canonical: every row of every table (encoded as the archive
    encodes it, so both engines compare alike), every blob, record and dataset file."""
    tables: dict[str, list[dict[str, Any]]] = {}
    with backend.read() as session:
        connection = session.connection()
        for table in store.archived_tables():
            tables[table] = list(store.iter_rows(connection, table))
    artifacts = backend.artifacts
    blobs = {digest: len(artifacts.read_bytes(digest)) for digest in artifacts.iter_digests()}  # read_bytes verifies
    records = {name: artifacts.get_record(name) for folder in (CHECKPOINT_DIR, KEY_DIR)
               for name in artifacts.list_records(folder)}
    filesystem, root = artifacts.arrow_filesystem()
    datasets = {}
    for name in artifacts.list_dataset_files("predictions"):
        with filesystem.open_input_stream(f"{root}/{name}") as stream:  # type: ignore[attr-defined]
            datasets[name] = hashlib.sha256(stream.read()).hexdigest()
    return {"tables": tables, "blobs": blobs, "records": records, "datasets": datasets}


def without_secrets(content: dict[str, Any]) -> dict[str, Any]:
    """What an export without secrets keeps: tokens without their digest, webhooks without their secret."""
    tables = dict(content["tables"])
    tables["api_tokens"] = [{**row, "digest": f"excluded:{row['id']}"} for row in tables["api_tokens"]]
    tables["webhooks"] = [{**row, "secret": "", "active": False} for row in tables["webhooks"]]
    return {**content, "tables": tables}


def assert_same(found: dict[str, Any], expected: dict[str, Any]) -> None:
    for table, rows in expected["tables"].items():
        assert found["tables"][table] == rows, f"table {table} differs"
    for part in ("blobs", "records", "datasets"):
        assert found[part] == expected[part], f"{part} differ"


def open_backend(settings: Settings) -> Backend:
    return Backend.from_settings(settings)


def s3_settings(home: Path, database_url: str, s3_server: tuple[str, str], **more: Any) -> Settings:
    endpoint, bucket = s3_server
    return Settings(home=home, database_url=database_url, artifact_root=f"s3://{bucket}/{uuid.uuid4().hex}",
                    artifact_storage_options=s3_storage_options(endpoint), **more)


def import_into(backend: Backend, archive: Path, home: Path, **options: Any) -> service.ImportSummary:
    return service.import_store(backend, archive, state=service.state_file(home), **options)


# -- the stores ------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The home of a store the demo filled, plus a user with an API token and a webhook; and the token."""
    folder = tmp_path_factory.mktemp("demo")
    done = subprocess.run([sys.executable, "-m", "modelward", "demo", "--no-server", "--runs-per-model", "1"], cwd=folder, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    home = folder / ".modelward"
    backend = open_backend(Settings(home=home))
    try:
        users.create_user(backend, TOKEN_USER, frozenset({Role.ADMIN}))
        token = users.create_token(backend, TOKEN_USER, name="ci").token
        webhooks.subscribe(backend, "https://hooks.example.com/modelward", ["model_version.approved"])
    finally:
        backend.close()
    yield home, token


@pytest.fixture(scope="module")
def bulk_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 10,000 runs (params, tags, two-step metric histories), written through the bulk path."""
    home = tmp_path_factory.mktemp("bulk") / "store"
    with Client(settings=Settings(home=home)) as client:
        experiment = client.experiments.create("bulk")
        for start in range(0, RUNS, 1000):
            client.runs.create_many([
                {"experiment_id": experiment.id, "name": f"run-{i}", "status": "FINISHED",
                 "params": {"lr": str(i / 1e4), "depth": str(i % 7)}, "tags": {"batch": str(start)},
                 "metrics": {"loss": [1.0 / (i + 1), 0.5 / (i + 1)], "acc": i / 1e4}}
                for i in range(start, start + 1000)
            ])
    return home


@pytest.fixture(scope="module")
def bulk_archive(bulk_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    backend = open_backend(Settings(home=bulk_home))
    try:
        archive = tmp_path_factory.mktemp("bulk-archive") / "bulk.tar"
        service.export_store(backend, archive)
        return archive, dump(backend)
    finally:
        backend.close()


# -- (a) round trips between the backends ----------------------------------------------------------


@pytest.mark.postgres
def test_a_round_trip_sqlite_to_postgres_s3_and_back_loses_nothing_but_the_secrets(
    demo_home: tuple[Path, str], postgres_database: str, s3_server: tuple[str, str], tmp_path: Path
) -> None:
    home, token = demo_home
    source = open_backend(Settings(home=home))
    before = dump(source)
    first = tmp_path / "first.tar"
    exported = service.export_store(source, first)
    source.close()
    assert before["tables"]["runs"] and before["tables"]["model_versions"] and before["tables"]["governance_reviews"]
    assert before["tables"]["metrics"] and before["tables"]["audit_events"] and before["datasets"]
    assert exported.rows == sum(len(rows) for rows in before["tables"].values())
    assert any(name.startswith(f"{CHECKPOINT_DIR}/0") for name in before["records"])

    # The source's signing key travels apart from the archive (see docs/export-import.md).
    key = home / "audit-signing-key.pem"
    middle = open_backend(s3_settings(tmp_path / "pg", postgres_database, s3_server, audit_signing_key=key))
    try:
        summary = import_into(middle, first, tmp_path / "pg")
        assert summary.rows == exported.rows and summary.blobs == len(before["blobs"])
        assert_same(dump(middle), without_secrets(before))
        report = audit.verify(middle)
        assert report.ok, report
        assert report.head is not None and report.head.hash == before["tables"]["audit_events"][-1]["hash"]
        newest = json.loads(before["records"][f"{CHECKPOINT_DIR}/latest.json"])
        assert report.checkpoint is not None and report.checkpoint.seq == newest["seq"]
        with pytest.raises(Unauthenticated):  # the token's digest stayed behind
            access.authenticate(middle, f"Bearer {token}")
        second = tmp_path / "second.tar"
        service.export_store(middle, second)
        with middle.write() as session:  # the sequences continue past the imported ids
            assert session.execute(select(func.max(TABLES["users"].c.id))).scalar() >= 3
        new_user = users.create_user(middle, "after.import", frozenset({Role.VIEWER}))
        assert new_user.name == "after.import"
    finally:
        middle.close()

    back = open_backend(Settings(home=tmp_path / "back", audit_signing_key=key))
    try:
        import_into(back, second, tmp_path / "back")
        assert_same(dump(back), without_secrets(before))
        assert audit.verify(back).ok
    finally:
        back.close()


@pytest.mark.postgres
def test_a_with_secrets_the_tokens_work_and_the_signing_key_comes_along(
    demo_home: tuple[Path, str], postgres_database: str, s3_server: tuple[str, str], tmp_path: Path
) -> None:
    home, token = demo_home
    source = open_backend(Settings(home=home))
    before = dump(source)
    archive = tmp_path / "with-secrets.tar"
    assert service.export_store(source, archive, include_secrets=True).secrets_included
    source.close()
    with tarfile.open(archive) as tar:
        assert service.SIGNING_KEY_MEMBER in tar.getnames()

    target = open_backend(s3_settings(tmp_path / "pg", postgres_database, s3_server))
    try:
        import_into(target, archive, tmp_path / "pg")
        assert_same(dump(target), before)
        assert (tmp_path / "pg" / "audit-signing-key.pem").read_bytes() == (home / "audit-signing-key.pem").read_bytes()
        assert oct((tmp_path / "pg" / "audit-signing-key.pem").stat().st_mode & 0o777) == "0o600"
        assert audit.verify(target).ok
        assert access.authenticate(target, f"Bearer {token}").name == TOKEN_USER
        assert [hook.active for hook in webhooks.list_(target)] == [True]
    finally:
        target.close()


def test_a_without_secrets_webhooks_are_disabled_and_tokens_refused(demo_home: tuple[Path, str], tmp_path: Path) -> None:
    home, token = demo_home
    source = open_backend(Settings(home=home))
    archive = tmp_path / "store.tar"
    service.export_store(source, archive)
    source.close()
    with tarfile.open(archive) as tar:
        assert not [name for name in tar.getnames() if name.startswith("secrets/")]
        raw = tar.extractfile("tables/api_tokens.jsonl.gz").read()  # type: ignore[union-attr]
    import gzip

    assert token.encode() not in gzip.decompress(raw)
    target = open_backend(Settings(home=tmp_path / "target"))
    try:
        summary = import_into(target, archive, tmp_path / "target")
        assert "MODELWARD_AUDIT_SIGNING_KEY" in str(summary)
        with pytest.raises(Unauthenticated):
            access.authenticate(target, f"Bearer {token}")
        assert [hook.active for hook in webhooks.list_(target)] == [False]
        assert not audit.verify(target).ok  # no key here: its checkpoints cannot be checked
        assert audit.verify(open_backend(Settings(home=tmp_path / "target",
                                                  audit_signing_key=home / "audit-signing-key.pem"))).ok
    finally:
        target.close()


def test_values_travel_without_loss() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    value, at = store.column("alert_events", "value"), store.column("alert_events", "at")
    for number in (float("inf"), float("-inf"), 0.1 + 0.2, -0.0, 1e308, 5e-324):
        encoded = store.encode_value(value, number)
        assert json.loads(json.dumps(encoded)) == encoded
        assert store.decode_value(value, encoded) == number
    assert store.encode_value(value, float("nan")) == "NaN"
    assert store.decode_value(value, "NaN") != store.decode_value(value, "NaN")
    moment = datetime(2026, 1, 31, 23, 59, 59, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert store.decode_value(at, store.encode_value(at, moment)) == moment
    assert store.encode_value(at, moment.astimezone(UTC).replace(tzinfo=None)) == "2026-01-31T21:59:59.123456+00:00"


# -- (b) 10,000 runs -------------------------------------------------------------------------------


@pytest.mark.postgres
def test_b_ten_thousand_runs_round_trip_through_postgres(
    bulk_archive: tuple[Path, dict[str, Any]], postgres_database: str, tmp_path: Path
) -> None:
    archive, before = bulk_archive
    assert len(before["tables"]["runs"]) == RUNS and len(before["tables"]["metrics"]) == 3 * RUNS
    target = open_backend(Settings(home=tmp_path / "pg", database_url=postgres_database))
    try:
        summary = import_into(target, archive, tmp_path / "pg")
        assert summary.rows == sum(len(rows) for rows in before["tables"].values())
        assert_same(dump(target), before)
        with Client(settings=Settings(home=tmp_path / "pg", database_url=postgres_database)) as client:
            experiment = client.experiments.get_by_name("bulk")
            run = client.runs.create(experiment.id, name="one more")  # the run sequence continues
            assert client.runs.get(run.id).name == "one more"
    finally:
        target.close()


# -- (c) interrupted imports resume ---------------------------------------------------------------


class Interrupted(Exception):
    pass


def test_c_an_interrupted_import_resumes_and_completes(bulk_archive: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    archive, before = bulk_archive
    home = tmp_path / "target"
    target = open_backend(Settings(home=home))
    total = sum(len(rows) for rows in before["tables"].values())

    def stop_half_way(stage: str, done: int, _total: int | None) -> None:
        if stage == "rows" and done >= total // 2:
            raise Interrupted

    try:
        with pytest.raises(Interrupted):
            import_into(target, archive, home, progress=stop_half_way)
        state = json.loads(service.state_file(home).read_text())
        assert state["table"] and state["rows_done"] >= 1000
        written = _rows(target)
        assert 0 < written < total
        # A kill between a batch's commit and its note: the state lags one batch behind the rows.
        state["rows_done"] -= 1000
        service.state_file(home).write_text(json.dumps(state))

        summary = import_into(target, archive, home)
        assert summary.resumed and summary.kept == 1000
        assert summary.rows + summary.kept + written - 1000 == total
        assert not service.state_file(home).exists()
        assert_same(dump(target), before)
    finally:
        target.close()


def test_c_a_killed_import_process_resumes(bulk_archive: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    archive, before = bulk_archive
    state = tmp_path / ".modelward" / service.STATE_FILE
    process = subprocess.Popen([sys.executable, "-m", "modelward", "import", str(archive), "--quiet"], cwd=tmp_path,
                               env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(6000):  # bounded: at most ~60 s for the first batches of rows
            if process.poll() is not None:
                break
            try:
                if json.loads(state.read_text()).get("rows_done", 0) >= 2000:
                    break
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.01)
        process.kill()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    if process.returncode == 0:
        pytest.fail("the import finished before it could be killed")
    assert state.exists()
    done = modelward("import", str(archive), "--quiet", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "(resumed)" in done.stdout
    target = open_backend(Settings(home=tmp_path / ".modelward"))
    try:
        assert_same(dump(target), before)
    finally:
        target.close()


# -- (d) non-empty targets and merging -------------------------------------------------------------


def test_d_a_non_empty_store_is_refused_unless_merging(demo_archive: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    backend = open_backend(Settings(home=target / ".modelward"))
    try:
        users.create_user(backend, "someone.else", frozenset({Role.VIEWER}))
    finally:
        backend.close()

    refused = modelward("import", str(demo_archive), cwd=target)
    assert refused.returncode != 0
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "already holds data" in refused.stderr and "table audit_events has 1 rows, the first seq=1" in refused.stderr
    assert "--merge skip-existing" in refused.stderr

    # The user already there has the id one of the archive's has, with another name: a listed conflict.
    merged = modelward("import", str(demo_archive), "--merge", "skip-existing", cwd=target)
    assert merged.returncode != 0 and len(merged.stderr.strip().splitlines()) == 1, merged.stderr
    assert "users id=1 (name, roles, created_at differ)" in merged.stderr and "nothing was imported" in merged.stderr
    backend = open_backend(Settings(home=target / ".modelward"))
    try:
        with backend.read() as session:
            assert store.count_rows(session.connection(), "runs") == 0
        with pytest.raises(InvalidInput, match="unknown merge mode 'overwrite'"):
            import_into(backend, demo_archive, target / ".modelward", merge="overwrite")
    finally:
        backend.close()

    again = tmp_path / "again"
    backend = open_backend(Settings(home=again / ".modelward"))
    try:
        import_into(backend, demo_archive, again / ".modelward")
    finally:
        backend.close()
    twice = modelward("import", str(demo_archive), "--quiet", "--merge", "skip-existing", cwd=again)
    assert twice.returncode == 0, twice.stderr
    assert "imported 0 rows, 0 blobs and 0 files" in twice.stdout and "kept" in twice.stdout


def test_d_skip_existing_adds_what_is_missing_and_keeps_what_is_identical(demo_home: tuple[Path, str],
                                                                         tmp_path: Path) -> None:
    home, _ = demo_home
    source = open_backend(Settings(home=home))
    before = dump(source)
    archive = tmp_path / "store.tar"
    service.export_store(source, archive, include_secrets=True)
    source.close()
    target = open_backend(Settings(home=tmp_path / "target"))
    try:
        import_into(target, archive, tmp_path / "target")
        notes = TABLES["run_notes"]
        with target.write() as session:  # the target lost some rows since
            session.execute(notes.delete())
        summary = import_into(target, archive, tmp_path / "target", merge="skip-existing")
        assert summary.rows == len(before["tables"]["run_notes"]) and summary.kept > 0
        assert_same(dump(target), before)

        with target.write() as session:  # and now one differs
            session.execute(update(notes).where(notes.c.id == before["tables"]["run_notes"][0]["id"]).values(text="edited"))
        with pytest.raises(Conflict, match=r"run_notes id=\d+ \(text differ\)"):
            import_into(target, archive, tmp_path / "target", merge="skip-existing")
    finally:
        target.close()


# -- (e) damaged archives --------------------------------------------------------------------------


def _rewrite(source: Path, target: Path, change: Any) -> None:
    """Copy the archive member by member; ``change(name, data)`` returns new data or None to leave it out."""
    with tarfile.open(source) as old, tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as new:
        for info in old.getmembers():
            data = old.extractfile(info).read()  # type: ignore[union-attr]
            data = change(info.name, data)
            if data is not None:
                info.size = len(data)
                import io

                new.addfile(info, io.BytesIO(data))


def _rows(backend: Backend) -> int:
    with backend.read() as session:
        return sum(store.count_rows(session.connection(), table) for table in store.archived_tables())


def _is_empty(backend: Backend) -> bool:
    return _rows(backend) == 0 and not list(backend.artifacts.iter_digests())


@pytest.fixture(scope="module")
def demo_archive(demo_home: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    backend = open_backend(Settings(home=demo_home[0]))
    archive = tmp_path_factory.mktemp("demo-archive") / "store.tar"
    service.export_store(backend, archive)
    backend.close()
    return archive


def _flip_byte(name: str, data: bytes, member: str) -> bytes:
    if name != member:
        return data
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0x01
    return bytes(changed)


@pytest.mark.parametrize("damage, message", [
    (lambda name, data: _flip_byte(name, data, "tables/runs.jsonl.gz"), "tables/runs.jsonl.gz"),
    (lambda name, data: data, None),
    (lambda name, data: None if name == service.MANIFEST else data, "no manifest.json"),
    (lambda name, data: None if name.startswith("datasets/") and name.endswith(".parquet") else data, "missing"),
])
def test_e_a_damaged_archive_is_refused_before_anything_is_written(
    demo_archive: Path, tmp_path: Path, damage: Any, message: str | None
) -> None:
    damaged = tmp_path / "damaged.tar"
    _rewrite(demo_archive, damaged, damage)
    target = open_backend(Settings(home=tmp_path / "target"))
    try:
        if message is None:  # the unchanged copy imports: the test's rewriting is faithful
            import_into(target, damaged, tmp_path / "target")
            return
        with pytest.raises(IntegrityError, match=message):
            import_into(target, damaged, tmp_path / "target")
        assert _is_empty(target)
        assert not service.state_file(tmp_path / "target").exists()
    finally:
        target.close()


def test_e_a_changed_blob_or_a_missing_blob_is_named(demo_archive: Path, tmp_path: Path) -> None:
    with tarfile.open(demo_archive) as tar:
        blobs = sorted(name for name in tar.getnames() if name.startswith("blobs/"))
    victim = blobs[len(blobs) // 2]
    changed, missing = tmp_path / "changed.tar", tmp_path / "missing.tar"
    _rewrite(demo_archive, changed, lambda name, data: _flip_byte(name, data, victim))
    _rewrite(demo_archive, missing, lambda name, data: None if name == victim else data)
    target = open_backend(Settings(home=tmp_path / "target"))
    try:
        with pytest.raises(IntegrityError, match=f"blob {victim.removeprefix('blobs/')} holds content"):
            import_into(target, changed, tmp_path / "target")
        with pytest.raises(IntegrityError, match=f"blob {victim.removeprefix('blobs/')} .listed in table blobs. is missing"):
            import_into(target, missing, tmp_path / "target")
        assert _is_empty(target)
    finally:
        target.close()
    done = modelward("import", str(changed), cwd=tmp_path)
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1
    assert "is damaged" in done.stderr and "nothing was imported" in done.stderr


def test_e_not_an_archive_and_a_newer_schema_are_refused_clearly(demo_archive: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a tar")
    done = modelward("import", "notes.txt", cwd=tmp_path)
    assert done.returncode != 0 and "not a modelward archive" in done.stderr
    assert modelward("import", "absent.tar", cwd=tmp_path).returncode != 0
    assert modelward("import", cwd=tmp_path).returncode != 0  # neither PATH nor --from-mlflow

    newer = tmp_path / "newer.tar"

    def bump(name: str, data: bytes) -> bytes:
        if name != service.MANIFEST:
            return data
        manifest = json.loads(data)
        manifest["schema_revision"] = "9999"
        return json.dumps(manifest).encode()

    _rewrite(demo_archive, newer, bump)
    target = open_backend(Settings(home=tmp_path / "target"))
    try:
        with pytest.raises(InvalidInput, match="schema revision 9999, newer than this store's"):
            import_into(target, newer, tmp_path / "target")
        assert _is_empty(target)
    finally:
        target.close()


# -- (f) constant memory ---------------------------------------------------------------------------

_MEASURE = """
import json, resource, sys
from pathlib import Path
from modelward.services import archive
from modelward.services.backend import Backend
from modelward.settings import Settings

backend = Backend.from_settings(Settings(home=Path(sys.argv[1])))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
getattr(archive, sys.argv[2])(backend, Path(sys.argv[3]), **json.loads(sys.argv[4]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_f_a_100_mb_blob_goes_through_in_constant_memory(tmp_path: Path) -> None:
    home = tmp_path / "store"
    backend = open_backend(Settings(home=home))
    big = tmp_path / "big.bin"
    with open(big, "wb") as file:
        for _ in range(100):
            file.write(os.urandom(1 << 20))
    digest = backend.artifacts.put_file(big).digest
    backend.close()
    big.unlink()
    archive = tmp_path / "big.tar"

    def grown_kib(*args: str) -> int:
        done = subprocess.run([sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, timeout=300,
                              env=_env())
        assert done.returncode == 0, done.stderr
        return int(done.stdout.strip().splitlines()[-1])

    assert grown_kib(str(home), "export_store", str(archive), "{}") < 40 * 1024  # ru_maxrss is in KiB
    target = tmp_path / "target"
    state = json.dumps({"state": str(service.state_file(target))})
    assert grown_kib(str(target), "import_store", str(archive), state) < 40 * 1024
    copy = open_backend(Settings(home=target))
    try:
        assert copy.artifacts.size(digest) == 100 << 20 and copy.artifacts.exists(digest)
    finally:
        copy.close()


def test_an_export_stops_at_a_blob_missing_from_the_store_and_leaves_no_archive(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "store")
    with Client(settings=settings) as client:
        run = client.runs.create(client.experiments.create("e").id)
        kept = client.artifacts.upload_bytes(run.id, "model/weights.bin", b"weights" * 1000)
    backend = open_backend(settings)
    try:
        digest = kept.digest
        backend.artifacts.delete(digest)
        archive = tmp_path / "store.tar"
        with pytest.raises(IntegrityError, match=f"blob {digest} .listed in table blobs. is missing"):
            service.export_store(backend, archive)
        assert not archive.exists() and not (tmp_path / "store.tar.part").exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".modelward-export-")] == []
    finally:
        backend.close()
