"""Drift statistics against scipy and Evidently's definitions, and the policy's monitoring section."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from modelward.domain.monitoring import QUALITY_METRICS, MonitoringPolicy, duration_seconds
from modelward.domain.policy import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    Policy,
    merge_policies,
    parse_policy_yaml,
)
from modelward.errors import InvalidInput
from modelward.evaluation.drift import (
    ReferenceProfile,
    chi_square,
    compare_to_profile,
    counts_in_histogram,
    counts_in_open_bins,
    kstwo_sf,
    drift_report,
    fill_empty_shares,
    jensen_shannon,
    ks_and_wasserstein,
    psi,
    quantile_edges,
    reference_profile,
    sturges_edges,
)

TOL = 1e-6
rng = np.random.default_rng(20261201)
finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(st.one_of(finite_floats, st.integers(-5, 5).map(float)), min_size=1, max_size=60)


# -- Evidently's definitions, written out as its stattests compute them (evidently 0.7) ------------


def evidently_binned(reference: pd.Series, current: pd.Series, numeric: bool, fill: bool):
    """evidently.legacy.calculations.stattests.utils.get_binned_data, restated."""
    if numeric and reference.nunique() > 20:
        bins = np.histogram_bin_edges(np.concatenate([reference.to_numpy(), current.to_numpy()]), bins="sturges")
        ref = np.histogram(reference, bins)[0] / len(reference)
        cur = np.histogram(current, bins)[0] / len(current)
    else:
        keys = list(set(reference.dropna().unique()) | set(current.dropna().unique()))
        ref_counts = {**dict.fromkeys(keys, 0), **dict(reference.value_counts())}
        cur_counts = {**dict.fromkeys(keys, 0), **dict(current.value_counts())}
        ref = np.array([ref_counts[k] / len(reference) for k in keys])
        cur = np.array([cur_counts[k] / len(current) for k in keys])
    if fill:
        for shares in (ref, cur):
            smallest = min(shares[shares != 0])
            np.place(shares, shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return ref, cur


def evidently_psi(reference: pd.Series, current: pd.Series, numeric: bool) -> float:
    ref, cur = evidently_binned(reference, current, numeric, fill=True)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def evidently_js(reference: pd.Series, current: pd.Series, numeric: bool) -> float:
    ref, cur = evidently_binned(reference, current, numeric, fill=False)
    return float(distance.jensenshannon(ref, cur))


def evidently_normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    return stats.wasserstein_distance(reference, current) / max(float(np.std(reference)), 0.001)


# -- each statistic equals scipy's ---------------------------------------------------------------


@pytest.mark.parametrize(("n_ref", "n_cur", "integers"), [
    (50, 80, False), (3_000, 2_000, False), (800, 900, True),  # exact p-values (<= 10,000 a side)
    (20_000, 15_000, False), (12_000, 30_000, True),           # Smirnov's asymptotic p-value
])
def test_ks_and_wasserstein_equal_scipy(n_ref: int, n_cur: int, integers: bool) -> None:
    ref = rng.normal(0, 1, n_ref)
    cur = rng.normal(0.05, 1.1, n_cur)
    if integers:  # many ties
        ref, cur = np.round(ref * 3), np.round(cur * 3)
    d, p, w = ks_and_wasserstein(np.sort(ref), np.sort(cur))
    expected = stats.ks_2samp(ref, cur)
    assert d == pytest.approx(expected.statistic, abs=TOL)
    assert p == pytest.approx(expected.pvalue, abs=TOL)
    assert 0 < expected.pvalue < 1 or integers  # a p-value that could have been wrong
    assert w == pytest.approx(stats.wasserstein_distance(ref, cur), abs=TOL)


def test_vectorised_kstwo_sf_equals_scipy_in_every_branch() -> None:
    # effective sizes and statistics reaching each branch of scipy's _kolmogn: Pelz-Good,
    # 2 * smirnov, the zero tail, the Durbin matrix and small n (both left to scipy), the edges
    n = np.array([5277, 5277, 5277, 5277, 5277, 200_000, 50, 5277, 5277, 5277, 1, 5277], dtype=float)
    x = np.array([0.008, 0.012, 0.02, 0.03, 0.3, 0.003, 0.2, 0.0015, 1e-5, 0.9999, 0.5, 0.0])
    found = kstwo_sf(x, n)
    expected = stats.kstwo.sf(x, n)
    assert np.array_equal(np.isnan(found), np.isnan(expected))
    np.testing.assert_allclose(found, expected, rtol=1e-12, atol=1e-15)
    assert 0.01 < found[1] < 0.99 and found[3] < 1e-3  # values that could have been wrong


@settings(max_examples=150, deadline=None)
@given(samples, samples)
def test_ks_and_wasserstein_equal_scipy_on_any_samples(ref: list[float], cur: list[float]) -> None:
    d, p, w = ks_and_wasserstein(np.sort(ref), np.sort(cur))
    expected = stats.ks_2samp(ref, cur)
    assert d == pytest.approx(expected.statistic, abs=TOL)
    assert p == pytest.approx(expected.pvalue, abs=TOL)
    assert w == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-9, abs=TOL)


def test_chi_square_equals_scipy() -> None:
    ref = np.array([500, 300, 150, 50])
    cur = np.array([90, 70, 30, 10])
    statistic, p_value = chi_square(ref, cur)
    expected = stats.chisquare(cur, ref * cur.sum() / ref.sum())
    assert statistic == pytest.approx(expected.statistic, abs=TOL)
    assert p_value == pytest.approx(expected.pvalue, abs=TOL)
    assert 0 < p_value < 1


def test_jensen_shannon_equals_scipy() -> None:
    ref, cur = np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.25, 0.25, 0.25, 0.25])
    assert jensen_shannon(ref, cur) == pytest.approx(distance.jensenshannon(ref, cur), abs=TOL)
    assert jensen_shannon(ref, cur) > 0.1


def test_report_values_equal_scipy_and_evidently_on_a_frame() -> None:
    n = 4_000
    reference = pd.DataFrame({"x": rng.normal(0, 1, n), "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])})
    current = pd.DataFrame({"x": rng.normal(0.2, 1, n), "c": rng.choice(["a", "b", "c"], n, p=[0.4, 0.3, 0.3])})
    report = drift_report(reference, current, MonitoringPolicy(binning="evidently"))
    x, c = report.features["x"].tests, report.features["c"].tests
    ks = stats.ks_2samp(reference.x, current.x)
    assert x["ks"].statistic == pytest.approx(ks.statistic, abs=TOL)
    assert x["ks"].value == pytest.approx(ks.pvalue, abs=TOL)
    assert x["wasserstein"].value == pytest.approx(evidently_normed_wasserstein(reference.x, current.x), abs=TOL)
    assert x["wasserstein"].statistic == pytest.approx(stats.wasserstein_distance(reference.x, current.x), abs=TOL)
    assert x["psi"].value == pytest.approx(evidently_psi(reference.x, current.x, numeric=True), abs=1e-9)
    assert x["jensen_shannon"].value == pytest.approx(evidently_js(reference.x, current.x, numeric=True), abs=TOL)
    assert c["psi"].value == pytest.approx(evidently_psi(reference.c, current.c, numeric=False), abs=1e-9)
    assert c["jensen_shannon"].value == pytest.approx(evidently_js(reference.c, current.c, numeric=False), abs=TOL)
    ref_counts, cur_counts = reference.c.value_counts(), current.c.value_counts()
    expected = stats.chisquare(cur_counts.sort_index(), ref_counts.sort_index() * n / n)
    assert c["chi_square"].value == pytest.approx(expected.pvalue, abs=TOL)
    assert c["chi_square"].statistic == pytest.approx(expected.statistic, abs=TOL)
    assert report.features["x"].status == report.features["c"].status == "drift"


def test_evidently_binning_of_a_numeric_column_with_few_values_is_per_value() -> None:
    reference = pd.DataFrame({"k": rng.integers(0, 8, 3_000).astype(float)})
    current = pd.DataFrame({"k": rng.integers(0, 10, 2_000).astype(float)})  # 8 and 9 are new
    tests = drift_report(reference, current, MonitoringPolicy(binning="evidently")).features["k"].tests
    assert tests["psi"].value == pytest.approx(evidently_psi(reference.k, current.k, numeric=True), abs=1e-9)
    assert tests["jensen_shannon"].value == pytest.approx(evidently_js(reference.k, current.k, numeric=True), abs=TOL)


# -- PSI, worked by hand from Evidently's definition ---------------------------------------------


def test_psi_of_a_worked_example() -> None:
    # shares .4 .3 .2 .1 against .1 .2 .3 .4: sum((r - c) * ln(r / c))
    expected = 0.3 * math.log(4) + 0.1 * math.log(1.5) + (-0.1) * math.log(2 / 3) + (-0.3) * math.log(0.25)
    assert expected == pytest.approx(0.9128696382935672, abs=1e-12)
    assert psi(np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(expected, abs=1e-9)
    reference = pd.DataFrame({"c": list("aaaabbbccd")})
    current = pd.DataFrame({"c": list("abbcccdddd")})
    assert drift_report(reference, current).features["c"].tests["psi"].value == pytest.approx(expected, abs=1e-9)


def test_psi_fills_an_empty_bin_with_evidentlys_epsilon() -> None:
    # reference a, b half each, no c: its smallest share .5 > 1e-4, so c's share becomes 1e-4
    expected = 2 * (0.5 - 0.4) * math.log(0.5 / 0.4) + (1e-4 - 0.2) * math.log(1e-4 / 0.2)
    reference = pd.DataFrame({"c": list("aaaaabbbbb")})
    current = pd.DataFrame({"c": list("aabbc")})
    feature = drift_report(reference, current).features["c"]
    assert feature.tests["psi"].value == pytest.approx(expected, abs=1e-9)
    # a smallest share <= 1e-4 makes the epsilon a millionth of it
    shares = np.array([0.99995, 0.00005, 0.0])
    assert fill_empty_shares(shares)[2] == pytest.approx(0.00005 / 10**6, rel=1e-12)


def test_psi_over_reference_quantile_bins() -> None:
    # reference 1..10, 2 bins: edge at the median 5.5, bins (-inf, 5.5] and (5.5, inf), shares .5 .5
    reference = pd.DataFrame({"x": np.arange(1.0, 11.0)})
    current = pd.DataFrame({"x": [1.0, 2.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0]})  # shares .25 .75
    report = drift_report(reference, current, MonitoringPolicy(bins=2))
    expected = (0.5 - 0.25) * math.log(0.5 / 0.25) + (0.5 - 0.75) * math.log(0.5 / 0.75)
    assert report.features["x"].tests["psi"].value == pytest.approx(expected, abs=1e-9)
    # a value on an edge falls in the bin the edge closes
    assert counts_in_open_bins(np.array([1.0, 5.5, 5.6]), np.array([5.5])).tolist() == [2, 1]


@settings(max_examples=100, deadline=None)
@given(st.lists(finite_floats, min_size=1, max_size=80), st.integers(2, 20))
def test_quantile_edges_are_numpys_quantiles(values: list[float], bins: int) -> None:
    data = np.sort(np.array(values))
    expected = np.unique(np.quantile(data, np.arange(1, bins) / bins))
    np.testing.assert_array_equal(quantile_edges(data, bins), expected)


@settings(max_examples=100, deadline=None)
@given(samples, samples)
def test_sturges_bins_and_counts_are_numpys(ref: list[float], cur: list[float]) -> None:
    both = np.array(ref + cur)
    edges = sturges_edges(both.min(), both.max(), both.size)
    np.testing.assert_array_equal(edges, np.histogram_bin_edges(both, bins="sturges"))
    np.testing.assert_array_equal(counts_in_histogram(np.sort(ref), edges), np.histogram(ref, edges)[0])


# -- properties ------------------------------------------------------------------------------------

count_pairs = st.integers(2, 12).flatmap(lambda n: st.tuples(
    *[st.lists(st.integers(0, 1000), min_size=n, max_size=n).filter(lambda c: sum(c) > 0)] * 2))


@settings(max_examples=200, deadline=None)
@given(count_pairs)
def test_psi_is_non_negative_and_symmetric(pair: tuple[list[int], list[int]]) -> None:
    ref, cur = (np.array(c) / sum(c) for c in pair)
    assert psi(ref, cur) >= 0
    assert psi(ref, cur) == pytest.approx(psi(cur, ref), rel=1e-12, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(samples, samples)
def test_ks_wasserstein_and_js_are_symmetric(a: list[float], b: list[float]) -> None:
    d1, p1, w1 = ks_and_wasserstein(np.sort(a), np.sort(b))
    d2, p2, w2 = ks_and_wasserstein(np.sort(b), np.sort(a))
    assert d1 == pytest.approx(d2, abs=1e-12)
    assert w1 == pytest.approx(w2, rel=1e-9, abs=1e-9)
    ha, hb = np.histogram(a, 5, range=(-1e6, 1e6))[0], np.histogram(b, 5, range=(-1e6, 1e6))[0]
    assert jensen_shannon(ha / ha.sum(), hb / hb.sum()) == pytest.approx(jensen_shannon(hb / hb.sum(), ha / ha.sum()))


@settings(max_examples=60, deadline=None)
@given(st.lists(finite_floats, min_size=1, max_size=60),
       st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=60),
       st.sampled_from(["reference_quantiles", "evidently"]))
def test_identical_samples_never_drift(numbers: list[float], labels: list[str], binning: str) -> None:
    frame = pd.DataFrame({"x": pd.Series(numbers)}).join(pd.DataFrame({"c": labels}), how="outer")
    report = drift_report(frame, frame.copy(), MonitoringPolicy(binning=binning))
    for feature in report.features.values():
        assert feature.status == "stable", feature
        tests = feature.tests
        assert tests["psi"].value == pytest.approx(0, abs=1e-12)
        assert tests["jensen_shannon"].value == pytest.approx(0, abs=1e-6)
        assert tests["missing_rate"].value == 0
    assert report.features["x"].tests["ks"].statistic == 0
    assert report.features["x"].tests["ks"].value == 1
    assert report.features["x"].tests["wasserstein"].value == 0
    assert report.features["c"].tests["chi_square"].value == pytest.approx(1)
    assert report.summary.drifted == 0 and report.schema_changes == []


# -- missing values, constants, categories -----------------------------------------------------------


def test_missing_values_are_rated_and_left_out_of_the_tests() -> None:
    ref = rng.normal(0, 1, 500)
    cur = rng.normal(0, 1, 400)
    ref[:50] = np.nan  # 10%
    cur[:100] = np.nan  # 25%
    cur[100] = np.inf
    report = drift_report(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}))
    feature = report.features["x"]
    assert feature.reference_missing_rate == pytest.approx(0.10)
    assert feature.current_missing_rate == pytest.approx(0.25)
    assert feature.tests["missing_rate"].value == pytest.approx(0.15)
    assert feature.tests["missing_rate"].drifted
    expected = stats.ks_2samp(ref[50:], cur[101:])
    assert feature.tests["ks"].value == pytest.approx(expected.pvalue, abs=TOL)
    assert feature.status == "drift" and feature.worst == "missing_rate"


def test_constant_columns() -> None:
    same = drift_report(pd.DataFrame({"x": [3.0] * 100}), pd.DataFrame({"x": [3.0] * 50})).features["x"]
    assert same.status == "stable"
    assert same.tests["wasserstein"].value == 0
    moved = drift_report(pd.DataFrame({"x": [3.0] * 100}), pd.DataFrame({"x": [3.5] * 50})).features["x"]
    # normalised by max(std, 0.001): a constant reference does not divide by zero
    assert moved.tests["wasserstein"].value == pytest.approx(0.5 / 0.001)
    assert moved.tests["ks"].statistic == 1
    assert moved.status == "drift"


def test_a_column_all_missing() -> None:
    reference = pd.DataFrame({"x": rng.normal(0, 1, 100), "c": ["a", "b"] * 50})
    current = pd.DataFrame({"x": [np.nan] * 40, "c": pd.Series([None] * 40, dtype=object)})
    report = drift_report(reference, current)
    for name in ("x", "c"):
        feature = report.features[name]
        assert set(feature.tests) == {"missing_rate"}
        assert feature.current_missing_rate == 1
        assert feature.status == "drift" and "no values" in feature.note
    assert report.schema_changes == []  # an empty column is not a change of type
    empty_reference = drift_report(current, reference).features["x"]
    assert set(empty_reference.tests) == {"missing_rate"} and empty_reference.status == "stable"


def test_a_category_only_in_the_current_data() -> None:
    reference = pd.DataFrame({"c": ["a", "b"] * 500})
    current = pd.DataFrame({"c": ["a", "b"] * 499 + ["new", "new"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's divide-by-zero warning is not passed on
        feature = drift_report(reference, current).features["c"]
    assert feature.new_categories == ["new"]
    assert feature.tests["chi_square"].statistic == math.inf
    assert feature.tests["chi_square"].value == 0 and feature.tests["chi_square"].drifted
    ref_shares, cur_shares = np.array([0.5, 0.5, 0.0]), np.array([0.499, 0.499, 0.002])
    assert feature.tests["jensen_shannon"].value == pytest.approx(distance.jensenshannon(ref_shares, cur_shares))


def test_schema_drift() -> None:
    reference = pd.DataFrame({"age": [30, 40, 50], "city": ["x", "y", "z"], "gone": [1.0, 2.0, 3.0],
                              "code": [1, 2, 3]})
    current = pd.DataFrame({"age": [31.0, np.nan, 52.0], "city": ["x", "y", "y"], "code": ["1", "2", "3"],
                            "extra": [True, False, True]})
    report = drift_report(reference, current)
    changes = {(c.column, c.change) for c in report.schema_changes}
    assert changes == {("extra", "new"), ("gone", "missing"), ("code", "retyped")}  # int -> float is no change
    retyped = next(c for c in report.schema_changes if c.change == "retyped")
    assert (retyped.reference_dtype, retyped.current_dtype) == ("int64", str(current.code.dtype))
    assert "changed kind" in report.features["code"].note
    assert report.summary.schema_changes == 3 and "gone" not in report.features
    only_age = drift_report(reference, current, MonitoringPolicy(features=["age"]))
    assert list(only_age.features) == ["age"] and only_age.schema_changes == []


def test_prediction_drift_is_reported_apart() -> None:
    reference = pd.DataFrame({"x": rng.normal(0, 1, 300), "prediction": rng.choice([0, 1], 300, p=[0.8, 0.2])})
    current = pd.DataFrame({"x": rng.normal(0, 1, 300), "prediction": rng.choice([0, 1], 300, p=[0.3, 0.7])})
    report = drift_report(reference, current, MonitoringPolicy(features=["x"]), output="prediction")
    assert list(report.features) == ["x"]
    assert report.output is not None and report.output.name == "prediction"
    assert report.output.status == "drift" and report.summary.output_drifted is True


def test_the_input_frames_are_left_unchanged() -> None:
    reference = pd.DataFrame({"x": [3.0, 1.0, 2.0, np.nan], "c": ["b", "a", None, "a"]})
    current = pd.DataFrame({"x": [9.0, 1.0, 5.0, 0.0], "c": ["a", "a", "b", "b"]})
    before = (reference.copy(), current.copy())
    drift_report(reference, current)
    pd.testing.assert_frame_equal(reference, before[0])
    pd.testing.assert_frame_equal(current, before[1])


# -- the stored reference profile ---------------------------------------------------------------


def test_profile_round_trips_through_json_and_gives_the_same_report() -> None:
    reference = pd.DataFrame({"x": rng.normal(0, 1, 2_000), "c": rng.choice(["a", "b"], 2_000), "k": [1, 2] * 1000})
    current = pd.DataFrame({"x": rng.normal(0.3, 1, 1_000), "c": rng.choice(["a", "b", "z"], 1_000), "k": [1] * 1000})
    profile = reference_profile(reference, sample_size=None)
    stored = ReferenceProfile.from_json(profile.to_json())
    assert compare_to_profile(stored, current) == drift_report(reference, current)


def test_a_bounded_profile_keeps_a_seeded_sample_and_the_full_counts() -> None:
    reference = pd.DataFrame({"x": rng.normal(0, 1, 30_000)})
    one = reference_profile(reference, sample_size=1_000, seed=3).features["x"]
    two = reference_profile(reference, sample_size=1_000, seed=3).features["x"]
    assert len(one.sample) == 1_000 and not one.sample_is_complete
    np.testing.assert_array_equal(one.sample, two.sample)
    assert np.all(np.diff(one.sample) >= 0)
    assert sum(one.bin_counts) == 30_000 and one.std == pytest.approx(float(np.std(reference.x)))
    current = pd.DataFrame({"x": rng.normal(1.0, 1, 5_000)})
    assert compare_to_profile(reference_profile(reference, sample_size=1_000), current).features["x"].status == "drift"


def test_a_profile_built_with_other_bins_is_refused() -> None:
    profile = reference_profile(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), MonitoringPolicy(bins=5))
    with pytest.raises(InvalidInput, match="5 bins"):
        compare_to_profile(profile, pd.DataFrame({"x": [1.0]}), MonitoringPolicy(bins=10))
    with pytest.raises(InvalidInput, match="'nope'"):
        reference_profile(pd.DataFrame({"x": [1.0]}), MonitoringPolicy(features=["nope"]))


# -- the policy's monitoring section --------------------------------------------------------------

POLICY = """\
model: credit-risk
monitoring:
  reference: {run_id: r1, path: data/train.parquet}
  bins: 20
  features: [age, income]
  drift: {psi_warn: 0.2, psi_alert: 0.3, decide_on: [psi, wasserstein]}
  alerts:
    - {name: accuracy-drop, metric: accuracy, window: 1h, comparison: "<", threshold: 0.8, for: 10m,
       severity: critical, rollback: true}
    - {name: income-drift, metric: drift.psi.income, window: 1d, comparison: ">=", threshold: 0.25}
    - {name: revenue, metric: kpi.revenue, window: 5m, comparison: "<=", threshold: 100}
