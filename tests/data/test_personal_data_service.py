"""Personal data found in what the store holds: a logged dataset's snapshot and an endpoint's
prediction log are scanned on the server (REST through the embedded client, the CLI), the
findings are kept with their subject and audited, and a version's review shows what its
training data holds. Generated people only (Faker, seeded)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from faker import Faker
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient
from typer.testing import CliRunner, Result

from modelward import models
from modelward.api.app import create_app
from modelward.cli import app
from modelward.domain.predictions import PredictionRecord
from modelward.errors import InvalidInput, NotFound
from modelward.sdk.client import Client
from modelward.services import audit, deployments, personal_data
from modelward.services.predictions import PredictionLog
from tests.deployments.helpers import APPROVER, approved_versions, iris

ROWS = 300


def customers(seed: int = 3) -> pd.DataFrame:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_name": [fake.name() for _ in range(ROWS)],
        "col_7": [fake.email() for _ in range(ROWS)],  # an e-mail column with a name that says nothing
        "tenure": rng.integers(1, 60, ROWS),
        "spend": rng.normal(50, 10, ROWS),
        "product_code": [f"SKU-{rng.integers(1000, 9999)}" for _ in range(ROWS)],
        "churned": rng.integers(0, 2, ROWS),
    })


@dataclass
class Logged:
    client: Client
    frame: pd.DataFrame
    dataset_id: str
    version: int


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    home = tmp_path_factory.mktemp("pii")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELWARD_HOME", str(home / "store"))
        with Client() as client:
            frame = customers()
            run = client.runs.create(client.experiments.get_or_create("pii").id)
            dataset = client.datasets.log(frame, name="customers", run_id=run.id, snapshot=True)
            features = frame[["tenure", "spend"]]
            folder = models.save(LogisticRegression().fit(features, frame["churned"]), home / "model",
                                 input_example=features.head())
            client.artifacts.upload(run.id, folder, "model")
            version = client.models.register("churn-pii", run_id=run.id).version
            yield Logged(client, frame, dataset.id, version)


def test_a_dataset_scan_finds_the_planted_columns_and_keeps_masked_examples_only(logged: Logged) -> None:
    scan = logged.client.personal_data.scan_dataset(logged.dataset_id)
    kinds = {f["column"]: f["kind"] for f in scan.findings}
    assert kinds == {"customer_name": "person_name", "col_7": "email"}
    assert scan.subject_type == "dataset" and scan.subject_id == logged.dataset_id
    assert set(scan.columns()) == {"customer_name", "col_7"} and scan.kinds == sorted(scan.kinds)
    stored = json.dumps(scan.result)
    assert not any(value in stored for value in logged.frame["col_7"])  # never a raw e-mail address
    assert not any(value in stored for value in logged.frame["customer_name"])
    assert logged.client.datasets.get(logged.dataset_id).model_dump().get("data_check") is None  # a scan is not a check
    assert logged.client.personal_data.dataset_scans(logged.dataset_id)[0].id == scan.id


def test_the_scan_is_audited_and_summarised_on_the_dataset(logged: Logged) -> None:
    scan = logged.client.personal_data.scan_dataset(logged.dataset_id, locales=["en_US"], sample_rows=100)
    events = logged.client.audit.list(action="dataset.scanned")
    assert events[0].details["scan_id"] == scan.id and set(events[0].details["columns"]) == {"customer_name", "col_7"}
    assert scan.result["sample_rows"] == 100 and scan.result["locales"] == ["en_US"]
    scans = logged.client.personal_data.dataset_scans(logged.dataset_id)
    assert [s.id for s in scans][:1] == [scan.id] and len(scans) >= 2  # appended, history kept


def test_the_review_of_a_version_shows_what_its_training_data_holds(logged: Logged) -> None:
    logged.client.personal_data.scan_dataset(logged.dataset_id)
    [found] = logged.client.personal_data.of_version("churn-pii", logged.version)
    assert found["dataset_id"] == logged.dataset_id and found["dataset"] == "customers"
    assert {c["column"]: c["kinds"] for c in found["columns"]} == {"customer_name": ["person_name"], "col_7": ["email"]}
    status = logged.client.governance.state("churn-pii", logged.version)
    assert status.personal_data == [found]


def test_bad_requests_name_the_problem(logged: Logged) -> None:
    with pytest.raises(NotFound, match="no-such-dataset"):
        logged.client.personal_data.scan_dataset("no-such-dataset")
    with pytest.raises(InvalidInput, match="sample_rows"):
        logged.client.personal_data.scan_dataset(logged.dataset_id, sample_rows=0)
    with pytest.raises(InvalidInput, match="locale"):
        logged.client.personal_data.scan_dataset(logged.dataset_id, locales=["xx_XX"])
    run = logged.client.runs.create(logged.client.experiments.get_or_create("pii").id)
    no_snapshot = logged.client.datasets.log(logged.frame.head(50), name="unsnapshotted", run_id=run.id)
    with pytest.raises(InvalidInput, match="has no stored snapshot"):
        logged.client.personal_data.scan_dataset(no_snapshot.id)
    assert logged.client.personal_data.dataset_scans(no_snapshot.id) == []  # nothing half-stored


def test_protected_columns_are_hashed_or_dropped_before_they_leave_the_process(logged: Logged) -> None:
    run = logged.client.runs.create(logged.client.experiments.get_or_create("pii").id)
    rules = {"customer_name": "drop", "col_7": "hash"}
    first = logged.client.datasets.log(logged.frame, name="protected", run_id=run.id, snapshot=True, protect=rules,
                                       protect_secret="a secret of sixteen bytes or more")
    assert [c.name for c in first.data_schema.columns] == ["col_7", "tenure", "spend", "product_code", "churned"]
    scan = logged.client.personal_data.scan_dataset(first.id)
    assert scan.columns() == []  # neither the names nor the addresses reached the store
    again = logged.client.datasets.log(logged.frame, name="protected", run_id=run.id, protect=rules,
                                       protect_secret="a secret of sixteen bytes or more")
    assert again.digest == first.digest  # same secret, same hashes: the same dataset
    with pytest.raises(InvalidInput, match="secret"):
        logged.client.datasets.log(logged.frame, name="protected", run_id=run.id, protect={"col_7": "hash"})
    with pytest.raises(InvalidInput, match="DataFrame"):
        logged.client.datasets.log(uri="s3://bucket/x.csv", name="remote", protect={"col_7": "drop"})


@pytest.mark.parametrize("forged", [
    {"data_check": {"status": "passed", "failed": []}},
    {"personal_data": {"columns": [], "kinds": []}},
    {"redacted": [{"request_id": "made-up"}]},
    {"expectations": {"rows": {"min": 1}}},
    {"data_governance": {"purposes": ["anything"], "set_by": "dora"}},
])
def test_what_the_server_records_about_a_dataset_cannot_be_sent_with_it(logged: Logged, forged: dict) -> None:
    """A contributor could otherwise log a dataset that shows a check, a scan or a redaction that
    never happened: refused through the datasets API and the lineage API alike."""
    run = logged.client.runs.create(logged.client.experiments.get_or_create("pii").id)
    (key,) = forged
    with pytest.raises(InvalidInput, match=f"the property '{key}' is set through"):
        logged.client.datasets.log(logged.frame.head(7), name="forged", run_id=run.id, properties=forged)
    spec = {"kind": "dataset", "name": "forged", "digest": "sha256:" + "ab" * 32, "properties": forged}
    with pytest.raises(InvalidInput, match=f"the property '{key}' is set through"):
        logged.client.http.call("POST", "/api/v1/lineage/record",
                                json={"execution": {"run_id": run.id}, "inputs": [spec]})
    assert logged.client.datasets.find(name="forged") == []


# -- the CLI -------------------------------------------------------------------------------------------


def cli(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == code, (result.output, result.exception)
    return result


def test_the_cli_prints_the_findings_and_can_fail_on_them(logged: Logged, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWARD_HOME", logged.client.settings.home.as_posix())
    out = cli("data", "scan", logged.dataset_id).output
    first = out.splitlines()[0]
    assert first.startswith(f"dataset {logged.dataset_id}: personal data in 2 column(s)")
    assert any("col_7" in line and "email" in line and "@" in line for line in out.splitlines())
    cli("data", "scan", logged.dataset_id, "--fail-on-found", code=1)
    listed = json.loads(cli("data", "scans", logged.dataset_id, "--json").output)
    assert listed[0]["subject_id"] == logged.dataset_id
    done = subprocess.run([sys.executable, "-m", "modelward", "data", "scan", logged.dataset_id, "--endpoint", "x"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("Error:") and "not both" in done.stderr and done.stderr.strip().count("\n") == 0


# -- the prediction log --------------------------------------------------------------------------------


def test_a_prediction_log_scan_reads_the_logged_inputs(backend) -> None:  # type: ignore[no-untyped-def]
    [version] = approved_versions(backend, "iris", 1)
    deployments.create(backend, APPROVER, "iris-pii", model="iris", environment="production", version=version)
    features, _ = iris()
    fake = Faker("en_GB")
    fake.seed_instance(5)
    log = PredictionLog(backend, capacity=200, batch_size=50)
    for index in range(120):
        row = {**features.iloc[index].to_dict(), "contact_email": fake.email()}
        assert log.submit(PredictionRecord(
            request_id=f"pii-{index}", endpoint="iris-pii", model_name="iris", version=version, mode="live",
            at=datetime.now(UTC), latency_ms=2.0, status=200, error=None, inputs=[row], outputs=[0], rows=1))
    log.close()
    scan = personal_data.scan_prediction_log(backend, APPROVER, "iris-pii")
    assert {f["column"]: f["kind"] for f in scan.findings} == {"contact_email": "email"}
    assert scan.result["window"]["requests"] == 120
    assert personal_data.prediction_log_scans(backend, "iris-pii")[0].id == scan.id
    [event] = audit.list_(backend, action="prediction_log.scanned")
    assert event.subject_id == "iris-pii" and event.details["columns"] == ["contact_email"]
    with pytest.raises(NotFound):
        personal_data.scan_prediction_log(backend, APPROVER, "no-such-endpoint")


def test_the_review_page_shows_the_privacy_evidence(logged: Logged) -> None:
    logged.client.personal_data.scan_dataset(logged.dataset_id)
    with TestClient(create_app(logged.client.settings)) as http:
        page = http.get(f"/ui/models/churn-pii/versions/{logged.version}/review")
    assert page.status_code == 200
    evidence = page.text.split('id="privacy-evidence"', 1)[1].split("</td>", 1)[0]
    assert "customers" in evidence and "<code>col_7</code> (email)" in evidence
    assert "<code>customer_name</code> (person_name)" in evidence


def test_scanned_findings_survive_a_new_client(logged: Logged) -> None:
    with Client(settings=logged.client.settings) as again:
        assert set(again.personal_data.dataset_scans(logged.dataset_id)[0].columns()) == {"customer_name", "col_7"}


def test_the_review_page_shows_purpose_consent_retention_and_deletion_requests(logged: Logged) -> None:
    """Last in the module: it erases a customer from the shared dataset."""
    client = logged.client
    client.data_governance.set(logged.dataset_id, purposes=["churn_prediction"], consent="given",
                               legal_basis="contract", retention_until="2030-12-31")
    subject = logged.frame["customer_name"].iloc[0]
    erased = client.erasure.erase({"customer_name": subject}, reason="a data subject's request under Art. 17")
    with TestClient(create_app(client.settings)) as http:
        page = http.get(f"/ui/models/churn-pii/versions/{logged.version}/review").text
        section = page.split('id="data-use"', 1)[1].split("</section>", 1)[0]
        assert "churn_prediction" in section and "2030-12-31" in section and "contract" in section
        assert erased.request_id in section and "no decision yet" in section
        assert subject not in page  # the request is named by its id, never by the subject's value
        client.erasure.decide("churn-pii", logged.version, "keep", reason="one row of 300: the model stands")
        decided = http.get(f"/ui/models/churn-pii/versions/{logged.version}/review").text
    assert "decided <strong>keep</strong>" in decided and "one row of 300: the model stands" in decided
