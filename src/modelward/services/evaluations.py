"""Automated evaluation of a model version: load it (and its champion) from the registry's
verified files, run the effective policy's gates, store the Evaluation, and move a candidate
to ``in_review`` (all gates pass) or ``rejected`` (any fails, with the reasons).

Which evaluations count. A *governing* evaluation runs on the policy's own
``evaluation_dataset`` (read by its pinned digest when the policy pins one) and is the only
kind that moves a version's state or serves as approval evidence. An evaluation on the
caller's own dataset, one asked for as advisory, or one computed in the client and
submitted (``record_client_result``) is *advisory*: stored and listed, it moves no state
and is not evidence. Once a version is approved, released or retired its evidence is
frozen: a governing evaluation is refused, an advisory one stays possible.

What the server loads. The server process never imports or calls code a model, a manifest
or a request names: it loads data-only formats (skops with its type audit, ONNX) through
``load_data_only``. A code-bearing version (pyfunc, pickle) is refused with a
PolicyViolation saying what to do, unless its policy says ``evaluation: {code_models:
isolated}``: then it is loaded in the sandboxed worker (``modelward.evaluation.sandbox``)
and the gates run on the server from the worker's plain-data answers.
"""

from __future__ import annotations

import hashlib
import io
import math
import shutil
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.governance import DatasetRef, Evaluation, VersionState
from modelward.domain.names import new_id
from modelward.domain.policy import (
    AttributionStabilityGate,
    ChampionGate,
    DataExpectationsGate,
    ExplanationGate,
    Policy,
)
from modelward.errors import (
    IntegrityError,
    InvalidInput,
    InvalidTransition,
    ModelwardError,
    NotFound,
    PolicyViolation,
)
from modelward.services import artifacts as artifact_service
from modelward.services import audit, model_files, policies
from modelward.services.backend import Backend
from modelward.services.governance import locked_version, subject_id, transition
from modelward.store import governance as store
from modelward.store import registry as registry_store

MAX_DATASET_BYTES = 512 << 20
S = VersionState
AUTO_STATES = (S.CANDIDATE.value, S.CHANGES_REQUESTED.value)
FROZEN_STATES = (S.APPROVED.value, S.RELEASED.value, S.RETIRED.value)


def latest_in(session: Any, row: Any, name: str) -> Evaluation | None:
    """The latest governing evaluation (advisory ones are never evidence)."""
    return next((e for e in store.evaluations(session, row, name) if not e.advisory), None)


def list_(backend: Backend, name: str, version: int) -> list[Evaluation]:
    with backend.read() as session:
        return store.evaluations(session, registry_store.version_row(session, name, version), name)


def get(backend: Backend, name: str, version: int, evaluation_id: str) -> Evaluation:
    for found in list_(backend, name, version):
        if found.id == evaluation_id:
            return found
    raise NotFound(f"version {version} of model '{name}' has no evaluation '{evaluation_id}'")


# -- loading on the server ----------------------------------------------------------------------


def load_dataset(backend: Backend, ref: DatasetRef) -> tuple[Any, DatasetRef]:
    """The table ``ref`` names and the reference to record (with the digest of the bytes read).

    With a digest (a policy's pin) those exact bytes are read from the blob store and checked
    against it, whatever the run holds now; without, the run's artifact at ``ref.path``."""
    lowered = ref.path.lower()
    if not lowered.endswith((".parquet", ".pq", ".csv")):
        raise InvalidInput(f"evaluation dataset '{ref.path}' must be a .parquet or .csv artifact")
    digest = ref.digest or artifact_service.stat(backend, ref.run_id, ref.path).digest
    try:
        size = backend.artifacts.size(digest)
    except (FileNotFoundError, OSError):
        raise NotFound(f"the evaluation dataset's pinned bytes {digest} are not in the artifact store") from None
    if size > MAX_DATASET_BYTES:
        raise InvalidInput(f"evaluation dataset '{ref.path}' is {size} bytes; the limit is {MAX_DATASET_BYTES}")
    data = backend.artifacts.read_bytes(digest)
    if hashlib.sha256(data).hexdigest() != digest:
        raise IntegrityError(f"the evaluation dataset's bytes do not match their digest {digest}")
    return _table(data, ref.path), DatasetRef(run_id=ref.run_id, path=ref.path, digest=digest)


def _table(data: bytes, path: str) -> Any:
    import pandas as pd

    try:
        if path.lower().endswith(".csv"):
            return pd.read_csv(io.BytesIO(data))
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # a malformed table is the caller's input problem
        raise InvalidInput(f"evaluation dataset '{path}' could not be read: {exc}") from None


