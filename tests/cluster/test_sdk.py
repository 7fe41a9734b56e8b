"""modelward's own SDK through the round-robin: runs, a dataset, a registered model and its
review by two people, read back alike from every process."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward import models
from modelward.domain.actors import Role
from modelward.domain.governance import RISK_CATEGORIES
from modelward.sdk.client import Client
from modelward.services import users
from modelward.services.backend import Backend
from tests.fixtures.cluster import Cluster
from tests.governance.helpers import cancer_frame, fair_model

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]  # the cluster starts in the first test

FRAME = cancer_frame()
POLICY = """\
model: {name}
gates:
  - {{metric: roc_auc, min: 0.9}}
review: {{approvals: 1}}
evaluation_dataset: {{run_id: {run_id}, path: data/eval.parquet}}
"""


def _add_users(cluster: Cluster, roles: dict[str, set[Role]]) -> None:
    """As ``modelward auth add-user`` does, on the deployment's database."""
    backend = Backend.from_settings(cluster.settings(), migrate=False)
    try:
        for name, granted in roles.items():
            users.ensure_user(backend, name, frozenset(granted))
    finally:
        backend.close()


def test_runs_a_dataset_and_a_reviewed_model_read_back_alike_from_every_process(
        cluster: Cluster, tmp_path: Path, unique: str) -> None:
    _add_users(cluster, {"author": {Role.ADMIN}, "reviewer": {Role.APPROVER, Role.CONTRIBUTOR}})
    name = f"sdk-{unique}"
    with Client(cluster.url, user="author") as author, Client(cluster.url, user="reviewer") as reviewer:
        experiment = author.experiments.get_or_create(f"sdk-cluster-{unique}")
        run = author.runs.create(experiment.id, name="train", tags={"team": "risk"})
        author.runs.log_params(run.id, {"depth": 3})
        for step in range(4):
            author.runs.log_metric(run.id, "auc", 0.8 + step / 100, step=step)
        dataset = author.datasets.log(FRAME, name=f"cancer-{unique}", run_id=run.id, snapshot=True)
        (tmp_path / "eval.parquet").write_bytes(FRAME.to_parquet())
        author.artifacts.upload(run.id, tmp_path / "eval.parquet", "data")
        author.runs.end(run.id)

        folder = models.save(fair_model(FRAME), tmp_path / "model",
                             input_example=FRAME.drop(columns=["target", "sex"]).head())
        version = author.models.register(name, local_path=folder).version
        author.policies.set(POLICY.format(name=name, run_id=run.id))
        evaluation = author.governance.evaluate(name, version)
        assert evaluation.passed, evaluation
        assert author.governance.state(name, version).state == "in_review"
        for category in RISK_CATEGORIES:
            reviewer.governance.set_risk(name, version, category, rating="low", rationale="reviewed")
        reviewer.governance.approve(name, version, comment="fine")
        reviewer.models.set_alias(name, "champion", version)

    for server in cluster.servers:  # each process by itself
        with Client(server.url) as reader:
            got = reader.runs.get(run.id)
            assert got.status.value == "FINISHED" and got.params == {"depth": "3"} and got.tags["team"] == "risk"
            assert [m.value for m in reader.runs.metric_history(run.id, "auc")] == pytest.approx([0.8, 0.81, 0.82, 0.83])
            assert reader.datasets.get(dataset.id).digest == dataset.digest
            assert reader.datasets.load_snapshot(dataset.id).shape == FRAME.shape
            assert [d.id for d in reader.datasets.of_run(run.id)] == [dataset.id]
            assert reader.governance.state(name, version).state == "approved"
            assert [r.reviewer for r in reader.governance.reviews(name, version) if r.decision == "approve"] == ["reviewer"]
            assert reader.models.get_by_alias(name, "champion").version == version
            assert reader.audit.verify().ok
