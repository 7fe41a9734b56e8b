"""The demo workload: a small scikit-learn sweep on the bundled breast-cancer data.

Uses the SDK only (``Client``), so it records into whatever store the client talks
to. Each call adds a parent "sweep" run with one nested run per model configuration.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelward.domain.tracking import Experiment, ProcessInfo, RunStatus
from modelward.sdk.client import Client
from modelward.sdk.environment import capture_environment

EXPERIMENT = "demo/breast-cancer"
RANDOM_STATE = 42
LR_ITER_STEPS = (5, 10, 20, 50, 100)
RF_TREE_STEP = 10

Progress = Callable[[str], None]


@dataclass
class DemoResult:
    experiment: Experiment
    parent_run_id: str
    run_ids: list[str]
    best_run_id: str
    roc_auc: dict[str, float] = field(default_factory=dict)


@dataclass
class Split:
    x_train: Any
    x_test: Any
    y_train: Any
    y_test: Any
    target_names: list[str]


@dataclass
class Config:
    family: str
    params: dict[str, Any]

    @property
    def name(self) -> str:
        if self.family == "logreg":
            return f"logreg-C{self.params['C']:g}"
        return f"forest-{self.params['n_estimators']}trees"

    @property
    def steps(self) -> tuple[int, ...]:
        if self.family == "logreg":
            return LR_ITER_STEPS
        return tuple(range(RF_TREE_STEP, self.params["n_estimators"] + 1, RF_TREE_STEP))


def plan(runs_per_model: int) -> list[Config]:
    """Logistic regression over C = 0.1, 1, 10, ...; random forests of 50, 100, ... trees."""
    logreg = [Config("logreg", {"C": 10.0 ** (i - 1)}) for i in range(runs_per_model)]
    forest = [
        Config("random_forest", {"n_estimators": 50 * (i + 1)}) for i in range(runs_per_model)
    ]
    return logreg + forest


def total_steps(runs_per_model: int) -> int:
    return sum(len(config.steps) for config in plan(runs_per_model))


def load_split() -> Split:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=RANDOM_STATE, stratify=data.target
    )
    return Split(x_train, x_test, y_train, y_test, [str(n) for n in data.target_names])


def _estimator(config: Config) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if config.family == "logreg":
        model = LogisticRegression(C=config.params["C"], warm_start=True, random_state=RANDOM_STATE)
        return make_pipeline(StandardScaler(), model)
    return RandomForestClassifier(warm_start=True, n_jobs=1, random_state=RANDOM_STATE)


def _set_step(estimator: Any, config: Config, step: int) -> None:
    if config.family == "logreg":
        estimator.set_params(logisticregression__max_iter=step)
    else:
        estimator.set_params(n_estimators=step)


def final_metrics(y_true: Any, y_pred: Any, proba: Any) -> dict[str, float]:
    from sklearn import metrics

    return {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "precision": float(metrics.precision_score(y_true, y_pred)),
        "recall": float(metrics.recall_score(y_true, y_pred)),
        "f1": float(metrics.f1_score(y_true, y_pred)),
        "roc_auc": float(metrics.roc_auc_score(y_true, proba)),
    }


def train(client: Client, run_id: str, config: Config, split: Split, progress: Progress) -> Any:
    """Fit step by step, logging test accuracy and log-loss per step, and a log line each."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, log_loss

    estimator = _estimator(config)
    keys: list[str] = []
    values: list[float] = []
    steps: list[int] = []
    stamps: list[int] = []
    lines: list[tuple[str, str]] = []
    for step in config.steps:
        _set_step(estimator, config, step)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(split.x_train, split.y_train)
        proba = estimator.predict_proba(split.x_test)[:, 1]
        point = {
            "test_accuracy": accuracy_score(split.y_test, proba >= 0.5),
            "test_log_loss": log_loss(split.y_test, proba),
        }
        now = int(time.time() * 1000)
        for key, value in point.items():
            keys.append(key)
            values.append(float(value))
            steps.append(step)
            stamps.append(now)
        summary = " ".join(f"{key}={value:.4f}" for key, value in point.items())
        lines.append(("stdout", f"{config.name} step {step}: {summary}\n"))
        progress(config.name)
    client.runs.log_metric_columns(run_id, keys, values, steps, stamps)
    client.runs.append_logs(run_id, lines)
    return estimator