def _refused(version: Any, flavor: str) -> PolicyViolation:
    return model_files.code_refusal(
        version, flavor, switch="evaluate code models in the isolated worker (evaluation: {code_models: isolated})",
        instead=("or evaluate it in your own process, where you trust it, with "
                 "modelward.sdk.local_evaluation.evaluate_locally (an advisory result)"),
    )


def _load_model(backend: Backend, policy: Policy, version: Any, dest: Path, stack: ExitStack) -> Any:
    """The version as the gates see it: data-only in this process, or a proxy to the isolated worker."""
    folder = model_files.download(backend, version, dest, purpose="to evaluate")
    opened = model_files.open_model(backend, version, folder, isolated=policy.evaluation.code_models == "isolated",
                                    refused=lambda flavor: _refused(version, flavor))
    stack.callback(opened.close)
    return opened.model


def _champions(backend: Backend, policy: Policy, version: Any, work: Path, stack: ExitStack) -> dict[str, Any]:
    """alias -> loaded model for every alias a champion or attribution stability gate compares to
    (skipped if absent or itself)."""
    from modelward.services import registry

    found: dict[str, Any] = {}
    aliases = {g.compare_to for g in policy.gates if isinstance(g, ChampionGate)}
    aliases |= {g.attribution_stability for g in policy.gates if isinstance(g, AttributionStabilityGate)}
    for alias in aliases:
        try:
            target = registry.get_by_alias(backend, version.model_name, alias)
        except NotFound:
            continue
        if target.version != version.version:
            found[alias] = _load_model(backend, policy, target, work / f"champion-{alias}", stack)
    return found


