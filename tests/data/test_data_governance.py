"""Purpose, consent and retention of datasets: set by the roles the policy names, audited with
before and after, and enforced on approval. Real versions are registered from runs that read
real datasets and evaluated on the policy's own data (so they are in review); the approval is
refused with the dataset and the property named, and allowed once the declaration is fixed,
through the services and through the REST API (embedded SDK client, acting as stored users)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from modelward import models
from modelward.cli import app
from modelward.domain.actors import Actor, Role
from modelward.domain.datasets import DatasetCreate
from modelward.errors import InvalidInput, PermissionDenied, PolicyViolation
from modelward.sdk.client import Client
from modelward.services import artifacts, audit, data_governance, datasets, governance, policies, registry, runs, users
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.deployments.helpers import APPROVER, iris
from tests.governance.helpers import ADMIN, AUTHOR, _experiment, dataset

DPO = Actor(name="dora", roles=frozenset({Role.COMPLIANCE}))  # the data protection officer
RISK_ONLY = Actor(name="rick", roles=frozenset({Role.RISK}))
MODEL = "credit"
POLICY = """\
model: {name}
gates: [{{metric: accuracy, min: 0.5}}]
review: {{approvals: 1, risk_assessment_required: false}}
"""
USE = "data: {use: credit_scoring}\n"
TODAY = datetime.now(UTC).date()


def _policy(backend: Backend, *, use: bool = True) -> None:
    features, target = iris()
    data = dataset(backend, features.assign(target=target))
    text = POLICY.format(name=MODEL) + (USE if use else "")
    policies.set_policy(backend, ADMIN, text + f"evaluation_dataset: {{run_id: {data['run_id']}, path: {data['path']}}}\n")


def _digest(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def trained_on(backend: Backend, *read: str, split_of: str | None = None) -> int:
    """A version registered from a run of the contributor that read the datasets ``read`` (by id),
    plus, with ``split_of``, a training split of that dataset; evaluated on registration."""
    run = runs.start(backend, AUTHOR, experiment_id=_experiment(backend, "training"))
    for dataset_id in read:
        found = datasets.get(backend, dataset_id)
        datasets.log(backend, DatasetCreate(name=found.name, digest=found.digest, run_id=run.id, direction="input"),
                     actor=AUTHOR)
    if split_of is not None:
        datasets.log(backend, DatasetCreate(name="applicants-train", digest=_digest(f"split of {split_of}"),
                                            parent_id=split_of, split="train", run_id=run.id, direction="input"),
                     actor=AUTHOR)
    features, target = iris()
    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save(LogisticRegression(max_iter=500).fit(features, target), Path(tmp) / "model",
                             input_example=features.head(3))
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            artifacts.upload(backend, run.id, f"model/{path.relative_to(folder).as_posix()}",
                             io.BytesIO(path.read_bytes()), actor=AUTHOR)
    version = registry.register_version(backend, AUTHOR, MODEL, run_id=run.id).version
    assert registry.get_version(backend, MODEL, version).status == "in_review"
    return version


def applicants(backend: Backend, label: str = "applicants") -> str:
    return datasets.log(backend, DatasetCreate(name=label, digest=_digest(label)), actor=AUTHOR).id


def _refused(backend: Backend, version: int, *expected: str) -> None:
    missing = governance.status(backend, MODEL, version).missing
    for text in expected:
        assert any(text in line for line in missing), (text, missing)
    with pytest.raises(PolicyViolation) as refused:
        governance.approve(backend, APPROVER, MODEL, version)
    for text in expected:
        assert text in str(refused.value)
    assert registry.get_version(backend, MODEL, version).status == "in_review"


def _approved(backend: Backend, version: int) -> None:
    assert not any("training data" in line for line in governance.status(backend, MODEL, version).missing)
    governance.approve(backend, APPROVER, MODEL, version)
    assert registry.get_version(backend, MODEL, version).status == "approved"


@pytest.fixture
def lite(sqlite_settings: Settings) -> Iterator[Backend]:
    backend = Backend.from_settings(sqlite_settings)
    yield backend
    backend.close()


# -- the rule -----------------------------------------------------------------------------------------


def test_a_purpose_that_excludes_the_models_use_refuses_approval_until_fixed(backend: Backend) -> None:
    _policy(backend)
    data = applicants(backend)
    data_governance.set_governance(backend, DPO, data, {"purposes": ["marketing"], "consent": "given",
                                                         "legal_basis": "consent"})
    version = trained_on(backend, data)
    _refused(backend, version, f"training data: dataset 'applicants' ({data}): purposes (marketing) do not include "
             "'credit_scoring', the model's use")
    status = governance.status(backend, MODEL, version)
    assert status.data_governance[0]["dataset_id"] == data
    assert status.data_governance[0]["declaration"]["purposes"] == ["marketing"]
    data_governance.set_governance(backend, DPO, data, {"purposes": ["credit_scoring"]}, merge=True)
    assert data_governance.get(backend, data).governance.consent == "given"  # merge kept the rest
    _approved(backend, version)


def test_excluded_purposes_withdrawn_consent_and_passed_retention_each_refuse_with_their_property(lite: Backend) -> None:
    _policy(lite)
    data = applicants(lite)
    version = trained_on(lite, data)
    data_governance.set_governance(lite, DPO, data, {"excluded_purposes": ["credit_scoring", "profiling"]})
    _refused(lite, version, "excluded_purposes includes 'credit_scoring', the model's use")
    yesterday = TODAY - timedelta(days=1)
    data_governance.set_governance(lite, DPO, data, {"retention_until": yesterday.isoformat()})
    _refused(lite, version, f"dataset 'applicants' ({data}): retention_until {yesterday.isoformat()} has passed")
    data_governance.set_governance(lite, DPO, data, {"consent": "withdrawn", "retention_until": str(TODAY)})
    _refused(lite, version, f"dataset 'applicants' ({data}): consent is withdrawn")
    assert not any("retention_until" in line for line in governance.status(lite, MODEL, version).missing)  # today counts
    data_governance.set_governance(lite, DPO, data, {"consent": "given", "purposes": ["credit_scoring"],
                                                     "retention_until": "2099-12-31"})
    _approved(lite, version)


def test_purposes_without_a_use_in_the_policy_cannot_be_verified_so_cannot_pass(lite: Backend) -> None:
    _policy(lite, use=False)
    data, other = applicants(lite), applicants(lite, "bureau")
    data_governance.set_governance(lite, DPO, data, {"purposes": ["credit_scoring"]})
    version = trained_on(lite, data, other)
    _refused(lite, version, f"dataset 'applicants' ({data}): declares purposes/excluded_purposes, but the model's "
             "policy declares no data.use")
    assert not any("bureau" in line for line in governance.status(lite, MODEL, version).missing)  # undeclared: free
    _policy(lite)  # the model's use declared (a new policy version)
    _approved(lite, version)


def test_a_split_inherits_the_restrictions_of_the_dataset_it_was_split_from(lite: Backend) -> None:
    _policy(lite)
    parent = applicants(lite)
    data_governance.set_governance(lite, DPO, parent, {"purposes": ["fraud_detection"]})
    version = trained_on(lite, split_of=parent)
    _refused(lite, version, f"dataset 'applicants' ({parent}) (the dataset 'applicants-train' was split from): "
             "purposes (fraud_detection) do not include 'credit_scoring'")


# -- who sets it, and the audit trail -------------------------------------------------------------------


def test_only_the_roles_the_global_policy_names_may_set_governance_and_every_change_is_audited(lite: Backend) -> None:
    data = applicants(lite)
    with pytest.raises(PermissionDenied, match="needs the role compliance .* 'alice' holds contributor"):
        data_governance.set_governance(lite, AUTHOR, data, {"purposes": ["credit_scoring"]})
    assert data_governance.get(lite, data).governance is None
    first = data_governance.set_governance(lite, DPO, data, {"purposes": ["credit_scoring"]}).governance
    assert first is not None and first.set_by == "dora" and first.consent == "unknown"
    policies.set_policy(lite, ADMIN, "data: {governance_roles: [risk]}\n")
    with lite.read() as session:
        assert data_governance.setter_roles(session) == [Role.RISK]
    with pytest.raises(PermissionDenied, match="needs the role risk"):
        data_governance.set_governance(lite, DPO, data, {"consent": "withdrawn"})
    data_governance.set_governance(lite, RISK_ONLY, data, {"consent": "withdrawn"}, merge=True)
    data_governance.set_governance(lite, ADMIN, data, {"consent": "given", "retention_until": date(2030, 1, 31)})
    events = audit.list_(lite, action="dataset.governance_set", newest_first=False)
    assert [e.actor for e in events] == ["dora", "rick", "root"] and all(e.subject_id == data for e in events)
    assert events[0].details["before"] is None and events[0].details["after"]["purposes"] == ["credit_scoring"]
    assert events[1].details["before"]["consent"] == "unknown" and events[1].details["after"]["consent"] == "withdrawn"
    assert events[1].details["after"]["purposes"] == ["credit_scoring"]  # merged
    assert events[2].details["after"]["purposes"] == [] and events[2].details["after"]["retention_until"] == "2030-01-31"
    assert audit.verify(lite).ok


def test_bad_declarations_are_refused_naming_the_field_and_nothing_is_stored(lite: Backend) -> None:
    data = applicants(lite)
    cases = {
        "consent": ({"consent": "maybe"}, "consent: Input should be 'given'"),
        "retention": ({"retention_until": "31.12.2027"}, "retention_until: '31.12.2027' is not a date"),
        "a time": ({"retention_until": "2027-12-31T10:00:00"}, "retention_until: '2027-12-31T10:00:00' is not a date"),
        "unknown": ({"purpose": ["x"]}, "purpose: unknown key"),
        "pattern": ({"purposes": ["Credit Scoring"]}, "purposes.0: 'Credit Scoring' is not a purpose name"),
        "both": ({"purposes": ["a"], "excluded_purposes": ["a"]}, "a is both in purposes and in excluded_purposes"),
        "basis": ({"legal_basis": "because"}, "legal_basis: Input should be 'consent'"),
        "contradiction": ({"legal_basis": "consent", "consent": "not_required"}, "contradicts"),
    }
    for document, message in cases.values():
        with pytest.raises(InvalidInput, match="invalid data governance") as refused:
            data_governance.set_governance(lite, DPO, data, document)
        assert message in str(refused.value)
    assert data_governance.get(lite, data).governance is None
    assert audit.list_(lite, action="dataset.governance_set") == []


def test_the_declaration_cannot_be_forged_when_a_dataset_is_logged(lite: Backend) -> None:
    forged = DatasetCreate(name="x", digest=_digest("x"), properties={"data_governance": {"set_by": "dora"}})
    with pytest.raises(InvalidInput, match="set through the dataset governance API"):
        datasets.log(lite, forged, actor=AUTHOR)


def test_the_policy_data_section_is_validated_with_line_numbers(lite: Backend) -> None:
    with pytest.raises(InvalidInput, match=r"line 3, data.usage: unknown key"):
        policies.validate("model: m\ndata:\n  usage: credit_scoring\n")
    with pytest.raises(InvalidInput, match=r"line 3, data.governance_roles: .*global \(or default\) policy only"):
        policies.validate("model: m\ndata:\n  governance_roles: [contributor]\n")
    with pytest.raises(InvalidInput, match=r"line 1, data.use: 'Credit' is not|line 1, data.use: String should match"):
        policies.validate("data: {use: Credit}\n")
    assert policies.validate("data: {use: credit_scoring, governance_roles: [compliance, risk]}\n").data.use == \
        "credit_scoring"


# -- the REST doors and the CLI --------------------------------------------------------------------------


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    home = tmp_path / "store"
    monkeypatch.setenv("MODELWARD_HOME", str(home))
    backend = Backend.from_settings(Settings(home=home))
    for actor in (AUTHOR, APPROVER, DPO):
        users.create_user(backend, actor.name, actor.roles)
    yield backend
    backend.close()


def _modelward(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelward", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "250"})


def test_rest_approve_and_rest_governance_follow_the_same_rules(embedded: Backend) -> None:
    _policy(embedded)
    data = applicants(embedded)
    version = trained_on(embedded, data)
    with Client(user="alice") as alice, Client(user="dora") as dora, Client(user="ann") as ann:
        with pytest.raises(PermissionDenied, match="compliance"):
            alice.data_governance.set(data, purposes=["credit_scoring"])
        with pytest.raises(InvalidInput, match="retention_until"):
            dora.data_governance.set(data, retention_until="someday")
        declared = dora.data_governance.set(data, purposes=["credit_scoring"], consent="withdrawn",
                                            retention_until=date(2099, 1, 1))
        assert declared.dataset_id == data and declared.governance.set_by == "dora"
        assert alice.data_governance.get(data).governance.consent == "withdrawn"  # anyone may read it
        assert any("consent is withdrawn" in line for line in ann.governance.missing(MODEL, version))
        listed = _modelward("review", "status", MODEL, str(version))
        assert f"dataset 'applicants' ({data}): consent is withdrawn" in " ".join(listed.stdout.split())
        with pytest.raises(PolicyViolation, match=f"dataset 'applicants' \\({data}\\): consent is withdrawn"):
            ann.governance.approve(MODEL, version)
        assert ann.governance.state(MODEL, version).state == "in_review"
        dora.data_governance.update(data, consent="given")
        ann.governance.approve(MODEL, version)
        assert ann.governance.state(MODEL, version).state == "approved"
        response = ann.http.call("GET", f"/api/v1/datasets/{data}/governance")
        assert response["governance"]["consent"] == "given" and response["governance"]["purposes"] == ["credit_scoring"]


def test_cli_sets_and_shows_the_declaration_and_refuses_bad_input_in_one_line(embedded: Backend) -> None:
    data = applicants(embedded)
    runner = CliRunner()
    shown = runner.invoke(app, ["data", "purpose", data])
    assert shown.exit_code == 0 and "no purpose, consent or retention declared" in shown.output
    set_ = runner.invoke(app, ["data", "purpose", data, "--purpose", "credit_scoring", "--retention-until",
                               "2027-12-31", "--consent", "given"])
    assert set_.exit_code == 0, set_.output
    assert "purposes:          credit_scoring" in set_.output and "retention_until:   2027-12-31" in set_.output
    shown = runner.invoke(app, ["data", "purpose", data, "--json"])
    assert '"consent": "given"' in shown.output
    bad = _modelward("data", "purpose", data, "--consent", "perhaps")
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    assert "consent: Input should be 'given'" in bad.stderr
    denied = _modelward("data", "purpose", data, "--consent", "withdrawn", "--as", "alice")
    assert denied.returncode != 0 and len(denied.stderr.strip().splitlines()) == 1 and "compliance" in denied.stderr
    assert data_governance.get(embedded, data).governance.consent == "given"
