"""Builders for governance tests: a breast-cancer evaluation set, skops models logged to runs, policies."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelward import models
from modelward.domain.actors import Actor, Role
from modelward.services import artifacts, experiments, policies, registry, runs
from modelward.services.backend import Backend

AUTHOR = Actor(name="alice", roles=frozenset({Role.CONTRIBUTOR}))
ADMIN = Actor(name="root")
RISK = Actor(name="rita", roles=frozenset({Role.APPROVER, Role.RISK}))
COMPLIANCE = Actor(name="carl", roles=frozenset({Role.APPROVER, Role.COMPLIANCE}))
VIEWER = Actor(name="vic", roles=frozenset({Role.VIEWER}))


def cancer_frame() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["sex"] = np.where(np.random.default_rng(0).random(len(frame)) < 0.5, "F", "M")
    return frame


class BiasedBySex:
    """A pyfunc-by-reference model: predicts 1 for F, 0 for M (maximal disparity). Code-bearing:
    the server evaluates it only in the isolated worker, when the policy enables that."""

    def predict(self, data: pd.DataFrame) -> Any:
        return (data["sex"] == "F").astype(int).to_numpy()


def biased_model(frame: pd.DataFrame) -> Any:
    """A data-only (skops) model as biased as BiasedBySex: a one-hot sex column drives a logistic
    regression fitted to predict F -> 1, M -> 0. Register it with ``with_sex=True``."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    features = frame.drop(columns=["target"])
    encode = make_column_transformer((OneHotEncoder(), ["sex"]), remainder="drop")
    return make_pipeline(encode, LogisticRegression()).fit(features, (features["sex"] == "F").astype(int))


def fair_model(frame: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = frame.drop(columns=["target", "sex"])
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(features, frame["target"])


def _experiment(backend: Backend, name: str = "gov") -> str:
    try:
        return experiments.create(backend, name).id
    except Exception:
        return experiments.get_by_name(backend, name).id


def log_folder(backend: Backend, actor: Actor, folder: Path, prefix: str = "model") -> str:
    run = runs.start(backend, actor, experiment_id=_experiment(backend))
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        artifacts.upload(backend, run.id, f"{prefix}/{path.relative_to(folder).as_posix()}", io.BytesIO(path.read_bytes()),
                         actor=actor)
    return run.id


def register_model(backend: Backend, name: str, model: Any, frame: pd.DataFrame, *, actor: Actor = AUTHOR,
                   flavor: str | None = None, with_sex: bool = False) -> int:
    drop = ["target"] if with_sex else ["target", "sex"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save(model, Path(tmp) / "model", flavor=flavor, input_example=frame.drop(columns=drop).head())
        run_id = log_folder(backend, actor, folder)
    return registry.register_version(backend, actor, name, run_id=run_id).version


def dataset(backend: Backend, frame: pd.DataFrame, *, fmt: str = "parquet") -> dict[str, str]:
    run = runs.start(backend, ADMIN, experiment_id=_experiment(backend, "eval-data"))
    buffer = io.BytesIO()
    if fmt == "csv":
        buffer.write(frame.to_csv(index=False).encode())
    else:
        frame.to_parquet(buffer)
    path = f"data/eval.{fmt}"
    artifacts.upload(backend, run.id, path, io.BytesIO(buffer.getvalue()), actor=ADMIN)
    return {"run_id": run.id, "path": path}


POLICY = """\
model: {name}
gates:
  - {{metric: roc_auc, min: 0.9}}
  - {{fairness: demographic_parity_difference, sensitive_feature: sex, max: 0.2}}
review:
  approvals: 2
  roles: [risk, compliance]
  compliance_checklist: [data privacy review done, model documented]
  business_impact_required: true
"""


def set_model_policy(backend: Backend, name: str, text: str | None = None, data: dict[str, str] | None = None) -> None:
    """Set the model's policy; with ``data`` (from ``dataset``) as its evaluation_dataset, the data that counts."""
    yaml_text = (text or POLICY).format(name=name)
    if data is not None:
        yaml_text += f"evaluation_dataset: {{run_id: {data['run_id']}, path: {data['path']}}}\n"
    policies.set_policy(backend, ADMIN, yaml_text)
