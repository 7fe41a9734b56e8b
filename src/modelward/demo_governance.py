"""The governance half of the demo: a champion and a challenger go through the whole path.

A policy with gates (performance, champion vs challenger, fairness, latency) and review
requirements; each model is trained as a run, saved safely (skops), registered, evaluated
automatically on registration, reviewed by two people in the required roles (risk and
compliance), approved, and given an alias; a compliance report is written for the
challenger. Everything goes through the SDK, as a user's script would, except creating
the two officers as users of the embedded store (what ``modelward auth add-user`` does):
acting as someone takes a user the store knows, with exactly its roles.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelward.sdk.client import Client

MODEL = "breast-cancer-screening"
RISK_OFFICER = "rita.risk"
COMPLIANCE_OFFICER = "carl.compliance"
OFFICER_ROLES = {RISK_OFFICER: "risk", COMPLIANCE_OFFICER: "compliance"}
RISK_CATEGORIES = ("business", "financial", "legal", "security", "privacy", "reputational", "ethical")
CHECKLIST = ["model card reviewed", "training data licensed", "fairness across sex reviewed"]
Progress = Callable[[str], None]

POLICY = """\
model: {model}
risk_tier: high
label: label
sensitive_features: [sex]
gates:
  - {{metric: roc_auc, min: 0.95}}
  - {{compare_to: champion, metric: roc_auc, max_regression: 0.02}}
  - {{fairness: demographic_parity_difference, sensitive_feature: sex, max: 0.25}}
  - {{technical: p95_latency_ms, max: 250}}
review:
  approvals: 2
  roles: [risk, compliance]
  four_eyes: true
  risk_assessment_required: true
  business_impact_required: true
  compliance_checklist: {checklist}
evaluation_dataset: {{run_id: {run_id}, path: {path}}}
monitoring:
  reference: {{run_id: {run_id}, path: {path}}}
  alerts:
    - {{name: input-drift, metric: drift.share, window: 15s, comparison: ">=", threshold: 0.5, severity: critical,
       rollback: true}}
"""


DEFAULT_POLICY = """\
description: the organisation's default for models without a policy of their own
protected_aliases:
  - {alias: production}
  - {alias: champion}
review: {approvals: 1, risk_assessment_required: true}
"""


def _set_default_policy(client: Client) -> None:
    """Every model without its own (or a tier) policy: production and champion move only to an
    approved version, by an approver. Stored once; a rerun keeps the same version."""
    from modelward.errors import NotFound

    try:
        if client.policies.get("default").yaml == DEFAULT_POLICY:
            return
    except NotFound:
        pass
    client.policies.set(DEFAULT_POLICY, scope="default")


@dataclass
class GovernanceResult:
    model: str
    states: dict[int, str] = field(default_factory=dict)
    champion: int | None = None
    challenger: int | None = None
    candidate: int | None = None  # registered and evaluated, not yet reviewed: the release demo shadows it
    test: Any = None  # the held-out frame, for the release demo's traffic
    report_paths: list[Path] = field(default_factory=list)


def _frames() -> tuple[Any, Any]:
    """Breast-cancer data with a synthetic 'sex' column to audit fairness on."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    frame["sex"] = np.random.default_rng(7).choice(["female", "male"], size=len(frame))
    return train_test_split(frame, test_size=0.3, random_state=7, stratify=frame["label"])


def _features(frame: Any) -> Any:
    return frame.drop(columns=["label", "sex"])


def _log_evaluation_data(client: Client, experiment_id: str, test: Any) -> tuple[str, str]:
    """The held-out frame as a dataset the data run wrote, with its Parquet snapshot.

    Returns (run id, path) of the snapshot: the policy's evaluation dataset. A snapshot is
    stored once per digest, so a rerun of the demo points at the first run's snapshot."""
    run = client.runs.create(experiment_id, name="evaluation-data", tags={"demo": "governance"})
    dataset = client.datasets.log(test, name="breast-cancer-test", run_id=run.id, context="output", snapshot=True)
    client.runs.end(run.id)
    if dataset.snapshot is None:  # cannot happen: snapshot=True stores one or keeps the first
        raise RuntimeError(f"dataset {dataset.id} has no snapshot to evaluate on")
    return dataset.snapshot.run_id, dataset.snapshot.path


