"""Approved versions of an iris classifier, registered and reviewed through the real services."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelward import models
from modelward.domain.actors import Actor, Role
from modelward.services import governance, policies, registry
from modelward.services.backend import Backend
from tests.governance.helpers import ADMIN, AUTHOR, dataset, log_folder

APPROVER = Actor(name="ann", roles=frozenset({Role.APPROVER}))
DEPLOYER = APPROVER
CONTRIBUTOR = AUTHOR
POLICY = """\
model: {name}
gates: [{{metric: accuracy, min: 0.5}}]
review: {{approvals: 1, risk_assessment_required: false}}
release:
  strategy: canary
  steps: [10, 50, 100]
  guardrails: {{min_requests: 20, max_error_rate: 0.1}}
"""


def iris() -> tuple[pd.DataFrame, pd.Series]:
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    return frame.drop(columns=["target"]), frame["target"]


def register(backend: Backend, name: str, *, c: float = 1.0) -> int:
    features, target = iris()
    return register_estimator(backend, name, LogisticRegression(C=c, max_iter=500).fit(features, target))


def register_estimator(backend: Backend, name: str, model: Any, *, flavor: str | None = None) -> int:
    """Register a fitted scikit-learn model (saved with skops, or ``flavor``) from a run of the contributor."""
    features, _ = iris()
    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save(model, Path(tmp) / "model", input_example=features.head(3), flavor=flavor)
        run_id = log_folder(backend, AUTHOR, folder)
    return registry.register_version(backend, AUTHOR, name, run_id=run_id).version


def approve(backend: Backend, name: str, version: int) -> None:
    """Registration evaluated it (the policy names its data); an approver signs it off."""
    governance.approve(backend, APPROVER, name, version)


def set_policy(backend: Backend, name: str, policy: str = POLICY) -> None:
    features, target = iris()
    data = dataset(backend, features.assign(target=target))
    text = policy.format(name=name) + f"evaluation_dataset: {{run_id: {data['run_id']}, path: {data['path']}}}\n"
    policies.set_policy(backend, ADMIN, text)


def approved_versions(backend: Backend, name: str, count: int, *, policy: str = POLICY) -> list[int]:
    set_policy(backend, name, policy)
    versions = []
    for index in range(count):
        version = register(backend, name, c=0.5 + index)
        approve(backend, name, version)
        versions.append(version)
    return versions