"""


def test_a_monitoring_section_parses_with_its_defaults() -> None:
    monitoring = parse_policy_yaml(POLICY).monitoring
    assert monitoring.reference is not None and monitoring.reference.path == "data/train.parquet"
    assert monitoring.bins == 20 and monitoring.features == ["age", "income"]
    assert (monitoring.drift.psi_warn, monitoring.drift.ks_p_value, monitoring.drift.jensen_shannon) == (0.2, 0.05, 0.1)
    first = monitoring.alerts[0]
    assert (first.window_seconds, first.for_seconds, first.rollback) == (3600, 600, True)
    assert monitoring.alerts[1].for_seconds == 0 and monitoring.alerts[1].severity == "warning"
    spaced = POLICY.replace("drift.psi.income", '"drift.psi.mean income"')
    assert parse_policy_yaml(spaced).monitoring.alerts[1].metric == "drift.psi.mean income"
    with pytest.raises(InvalidInput, match="unknown metric 'drift.psi. income'"):
        parse_policy_yaml(POLICY.replace("drift.psi.income", '"drift.psi. income"'))
    default = Policy().monitoring
    assert default.reference is None and default.bins == 10 and default.alerts == []
    assert (default.drift.psi_warn, default.drift.psi_alert, default.drift.wasserstein,
            default.drift.chi_square_p_value, default.drift.missing_rate_increase) == (0.1, 0.25, 0.1, 0.05, 0.05)


@pytest.mark.parametrize(("change", "expected"), [
    ("window: 1h", "line 8, monitoring.alerts[0].window: 'hour' is not a duration"),
    ("for: 10m", "line 8, monitoring.alerts[0].for: '10 minutes' is not a duration"),
    ("metric: accuracy", "line 8, monitoring.alerts[0].metric: unknown metric 'acuracy'"),
    ("metric: kpi.revenue", "line 11, monitoring.alerts[2].metric: unknown metric 'kpi.'"),
    ("comparison: \"<\"", "line 8, monitoring.alerts[0].comparison: Input should be '<', '<=', '>' or '>='"),
    ("name: revenue", "line 7, monitoring.alerts: alert name 'income-drift' is used by alerts[1] and alerts[2]"),
    ("bins: 20", "line 4, monitoring.bins: Input should be greater than or equal to 2"),
    ("drift: {psi_warn: 0.2,", "line 6, monitoring.drift: psi_warn 0.5 is greater than psi_alert 0.3"),
    ("features: [age, income]", "line 5, monitoring.features: features named more than once: age"),
    ("reference: {run_id: r1,", "line 3, monitoring.reference.branch: unknown key"),
])
def test_monitoring_errors_name_their_line_and_field(change: str, expected: str) -> None:
    broken = {
        "window: 1h": "window: hour", "for: 10m": "for: 10 minutes", "metric: accuracy": "metric: acuracy",
        "metric: kpi.revenue": "metric: kpi.", "comparison: \"<\"": "comparison: \"=<\"",
        "name: revenue": "name: income-drift", "bins: 20": "bins: 1",
        "drift: {psi_warn: 0.2,": "drift: {psi_warn: 0.5,", "features: [age, income]": "features: [age, age]",
        "reference: {run_id: r1,": "reference: {branch: main, run_id: r1,",
    }[change]
    assert change in POLICY
    with pytest.raises(InvalidInput) as error:
        parse_policy_yaml(POLICY.replace(change, broken, 1))
    assert expected in str(error.value)


def test_a_policy_round_trips_through_its_json_dump_with_for_as_written() -> None:
    policy = parse_policy_yaml(POLICY)
    dumped = policy.model_dump(mode="json")
    assert dumped["monitoring"]["alerts"][0]["for"] == "10m" and "for_" not in dumped["monitoring"]["alerts"][0]
    assert Policy.model_validate(dumped) == policy
    assert Policy.model_validate_json(policy.model_dump_json()) == policy


def test_durations() -> None:
    assert [duration_seconds(d) for d in ("30s", "5m", "1h", "1d")] == [30, 300, 3600, 86400]
    for bad in ("5", "m", "1w", "-1m", "1.5h", "91d"):
        with pytest.raises(ValueError):
            duration_seconds(bad)
    with pytest.raises(InvalidInput, match="longer than 0s"):
        parse_policy_yaml("monitoring: {alerts: [{name: a, metric: error_rate, window: 0m, "
                          "comparison: '>', threshold: 0.1}]}")


def test_the_most_specific_monitoring_section_wins_a_merge() -> None:
    global_policy = parse_policy_yaml("monitoring: {bins: 5}")
    model_policy = parse_policy_yaml(POLICY)
    assert merge_policies(global_policy, None, model_policy).monitoring.bins == 20
    assert merge_policies(global_policy, None, parse_policy_yaml("model: m")).monitoring.bins == 5
    assert merge_policies(None, None, parse_policy_yaml("model: m")).monitoring == MonitoringPolicy()


def test_alert_quality_metrics_are_the_gates_metrics() -> None:
    assert set(QUALITY_METRICS) == set(CLASSIFICATION_METRICS) | set(REGRESSION_METRICS)
