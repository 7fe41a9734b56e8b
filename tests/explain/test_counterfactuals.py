"""Counterfactuals on real models: a LogisticRegression and a small forest on breast cancer and on
a synthetic credit data set with immutable age and sex; a regression threshold; a registered
version (loaded as the gateway loads it) and a logged prediction; bad input.

Every returned counterfactual is checked here again by calling the model on its row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer, make_regression
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelward.domain.predictions import PredictionRecord, Rows
from modelward.errors import InvalidInput, PolicyViolation
from modelward.evaluation.counterfactuals import Constraints, run, search
from modelward.services import counterfactuals, registry
from modelward.services.backend import Backend
from modelward.services.predictions import PredictionLog
from modelward.settings import Settings
from tests.deployments.helpers import AUTHOR, POLICY, approved_versions, iris, register_estimator, set_policy


def breast_cancer() -> tuple[pd.DataFrame, pd.Series]:
    data = load_breast_cancer(as_frame=True)
    return data.data, data.target


def credit(rows: int = 600, seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    """Applicants: age and sex (immutable), income, debt, years employed (whole years), region."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.integers(20, 70, rows),
        "sex": rng.choice(["F", "M"], rows),
        "income": rng.normal(50, 15, rows).round(1),
        "debt": rng.gamma(2.0, 8.0, rows).round(1),
        "years_employed": rng.integers(0, 30, rows),
        "region": rng.choice(["north", "south", "east"], rows),
    })
    score = (frame.income - 1.2 * frame.debt + 0.8 * frame.years_employed + 0.1 * frame.age
             + np.where(frame.region == "south", 5, 0) + rng.normal(0, 4, rows))
    return frame, pd.Series((score > 40).astype(int), name="approved")


def credit_model(estimator):  # type: ignore[no-untyped-def]
    encode = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["sex", "region"]),
                                     remainder=StandardScaler())
    return make_pipeline(encode, estimator)


ESTIMATORS = {
    "logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    "forest": lambda: RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0),
}
CREDIT_RULES = {"immutable": ["age", "sex"], "monotone": {"years_employed": "increase_only", "debt": "decrease_only"},
                "ranges": {"income": [20, 90]}, "choices": {"region": ["north", "south"]}}


