"""Automated evaluation of a model version: load it (and its champion) on the server from the
registry's verified files, run the effective policy's gates, store the Evaluation, and move a
candidate to ``in_review`` (all gates pass) or ``rejected`` (any fails, with the reasons).

The server loads only formats that never unpickle (skops, ONNX, pyfunc by reference). A
pickle-flavored model is refused with a PolicyViolation saying why and what to do instead.
The evaluation dataset is a Parquet or CSV artifact of a run, read from its verified bytes.
"""

from __future__ import annotations

import io
import math
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.governance import DatasetRef, Evaluation, VersionState
from modelward.domain.names import new_id
from modelward.domain.policy import ChampionGate, Policy
from modelward.errors import InvalidInput, ModelwardError, NotFound, PermissionDenied, PolicyViolation
from modelward.services import audit, policies
from modelward.services import artifacts as artifact_service
from modelward.services.backend import Backend
from modelward.services.governance import locked_version, subject_id, transition
from modelward.store import governance as store
from modelward.store import registry as registry_store

MAX_DATASET_BYTES = 512 << 20
S = VersionState
AUTO_STATES = (S.CANDIDATE.value, S.CHANGES_REQUESTED.value)


def latest_in(session: Any, row: Any, name: str) -> Evaluation | None:
    found = store.evaluations(session, row, name)
    return found[0] if found else None


def list_(backend: Backend, name: str, version: int) -> list[Evaluation]:
    with backend.read() as session:
        return store.evaluations(session, registry_store.version_row(session, name, version), name)


def get(backend: Backend, name: str, version: int, evaluation_id: str) -> Evaluation:
    for found in list_(backend, name, version):
        if found.id == evaluation_id:
            return found
    raise NotFound(f"version {version} of model '{name}' has no evaluation '{evaluation_id}'")


# -- loading on the server ----------------------------------------------------------------------


def load_dataset(backend: Backend, ref: DatasetRef) -> Any:
    import pandas as pd

    lowered = ref.path.lower()
    if not lowered.endswith((".parquet", ".pq", ".csv")):
        raise InvalidInput(f"evaluation dataset '{ref.path}' must be a .parquet or .csv artifact")
    stat = artifact_service.stat(backend, ref.run_id, ref.path)
    if stat.size > MAX_DATASET_BYTES:
        raise InvalidInput(f"evaluation dataset '{ref.path}' is {stat.size} bytes; the limit is {MAX_DATASET_BYTES}")
    data = artifact_service.read_bytes(backend, ref.run_id, ref.path)  # verified against its digest
    try:
        if lowered.endswith(".csv"):
            return pd.read_csv(io.BytesIO(data))
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # a malformed table is the caller's input problem
        raise InvalidInput(f"evaluation dataset '{ref.path}' could not be read: {exc}") from None


def _download(backend: Backend, version: Any, dest: Path) -> Path:
    from modelward.models.flavors import confined

    dest.mkdir(parents=True, exist_ok=True)
    for item in version.files:
        backend.artifacts.copy_to(item.digest, confined(dest, item.path))
    return dest


def _load_model(backend: Backend, version: Any, dest: Path) -> Any:
    from modelward.models.loader import load_folder

    folder = _download(backend, version, dest)
    try:
        return load_folder(folder, trust_pickle=False)
    except PermissionDenied as exc:
        raise PolicyViolation(
            f"version {version.version} of model '{version.model_name}' is a pickle-flavored model, and the "
            "server never unpickles (loading a pickle runs arbitrary code). Save it with skops "
            "(modelward.models.save(model, path) for scikit-learn) or as ONNX and register that, or "
            f"evaluate it locally where you trust the file. ({exc})"
        ) from None


def _champions(backend: Backend, policy: Policy, version: Any, work: Path) -> dict[str, Any]:
    """alias -> loaded model for every alias a champion gate compares to (skipped if absent or itself)."""
    from modelward.services import registry

    found: dict[str, Any] = {}
    for alias in {g.compare_to for g in policy.gates if isinstance(g, ChampionGate)}:
        try:
            target = registry.get_by_alias(backend, version.model_name, alias)
        except NotFound:
            continue
        if target.version != version.version:
            found[alias] = _load_model(backend, target, work / f"champion-{alias}")
    return found


def _finite(value: Any) -> Any:
    """JSON columns refuse NaN and infinity (PostgreSQL): those become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# -- evaluate ------------------------------------------------------------------------------------


def evaluate(
    backend: Backend, actor: Actor, name: str, version: int, *, dataset: DatasetRef | dict[str, Any] | None = None,
    kpis: dict[str, Any] | None = None,
) -> Evaluation:
    """Run the effective policy's gates on ``dataset`` (or the policy's evaluation_dataset)."""
    from modelward.evaluation import evaluate_gates

    with backend.read() as session:
        policy, used = policies.effective_in(session, name)
        target = registry_store.get_version(session, name, version)
    ref = DatasetRef.model_validate(dataset) if dataset is not None else None
    if ref is None and policy.evaluation_dataset is not None:
        ref = DatasetRef(**policy.evaluation_dataset.model_dump())
    if ref is None:
        raise InvalidInput("evaluate needs a dataset (run_id and path of a Parquet or CSV artifact), "
                           "or a policy that names an evaluation_dataset")
    data = load_dataset(backend, ref)
    work = Path(tempfile.mkdtemp(prefix="modelward-eval-"))
    try:
        challenger = _load_model(backend, target, work / "challenger")
        champions = _champions(backend, policy, target, work)
        result = evaluate_gates(policy, challenger=challenger, champion=champions or None, data=data,
                                kpis=kpis, model_dir=work / "challenger")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    evaluation = Evaluation(
        id=new_id(), model_name=name, version=version, artifact_digest=target.artifact_digest, policy_versions=used,
        dataset=ref, passed=result.passed, failures=result.failures,
        result=_finite(result.model_dump(mode="json")), created_by=actor.name, created_at=datetime.now(UTC),
    )
    return _store(backend, actor, evaluation)


def _store(backend: Backend, actor: Actor, evaluation: Evaluation) -> Evaluation:
    name, version = evaluation.model_name, evaluation.version
    with backend.write() as session:
        row = locked_version(session, name, version)
        if row.artifact_digest != evaluation.artifact_digest:  # cannot happen (immutable), but never trust it
            raise PolicyViolation(f"version {version} of model '{name}' changed during its evaluation")
        store.add_evaluation(session, row, name, evaluation)
        audit.record(session, actor, "model_version.evaluated", subject_type="model_version",
                     subject_id=subject_id(name, version), model_name=name,
                     details={"evaluation_id": evaluation.id, "passed": evaluation.passed,
                              "failures": evaluation.failures, "policy_versions": evaluation.policy_versions})
        if row.status in AUTO_STATES:
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
