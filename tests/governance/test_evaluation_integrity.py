"""Evaluations that can move a version's state come only from the policy's own data, and the
server never runs a model's code: end to end through the REST API with several users."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from starlette.testclient import TestClient

from modelward import models
from modelward.domain.actors import Role
from modelward.domain.governance import DatasetRef
from modelward.domain.policy import parse_policy_yaml
from modelward.errors import InvalidInput
from modelward.evaluation import evaluate_gates
from modelward.evaluation.technical import check_loads_in_clean_process
from modelward.sdk.client import Client
from modelward.services import evaluations, governance, registry, users
from modelward.services.backend import Backend
from modelward.store import registry as registry_store
from tests.audit.conftest import bearer, secured  # noqa: F401  (fixture)
from tests.cli.conftest import Cli, store  # noqa: F401  (fixtures)
from tests.evaluation import sandbox_models
from tests.governance.helpers import (
    AUTHOR,
    RISK,
    BiasedBySex,
    biased_model,
    cancer_frame,
    dataset,
    fair_model,
    log_folder,
    register_model,
    set_model_policy,
)

FRAME = cancer_frame()
FAIRNESS = """\
model: {name}
gates:
  - {{fairness: demographic_parity_difference, sensitive_feature: sex, max: 0.2}}
review: {{approvals: 1, risk_assessment_required: false}}
"""
ISOLATED = FAIRNESS + "evaluation: {{code_models: isolated}}\n"


@pytest.fixture
def api(secured: tuple[TestClient, Backend]) -> Iterator[tuple[TestClient, Backend, dict[str, dict[str, str]]]]:  # noqa: F811
    http, backend = secured
    heads = {"admin": bearer(backend, "admin", Role.ADMIN), "alice": bearer(backend, "alice", Role.CONTRIBUTOR)}
    users.create_user(backend, "rita", frozenset({Role.APPROVER, Role.RISK}))
    heads["rita"] = {"authorization": f"Bearer {users.create_token(backend, 'rita').token}"}
    yield http, backend, heads


def _evaluate(http: TestClient, who: dict[str, str], name: str, version: int, **body: Any) -> Any:
    return http.post(f"/api/v1/models/{name}/versions/{version}/evaluate", json=body, headers=who)


def _state(backend: Backend, name: str, version: int) -> str:
    return registry.get_version(backend, name, version).status


# -- the policy's data is the policy's ------------------------------------------------------------


def test_a_contributor_cannot_pass_a_biased_model_on_their_own_data(api) -> None:  # type: ignore[no-untyped-def]
    http, backend, heads = api
    set_model_policy(backend, "loans", FAIRNESS)
    version = register_model(backend, "loans", biased_model(FRAME), FRAME, with_sex=True)  # data-only (skops)
    men_only = dataset(backend, FRAME[FRAME["sex"] == "M"])  # a single group: no disparity to see
    own = _evaluate(http, heads["alice"], "loans", version, dataset=men_only)
    assert own.status_code == 201, own.text
    assert own.json()["advisory"] is True and own.json()["passed"] is True
    assert _state(backend, "loans", version) == "candidate"  # not in review: an advisory result moves nothing
    set_model_policy(backend, "loans", FAIRNESS, data=dataset(backend, FRAME))
    governing = _evaluate(http, heads["alice"], "loans", version)
    assert governing.status_code == 201 and governing.json()["advisory"] is False
    assert not governing.json()["passed"] and _state(backend, "loans", version) == "rejected"
    listed = http.get(f"/api/v1/models/loans/versions/{version}/evaluations", headers=heads["rita"]).json()
    assert [e["advisory"] for e in listed] == [False, True]  # newest first; both stored and shown


def test_an_advisory_evaluation_is_not_evidence(api) -> None:  # type: ignore[no-untyped-def]
    http, backend, heads = api
    set_model_policy(backend, "fair", FAIRNESS)
    version = register_model(backend, "fair", fair_model(FRAME), FRAME)
    assert _evaluate(http, heads["alice"], "fair", version, dataset=dataset(backend, FRAME)).status_code == 201
    assert _state(backend, "fair", version) == "candidate"
    with backend.read() as session:
        assert evaluations.latest_in(session, registry_store.version_row(session, "fair", version), "fair") is None
    missing = http.get(f"/api/v1/models/fair/versions/{version}/state", headers=heads["rita"]).json()["missing"]
    assert any("evaluation" in item for item in missing)


def test_the_governing_evaluation_reads_the_policy_dataset_by_its_digest(api) -> None:  # type: ignore[no-untyped-def]
    _, backend, _ = api
    data = dataset(backend, FRAME)
    set_model_policy(backend, "pinned", FAIRNESS, data=data)
    version = register_model(backend, "pinned", fair_model(FRAME), FRAME)
    done = evaluations.list_(backend, "pinned", version)[0]
    raw = FRAME.to_parquet()
    from modelward.services import artifacts

    expected = hashlib.sha256(artifacts.read_bytes(backend, data["run_id"], data["path"])).hexdigest()
    assert not done.advisory and done.dataset is not None and done.dataset.digest == expected
    other = backend.artifacts.put_bytes(FRAME.head(40).to_parquet()).digest  # bytes the run does not hold
    frame, ref = evaluations.load_dataset(backend, DatasetRef(**data, digest=other))
    assert len(frame) == 40 and ref.digest == other and raw  # the pin decides, not the run's path


def test_a_governing_evaluation_of_an_approved_version_is_refused(api) -> None:  # type: ignore[no-untyped-def]
    http, backend, heads = api
    set_model_policy(backend, "frozen", FAIRNESS, data=dataset(backend, FRAME))
    version = register_model(backend, "frozen", fair_model(FRAME), FRAME)
    assert _state(backend, "frozen", version) == "in_review"
    governance.approve(backend, RISK, "frozen", version)
    assert _state(backend, "frozen", version) == "approved"
    refused = _evaluate(http, heads["alice"], "frozen", version)
    assert refused.status_code == 409 and "frozen once approved" in refused.json()["message"]
    advisory = _evaluate(http, heads["alice"], "frozen", version, advisory=True)
    assert advisory.status_code == 201 and advisory.json()["advisory"] is True
    with backend.read() as session:
        latest = evaluations.latest_in(session, registry_store.version_row(session, "frozen", version), "frozen")
    assert latest is not None and not latest.advisory


def test_caller_kpis_are_marked_self_reported(api) -> None:  # type: ignore[no-untyped-def]
    http, backend, heads = api
    set_model_policy(backend, "kpi", "model: {name}\ngates:\n  - {{kpi: uplift, min: 0}}\n", data=dataset(backend, FRAME))
    version = register_model(backend, "kpi", fair_model(FRAME), FRAME)
    # registration evaluated it without the KPI (rejected); a fresh version is evaluated with it
    version = register_model(backend, "kpi", fair_model(FRAME), FRAME)
    found = _evaluate(http, heads["alice"], "kpi", version, kpis={"uplift": 3.0}, advisory=True).json()
    gate = found["result"]["gates"][0]
    assert "self-reported by alice" in gate["reason"] and gate["evidence"]["self_reported"] is True
    assert found["result"]["kpis_reported_by"] == "alice"


# -- the server never runs a model's code ---------------------------------------------------------


def _shell_model(backend: Backend, name: str, marker: Path, reference: str = "subprocess:run") -> tuple[int, dict[str, str]]:
    """A pyfunc manifest naming ``subprocess:run``: called with a frame, it runs the frame's column
    names as a command (``sh -c 'touch MARKER'``)."""
    columns = ["sh", "-c", f"touch {marker}"]
    manifest = {"format_version": 1, "flavor": "pyfunc", "model_file": "", "requirements": [],
                "signature": {"input_kind": "dataframe",
                              "inputs": [{"name": c, "type": "string", "nullable": False} for c in columns]},
                "pyfunc": {"reference": reference, "state_file": None}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "modelward-model.yaml").write_text(yaml.safe_dump(manifest))
        run_id = log_folder(backend, AUTHOR, folder)
    version = registry.register_version(backend, AUTHOR, name, run_id=run_id).version
    frame = pd.DataFrame({c: ["x"] * 20 for c in columns} | {"label": [0, 1] * 10, "sex": ["F", "M"] * 10})
    return version, dataset(backend, frame)


def test_the_server_never_runs_a_pyfunc_model_it_evaluates(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    http, backend, heads = api
    marker = tmp_path / "ran-on-the-server"
    version, data = _shell_model(backend, "shell", marker)
    set_model_policy(backend, "shell", "model: {name}\ngates:\n  - {{metric: accuracy, min: 0.5}}\n", data=data)
    answer = _evaluate(http, heads["alice"], "shell", version)
    assert answer.status_code == 422, answer.text
    assert "'pyfunc' model" in answer.json()["message"] and "evaluate_locally" in answer.json()["message"]
    assert _evaluate(http, heads["alice"], "shell", version, dataset=data).status_code == 422  # advisory too
    assert not marker.exists()
    assert _state(backend, "shell", version) == "candidate"


def test_the_clean_load_check_never_imports_a_pyfunc_model(tmp_path: Path) -> None:
    folder = models.save(BiasedBySex(), tmp_path / "m", flavor="pyfunc", signature=models.infer_signature(FRAME.head()))
    found = check_loads_in_clean_process(folder)
    assert not found["passed"] and "'pyfunc' model" in found["reason"]


def test_with_isolation_a_shell_model_still_cannot_touch_the_host(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    http, backend, heads = api
    marker = tmp_path / "ran-in-the-worker"
    os.chmod(tmp_path, 0o777)  # even where the worker's user could write, its file system is read-only
    version, data = _shell_model(backend, "shell", marker)
    set_model_policy(backend, "shell", ISOLATED, data=data)
    answer = _evaluate(http, heads["alice"], "shell", version)
    assert answer.status_code == 400 and "not an array" in answer.json()["message"]  # a CompletedProcess
    assert not marker.exists()


def test_with_isolation_enabled_a_pyfunc_model_is_evaluated_and_its_gates_decided(api) -> None:  # type: ignore[no-untyped-def]
    http, backend, heads = api
    set_model_policy(backend, "coded", ISOLATED)
    version = register_model(backend, "coded", BiasedBySex(), FRAME, flavor="pyfunc", with_sex=True)
    set_model_policy(backend, "coded", ISOLATED, data=dataset(backend, FRAME))
    answer = _evaluate(http, heads["alice"], "coded", version)
    assert answer.status_code == 201, answer.text
    found = answer.json()
    assert not found["advisory"] and not found["passed"]
    assert "demographic_parity_difference for 'sex' 1 is above the maximum 0.2" in found["failures"][0]
    assert _state(backend, "coded", version) == "rejected"


# -- smaller defects ----------------------------------------------------------------------------


@pytest.mark.parametrize("gate", [
    "{metric: roc_auc, min: 1.7}",
    "{fairness: demographic_parity_difference, sensitive_feature: sex, max: -3}",
    "{technical: p95_latency_ms, max: -10}",
    "{metric: log_loss, max: -0.1}",
])
def test_impossible_bounds_are_refused_with_their_line(api, gate: str) -> None:  # type: ignore[no-untyped-def]
    http, _, heads = api
    answer = http.put("/api/v1/policies", json={"yaml": f"gates:\n  - {{metric: accuracy, min: 0.5}}\n  - {gate}\n"},
                      headers=heads["admin"])
    assert answer.status_code == 400 and "line 3, gates[1]" in answer.json()["message"], answer.text
    assert "impossible" in answer.json()["message"]


@pytest.mark.parametrize("model, problem", [
    (sandbox_models.ReturnsDict(), "returned a dict"),
    (sandbox_models.ReturnsNone(), "returned a None"),
    (sandbox_models.WrongLength(), "for 4 rows"),
])
def test_a_model_whose_output_is_not_an_array_is_refused_by_name(model: Any, problem: str) -> None:
    policy = parse_policy_yaml("gates:\n  - {metric: accuracy, min: 0.5}\n")
    with pytest.raises(InvalidInput, match=problem):
        evaluate_gates(policy, challenger=model, data=pd.DataFrame({"x": [1, 2, 3, 4], "label": [0, 1, 0, 1]}))


def test_non_array_output_through_the_api_is_a_4xx(api) -> None:  # type: ignore[no-untyped-def]
    http, backend, heads = api
    set_model_policy(backend, "odd", ISOLATED)
    frame = pd.DataFrame({"x": np.arange(20.0), "label": [0, 1] * 10, "sex": ["F", "M"] * 10})
    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save(sandbox_models.ReturnsDict(), Path(tmp) / "m", flavor="pyfunc",
                             signature=models.infer_signature(frame[["x"]]))
        version = registry.register_version(backend, AUTHOR, "odd", run_id=log_folder(backend, AUTHOR, folder)).version
    set_model_policy(backend, "odd", ISOLATED, data=dataset(backend, frame))
    answer = _evaluate(http, heads["alice"], "odd", version)
    assert answer.status_code == 400 and "predict returned a dict" in answer.json()["message"], answer.text


def test_the_cli_exits_non_zero_when_gates_fail(store: Client, tmp_path: Path) -> None:  # noqa: F811
    cli = Cli()
    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save(fair_model(FRAME), Path(tmp) / "m", input_example=FRAME.drop(columns=["target", "sex"]).head())
        version = store.models.register("strict", local_path=folder).version
    run = store.runs.create(experiment_id=store.experiments.get_or_create("strict-data").id)
    (tmp_path / "eval.parquet").write_bytes(FRAME.to_parquet())
    store.artifacts.upload(run.id, tmp_path / "eval.parquet", "data")
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"model: strict\ngates:\n  - {{metric: roc_auc, min: 0.9999}}\n"
                      f"evaluation_dataset: {{run_id: {run.id}, path: data/eval.parquet}}\n")
    cli("policy", "set", str(policy))
    failed = cli("evaluate", "strict", str(version), ok=False)
    assert failed.exit_code == 1, failed.output
    assert "FAILED" in failed.output and "failed: roc_auc" in failed.output


def test_a_code_model_is_evaluated_in_the_client_as_advisory(store: Client, tmp_path: Path) -> None:  # noqa: F811
    from modelward.errors import PermissionDenied
    from modelward.sdk.local_evaluation import evaluate_locally

    folder = models.save(BiasedBySex(), tmp_path / "m", flavor="pyfunc", signature=models.infer_signature(FRAME.head()))
    version = store.models.register("local", local_path=folder).version
    run = store.runs.create(experiment_id=store.experiments.get_or_create("local-data").id)
    (tmp_path / "eval.parquet").write_bytes(FRAME.to_parquet())
    store.artifacts.upload(run.id, tmp_path / "eval.parquet", "data")
    store.policies.set(FAIRNESS.format(name="local") + f"evaluation_dataset: {{run_id: {run.id}, path: data/eval.parquet}}\n")
    with pytest.raises(PermissionDenied, match="trust_code=True"):
        evaluate_locally(store, "local", version)
    found = evaluate_locally(store, "local", version, trust_code=True)
    assert found.advisory and not found.passed and found.result["self_reported"] is True
    assert "demographic_parity_difference" in found.failures[0]
    assert store.governance.state("local", version).state == "candidate"
