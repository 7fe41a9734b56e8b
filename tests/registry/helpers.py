"""Small builders for registry tests: a run with a model folder logged as artifacts."""

from __future__ import annotations

import io

from modelward.domain.actors import Actor
from modelward.services import artifacts, experiments, runs
from modelward.services.backend import Backend

ALICE = Actor(name="alice")
BOB = Actor(name="bob")

MLMODEL = b"""flavors:
  python_function: {loader_module: mlflow.sklearn}
  sklearn: {sklearn_version: 1.4.0}
signature:
  inputs: '[{"type": "double", "name": "x"}]'
  outputs: '[{"type": "long"}]'
"""


def run_with_model(
    backend: Backend, files: dict[str, bytes] | None = None, *, experiment: str = "exp", acc: float = 0.9
) -> str:
    """A finished run with params, a metric and files under ``model/``; returns the run id."""
    try:
        exp = experiments.create(backend, experiment)
    except Exception:
        exp = experiments.get_by_name(backend, experiment)
    run = runs.start(backend, ALICE, experiment_id=exp.id)
    runs.log_batch(backend, run.id, actor=ALICE, metric_keys=["acc"], metric_values=[acc], params={"depth": "3"})
    for path, data in (files or {"model/MLmodel": MLMODEL, "model/model.skops": b"weights",
                                 "model/requirements.txt": b"scikit-learn==1.4.0\n# note\nnumpy==1.26\n"}).items():
        artifacts.upload(backend, run.id, path, io.BytesIO(data), actor=ALICE)
    return run.id