def roc_png(y_true: Any, proba: Any, title: str) -> bytes | None:
    """A ROC curve as PNG, or None without matplotlib (an optional extra)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y_true, proba)
    figure = Figure(figsize=(4, 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(fpr, tpr, label="ROC")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def log_evaluation(
    client: Client, run_id: str, config: Config, estimator: Any, split: Split
) -> float:
    import pandas as pd
    from sklearn.metrics import classification_report, confusion_matrix

    proba = estimator.predict_proba(split.x_test)[:, 1]
    predicted = (proba >= 0.5).astype(int)
    scores = final_metrics(split.y_test, predicted, proba)
    client.runs.log_metric_columns(run_id, list(scores), list(scores.values()))
    matrix = confusion_matrix(split.y_test, predicted).tolist()
    files: dict[str, bytes] = {
        "evaluation/confusion_matrix.json": json.dumps(
            {"labels": split.target_names, "matrix": matrix}, indent=2
        ).encode(),
        "evaluation/classification_report.txt": classification_report(
            split.y_test, predicted, target_names=split.target_names
        ).encode(),
        "evaluation/predictions.csv": pd.DataFrame(
            {"y_true": split.y_test, "y_pred": predicted, "proba": np.round(proba, 6)}
        )
        .to_csv(index_label="row")
        .encode(),
    }
    png = roc_png(split.y_test, proba, config.name)
    if png is not None:
        files["evaluation/roc_curve.png"] = png
    for path, data in files.items():
        client.artifacts.upload_bytes(run_id, path, data)
    client.runs.add_note(
        run_id,
        f"{config.name}: roc_auc={scores['roc_auc']:.4f}, f1={scores['f1']:.4f} "
        f"on {len(split.y_test)} held-out samples.",
    )
    return scores["roc_auc"]


@contextmanager
def recorded_run(client: Client, experiment_id: str, name: str, **create: Any) -> Iterator[str]:
    """A run that ends FINISHED, or FAILED with the error if the block raises."""
    run = client.runs.create(experiment_id, name=name, environment=capture_environment(), **create)
    try:
        yield run.id
    except BaseException as exc:
        import traceback

        client.runs.end(
            run.id,
            RunStatus.FAILED,
            error_message=f"{type(exc).__name__}: {exc}",
            error_traceback=traceback.format_exc(),
        )
        raise
    client.runs.end(run.id, RunStatus.FINISHED)


@dataclass
class Sweep:
    client: Client
    experiment_id: str
    pipeline_run_id: str
    split: Split
    progress: Progress

    def process(self, step_name: str) -> ProcessInfo:
        return ProcessInfo(
            pipeline_run_id=self.pipeline_run_id,
            trigger_type="manual",
            process_type="training",
            step_name=step_name,
        )

    def child(self, parent_id: str, config: Config) -> tuple[str, float]:
        """One nested run: params, stepwise training, evaluation; returns (run id, roc_auc)."""
        client, split = self.client, self.split
        tags = {"demo": "true", "model_family": config.family, "dataset": "sklearn/breast_cancer"}
        process = self.process(f"train-{config.family}")
        with recorded_run(
            client,
            self.experiment_id,
            config.name,
            parent_run_id=parent_id,
            tags=tags,
            process=process,
        ) as run_id:
            params = {
                "model": config.family,
                **config.params,
                "random_state": RANDOM_STATE,
                "test_size": 0.25,
                "n_train": len(split.y_train),
                "n_features": split.x_train.shape[1],
            }
            client.runs.log_params(run_id, params)
            estimator = train(client, run_id, config, split, self.progress)
            return run_id, log_evaluation(client, run_id, config, estimator, split)


def run_demo(
    client: Client,
    *,
    runs_per_model: int = 2,
    experiment: str = EXPERIMENT,
    progress: Progress | None = None,
) -> DemoResult:
    """Record one sweep (a parent run with nested runs per model) and return what was made."""
    target = client.experiments.get_or_create(experiment)
    sweep = Sweep(client, target.id, uuid.uuid4().hex, load_split(), progress or (lambda _: None))
    scores: dict[str, float] = {}
    name = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    tags = {"demo": "true", "kind": "sweep"}
    with recorded_run(client, target.id, name, tags=tags, process=sweep.process("sweep")) as parent:
        for config in plan(runs_per_model):
            run_id, auc = sweep.child(parent, config)
            scores[run_id] = auc
        best = max(scores, key=lambda run_id: scores[run_id])
        client.runs.log_params(parent, {"runs_per_model": runs_per_model, "best_run_id": best})
        client.runs.log_metric(parent, "best_roc_auc", scores[best])
        client.runs.add_note(parent, f"Sweep of {len(scores)} models; best run {best}.")
    return DemoResult(target, parent, list(scores), best, scores)
