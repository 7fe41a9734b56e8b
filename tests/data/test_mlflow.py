"""Expectations on datasets logged by the real mlflow client's ``log_input``: tags carry the
declaration (``modelward.expectations``) and name the run's file holding the data (``modelward.snapshot``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelward.sdk.client import Client
from tests.data.frames import clean, declaration, failed, faulty
from tests.fixtures.servers import ServerProcess

mlflow = pytest.importorskip("mlflow")


@pytest.fixture
def url(live_server: ServerProcess, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(live_server.url)
    yield live_server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _tags(declared: dict, snapshot: str | None = None) -> dict[str, str]:
    tags = {"modelward.expectations": json.dumps(declared)}
    return {**tags, "modelward.snapshot": snapshot} if snapshot else tags


def test_log_input_with_a_planted_fault_is_checked_and_kept(url: str, unique: str, tmp_path: Path) -> None:
    mlflow.set_experiment(f"mlflow-data-{unique}")
    frame = faulty().assign(tag=unique)
    local = tmp_path / "train.parquet"
    frame.to_parquet(local, index=False)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(local), artifact_path="data")
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train"), context="training",
                         tags=_tags(declaration(), "data/train.parquet"))
        mlflow.log_input(mlflow.data.from_pandas(clean().assign(tag=unique), name="remote"), context="eval",
                         tags=_tags({"rows": {"min": 1}}))
    inputs = mlflow.MlflowClient(url).get_run(run.info.run_id).inputs.dataset_inputs
    assert sorted(i.dataset.name for i in inputs) == ["remote", "train"]  # both logged, the failing one too
    with Client(url) as ours:
        read = {d.name: d for d in ours.datasets.of_run(run.info.run_id, "input")}
        train = read["train"]
        assert train.snapshot is not None and train.snapshot.path == "data/train.parquet"
        assert train.data_check["status"] == "failed"
        stored = ours.data_checks.latest(train)
        assert stored.trigger == "mlflow" and set(failed(stored)) == {"age.min", "age.max", "id.unique", "email.missing_max"}
        assert read["remote"].data_check["status"] == "unchecked"  # no data stored for it
        events = ours.audit.list(action="dataset.checked", limit=100)
        assert {e.subject_id for e in events} >= {train.id, read["remote"].id}


def test_a_bad_declaration_tag_is_refused(url: str, unique: str) -> None:
    mlflow.set_experiment(f"mlflow-bad-{unique}")
    with mlflow.start_run() as run:
        with pytest.raises(mlflow.exceptions.MlflowException, match="modelward.expectations") as raised:
            mlflow.log_input(mlflow.data.from_pandas(clean(), name="bad"), context="training",
                             tags=_tags({"columns": {"age": {"max": "old"}}}))
        assert raised.value.error_code == "INVALID_PARAMETER_VALUE" and "columns.age.max" in raised.value.message
        with pytest.raises(mlflow.exceptions.MlflowException, match="not.json|JSON|YAML"):
            mlflow.log_input(mlflow.data.from_pandas(clean(), name="bad"), tags={"modelward.expectations": "{oops"})
    assert mlflow.MlflowClient(url).get_run(run.info.run_id).inputs.dataset_inputs == []


def test_a_dataset_logged_by_the_mlflow_client_is_scanned_for_personal_data(url: str, unique: str,
                                                                            tmp_path: Path) -> None:
    from faker import Faker

    fake = Faker("fr_FR")
    fake.seed_instance(9)
    frame = clean(rows=300).assign(nom=[fake.name() for _ in range(300)], telephone=[fake.phone_number() for _ in range(300)],
                                   tag=unique)
    local = tmp_path / "people.parquet"
    frame.to_parquet(local, index=False)
    mlflow.set_experiment(f"mlflow-pii-{unique}")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(local), artifact_path="data")
        mlflow.log_input(mlflow.data.from_pandas(frame, name="people"), context="training",
                         tags={"modelward.snapshot": "data/people.parquet"})
    with Client(url) as ours:
        (logged,) = ours.datasets.of_run(run.info.run_id, "input")
        scan = ours.personal_data.scan_dataset(logged)
    kinds = {f["column"]: f["kind"] for f in scan.findings}
    assert kinds == {"email": "email", "nom": "person_name", "telephone": "phone"}
