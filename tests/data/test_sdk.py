"""Expectations through the SDK: checked on logging and on demand, stored with the dataset, audited."""

from __future__ import annotations

import pandas as pd
import pytest

from modelward.errors import InvalidInput, NotFound
from modelward.sdk.client import Client
from tests.data.frames import ROWS, clean, declaration, failed, faulty


def _run(client: Client, unique: str) -> str:
    experiment = client.experiments.get_or_create(f"data-{unique}")
    return client.runs.create(experiment.id).id


def test_a_faulty_frame_is_logged_marked_and_its_check_names_the_columns(client: Client, unique: str) -> None:
    run_id = _run(client, unique)
    reference = client.datasets.log(clean(0).assign(tag=unique), name=f"ref-{unique}", run_id=run_id, snapshot=True)
    declared = declaration({"dataset": reference.id})
    logged = client.datasets.log(faulty().assign(tag=unique), name=f"train-{unique}", run_id=run_id,
                                 snapshot=True, expectations=declared)
    assert logged.snapshot is not None and logged.expectations == declared  # kept, not lost
    assert logged.data_check["status"] == "failed"
    assert set(logged.data_check["failed"]) == {"age.min", "age.max", "id.unique", "email.missing_max",
                                                "income.psi", "income.ks"}
    stored = client.data_checks.latest(logged)
    assert stored is not None and stored.trigger == "sdk" and stored.result.rows == ROWS
    assert stored.dataset_digest == logged.digest and stored.declaration == declared
    assert failed(stored)["age.max"].examples == ["150", "131"]
    assert client.datasets.get(logged.id).data_check["check_id"] == stored.id
    assert logged.id in {d.id for d in client.datasets.of_run(run_id, "input")}  # lineage as before


def test_checks_on_demand_append_history_and_an_audit_event(client: Client, unique: str) -> None:
    run_id = _run(client, unique)
    logged = client.datasets.log(clean().assign(tag=unique), name=f"d-{unique}", run_id=run_id, snapshot=True,
                                 expectations={"columns": {"age": {"min": 18}}})
    assert logged.data_check["status"] == "passed"
    stricter = client.data_checks.check(logged.digest, {"columns": {"age": {"max": 30}}, "rows": {"max": 10}})
    assert stricter.status == "failed" and set(failed(stricter)) == {"age.max", "rows_max"}
    again = client.data_checks.check(logged.id)  # the attached declaration
    assert again.status == "passed" and again.declaration == {"columns": {"age": {"min": 18}}}
    history = client.data_checks.list(logged.id)
    assert [c.id for c in history] == sorted((c.id for c in history), reverse=True) and len(history) == 3
    assert [c.trigger for c in history] == ["on_demand", "on_demand", "sdk"]
    events = [e for e in client.audit.list(action="dataset.checked", limit=50) if e.subject_id == logged.id]
    assert len(events) == 3 and {e.details["status"] for e in events} == {"passed", "failed"}
    assert client.audit.verify().ok


def test_a_reference_file_of_a_run_and_a_dataset_without_data(client: Client, unique: str) -> None:
    run_id = _run(client, unique)
    client.artifacts.upload_bytes(run_id, "reference/income.csv", clean(0)[["income"]].to_csv(index=False).encode())
    logged = client.datasets.log(faulty().assign(tag=unique), name=f"s-{unique}", run_id=run_id, snapshot=True)
    declared = {"distribution": {"income": {"reference": {"run_id": run_id, "path": "reference/income.csv"},
                                            "max_ks": 0.15}}}
    assert set(failed(client.data_checks.check(logged, declared))) == {"income.ks"}
    remote = client.datasets.log(uri=f"s3://bucket/{unique}/t.parquet", expectations={"rows": {"min": 1}})
    assert remote.data_check["status"] == "unchecked"
    unchecked = client.data_checks.latest(remote)
    assert unchecked.passed is None and "no stored snapshot" in unchecked.result.reason


def test_bad_input_is_refused_and_stores_nothing(client: Client, unique: str) -> None:
    run_id = _run(client, unique)
    frame = clean().assign(tag=unique)
    with pytest.raises(InvalidInput, match="columns.age.mni: unknown key"):
        client.datasets.log(frame, name=f"b-{unique}", run_id=run_id, snapshot=True,
                            expectations={"columns": {"age": {"mni": 0}}})
    with pytest.raises(InvalidInput, match="snapshot=True"):
        client.datasets.log(frame, name=f"b-{unique}", run_id=run_id, expectations={"rows": {"min": 1}})
    logged = client.datasets.log(frame, name=f"b-{unique}", run_id=run_id, snapshot=True)
    assert client.data_checks.list(logged) == []
    with pytest.raises(InvalidInput, match="has no expectations attached"):
        client.data_checks.check(logged)
    with pytest.raises(NotFound, match="no dataset has digest"):
        client.data_checks.check("sha256:" + "0" * 64, {"rows": {"min": 1}})
    missing = {"distribution": {"income": {"reference": {"dataset": logged.id, "column": "nope"}, "max_psi": 0.1}}}
    with pytest.raises(InvalidInput, match="reference data has no column 'nope'"):
        client.data_checks.check(logged, missing)
    assert client.data_checks.list(logged) == []


def test_the_fluent_log_dataset_takes_expectations_as_yaml(unique: str) -> None:
    import modelward

    modelward.set_tracking_uri(None)  # the embedded store in the test's folder
    try:
        with modelward.start_run(experiment=f"fluent-{unique}", capture_output=False, log_environment=False):
            logged = modelward.log_dataset(pd.DataFrame({"id": [1, 1, 2]}), name="f", snapshot=True,
                                           expectations="columns:\n  id: {unique: true}\n")
    finally:
        modelward.set_tracking_uri(None)
    assert logged.data_check["status"] == "failed" and logged.data_check["failed"] == ["id.unique"]