def finite_json(value: Any) -> Any:
    """JSON columns refuse NaN and infinity (PostgreSQL): those become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    return value


# -- evaluate ------------------------------------------------------------------------------------


def evaluate(
    backend: Backend, actor: Actor, name: str, version: int, *, dataset: DatasetRef | dict[str, Any] | None = None,
    kpis: dict[str, Any] | None = None, advisory: bool = False,
) -> Evaluation:
    """Run the effective policy's gates: on the policy's evaluation_dataset (governing), or, when
    ``dataset`` is given or ``advisory`` asked for, as an advisory evaluation (see the module docstring)."""
    from modelward.evaluation import evaluate_gates

    with backend.read() as session:
        policy, used = policies.effective_in(session, name)
        target = registry_store.get_version(session, name, version)
    advisory = advisory or dataset is not None
    if not advisory:
        _refuse_frozen(name, version, target.status)
    data, ref = load_dataset(backend, _dataset_ref(policy, dataset))
    work = Path(tempfile.mkdtemp(prefix="modelward-eval-"))
    try:
        with ExitStack() as stack:
            challenger = _load_model(backend, policy, target, work / "challenger", stack)
            champions = _champions(backend, policy, target, work, stack)
            result = evaluate_gates(policy, challenger=challenger, champion=champions or None, data=data,
                                    kpis=kpis, model_dir=work / "challenger",
                                    kpis_reported_by=actor.name if kpis else None,
                                    **_data_evidence(backend, policy, name, version))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    evaluation = Evaluation(
        id=new_id(), model_name=name, version=version, artifact_digest=target.artifact_digest, policy_versions=used,
        dataset=ref, passed=result.passed, advisory=advisory, failures=result.failures,
        result=finite_json(result.model_dump(mode="json")), created_by=actor.name, created_at=datetime.now(UTC),
    )
    explanation = None
    if result.explanation is not None and not advisory:  # an explanation gate's: kept with the version
        from modelward.services.explanations import global_document

        top = max(g.top for g in policy.gates if isinstance(g, ExplanationGate))
        explanation = global_document(actor, policy, target, ref, result.explanation, rows=result.n_rows,
                                      label=result.label, seed=0, top=top, at=evaluation.created_at,
                                      source="evaluation")
    return _store(backend, actor, evaluation, explanation=explanation, dataset=ref)


def _data_evidence(backend: Backend, policy: Policy, name: str, version: int) -> dict[str, Any]:
    """What data_expectations gates judge: the training datasets' latest checks, and the
    reference data of each evaluation-data declaration (or why it could not be read)."""
    from modelward.services import data_checks

    gates = [(i, g) for i, g in enumerate(policy.gates) if isinstance(g, DataExpectationsGate)]
    if not gates:
        return {}
    references: dict[int, Any] = {}
    for index, gate in gates:
        if gate.expectations is None:
            continue
        try:
            references[index] = data_checks.references_of(
                backend, gate.expectations, training=lambda: data_checks.version_training_frame(backend, name, version))
        except ModelwardError as exc:
            references[index] = str(exc)
    return {"data_checks": data_checks.for_version(backend, name, version), "data_references": references}


def _dataset_ref(policy: Policy, dataset: DatasetRef | dict[str, Any] | None) -> DatasetRef:
    if dataset is not None:  # the caller's own data: never trusted beyond an advisory result
        ref = DatasetRef.model_validate(dataset)
        return DatasetRef(run_id=ref.run_id, path=ref.path)
    if policy.evaluation_dataset is None:
        raise InvalidInput("evaluate needs a dataset: the policy's evaluation_dataset (set by an admin) for an "
                           "evaluation that counts, or your own (run_id and path of a Parquet or CSV artifact) "
                           "for an advisory one")
    return DatasetRef(**policy.evaluation_dataset.model_dump())


def _refuse_frozen(name: str, version: int, status: str) -> None:
    if status in FROZEN_STATES:
        raise InvalidTransition(
            f"version {version} of model '{name}' is {status}: its evaluation evidence is frozen once approved, "
            "so a new evaluation that counts is refused; an advisory evaluation (advisory: true) is still possible"
        )


def record_client_result(
    backend: Backend, actor: Actor, name: str, version: int, result: dict[str, Any], *,
    dataset: DatasetRef | dict[str, Any] | None = None,
) -> Evaluation:
    """Store gates a client ran itself on a model it trusts: advisory and self-reported, always."""
    from modelward.evaluation import EvaluationResult

    with backend.read() as session:
        _, used = policies.effective_in(session, name)
        target = registry_store.get_version(session, name, version)
    try:
        parsed = EvaluationResult.model_validate(result)
    except ValueError as exc:
        raise InvalidInput(f"local_result is not an evaluation result: {exc}") from None
    body = {**finite_json(parsed.model_dump(mode="json")), "self_reported": True, "reported_by": actor.name}
    evaluation = Evaluation(
        id=new_id(), model_name=name, version=version, artifact_digest=target.artifact_digest, policy_versions=used,
        dataset=DatasetRef.model_validate(dataset) if dataset is not None else None, passed=parsed.passed,
        advisory=True, failures=parsed.failures, result=body, created_by=actor.name, created_at=datetime.now(UTC),
    )
    return _store(backend, actor, evaluation)


def _store(backend: Backend, actor: Actor, evaluation: Evaluation, *, explanation: dict[str, Any] | None = None,
           dataset: DatasetRef | None = None) -> Evaluation:
    """Keep the evaluation (and the global explanation its gates computed) and move the version."""
    name, version = evaluation.model_name, evaluation.version
    with backend.write() as session:
        row = locked_version(session, name, version)
        if row.artifact_digest != evaluation.artifact_digest:  # cannot happen (immutable), but never trust it
            raise PolicyViolation(f"version {version} of model '{name}' changed during its evaluation")
        if not evaluation.advisory:
            _refuse_frozen(name, version, row.status)
        if explanation is not None and dataset is not None:
            from modelward.services.explanations import record_global

            revision = record_global(session, actor, registry_store.get_version(session, name, version), explanation,
                                     dataset, at=evaluation.created_at)
            evaluation = evaluation.model_copy(update={"result": {
                **evaluation.result, "explanation": {"revision": revision, "source": "evaluation"}}})
        store.add_evaluation(session, row, name, evaluation)
        audit.record(session, actor, "model_version.evaluated", subject_type="model_version",
                     subject_id=subject_id(name, version), model_name=name,
                     details={"evaluation_id": evaluation.id, "passed": evaluation.passed,
                              "advisory": evaluation.advisory, "failures": evaluation.failures,
                              "policy_versions": evaluation.policy_versions,
                              "dataset_digest": evaluation.dataset.digest if evaluation.dataset else None})
        if row.status in AUTO_STATES and not evaluation.advisory:
            if evaluation.passed:
                transition(session, actor, name, row, S.IN_REVIEW, action="review.requested",
                           reason="automated gates passed", details={"evaluation_id": evaluation.id})
            else:
                transition(session, actor, name, row, S.REJECTED, action="model_version.rejected",
                           reason="automated gates failed: " + "; ".join(evaluation.failures),
                           details={"evaluation_id": evaluation.id})
    return evaluation


def evaluate_on_registration(backend: Backend, actor: Actor, name: str, version: int) -> Evaluation | None:
    """Called after registration: evaluate if the effective policy names an evaluation dataset."""
    with backend.read() as session:
        policy, _ = policies.effective_in(session, name)
    if policy.evaluation_dataset is None:
        return None
    try:
        return evaluate(backend, actor, name, version)
    except ModelwardError as exc:
        # The version is registered either way; it stays a candidate and the failure is on record.
        with backend.write() as session:
            audit.record(session, actor, "model_version.evaluation_failed", subject_type="model_version",
                         subject_id=subject_id(name, version), model_name=name, reason=str(exc))
        return None
