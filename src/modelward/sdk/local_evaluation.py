"""Evaluate a model version in your own process, where you trust its code, and submit the
result to the server as an ADVISORY evaluation.

The server never runs a model's code. A version in a code-bearing format (pyfunc, pickle)
is therefore evaluated either here, by the client that trusts it, or in the server's
isolated worker when its policy enables that (``evaluation: {code_models: isolated}``)::

    from modelward.sdk.local_evaluation import evaluate_locally

    evaluation = evaluate_locally(client, "churn", 3, trust_code=True)
    evaluation.advisory   # True: shown to reviewers, but it moves no state and is no evidence

The same gates run as on the server (``modelward.evaluation.evaluate_gates``), under the
model's effective policy, on the policy's evaluation dataset (or ``data`` you pass).
The result is self-reported: the server stores it, marked advisory and self-reported.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path
from typing import Any

from modelward.domain.governance import Evaluation
from modelward.domain.policy import ChampionGate, Policy
from modelward.errors import IntegrityError, InvalidInput, NotFound, PermissionDenied


def evaluate_locally(
    client: Any, name: str, version: int, *, trust_code: bool = False, data: Any = None,
    kpis: dict[str, Any] | None = None, submit: bool = True,
) -> Evaluation | Any:
    """Run the policy's gates on ``models:/name/version`` loaded in this process.

    ``trust_code=True`` is required: loading a pyfunc or pickle model runs its code here.
    ``data`` (a DataFrame) replaces the policy's evaluation dataset. Returns the stored
    advisory Evaluation, or the EvaluationResult itself when ``submit=False``.
    """
    from modelward.evaluation import evaluate_gates
    from modelward.formats.loader import load_folder

    if not trust_code:
        raise PermissionDenied("evaluate_locally loads the model with its code in this process: pass "
                               "trust_code=True only if you trust where this model comes from")
    policy = Policy.model_validate(client.policies.effective(name))
    frame, dataset = (data, None) if data is not None else _policy_data(client, policy)
    with tempfile.TemporaryDirectory(prefix="modelward-local-eval-") as tmp:
        folder = client.models.download(name, version, Path(tmp) / "challenger")
        challenger = load_folder(folder, trust_pickle=True)
        champions = _champions(client, policy, name, version, Path(tmp))
        result = evaluate_gates(policy, challenger=challenger, champion=champions or None, data=frame,
                                kpis=kpis, model_dir=folder, kpis_reported_by="the client" if kpis else None)
    if not submit:
        return result
    return client.governance.submit_local_result(name, version, result.model_dump(mode="json"), dataset=dataset)


def _policy_data(client: Any, policy: Policy) -> tuple[Any, dict[str, Any]]:
    import pandas as pd

    ref = policy.evaluation_dataset
    if ref is None:
        raise InvalidInput("the model's policy names no evaluation_dataset: pass data=<DataFrame>")
    raw = client.artifacts.read_bytes(ref.run_id, ref.path)
    digest = hashlib.sha256(raw).hexdigest()
    if ref.digest is not None and digest != ref.digest:
        raise IntegrityError(f"'{ref.path}' of run {ref.run_id} is not the policy's pinned dataset {ref.digest}")
    frame = pd.read_csv(io.BytesIO(raw)) if ref.path.lower().endswith(".csv") else pd.read_parquet(io.BytesIO(raw))
    return frame, {"run_id": ref.run_id, "path": ref.path, "digest": digest}


def _champions(client: Any, policy: Policy, name: str, version: int, work: Path) -> dict[str, Any]:
    from modelward.formats.loader import load_folder

    found: dict[str, Any] = {}
    for alias in {g.compare_to for g in policy.gates if isinstance(g, ChampionGate)}:
        try:
            target = client.models.resolve(f"models:/{name}@{alias}")
        except NotFound:
            continue
        other = getattr(target, "version", None) or target
        if other.version != version:
            folder = client.models.download(name, other.version, work / f"champion-{alias}")
            found[alias] = load_folder(folder, trust_pickle=True)
    return found


__all__ = ["evaluate_locally"]
