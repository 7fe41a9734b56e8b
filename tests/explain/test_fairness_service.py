"""Fairness across groups of registered versions (services.fairness), the intersection gate through
the governance evaluation, production fairness over intersections, and the REST, SDK and CLI doors.

A synthetic credit data set with a planted bias: the label depends on a score and on the (sex, age
band) group, so a model that sees sex and age band learns the bias (its selection rate is highest
for young men, lowest for old women) and one that sees only the score does not. Both are fitted,
saved with skops, registered through the real registry and assessed the way the server does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from typer.testing import CliRunner

from modelward import models
from modelward.cli import app as cli_app
from modelward.domain.predictions import PredictionRecord
from modelward.errors import InvalidInput, NotFound
from modelward.evaluation.fairness import fairness_report
from modelward.sdk.client import Client
from modelward.services import evaluations, fairness, policies, production_fairness, registry
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from tests.fixtures.servers import start_server, stop_server
from tests.governance.helpers import ADMIN, AUTHOR, dataset, log_folder

MODEL = "credit"
BANDS = ["18-30", "30-45", "45-60", "60+"]
BIAS = {("M", "18-30"): 2.0, ("F", "60+"): -2.5}
POLICY = """\
model: {name}
gates:
  - {{fairness: demographic_parity_difference, sensitive_features: [sex, age_band], max: 0.15}}