@pytest.fixture(scope="module", params=sorted(ESTIMATORS))
def cancer(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    X, y = breast_cancer()
    return ESTIMATORS[request.param]().fit(X, y), X, Constraints.from_data(X)


@pytest.fixture(scope="module", params=sorted(ESTIMATORS))
def applicants(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    X, y = credit()
    return credit_model(ESTIMATORS[request.param]()).fit(X, y), X, Constraints.from_data(X, **CREDIT_RULES)


def mad(values: pd.Series) -> float:
    return float((values - values.median()).abs().median())


def assert_valid(model, row: pd.DataFrame, found, constraints: Constraints) -> None:  # type: ignore[no-untyped-def]
    """Each counterfactual flips the class (the model says so), changes only what it reports, within the ranges."""
    original = model.predict(row)[0]
    rows = pd.DataFrame([cf.values for cf in found]).astype(row.dtypes.to_dict())
    assert (model.predict(rows) != original).all()
    for cf, (_, values) in zip(found, rows.iterrows()):
        assert cf.prediction == model.predict(values.to_frame().T.astype(row.dtypes.to_dict()))[0] != original
        changed = [c for c in row.columns if values[c] != row[c].iloc[0]]
        assert [change.feature for change in cf.changes] == changed and cf.sparsity == len(changed) > 0
        for feature in changed:
            if feature in constraints.ranges:
                low, high = constraints.ranges[feature]
                assert low <= values[feature] <= high, feature
            if feature in constraints.choices:
                assert values[feature] in constraints.choices[feature], feature


def test_breast_cancer_counterfactuals_flip_the_class_within_the_observed_ranges(cancer) -> None:  # type: ignore[no-untyped-def]
    model, X, constraints = cancer
    for index in (0, 5, 40, 300):
        row = X.iloc[[index]]
        found = search(model, row, constraints=constraints, count=3)
        assert 1 <= len(found) <= 3
        assert_valid(model, row, found, constraints)
        assert [cf.distance for cf in found] == sorted(cf.distance for cf in found)
        first = found[0]
        expected = sum(abs(c.new - c.old) / mad(X[c.feature]) for c in first.changes)  # L1 scaled by the MAD
        assert first.distance == pytest.approx(expected)


def test_counterfactuals_are_diverse_in_the_features_they_change(cancer) -> None:  # type: ignore[no-untyped-def]
    model, X, constraints = cancer
    found = search(model, X.iloc[[40]], constraints=constraints, count=3)
    sets = [frozenset(c.feature for c in cf.changes) for cf in found]
    assert len(found) == 3 and len(set(sets)) == 3


def test_the_search_is_deterministic_for_a_seed(cancer) -> None:  # type: ignore[no-untyped-def]
    model, X, constraints = cancer
    first = run(model, X.iloc[[5]], constraints=constraints, seed=3)
    again = run(model, X.iloc[[5]], constraints=constraints, seed=3)
    assert first.model_dump() == again.model_dump()
    assert first.evaluations <= 2000


def test_immutables_monotone_directions_ranges_and_choices_are_respected(applicants) -> None:  # type: ignore[no-untyped-def]
    model, X, constraints = applicants
    rejected = X[model.predict(X) == 0].head(8)
    assert len(rejected) == 8
    seen_changes = set()
    for index in range(len(rejected)):
        row = rejected.iloc[[index]]
        found = search(model, row, constraints=constraints, target=1, count=3)
        assert found, f"row {index}"
        assert_valid(model, row, found, constraints)
        for cf in found:
            assert cf.values["age"] == row["age"].iloc[0] and cf.values["sex"] == row["sex"].iloc[0]
            assert cf.values["years_employed"] >= row["years_employed"].iloc[0]
            assert cf.values["debt"] <= row["debt"].iloc[0]
            assert float(cf.values["years_employed"]).is_integer()
            seen_changes.update(c.feature for c in cf.changes)
    assert seen_changes <= {"income", "debt", "years_employed", "region"} and len(seen_changes) >= 2


def test_a_regression_counterfactual_moves_the_prediction_past_the_threshold() -> None:
    values, y = make_regression(n_samples=400, n_features=6, noise=5.0, random_state=0)
    X = pd.DataFrame(values, columns=[f"x{i}" for i in range(6)])
    model = GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0).fit(X, y)
    row = X.iloc[[int(np.argmin(model.predict(X)))]]
    threshold = float(np.quantile(y, 0.6))
    constraints = Constraints.from_data(X, immutable=["x0"])
    result = run(model, row, constraints=constraints, target={"threshold": threshold, "direction": "above"})
    assert result.counterfactuals and result.target == {"threshold": threshold, "direction": "above"}
    for cf in result.counterfactuals:
        predicted = model.predict(pd.DataFrame([cf.values]))[0]
        assert predicted > threshold and cf.prediction == pytest.approx(predicted)
        assert cf.values["x0"] == row["x0"].iloc[0]
    with pytest.raises(InvalidInput, match="already above"):
        run(model, row, constraints=constraints, target={"threshold": float(y.min()) - 1, "direction": "above"})


def test_bad_constraints_and_targets_are_refused_with_the_reason(cancer) -> None:  # type: ignore[no-untyped-def]
    model, X, constraints = cancer
    row = X.iloc[[0]]
    with pytest.raises(InvalidInput, match="'shoe size'|shoe size"):
        search(model, row, constraints={"immutable": ["shoe size"]})
    with pytest.raises(InvalidInput, match="range of 'mean radius' is empty"):
        Constraints.parse({"ranges": {"mean radius": [5, 1]}})
    with pytest.raises(InvalidInput, match="not valid JSON"):
        Constraints.parse("{immutable")
    with pytest.raises(InvalidInput, match="not one of the model's classes"):
        search(model, row, constraints=constraints, target=7)
    with pytest.raises(InvalidInput, match="already predicts"):
        search(model, row, constraints=constraints, target=model.predict(row)[0])
    with pytest.raises(InvalidInput, match="one row at a time"):
        search(model, X.head(2), constraints=constraints)


def test_impossible_constraints_say_none_was_found_within_the_budget(cancer) -> None:  # type: ignore[no-untyped-def]
    model, X, _ = cancer
    row = X.iloc[[0]]  # strongly malignant: a tiny change of one feature cannot make it benign
    value = float(row["mean texture"].iloc[0])
    narrow = Constraints.from_data(X, immutable=[c for c in X.columns if c != "mean texture"],
                                   ranges={"mean texture": [value - 0.5, value + 0.5]})
    with pytest.raises(InvalidInput, match="within the budget of 300 model evaluations.*mean texture"):
        search(model, row, constraints=narrow, max_evaluations=300)
    with pytest.raises(InvalidInput, match="no feature may change"):
        search(model, row, constraints=Constraints.from_data(X, immutable=list(X.columns)))


# -- a registered version and a logged prediction ----------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Backend, int]]:
    backend = Backend.from_settings(Settings(home=tmp_path_factory.mktemp("counterfactuals")))
    (version,) = approved_versions(backend, "iris", 1)
    yield backend, version
    backend.close()


ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def iris_model() -> LogisticRegression:
    features, target = iris()
    return LogisticRegression(C=0.5, max_iter=500).fit(features, target)  # as approved_versions trains it


def test_for_version_loads_the_registered_version_and_uses_the_evaluation_data(served) -> None:  # type: ignore[no-untyped-def]
    backend, version = served
    found = counterfactuals.for_version(backend, "iris", version, ROW, target=2)
    assert found.version == version and found.original_prediction == 0 and found.target == [2]
    assert found.constraints_source == "none" and found.data is not None
    assert found.constraints["ranges"]["petal_length"] == [1.0, 6.9]  # observed in the policy's evaluation data
    assert found.artifact_digest == registry.get_version(backend, "iris", version).artifact_digest
    frames = pd.DataFrame([cf.values for cf in found.counterfactuals])
    assert (iris_model().predict(frames) == 2).all() and all(cf.prediction == 2 for cf in found.counterfactuals)


def test_for_version_reads_the_constraints_the_version_declares(served) -> None:  # type: ignore[no-untyped-def]
    backend, version = served
    declared = {"immutable": ["petal_length"], "monotone": {"petal_width": "increase_only"}}
    registry.set_version_tags(backend, AUTHOR, "iris", version,
                              {counterfactuals.CONSTRAINTS_TAG: json.dumps(declared)})
    try:
        found = counterfactuals.for_version(backend, "iris", version, ROW)
        assert found.target == [1, 2] and found.constraints_source == "tag" and found.constraints["immutable"] == ["petal_length"]
        assert found.counterfactuals
        for cf in found.counterfactuals:
            assert cf.values["petal_length"] == 1.4 and cf.values["petal_width"] >= 0.2
        given = counterfactuals.for_version(backend, "iris", version, ROW, target=1, constraints={"immutable": []})
        assert given.constraints_source == "request"
        registry.set_version_tags(backend, AUTHOR, "iris", version, {counterfactuals.CONSTRAINTS_TAG: "{broken"})
        with pytest.raises(InvalidInput, match="tag modelward.counterfactual_constraints"):
            counterfactuals.for_version(backend, "iris", version, ROW)
    finally:
        registry.delete_version_tag(backend, AUTHOR, "iris", version, counterfactuals.CONSTRAINTS_TAG)


def test_for_request_uses_the_logged_inputs_and_the_version_that_answered(served) -> None:  # type: ignore[no-untyped-def]
    backend, version = served
    frame = pd.DataFrame([ROW, {**ROW, "petal_length": 5.5, "petal_width": 2.1}])
    log = PredictionLog(backend, capacity=4, batch_size=4)
    assert log.submit(PredictionRecord(
        request_id="req-cf-1", endpoint="iris-prod", model_name="iris", version=version, mode="live",
        at=datetime.now(UTC), latency_ms=3.0, status=200, error=None, inputs=Rows.of(frame), outputs=[0, 2], rows=2))
    log.close()
    found = counterfactuals.for_request(backend, "req-cf-1", row=1, target=0)
    assert found.request_id == "req-cf-1" and found.version == version
    assert found.input == {**ROW, "petal_length": 5.5, "petal_width": 2.1} and found.original_prediction == 2
    assert found.counterfactuals and (iris_model().predict(pd.DataFrame([c.values for c in found.counterfactuals])) == 0).all()
    with pytest.raises(InvalidInput, match="row 5 does not exist"):
        counterfactuals.for_request(backend, "req-cf-1", row=5)


def test_a_pickled_version_is_refused_not_unpickled(served) -> None:  # type: ignore[no-untyped-def]
    backend, _ = served
    set_policy(backend, "iris-pickled")
    version = register_estimator(backend, "iris-pickled", iris_model(), flavor="pickle")
    with pytest.raises(PolicyViolation, match="never unpickles"):
        counterfactuals.for_version(backend, "iris-pickled", version, ROW)
    with pytest.raises(PolicyViolation, match=r"evaluation: \{code_models: isolated\}"):
        counterfactuals.for_version(backend, "iris-pickled", version, ROW)
    set_policy(backend, "iris-pickled", POLICY + "evaluation: {{code_models: isolated}}\n")
    found = counterfactuals.for_version(backend, "iris-pickled", version, ROW, count=1)  # in the sandboxed worker
    assert found.counterfactuals and found.counterfactuals[0].prediction != found.original_prediction


def test_an_unknown_version_or_feature_is_a_clear_error(served) -> None:  # type: ignore[no-untyped-def]
    backend, version = served
    with pytest.raises(InvalidInput, match="missing column"):
        counterfactuals.for_version(backend, "iris", version, {"sepal_length": 5.1})
    with pytest.raises(InvalidInput, match="shoe_size"):
        counterfactuals.for_version(backend, "iris", version, ROW, constraints={"immutable": ["shoe_size"]})

