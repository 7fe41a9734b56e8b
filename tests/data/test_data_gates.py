"""Data expectations as a policy gate, ``reference: training``, and where the results are shown.

A generated loans table is split into train and test (logged with their parent, snapshots
stored); a model is fitted on the train split, which its run reads. A second run reads a copy
with a planted fault (an impossible age) and registers a second model. Policies with
``data_expectations`` gates are evaluated on the server (the in-process store, through the SDK);
the dataset, run, review pages and the model card are read over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from faker import Faker
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

from modelward import models
from modelward.api.app import create_app
from modelward.domain.policy import DataExpectationsGate, parse_policy_yaml
from modelward.errors import InvalidInput
from modelward.sdk.client import Client

ROWS = 400
AGE = {"columns": {"age": {"type": "int", "min": 18, "max": 100}}}


def loans(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": rng.integers(18, 90, ROWS), "income": rng.normal(50.0, 10.0, ROWS)})
    frame["target"] = (frame["income"] + rng.normal(0, 5, ROWS) > 50).astype(int)
    return frame


@dataclass
class World:
    client: Client
    train_id: str
    test_id: str
    faulty_id: str
    good: int  # version of loans-good (trained on the clean train split)
    bad: int  # version of loans-bad (trained on the faulty copy)
    evaluation: dict[str, str]  # the test split's snapshot: {run_id, path}
    crm_id: str = ""  # a dataset of generated people, scanned (set by the http fixture)


def _register(client: Client, name: str, run_id: str, frame: pd.DataFrame, folder: object) -> int:
    features = frame[["age", "income"]]
    saved = models.save(LogisticRegression().fit(features, frame["target"]), folder, input_example=features.head())
    client.artifacts.upload(run_id, saved, "model")
    return client.models.register(name, run_id=run_id).version


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("data-gates")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELWARD_HOME", str(home / "store"))
        with Client() as client:
            experiment = client.experiments.get_or_create("data-gates").id
            prep = client.runs.create(experiment)
            whole = pd.concat([loans(1), loans(2)], ignore_index=True)
            parent = client.datasets.log(whole, name="loans", run_id=prep.id, context="output", snapshot=True)
            train_frame, test_frame = whole.iloc[:ROWS].reset_index(drop=True), whole.iloc[ROWS:].reset_index(drop=True)
            test_frame = test_frame.assign(income=test_frame["income"] + 8)  # the test data moved
            fit = client.runs.create(experiment)
            train = client.datasets.log(train_frame, name="loans/train", parent=parent, split="train", run_id=fit.id,
                                        context="input", snapshot=True, expectations=AGE)
            drift = {**AGE, "distribution": {"income": {"reference": "training", "max_ks": 0.1}}}
            test = client.datasets.log(test_frame, name="loans/test", parent=parent, split="test", run_id=prep.id,
                                       context="output", snapshot=True, expectations=drift)
            good = _register(client, "loans-good", fit.id, train_frame, home / "good")
            faulty_frame = train_frame.copy()
            faulty_frame.loc[[3, 7], "age"] = [150, 151]
            refit = client.runs.create(experiment)
            faulty = client.datasets.log(faulty_frame, name="loans-faulty", run_id=refit.id, context="input",
                                         snapshot=True, expectations=AGE)
            unchecked = client.datasets.log(train_frame.head(50), name="loans-extra", run_id=refit.id, context="input",
                                            snapshot=True)
            assert unchecked.data_check is None
            bad = _register(client, "loans-bad", refit.id, faulty_frame, home / "bad")
            snapshot = test.snapshot
            assert snapshot is not None
            yield World(client, train.id, test.id, faulty.id, good, bad,
                        {"run_id": snapshot.run_id, "path": snapshot.path})


def _policy(world: World, model: str, gates: str) -> None:
    data = world.evaluation
    world.client.policies.set(f"model: {model}\nprotected_aliases: []\ngates:\n{gates}"
                              f"evaluation_dataset: {{run_id: {data['run_id']}, path: {data['path']}}}\n")


def _gate(evaluation: object, index: int = 0) -> dict:
    return evaluation.result["gates"][index]  # type: ignore[attr-defined]


# -- reference: training -------------------------------------------------------------------------------


def test_reference_training_is_the_train_split_of_the_same_parent(world: World) -> None:
    test = world.client.datasets.get(world.test_id)
    assert test.data_check is not None and test.data_check["failed"] == ["income.ks"]
    check = world.client.data_checks.latest(test)
    [ks] = [item for item in check.result.failed()]
    assert ks.check == "ks" and ks.observed > 0.1
    assert check.declaration["distribution"]["income"]["reference"] == "training"  # stored as written
    # the train split itself, or a dataset that is no split, has no training split to compare with
    with pytest.raises(InvalidInput, match="itself the training split"):
        world.client.data_checks.check(world.train_id, {"distribution": {"age": {"reference": "training", "max_ks": 0.5}}})
    with pytest.raises(InvalidInput, match="is not a split"):
        world.client.data_checks.check(world.faulty_id, {"distribution": {"age": {"reference": "training", "max_ks": 0.5}}})


# -- the policy language -------------------------------------------------------------------------------


@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("gates:\n  - {data_expectations: trained}\n", "data_expectations"),
    ("gates:\n  - {data_expectations: training, colour: red}\n", "colour"),
    ("gates:\n  - {data_expectations: evaluation}\n", "needs 'expectations'"),
    ("gates:\n  - {data_expectations: training, expectations: {rows: {min: 1}}}\n", "evaluation' only"),
    ("gates:\n  - {data_expectations: evaluation, required_on: [x], expectations: {rows: {min: 1}}}\n", "required_on"),
    ("gates:\n  - {data_expectations: evaluation, expectations: {columns: {age: {mni: 1}}}}\n",
     "gates[0].expectations.columns.age.mni"),
    ("gates:\n  - {data_expectations: training, required_on: []}\n", "required_on"),
    ("gates:\n  - {data_expectations: evaluation, expectations: {distribution: {x: {reference: trainin, max_ks: 0.1}}}}\n",
     "distribution.x.reference: a reference is 'training' or a mapping"),
])
def test_bad_data_gates_name_the_line_and_field(yaml_text: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy_yaml(yaml_text)
    assert expected in str(caught.value) and "line 2" in str(caught.value)


def test_the_gates_parse() -> None:
    policy = parse_policy_yaml("gates:\n  - {data_expectations: training, required_on: [loans/train]}\n"
                               "  - data_expectations: evaluation\n    expectations: {rows: {min: 10}}\n")
    training, evaluation = policy.gates
    assert isinstance(training, DataExpectationsGate) and training.required_on == ["loans/train"]
    assert isinstance(evaluation, DataExpectationsGate) and evaluation.expectations.rows.min == 10  # type: ignore[union-attr]


# -- the gates, through a real evaluation --------------------------------------------------------------


def test_training_data_that_passed_its_checks_passes_the_gate(world: World) -> None:
    _policy(world, "loans-good", "  - {data_expectations: training}\n")
    evaluation = world.client.governance.evaluate("loans-good", world.good)
    gate = _gate(evaluation)
    assert gate["passed"] is True and gate["kind"] == "data_expectations"
    assert "'loans/train'" in gate["reason"] and gate["observed"] == {"loans/train": "passed"}


def test_a_planted_fault_fails_the_gate_naming_dataset_and_column(world: World) -> None:
    _policy(world, "loans-bad", "  - {data_expectations: training}\n")
    evaluation = world.client.governance.evaluate("loans-bad", world.bad)
    assert evaluation.passed is False
    reason = _gate(evaluation)["reason"]
    assert f"training dataset 'loans-faulty' ({world.faulty_id}) failed 1 expectation(s)" in reason
    assert "age.max (2 rows, 0.50%; e.g. 150, 151)" in reason
    assert "'loans-extra'" in reason and "never checked" in reason  # no expectations, no check: not verified
    assert world.client.governance.state("loans-bad", world.bad).state == "rejected"


def test_required_on_narrows_what_must_be_checked_but_a_failure_still_counts(world: World) -> None:
    _policy(world, "loans-bad", "  - {data_expectations: training, required_on: [loans-faulty, nowhere]}\n")
    reason = _gate(world.client.governance.evaluate("loans-bad", world.bad, advisory=True))["reason"]
    assert "required dataset 'nowhere' is not among" in reason and "'loans-faulty'" in reason
    assert "loans-extra" not in reason


def test_the_evaluation_data_must_meet_the_declaration(world: World) -> None:
    gates = ("  - data_expectations: evaluation\n"
             "    expectations: {columns: {age: {max: 100}}, rows: {min: 10},"
             " distribution: {income: {reference: training, max_psi: 0.2}}}\n")
    _policy(world, "loans-good", gates)
    gate = _gate(world.client.governance.evaluate("loans-good", world.good, advisory=True))
    assert gate["passed"] is False and gate["observed"] == ["income.psi"]
    assert gate["reason"].startswith(f"the evaluation data ({ROWS} rows) failed 1 expectation(s): income.psi")
    _policy(world, "loans-good", "  - {data_expectations: evaluation, expectations: {columns: {age: {max: 100}}}}\n")
    assert _gate(world.client.governance.evaluate("loans-good", world.good, advisory=True))["passed"] is True


# -- where the results are shown -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def http(world: World) -> Iterator[TestClient]:
    fake = Faker("en_GB")
    fake.seed_instance(5)
    run = world.client.runs.create(world.client.experiments.get_or_create("data-gates").id)
    people = pd.DataFrame({"email": [fake.email() for _ in range(100)], "score": range(100)})
    crm = world.client.datasets.log(people, name="crm", run_id=run.id, snapshot=True)
    world.client.personal_data.scan_dataset(crm.id)
    world.client.personal_data.scan_dataset(world.faulty_id)
    world.crm_id = crm.id
    with TestClient(create_app(world.client.settings)) as client:
        yield client


def test_the_dataset_page_shows_checks_scans_and_lineage(world: World, http: TestClient) -> None:
    page = http.get(f"/ui/datasets/{world.faulty_id}")
    assert page.status_code == 200
    checks = page.text.split('id="checks"', 1)[1].split("</section>", 1)[0]
    assert "failed" in checks and "<code>age.max</code>" in checks and "150, 151" in checks and "0.50%" in checks
    expectations = page.text.split('id="expectations"', 1)[1].split("</section>", 1)[0]
    assert '"max": 100' in expectations  # the attached declaration
    assert "/ui/lineage?ref=artifact%3A" + world.faulty_id in page.text
    assert "no personal data found" in page.text.split('id="scans"', 1)[1]
    assert 'id="data-governance"' not in page.text  # no purpose or consent set: nothing to show
    crm = http.get(f"/ui/datasets/{world.crm_id}")
    scans = crm.text.split('id="scans"', 1)[1].split("</section>", 1)[0]
    assert "<code>email</code>" in scans and "***@" in scans  # masked examples only
    people = world.client.datasets.get(world.crm_id)
    assert "Never checked." in crm.text and people.data_check is None
    missing = http.get("/ui/datasets/no-such-dataset")
    assert missing.status_code == 404 and "no-such-dataset" in missing.text


def test_the_run_and_lineage_pages_link_their_datasets(world: World, http: TestClient) -> None:
    faulty = world.client.datasets.get(world.faulty_id)
    assert faulty.snapshot is not None
    page = http.get(f"/ui/runs/{faulty.snapshot.run_id}")  # the run that read the faulty copy
    datasets = page.text.split('id="run-datasets"', 1)[1].split("</section>", 1)[0]
    assert f'href="/ui/datasets/{world.faulty_id}"' in datasets and "age.max" in datasets
    assert "loans-extra" in datasets and "not checked" in datasets
    graph = http.get(f"/ui/lineage?ref=artifact:{world.faulty_id}")
    assert graph.status_code == 200 and f'href="/ui/datasets/{world.faulty_id}"' in graph.text


def test_the_review_page_and_the_card_show_data_quality(world: World, http: TestClient) -> None:
    page = http.get(f"/ui/models/loans-bad/versions/{world.bad}/review")
    assert page.status_code == 200
    quality = page.text.split('id="data-quality"', 1)[1].split("</section>", 1)[0]
    assert "loans-faulty" in quality and "failed" in quality and "age.max" in quality
    assert "loans-extra" in quality and "never checked" in quality
    card = world.client.cards.generate("loans-bad", world.bad)
    rows = {row.dataset: row for row in card.training_data.quality}
    assert rows["loans-faulty"].expectations.startswith("failed: age.max")
    assert rows["loans-faulty"].personal_data == "none found"
    assert rows["loans-extra"].expectations == "never checked"
    markdown = world.client.cards.render("loans-bad", world.bad, format="markdown")
    assert "Data quality" in markdown and "failed: age.max" in markdown
    assert "data expectations of the training data" in markdown  # the gate, named in the review table


def test_the_dataset_page_shows_purpose_consent_and_retention_when_set(world: World, http: TestClient) -> None:
    from modelward.services.backend import Backend
    from modelward.store import lineage as lineage_store

    governed = {"purposes": ["credit-scoring"], "excluded_purposes": ["marketing"], "consent": "explicit",
                "retention_until": "2030-01-31", "set_by": "dora"}  # legal_basis and set_at absent: still shown
    backend = Backend.from_settings(world.client.settings)
    try:
        with backend.write() as session:
            lineage_store.update_artifact_properties(session, world.train_id, {"data_governance": governed})
    finally:
        backend.close()
    page = http.get(f"/ui/datasets/{world.train_id}")
    section = page.text.split('id="data-governance"', 1)[1].split("</section>", 1)[0]
    assert "credit-scoring" in section and "marketing" in section and "explicit" in section
    assert "2030-01-31" in section and "dora" in section and "Legal basis" not in section
