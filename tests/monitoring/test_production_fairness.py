"""Production fairness from the prediction log (services.production_fairness) against fairlearn on
the same arrays, on SQLite and PostgreSQL; records through the real PredictionLog and feedback
through the real service, the store built once per module and backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    selection_rate,
)
from sklearn.metrics import accuracy_score

from modelward.domain.actors import Actor
from modelward.domain.predictions import PredictionRecord
from modelward.errors import InvalidInput, NotFound
from modelward.services import policies, predictions, production_fairness
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from tests.fixtures.postgres import drop_database, new_database

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TOL = 1e-9
ROOT = Actor(name="root")


def plan_requests() -> list[dict[str, Any]]:
    """200 requests of one or two rows; group F is selected less often; truth for two thirds."""
    rng = np.random.default_rng(3)
    plan = []
    for i in range(200):
        n = 1 + i % 2
        sex = rng.choice(["F", "M"], n)
        band = rng.choice(["young", "old"], n)
        p = np.round(np.clip(rng.beta(2, 2, n) - 0.15 * (sex == "F"), 0, 1), 4)
        truth = (rng.random(n) < p).astype(int).tolist()
        plan.append({"id": f"q{i}", "at": T0 + timedelta(seconds=17 * i), "version": 1 + i % 2,
                     "status": 503 if i % 31 == 0 else 200,
                     "frame": pd.DataFrame({"sex": sex, "band": band, "x": rng.normal(size=n)}), "p": p,
                     "truth": truth if i % 3 else None})
    return plan


PLAN = plan_requests()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    database_url = None
    if request.param == "postgres":
        admin = request.getfixturevalue("postgres_admin")
        database_url = new_database(admin)
    found = Backend.from_settings(Settings(home=tmp_path_factory.mktemp("fairness"), database_url=database_url))
    records = [PredictionRecord(
        request_id=e["id"], endpoint="loans", model_name="loan-model", version=e["version"], mode="live", at=e["at"],
        latency_ms=2.0, status=e["status"], error=None if e["status"] == 200 else "boom", inputs=e["frame"],
        outputs=[[float(1 - q), float(q)] for q in e["p"]] if e["status"] == 200 else None, rows=len(e["frame"]))
        for e in PLAN]
    log = PredictionLog(found, capacity=len(records), batch_size=len(records))
    assert all(log.submit(r) for r in records)
    log.close()
    items = [{"request_id": e["id"], "ground_truth": e["truth"] if len(e["truth"]) > 1 else e["truth"][0]}
             for e in PLAN if e["truth"] is not None and e["status"] == 200]
    predictions.add_feedback(found, ROOT, "loans", items)
    yield found
    found.close()
    if database_url is not None:
        drop_database(admin, database_url)


def expected_arrays(feature: str, version: int | None = None) -> dict[str, np.ndarray]:
    groups, predicted, true = [], [], []
    for e in PLAN:
        if e["status"] != 200 or (version is not None and e["version"] != version):
            continue
        groups += e["frame"][feature].tolist()
        predicted += (e["p"] > 1 - e["p"]).astype(int).tolist()  # the larger probability's column
        true += e["truth"] if e["truth"] is not None else [None] * len(e["p"])
    return {"groups": np.array(groups), "predicted": np.array(predicted), "true": np.array(true, dtype=object)}


@pytest.mark.parametrize("version", [None, 2])
def test_selection_rates_and_differences_equal_fairlearns(backend: Backend, version: int | None) -> None:
    report = production_fairness.fairness(backend, "loans", since=T0, until=T0 + timedelta(hours=2), version=version,
                                          sensitive_features=["sex", "band"])
    assert report["positive_label"] == 1.0 and report["model"] == "loan-model"
    for feature in ("sex", "band"):
        data = expected_arrays(feature, version)
        found = report["features"][feature]
        frame = MetricFrame(metrics=selection_rate, y_true=data["predicted"], y_pred=data["predicted"],
                            sensitive_features=data["groups"])
        assert found["rows"] == len(data["predicted"]) == sum(g["rows"] for g in found["by_group"].values())
        for group, rate in frame.by_group.items():
            assert found["by_group"][group]["selection_rate"] == pytest.approx(rate, abs=TOL)
            assert found["by_group"][group]["rows"] == int((data["groups"] == group).sum())
        assert found["demographic_parity_difference"] == pytest.approx(demographic_parity_difference(
            data["predicted"], data["predicted"], sensitive_features=data["groups"]), abs=TOL)
        labelled = np.array([t is not None for t in data["true"]])
        true, predicted, groups = data["true"][labelled].astype(int), data["predicted"][labelled], data["groups"][labelled]
        quality = found["labelled"]
        assert found["labelled_rows"] == labelled.sum() and 0 < labelled.sum() < len(labelled)
        assert quality["demographic_parity_difference"] == pytest.approx(
            demographic_parity_difference(true, predicted, sensitive_features=groups), abs=TOL)
        assert quality["equalized_odds_difference"] == pytest.approx(
            equalized_odds_difference(true, predicted, sensitive_features=groups), abs=TOL)
        for group in np.unique(groups):
            mine = groups == group
            assert quality["by_group"][group]["accuracy"] == pytest.approx(
                accuracy_score(true[mine], predicted[mine]), abs=TOL)
            assert quality["by_group"][group]["count"] == mine.sum()


def test_the_sensitive_features_default_to_the_policy(backend: Backend) -> None:
    policies.set_policy(backend, ROOT, "model: loan-model\nsensitive_features: [band]\n")
    try:
        report = production_fairness.fairness(backend, "loans", since=T0, until=T0 + timedelta(hours=2))
        assert list(report["features"]) == ["band"]
        missing = production_fairness.fairness(backend, "loans", since=T0, until=T0 + timedelta(hours=2),
                                               sensitive_features=["religion"])
        assert missing["features"]["religion"]["error"] == "the logged inputs have no column 'religion'"
    finally:
        policies.set_policy(backend, ROOT, "model: loan-model\n")


def test_bad_input_gives_our_errors(backend: Backend) -> None:
    span = {"since": T0, "until": T0 + timedelta(hours=2)}
    with pytest.raises(NotFound, match="nobody"):
        production_fairness.fairness(backend, "nobody", **span, sensitive_features=["sex"])
    with pytest.raises(InvalidInput, match="until"):
        production_fairness.fairness(backend, "loans", since=T0, until=T0, sensitive_features=["sex"])
    with pytest.raises(InvalidInput, match="no sensitive features"):
        production_fairness.fairness(backend, "loans", **span)
    policies.set_policy(backend, ROOT, "model: loan-model\ntask: regression\n")
    try:
        with pytest.raises(InvalidInput, match="classification"):
            production_fairness.fairness(backend, "loans", **span, sensitive_features=["sex"])
    finally:
        policies.set_policy(backend, ROOT, "model: loan-model\n")


def test_more_than_two_classes_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    backend = Backend.from_settings(Settings(home=tmp_path / "store"))
    try:
        records = [PredictionRecord(
            request_id=f"m{i}", endpoint="multi", model_name="multi-model", version=1, mode="live",
            at=T0 + timedelta(minutes=i), latency_ms=1.0, status=200, error=None,
            inputs=pd.DataFrame({"sex": ["F" if i % 2 else "M"]}), outputs=[["a", "b", "c"][i % 3]], rows=1)
            for i in range(9)]
        log = PredictionLog(backend, capacity=9, batch_size=9)
        assert all(log.submit(r) for r in records)
        log.close()
        with pytest.raises(InvalidInput, match="binary classification; the log holds 3 classes"):
            production_fairness.fairness(backend, "multi", since=T0, until=T0 + timedelta(hours=1),
                                         sensitive_features=["sex"])
    finally:
        backend.close()