def _train_and_register(client: Client, experiment_id: str, name: str, estimator: Any, train: Any) -> int:
    from modelward.models import save

    run = client.runs.create(experiment_id, name=name, tags={"demo": "governance"})
    client.datasets.log(train, name="breast-cancer-train", run_id=run.id, context="input")
    estimator.fit(_features(train), train["label"])
    client.runs.log_params(run.id, {"estimator": type(estimator[-1]).__name__, **_short_params(estimator)})
    with tempfile.TemporaryDirectory() as folder:
        save(estimator, Path(folder) / "model", input_example=_features(train).head(5))
        client.artifacts.upload(run.id, Path(folder) / "model", "model")
    client.runs.end(run.id)
    version = client.models.register(MODEL, run_id=run.id, artifact_path="model",
                                     description=f"{name}: {type(estimator[-1]).__name__}")
    return version.version


def _short_params(estimator: Any) -> dict[str, str]:
    params = estimator[-1].get_params()
    return {k: str(v) for k, v in params.items() if k in ("C", "n_estimators", "max_depth", "random_state")}


def ensure_officers(client: Client) -> None:
    """The officers as users of the embedded store, with one role each (again on a rerun).

    A server keeps its own users: there an administrator adds them with
    ``modelward auth add-user rita.risk --role risk`` (and carl.compliance --role compliance)."""
    if not client.http.embedded:
        return
    from modelward.domain.actors import Role
    from modelward.services import users
    from modelward.services.backend import Backend

    backend = Backend.from_settings(client.settings)
    try:
        for name, role in OFFICER_ROLES.items():
            users.ensure_user(backend, name, frozenset({Role(role)}))
    finally:
        backend.close()


def _review(officers: dict[str, Client], version: int) -> None:
    """Evidence by the risk officer, checklist and impact by compliance, then both approve."""
    risk, compliance = officers[RISK_OFFICER], officers[COMPLIANCE_OFFICER]
    for category in RISK_CATEGORIES:
        risk.governance.set_risk(MODEL, version, category, rating="medium" if category == "ethical" else "low",
                                 rationale=f"{category} exposure reviewed for screening support",
                                 mitigation="a clinician confirms every positive")
    for item in CHECKLIST:
        compliance.governance.check_item(MODEL, version, item, evidence="see the compliance report")
    compliance.governance.set_impact(MODEL, version, summary="faster triage of screening backlogs",
                                     expected_revenue_impact="n/a (cost avoidance)", affected_users="radiology")
    risk.governance.approve(MODEL, version, comment="risks rated and mitigated")
    compliance.governance.approve(MODEL, version, comment="checklist complete")


def run_governance_demo(
    client: Client, experiment_id: str, *, report_dir: Path, progress: Progress | None = None
) -> GovernanceResult:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    step = progress or (lambda _: None)
    train, test = _frames()
    data_run, data_path = _log_evaluation_data(client, experiment_id, test)
    step("setting the organisation's default policy")
    _set_default_policy(client)
    client.policies.set(POLICY.format(model=MODEL, checklist=CHECKLIST, run_id=data_run, path=data_path),
                        scope=f"model:{MODEL}")
    ensure_officers(client)
    officers = {user: Client(settings=client.settings, user=user) for user in OFFICER_ROLES}
    result = GovernanceResult(MODEL)
    try:
        step("registering the champion")
        champion = _train_and_register(client, experiment_id, "champion-logreg",
                                       make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=500)), train)
        if client.governance.state(MODEL, champion).state == "in_review":
            _review(officers, champion)
            client.models.set_alias(MODEL, "champion", champion, reason="first approved model")
            result.champion = champion
        step("registering the challenger")
        challenger = _train_and_register(client, experiment_id, "challenger-forest",
                                         make_pipeline(RandomForestClassifier(n_estimators=120, random_state=7)), train)
        if client.governance.state(MODEL, challenger).state == "in_review":
            _review(officers, challenger)
            client.models.set_alias(MODEL, "challenger", challenger,
                                    reason="approved; waits for its release beside the champion")
            result.challenger = challenger
        step("registering a third candidate")
        candidate = _train_and_register(client, experiment_id, "candidate-logreg-c2",
                                        make_pipeline(StandardScaler(), LogisticRegression(C=2.0, max_iter=500)), train)
        if client.governance.state(MODEL, candidate).state == "in_review":
            result.candidate = candidate
        result.test = test
        for version in (champion, challenger, candidate):
            result.states[version] = client.governance.state(MODEL, version).state
        step("writing the compliance report")
        report_dir.mkdir(parents=True, exist_ok=True)
        for fmt, suffix in (("md", "md"), ("html", "html")):
            path = report_dir / f"{MODEL}-v{challenger}-compliance.{suffix}"
            path.write_text(client.governance.report(MODEL, challenger, format=fmt), encoding="utf-8")
            result.report_paths.append(path)
    finally:
        for officer in officers.values():
            officer.close()
    return result
