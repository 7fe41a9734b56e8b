"""Explanations of a regression: a generated stand-in for California housing (median income
drives the value, location and age less, two columns are noise), a 50-tree random forest and a
ridge regression, registered and explained through the service like any version."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge

from modelward.domain.policy import Task
from modelward.services import explanations
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.governance.helpers import ADMIN, dataset, register_model, set_model_policy

REGRESSION_POLICY = "model: {name}\ntask: regression\n"


def housing() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = 600
    frame = pd.DataFrame({
        "median_income": rng.gamma(4.0, 1.0, rows), "house_age": rng.uniform(1, 52, rows),
        "latitude": rng.uniform(32.5, 42.0, rows), "rooms": rng.normal(5.0, 1.0, rows),
        "noise_a": rng.normal(size=rows), "noise_b": rng.normal(size=rows),
    })
    frame["target"] = (0.45 * frame["median_income"] + 0.01 * frame["house_age"] - 0.08 * (frame["latitude"] - 35)
                       + rng.normal(0, 0.1, rows))
    return frame


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    backend = Backend.from_settings(Settings(home=tmp_path_factory.mktemp("housing")))
    frame = housing()
    for name, model in (("housing-rf", RandomForestRegressor(n_estimators=50, random_state=0)),
                        ("housing-ridge", Ridge())):
        set_model_policy(backend, name, REGRESSION_POLICY, dataset(backend, frame))
        fitted = model.fit(frame.drop(columns=["target"]), frame["target"])
        register_model(backend, name, fitted, frame, with_sex=True)
    yield backend
    backend.close()


@pytest.mark.parametrize("name", ["housing-rf", "housing-ridge"])
def test_the_planted_driver_ranks_first_and_the_output_is_the_value(backend: Backend, name: str) -> None:
    document = explanations.global_(backend, ADMIN, name, 1, top=3)
    assert document["parameters"]["task"] == Task.REGRESSION.value and document["scoring"] == "r2"
    assert document["output"] == "prediction" and document["explained_class"] is None
    assert document["permutation_importance"][0]["feature"] == "median_income"
    assert document["shap"]["mean_abs"][0]["feature"] == "median_income"
    curve = document["partial_dependence"][0]
    assert curve["feature"] == "median_income"
    averages = [point for point in curve["average"] if point is not None]
    assert averages[-1] > averages[0]  # the value rises with income


@pytest.mark.parametrize("name", ["housing-rf", "housing-ridge"])
def test_local_attributions_sum_to_the_predicted_value_minus_the_base(backend: Backend, name: str) -> None:
    row = housing().drop(columns=["target"]).iloc[7].to_dict()
    explained = explanations.local(backend, name, 1, row)
    [answer] = explained["rows"]
    total = explained["base_value"] + sum(item["attribution"] for item in answer["attributions"])
    assert total == pytest.approx(answer["prediction"], abs=1e-6)
    assert answer["additivity_error"] < 1e-6
    assert len(answer["nearest"]) == 5
