"""A small pipeline with every kind of lineage the seed asks about, logged through the SDK."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from modelward.domain.datasets import Dataset
from modelward.domain.lineage import LineageArtifact
from modelward.domain.tracking import ProcessInfo
from modelward.sdk.client import Client

PARAMS = {"learning_rate": "0.05", "max_depth": "4", "n_estimators": "200"}


@dataclass
class Pipeline:
    prep: str
    train: str
    evals: list[str]
    raw: Dataset
    clean: Dataset
    clean_frame: pd.DataFrame
    train_split: Dataset
    model: LineageArtifact
    evaluations: list[LineageArtifact]


def build(client: Client, unique: str) -> Pipeline:
    experiment = client.experiments.get_or_create(f"lineage-{unique}")
    pipeline_id = f"pipe-{unique}"

    def step(name: str) -> str:
        process = ProcessInfo(pipeline_run_id=pipeline_id, step_name=name)
        return client.runs.create(experiment.id, name=name, process=process).id

    rng = np.random.default_rng(3)
    raw_frame = pd.DataFrame({"x": rng.normal(size=60), "y": rng.integers(0, 2, 60),
                              "src": [unique] * 60}).assign(x=lambda d: d.x.where(d.index % 7 != 0))
    prep = step("prep")
    raw = client.datasets.log(raw_frame, name="raw", run_id=prep, kind="raw_source")
    clean_frame = raw_frame.dropna().reset_index(drop=True).assign(x2=lambda d: d.x ** 2)
    clean = client.datasets.log(clean_frame, name="clean", run_id=prep, context="output", snapshot=True)

    train = step("train")
    client.runs.log_params(train, PARAMS)
    splits = client.datasets.log_splits(clean, {"train": clean_frame.iloc[:40], "test": clean_frame.iloc[40:]},
                                        run_id=prep)
    client.datasets.log(clean_frame.iloc[:40], name="clean/train", run_id=train, parent=clean, split="train")
    client.artifacts.upload_bytes(train, "model/model.skops", f"model-{unique}".encode())
    model = client.lineage.log_output(train, {"kind": "model", "run_artifact_path": "model/model.skops"})
    client.runs.log_metric(train, "train_auc", 0.91)

    evals, evaluations = [], []
    for name, auc in (("holdout", 0.88), ("fairness", 0.86)):
        run_id = step(f"eval-{name}")
        client.lineage.log_input(run_id, {"id": model.id})
        client.lineage.log_input(run_id, {"id": splits["test"].id})
        client.artifacts.upload_bytes(run_id, "eval.json", f'{{"auc": {auc}, "u": "{unique}"}}'.encode())
        evaluations.append(client.lineage.log_output(
            run_id, {"kind": "evaluation", "name": name, "run_artifact_path": "eval.json",
                     "properties": {"metrics": {"auc": auc}}}))
        evals.append(run_id)
    return Pipeline(prep, train, evals, raw, clean, clean_frame, splits["train"], model, evaluations)