"""
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def credit_frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"score": rng.normal(size=n), "income": rng.normal(size=n),
                          "sex": rng.choice(["F", "M"], n), "age_band": rng.choice(BANDS, n, p=[0.3, 0.3, 0.3, 0.1])})
    shift = np.array([BIAS.get((s, b), 0.0) for s, b in zip(frame["sex"], frame["age_band"], strict=True)])
    frame["target"] = (rng.random(n) < 1 / (1 + np.exp(-(2 * frame["score"] + shift)))).astype(int)
    return frame


def biased_model(frame: pd.DataFrame) -> Any:
    encode = make_column_transformer((OneHotEncoder(), ["sex", "age_band"]), remainder="passthrough")
    return make_pipeline(encode, LogisticRegression(max_iter=2000)).fit(frame.drop(columns=["target"]), frame["target"])


def fair_model(frame: pd.DataFrame) -> Any:
    return LogisticRegression().fit(frame[["score", "income"]], frame["target"])


def register(backend: Backend, model: Any, example: pd.DataFrame) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save(model, Path(tmp) / "model", input_example=example.head())
        run_id = log_folder(backend, AUTHOR, folder)
    return registry.register_version(backend, AUTHOR, MODEL, run_id=run_id).version


@dataclass
class Store:
    home: Path
    backend: Backend
    frame: pd.DataFrame
    biased: Any
    fair: Any
    data: dict[str, str]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    home = tmp_path_factory.mktemp("fairness")
    backend = Backend.from_settings(Settings(home=home))
    frame = credit_frame()
    data = dataset(backend, frame)
    policies.set_policy(backend, ADMIN, POLICY.format(name=MODEL)
                        + f"evaluation_dataset: {{run_id: {data['run_id']}, path: {data['path']}}}\n")
    biased, fair = biased_model(frame), fair_model(frame)
    assert register(backend, biased, frame.drop(columns=["target"])) == 1
    assert register(backend, fair, frame[["score", "income"]]) == 2
    yield Store(home, backend, frame, biased, fair, data)
    backend.close()


# -- the service ---------------------------------------------------------------------------------------


def test_a_version_is_assessed_per_feature_and_intersection(store: Store) -> None:
    found = fairness.for_version(store.backend, MODEL, 1, features=["sex", ["sex", "age_band"]], bootstrap=100)
    assert set(found["fairness"]) == {"sex", "sex & age_band"}
    assert found["rows"] == len(store.frame) and found["label"] == "target" and found["positive_label"] == 1
    assert found["dataset"]["run_id"] == store.data["run_id"] and len(found["dataset"]["digest"]) == 64
    assert found["parameters"] == {"seed": 0, "bootstrap": 100, "min_group_size": 30, "confidence": 0.95}
    report = found["fairness"]["sex & age_band"]
    expected = store.frame.groupby(["sex", "age_band"]).size()
    assert {g: v["count"] for g, v in report["by_group"].items()} == {f"{s}, {b}": int(c)
                                                                      for (s, b), c in expected.items()}
    assert report["worst_groups"]["selection_rate"] == {"lowest": "F, 60+", "highest": "M, 18-30"}
    # the same numbers as the report on the fitted model's own predictions: the stored version is that model
    direct = fairness_report(store.frame["target"], store.biased.predict(store.frame.drop(columns=["target"])),
                             store.frame[["sex", "age_band"]], bootstrap=100)
    assert report == direct
    for values in report["by_group"].values():
        low, high = values["intervals"]["selection_rate"]
        assert low <= values["selection_rate"] <= high
    assert json.dumps(found, allow_nan=False)


def test_the_intersection_gate_fails_the_biased_version_and_passes_the_fair_one(store: Store) -> None:
    biased = evaluations.evaluate(store.backend, ADMIN, MODEL, 1)
    assert not biased.passed and not biased.advisory
    [reason] = biased.failures
    assert reason.startswith("demographic_parity_difference for 'sex & age_band' ")
    assert "is above the maximum 0.15: selection rate" in reason
    assert "in group 'F, 60+' vs" in reason and reason.endswith("in 'M, 18-30'")
    assert "F, 60+" in biased.result["fairness"]["sex & age_band"]["by_group"]
    fair = evaluations.evaluate(store.backend, ADMIN, MODEL, 2)
    assert fair.passed, fair.failures
    assert fair.result["fairness"]["sex & age_band"]["demographic_parity_difference"] <= 0.15
    # registration already evaluated each version under the policy: the biased one was rejected
    assert registry.get_version(store.backend, MODEL, 1).status == "rejected"


def test_bad_input_is_refused_naming_the_problem(store: Store) -> None:
    with pytest.raises(InvalidInput, match="no column 'religion'"):
        fairness.for_version(store.backend, MODEL, 1, features=[["sex", "religion"]])
    with pytest.raises(InvalidInput, match="non-empty list"):
        fairness.for_version(store.backend, MODEL, 1, features=[])
    with pytest.raises(InvalidInput, match="2 or 3 distinct columns"):
        fairness.for_version(store.backend, MODEL, 1, features=[["sex", "sex"]])
    with pytest.raises(InvalidInput, match="bootstrap"):
        fairness.for_version(store.backend, MODEL, 1, features=["sex"], bootstrap=-1)
    with pytest.raises(NotFound, match="version 9"):
        fairness.for_version(store.backend, MODEL, 9, features=["sex"])


def test_a_regression_model_is_refused(tmp_path: Path) -> None:
    backend = Backend.from_settings(Settings(home=tmp_path / "store"))
    try:
        frame = credit_frame(200)
        policies.set_policy(backend, ADMIN, f"model: {MODEL}\ntask: regression\n")
        register(backend, LogisticRegression().fit(frame[["score"]], frame["target"]), frame[["score"]])
        with pytest.raises(InvalidInput, match="classification"):
            fairness.for_version(backend, MODEL, 1, features=["sex"], dataset=dataset(backend, frame))
    finally:
        backend.close()


# -- production ----------------------------------------------------------------------------------------


def test_production_fairness_over_an_intersection(store: Store) -> None:
    """Logged answers of the biased version, with ground truth for every other request."""
    rows = store.frame.head(600)
    predicted = store.biased.predict(rows.drop(columns=["target"]))
    records = [PredictionRecord(
        request_id=f"c{i}", endpoint="credit-live", model_name=MODEL, version=1, mode="live",
        at=T0 + timedelta(seconds=i), latency_ms=1.0, status=200, error=None,
        inputs=rows.iloc[[i]].drop(columns=["target"]), outputs=[int(predicted[i])], rows=1) for i in range(len(rows))]
    log = PredictionLog(store.backend, capacity=len(records), batch_size=len(records))
    assert all(log.submit(r) for r in records)
    log.close()
    from modelward.services import predictions

    predictions.add_feedback(store.backend, ADMIN, "credit-live", [
        {"request_id": f"c{i}", "ground_truth": int(rows["target"].iloc[i])} for i in range(0, len(rows), 2)])
    span = {"since": T0, "until": T0 + timedelta(hours=1)}
    found = production_fairness.fairness(store.backend, "credit-live", **span,
                                         sensitive_features=["sex", ["sex", "age_band"]], bootstrap=50)
    assert set(found["features"]) == {"sex", "sex & age_band"}
    report = found["features"]["sex & age_band"]
    assert report["features"] == ["sex", "age_band"] and report["rows"] == 600
    expected = rows.groupby(["sex", "age_band"]).size()
    assert {g: v["rows"] for g, v in report["by_group"].items()} == {f"{s}, {b}": int(c)
                                                                     for (s, b), c in expected.items()}
    direct = fairness_report(predicted, predicted, rows[["sex", "age_band"]], bootstrap=50)
    assert report["demographic_parity_difference"] == pytest.approx(direct["demographic_parity_difference"])
    assert report["small_groups"] == [g for g, c in zip(report["by_group"], expected, strict=True) if c < 30]
    for values in report["by_group"].values():
        low, high = values["intervals"]["selection_rate"]
        assert low <= values["selection_rate"] <= high and values["small"] == (values["rows"] < 30)
    low, high = report["intervals"]["demographic_parity_difference"]
    assert low <= report["demographic_parity_difference"] <= high
    labelled = report["labelled"]
    assert report["labelled_rows"] == 300 and labelled["feature"] == "sex & age_band"
    assert sum(v["count"] for v in labelled["by_group"].values()) == 300
    # the policy's intersection gate is the default, and the report name is accepted as a feature
    assert list(production_fairness.fairness(store.backend, "credit-live", **span, bootstrap=0)["features"]) == \
        ["sex & age_band"]
    by_name = production_fairness.fairness(store.backend, "credit-live", **span, sensitive_features=["sex & age_band"],
                                           bootstrap=50)
    assert by_name["features"]["sex & age_band"] == report
    missing = production_fairness.fairness(store.backend, "credit-live", **span,
                                           sensitive_features=[["sex", "religion"]])
    assert missing["features"]["sex & religion"]["error"] == "the logged inputs have no column 'religion'"
    with pytest.raises(InvalidInput, match="2 or 3 distinct columns"):
        production_fairness.fairness(store.backend, "credit-live", **span, sensitive_features=[["sex", "sex"]])


# -- REST, SDK, CLI against a real server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def served(store: Store) -> Iterator[str]:
    server = start_server(store.home)
    try:
        yield server.url
    finally:
        stop_server(server)


def test_rest_happy_path_and_errors(served: str) -> None:
    url = f"{served}/api/v1/models/{MODEL}/versions/1/fairness"
    answered = httpx.post(url, json={"features": [["sex", "age_band"]], "bootstrap": 50}, timeout=120)
    assert answered.status_code == 200, answered.text
    report = answered.json()["fairness"]["sex & age_band"]
    assert report["worst_groups"]["selection_rate"]["lowest"] == "F, 60+"
    unknown = httpx.post(url, json={"features": ["religion"]}, timeout=120)
    assert unknown.status_code == 400 and "religion" in unknown.json()["message"]
    assert unknown.json()["error_code"]
    empty = httpx.post(url, json={"features": []})
    assert 400 <= empty.status_code < 500 and "features" in empty.json()["message"]
    missing = httpx.post(f"{served}/api/v1/models/{MODEL}/versions/9/fairness", json={"features": ["sex"]})
    assert missing.status_code == 404 and "version 9" in missing.json()["message"]


def test_sdk_happy_path_and_an_error(served: str) -> None:
    with Client(served) as client:
        found = client.fairness.for_version(MODEL, 2, ["sex", ["sex", "age_band"]], bootstrap=50, min_group_size=400)
        assert set(found["fairness"]) == {"sex", "sex & age_band"}
        small = found["fairness"]["sex & age_band"]["small_groups"]
        assert "F, 60+" in small and found["parameters"]["min_group_size"] == 400
        with pytest.raises(InvalidInput, match="religion"):
            client.fairness.for_version(MODEL, 2, ["religion"])
        with pytest.raises(InvalidInput, match="features"):
            client.fairness.for_version(MODEL, 2, [3])


def _cli(url: str, *args: str) -> Any:
    return CliRunner().invoke(cli_app, list(args), env={"MODELWARD_TRACKING_URI": url, "COLUMNS": "200"})


def test_cli_table_json_and_an_error(served: str, tmp_path: Path) -> None:
    table = _cli(served, "explain", "fairness", MODEL, "1", "--feature", "sex & age_band", "--bootstrap", "50",
                 "--min-group-size", "400")
    assert table.exit_code == 0, table.output
    assert "F, 60+" in table.output and "yes (< 400)" in table.output and "selection rate" in table.output
    assert "lowest selection rate in 'F, 60+', highest in 'M, 18-30'" in table.output
    as_json = _cli(served, "explain", "fairness", MODEL, "1", "--feature", "sex", "--feature", "sex,age_band",
                   "--bootstrap", "20", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert set(json.loads(as_json.output)["fairness"]) == {"sex", "sex & age_band"}
    env = {"PATH": "/usr/bin:/bin", "MODELWARD_TRACKING_URI": served, "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "modelward", "explain", "fairness", MODEL, "1", "--feature",
                           "religion"], capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "religion" in done.stderr, done.stderr
