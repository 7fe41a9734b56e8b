"""A model that takes a text column (a pipeline encoding it) is explained too: shap's maskers take
numbers only, so its attributions come from modelward's own sampled Shapley values, which pass the
rows to the model as they are, and stay additive."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelward.evaluation.explain import SAMPLED_SHAPLEY
from modelward.services import explanations
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.explain.test_explanations import register_on
from tests.governance.helpers import ADMIN


def regions() -> pd.DataFrame:
    """The label is decided by the region (text) first, then by ``amount``."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"region": rng.choice(["north", "south", "east"], 400), "amount": rng.normal(size=400),
                          "noise": rng.normal(size=400)})
    frame["target"] = ((frame["region"] == "north") | (frame["amount"] > 1.2)).astype(int)
    return frame


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    backend = Backend.from_settings(Settings(home=tmp_path_factory.mktemp("text")))
    encode = make_column_transformer((OneHotEncoder(), ["region"]), (StandardScaler(), ["amount", "noise"]))
    register_on(backend, "regions", make_pipeline(encode, LogisticRegression()), regions())
    yield backend
    backend.close()


def test_a_text_column_is_explained_locally_and_the_attributions_add_up(backend: Backend) -> None:
    explained = explanations.local(backend, "regions", 1, {"region": "north", "amount": 0.1, "noise": 0.0})
    [row] = explained["rows"]
    assert explained["method"] == SAMPLED_SHAPLEY
    assert row["attributions"][0]["feature"] == "region" and row["attributions"][0]["value"] == "north"
    total = explained["base_value"] + sum(a["attribution"] for a in row["attributions"])
    assert total == pytest.approx(row["prediction"], abs=1e-9)


def test_a_text_column_is_ranked_in_the_global_explanation(backend: Backend) -> None:
    document = explanations.global_(backend, ADMIN, "regions", 1, top=3)
    assert document["permutation_importance"][0]["feature"] == "region"
    assert document["shap"]["method"] == SAMPLED_SHAPLEY
    assert document["shap"]["mean_abs"][0]["feature"] == "region"

