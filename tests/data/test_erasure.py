"""Deletion requests through lineage, on generated people (Faker: no real person): a subject in two
datasets' snapshots and in an endpoint's prediction log, a version trained on one of them."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pytest
from faker import Faker
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from modelward.cli import app as cli_app
from modelward.domain.actors import Actor, Role
from modelward.domain.datasets import DatasetCreate
from modelward.domain.erasure import ErasureRequest, key_hash
from modelward.domain.predictions import PredictionRecord, Rows
from modelward.errors import InvalidInput, NotFound, PermissionDenied
from modelward.sdk.client import Client
from modelward.services import (
    artifacts,
    audit,
    data_checks,
    datasets,
    deployments,
    erasure,
    governance,
    predictions,
    registry,
    runs,
)
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from tests.deployments.helpers import APPROVER, approved_versions
from tests.governance.helpers import ADMIN, AUTHOR, _experiment

COMPLIANCE = Actor(name="cora", roles=frozenset({Role.COMPLIANCE}))
ENDPOINT = "erasure-ep"
PEOPLE = 40


@dataclass
class World:
    backend: Backend
    people: pd.DataFrame
    subject: str  # the data subject's e-mail
    train: str  # dataset ids
    crm: str
    ages: str
    remote: str
    version: int
    source_run: str
    requests: list[str]  # logged request ids holding the subject


def _people(seed: int) -> pd.DataFrame:
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    return pd.DataFrame({
        "name": [fake.name() for _ in range(PEOPLE)],
        "email": [fake.unique.email() for _ in range(PEOPLE)],
        "age": [fake.random_int(18, 90) for _ in range(PEOPLE)],
        "income": [float(fake.random_int(20_000, 90_000)) for _ in range(PEOPLE)],
    })


def _log_dataset(backend: Backend, run_id: str, name: str, frame: pd.DataFrame, fmt: str = "parquet") -> str:
    data = frame.to_csv(index=False).encode() if fmt == "csv" else frame.to_parquet(index=False)
    path = f"data/{name}.{fmt}"
    artifacts.upload(backend, run_id, path, io.BytesIO(data), actor=ADMIN)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    body = DatasetCreate(name=name, digest=digest, snapshot_path=path, run_id=run_id, direction="input")
    return datasets.log(backend, body, actor=ADMIN).id


def _log_predictions(backend: Backend, version: int, people: pd.DataFrame, subject: str) -> list[str]:
    """Two parts: one of frames (with a typed companion rows file), one of plain records."""
    now = datetime.now(UTC)

    def record(request_id: str, inputs: object) -> PredictionRecord:
        return PredictionRecord(request_id=request_id, endpoint=ENDPOINT, model_name="iris", version=version,
                                mode="live", at=now, latency_ms=2.0, status=200, error=None, inputs=inputs,
                                outputs=[1], rows=1)

    others = people[people.email != subject]
    frames = [record(f"frame-{i}", Rows(["email", "age"], people.iloc[[i]][["email", "age"]].to_numpy(dtype=object)))
              for i in range(4)]
    plain = [record("plain-subject", [{"email": subject, "age": 40}]),
             record("plain-other", {"email": others.email.iloc[5], "age": 41}),
             record("no-columns", [[1.0, 2.0]])]
    for batch in (frames, plain):
        log = PredictionLog(backend, capacity=100, batch_size=100)
        for item in batch:
            assert log.submit(item)
        log.close()
    holding = [f"frame-{i}" for i in range(4) if people.email.iloc[i] == subject]
    return [*holding, "plain-subject"]


@pytest.fixture
def world(backend: Backend) -> World:
    return _build(backend)


def _build(backend: Backend) -> World:
    people = _people(7)
    subject = people.email.iloc[2]
    [version] = approved_versions(backend, "iris", 1)
    source_run = registry.get_version(backend, "iris", version).source_run_id
    assert source_run is not None
    train = _log_dataset(backend, source_run, "customers", people)  # the version was trained on it
    other_run = runs.start(backend, ADMIN, experiment_id=_experiment(backend, "crm")).id
    crm = people.iloc[[2, 5, 9]].assign(plan=["gold", "basic", "basic"])
    crm = pd.concat([crm, people.iloc[[2]].assign(plan="renewal")], ignore_index=True)  # the subject twice
    crm_id = _log_dataset(backend, other_run, "crm", crm, fmt="csv")
    ages = _log_dataset(backend, other_run, "ages", people[["age"]])
    remote = datasets.log(backend, DatasetCreate(name="warehouse", uri="s3://bucket/people.parquet"), actor=ADMIN).id
    deployments.create(backend, APPROVER, ENDPOINT, model="iris", environment="production", version=version)
    requests = _log_predictions(backend, version, people, subject)
    return World(backend, people, subject, train, crm_id, ages, remote, version, source_run, requests)


def _snapshot(backend: Backend, dataset_id: str) -> pd.DataFrame:
    found = datasets.get(backend, dataset_id)
    assert found.snapshot is not None
    return data_checks.stored_table(backend, found.snapshot.digest, found.snapshot.format, "test")


def _logged_emails(backend: Backend) -> list[str]:
    emails = []
    for item in predictions.records(backend, ENDPOINT):
        rows = item["inputs"] if isinstance(item["inputs"], list) else [item["inputs"]]
        emails += [row["email"] for row in rows if isinstance(row, dict)]
    return emails


def test_find_lists_snapshots_runs_versions_deployments_and_log_parts(world: World) -> None:
    found = erasure.find(world.backend, COMPLIANCE, ErasureRequest(key={"email": world.subject}))
    assert {(d.id, d.matching_rows, d.rows) for d in found.datasets} == {(world.train, 1, PEOPLE), (world.crm, 2, 4)}
    unsearched = {u.id: u.reason for u in found.unsearched_datasets}
    assert unsearched[world.ages] == "no column 'email'" and "no stored snapshot" in unsearched[world.remote]
    assert world.source_run in {r.run_id for r in found.runs if r.relation == "read"}
    [version] = found.versions
    assert (version.model, version.version, version.state, version.frozen) == ("iris", world.version, "released", True)
    assert version.datasets == [world.train]
    [deployment] = found.deployments
    assert (deployment.name, deployment.versions, deployment.serving_now) == (ENDPOINT, [world.version], [world.version])
    assert sum(p.matching_records for p in found.log_parts) == len(world.requests)
    assert {p.endpoint for p in found.log_parts} == {ENDPOINT} and found.log_parts_searched == 2
    assert found.unsearched_log_records == 1  # the record whose inputs have no column names
    assert found.key_hash == key_hash({"email": world.subject}) and world.subject not in found.model_dump_json()


def test_a_key_of_two_columns_must_match_both(world: World) -> None:
    age = int(world.people.age.iloc[2])
    both = erasure.find(world.backend, COMPLIANCE, ErasureRequest(key={"email": world.subject, "age": str(age)}))
    assert {d.id for d in both.datasets} == {world.train, world.crm}  # "41" matches the number 41
    neither = erasure.find(world.backend, COMPLIANCE, ErasureRequest(key={"email": world.subject, "age": age + 1}))
    assert neither.datasets == [] and neither.log_parts == []


def test_a_dry_run_changes_nothing(world: World) -> None:
    before = {d: datasets.get(world.backend, d).snapshot for d in (world.train, world.crm)}
    head = audit.anchor(world.backend)
    result = erasure.erase(world.backend, COMPLIANCE, ErasureRequest(key={"email": world.subject}), reason="GDPR art. 17",
                           dry_run=True)
    assert result.dry_run and result.request_id is None and result.snapshots == []
    assert result.flagged_versions == [f"iris/{world.version}"]
    assert {d: datasets.get(world.backend, d).snapshot for d in before} == before
    assert audit.anchor(world.backend) == head and world.subject in _logged_emails(world.backend)
    assert erasure.flags(world.backend, "iris", world.version) == []


def test_erase_removes_the_rows_audits_and_flags_the_version(world: World) -> None:
    backend = world.backend
    old = {d: datasets.get(backend, d).snapshot for d in (world.train, world.crm)}
    result = erasure.erase(backend, COMPLIANCE, ErasureRequest(key={"email": world.subject}), reason="GDPR art. 17")
    assert result.request_id and {(s.dataset_id, s.rows_removed) for s in result.snapshots} == {
        (world.train, 1), (world.crm, 2)}
    train, crm = _snapshot(backend, world.train), _snapshot(backend, world.crm)
    assert world.subject not in set(train.email) and len(train) == PEOPLE - 1
    assert list(train.columns) == list(world.people.columns)
    pd.testing.assert_frame_equal(train, world.people[world.people.email != world.subject].reset_index(drop=True))
    assert world.subject not in set(crm.email) and list(crm.plan) == ["basic", "basic"]
    for dataset_id, snapshot in old.items():
        assert snapshot is not None and not backend.artifacts.exists(snapshot.digest)  # the old bytes are gone
        found = datasets.get(backend, dataset_id)
        [entry] = found.redacted
        assert entry["request_id"] == result.request_id and entry["old_digest"] == snapshot.digest
        assert entry["new_digest"] == found.snapshot.digest and entry["by"] == COMPLIANCE.name
    # the run's own file is the redacted one too
    downloaded = pd.read_parquet(io.BytesIO(artifacts.read_bytes(backend, world.source_run, "data/customers.parquet")))
    assert world.subject not in set(downloaded.email)

    emails = _logged_emails(backend)
    assert world.subject not in emails and len(emails) == 4 + 2 - len(world.requests)  # the others stay
    for request_id in world.requests:
        with pytest.raises(NotFound):
            predictions.get(backend, request_id)
    assert predictions.get(backend, "plain-other")["records"][0]["inputs"]["age"] == 41
    assert sum(p.records_removed for p in result.log_parts) == len(world.requests)

    report = audit.verify(backend)
    assert report.ok, report
    [event] = audit.list_(backend, action="data.erased")
    assert event.subject_id == result.request_id and event.reason == "GDPR art. 17"
    text = json.dumps(event.details)
    assert world.subject not in text and event.details["key_hash"] == key_hash({"email": world.subject})
    assert event.details["flagged_versions"] == [f"iris/{world.version}"]
    [record] = erasure.requests(backend, COMPLIANCE)
    assert record.request_id == result.request_id and len(record.snapshots) == 2

    status = governance.status(backend, "iris", world.version)
    [flag] = status.erasure_flags
    assert flag["request_id"] == result.request_id and flag["decision"] is None and status.state == "released"
    decided = erasure.decide(backend, APPROVER, "iris", world.version, decision="retrain", reason="retrain next sprint")
    assert decided.decision is not None and decided.decision.decision == "retrain"
    flag = governance.status(backend, "iris", world.version).erasure_flags[0]
    assert flag["decision"]["decision"] == "retrain" and flag["decision"]["by"] == APPROVER.name
    assert audit.verify(backend).ok

    again = erasure.find(backend, COMPLIANCE, ErasureRequest(key={"email": world.subject}))
    assert again.datasets == [] and again.log_parts == []


def test_erasing_a_whole_dataset_keeps_its_columns(world: World) -> None:
    result = erasure.erase(world.backend, ADMIN, ErasureRequest(dataset=world.crm), reason="consent withdrawn")
    [snapshot] = result.snapshots
    assert snapshot.rows_removed == 4 and result.log_parts == []
    emptied = _snapshot(world.backend, world.crm)
    assert len(emptied) == 0 and "email" in emptied.columns
    assert result.flagged_versions == []  # nothing was trained on it
    assert _snapshot(world.backend, world.train).shape == (PEOPLE, 4)


def test_who_may_and_bad_requests(world: World) -> None:
    request = ErasureRequest(key={"email": world.subject})
    for call in (lambda: erasure.find(world.backend, AUTHOR, request),
                 lambda: erasure.erase(world.backend, AUTHOR, request, reason="x"),
                 lambda: erasure.requests(world.backend, AUTHOR)):
        with pytest.raises(PermissionDenied, match="admin or compliance"):
            call()
    with pytest.raises(PermissionDenied, match="admin or compliance or risk or approver"):
        erasure.decide(world.backend, AUTHOR, "iris", world.version, decision="keep", reason="x")
    with pytest.raises(InvalidInput, match="needs a reason"):
        erasure.erase(world.backend, COMPLIANCE, request, reason=" ")
    with pytest.raises(InvalidInput, match="'key'"):
        erasure.find(world.backend, COMPLIANCE, ErasureRequest())
    with pytest.raises(NotFound, match="no erasure flag"):
        erasure.decide(world.backend, COMPLIANCE, "iris", world.version, decision="keep", reason="nothing to keep")
    assert world.subject in set(_snapshot(world.backend, world.train).email)  # refused: nothing changed


def test_a_key_column_no_dataset_has_gives_an_empty_explicit_answer(world: World) -> None:
    found = erasure.find(world.backend, COMPLIANCE, ErasureRequest(key={"passport": "X1234567"}))
    assert found.datasets == [] and found.runs == [] and found.versions == [] and found.log_parts == []
    reasons = {u.id: u.reason for u in found.unsearched_datasets}
    assert {reasons[d] for d in (world.train, world.crm, world.ages)} == {"no column 'passport'"}
    assert found.log_parts_searched == 2


def test_sdk_rest_and_cli(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelward.api.app import create_app

    backend = Backend.from_settings(sqlite_settings)
    try:
        world = _build(backend)
        with Client(settings=sqlite_settings) as client:
            found = client.erasure.find({"email": world.subject})
            assert {d.id for d in found.datasets} == {world.train, world.crm} and len(found.log_parts) == 2
            planned = client.erasure.erase({"email": world.subject}, reason="ticket 42", dry_run=True)
            assert planned.dry_run and planned.flagged_versions == [f"iris/{world.version}"]
            with pytest.raises(InvalidInput, match="'key'"):
                client.erasure.find()
        with (Client(settings=sqlite_settings, user="alice") as contributor,
              pytest.raises(PermissionDenied, match="admin or compliance")):
            contributor.erasure.find({"email": world.subject})

        with TestClient(create_app(sqlite_settings)) as http:
            for body, named in (({}, "'key'"), ({"key": {"email": "a@b.c"}, "colour": 1}, "colour"),
                                ({"key": {"email": ""}}, "key column 'email'")):
                answer = http.post("/api/v1/erasure/find", json=body)
                assert answer.status_code == 400, answer.text
                assert set(answer.json()) >= {"error_code", "message"} and named in answer.json()["message"]
            answer = http.post("/api/v1/erasure", json={"key": {"email": "a@b.c"}, "reason": ""})
            assert answer.status_code == 400 and "needs a reason" in answer.json()["message"]

        monkeypatch.setenv("MODELWARD_HOME", str(sqlite_settings.home))
        run = CliRunner().invoke
        env = {"COLUMNS": "250"}
        dry = run(cli_app, ["data", "erase", "--key", f"email={world.subject}", "--dry-run", "--reason", "t-42"], env=env)
        assert dry.exit_code == 0, dry.output
        assert "dry run: nothing was changed" in dry.output and world.train in dry.output and ENDPOINT in dry.output
        assert world.subject not in dry.output and "not searched: dataset" in dry.output
        done = run(cli_app, ["data", "erase", "--key", f"email={world.subject}", "--reason", "t-42"], env=env)
        assert done.exit_code == 0, done.output
        assert f"versions flagged for review: iris/{world.version}" in done.output and "1 row(s) removed" in done.output
        assert world.subject not in set(_snapshot(backend, world.train).email)
        decided = run(cli_app, ["data", "erase", "decide", "iris", str(world.version), "--keep", "--reason",
                                "the subject's row was 1 of 40"], env=env)
        assert decided.exit_code == 0, decided.output
        assert f"version {world.version} of model 'iris': keep" in decided.output
        listed = run(cli_app, ["data", "erase", "requests", "--json"], env=env)
        [record] = json.loads(listed.output)
        assert record["key_columns"] == ["email"] and record["flagged_versions"] == [f"iris/{world.version}"]
        neither = run(cli_app, ["data", "erase", "decide", "iris", str(world.version), "--reason", "x"], env=env)
        assert isinstance(neither.exception, InvalidInput) and "--retrain or --keep" in str(neither.exception)
        nothing = run(cli_app, ["data", "erase", "--reason", "x"], env=env)
        assert isinstance(nothing.exception, InvalidInput) and "'key'" in str(nothing.exception)
        assert audit.verify(backend).ok
    finally:
        backend.close()


def test_an_old_blob_another_file_still_names_is_kept_and_said(world: World) -> None:
    backend = world.backend
    snapshot = datasets.get(backend, world.train).snapshot
    assert snapshot is not None
    copy_run = runs.start(backend, ADMIN, experiment_id=_experiment(backend, "copies")).id
    artifacts.upload(backend, copy_run, "backup/customers.parquet",
                     io.BytesIO(backend.artifacts.read_bytes(snapshot.digest)), actor=ADMIN)
    result = erasure.erase(backend, ADMIN, ErasureRequest(key={"email": world.subject}, dataset=world.train),
                           reason="ticket 9")
    [redacted] = result.snapshots
    assert not redacted.old_blob_removed and "still names it" in (redacted.old_blob_kept_because or "")
    assert backend.artifacts.exists(snapshot.digest)  # the backup's bytes, as the answer says
    assert world.subject not in set(_snapshot(backend, world.train).email)
    assert world.subject in set(_snapshot(backend, world.crm).email)  # not asked for
    assert audit.verify(backend).ok
