"""Data drift: how far live inputs (and outputs) have moved from a reference dataset.

Numeric features: PSI, the two-sample Kolmogorov-Smirnov test and the Wasserstein distance
(normalised by the reference's standard deviation). Categorical features: chi-square, PSI and
the Jensen-Shannon distance. Every feature: its missing-value rate, reference against current.
Columns that appear, disappear or change kind are schema drift. The output column, if named,
gets the same tests as a feature and is reported apart (prediction drift).

The numbers follow scipy and Evidently (``evidently.legacy.calculations.stattests``, 0.7):

* missing values (NaN, None) and +-inf are left out of the distribution tests, as Evidently does;
* KS: ``scipy.stats.ks_2samp`` (statistic and two-sided p-value, method ``auto``: exact up to
  10,000 values a side, else Smirnov's asymptotic formula ``kstwo.sf(d, round(n*m/(n+m)))``);
  computed here from sorted arrays so one sort serves KS, Wasserstein and the bins;
* Wasserstein: ``scipy.stats.wasserstein_distance`` divided by ``max(std(reference), 0.001)``
  (population std), Evidently's ``wasserstein`` ("normed");
* PSI: ``sum((r - c) * ln(r / c))`` over bins, with Evidently's epsilon for empty bins: a zero
  share becomes ``min_nonzero / 1e6`` when the smallest non-zero share is <= 1e-4, else 1e-4
  (applied to each side separately);
* Jensen-Shannon: ``scipy.spatial.distance.jensenshannon`` (natural log) of the bin shares,
  without the epsilon;
* chi-square: ``scipy.stats.chisquare`` of the current category counts against the reference
  shares scaled to the current total, over the categories of either side. A category the
  reference never saw has an expected count of 0: the statistic is infinite and the p-value 0
  (as scipy and Evidently give), reported without a warning and listed in ``new_categories``.

Bins for numeric PSI/JS: by default (``binning: reference_quantiles``) the policy's ``bins``
quantiles of the reference, the first and last bin open-ended, bins ``(e[i-1], e[i]]``; they
can be stored once with the reference. ``binning: evidently`` reproduces Evidently exactly:
Sturges equal-width bins over reference and current together (``np.histogram_bin_edges``), or,
when the reference has at most 20 distinct values, one bin per value.

A ``ReferenceProfile`` (JSON) holds per feature the quantile edges and their counts, category
counts, dtype, missing rate, mean/std and a sorted sample for KS and Wasserstein: all values up
to ``sample_size`` (10,000 by default), else a seeded uniform sample of that many. With a bounded
sample KS and Wasserstein are estimates; ``drift_report`` on two DataFrames keeps every value.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator
from scipy import stats
from scipy.spatial import distance

from modelward.domain.monitoring import DriftThresholds, MonitoringPolicy
from modelward.errors import InvalidInput

Kind = Literal["numeric", "categorical"]
Status = Literal["stable", "warning", "drift"]
EVIDENTLY_MAX_LEVELS = 20      # Evidently bins a numeric column by value up to this many values
KS_EXACT_MAX_N = 10_000        # scipy's ks_2samp(method="auto") is exact up to this size
DEFAULT_SAMPLE_SIZE = 10_000
PROFILE_VERSION = 1
Scalar = str | int | float | bool


# -- the statistics, on arrays ------------------------------------------------------------------


def fill_empty_shares(shares: np.ndarray) -> np.ndarray:
    """Evidently's epsilon for empty bins: zeros become min_nonzero/1e6 (min_nonzero <= 1e-4) or 1e-4."""
    shares = np.asarray(shares, dtype=float).copy()
    nonzero = shares[shares != 0]
    if nonzero.size == 0:
        return shares
    smallest = nonzero.min()
    shares[shares == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return shares


def psi(reference_shares: np.ndarray, current_shares: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins (Evidently's definition)."""
    ref = fill_empty_shares(reference_shares)
    cur = fill_empty_shares(current_shares)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def jensen_shannon(reference_shares: np.ndarray, current_shares: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) of two share vectors."""
    return float(distance.jensenshannon(reference_shares, current_shares))


def chi_square(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float]:
    """Statistic and p-value of current counts against the reference shares (same categories)."""
    ref = np.asarray(reference_counts, dtype=float)
    cur = np.asarray(current_counts, dtype=float)
    expected = ref * (cur.sum() / ref.sum())
    if np.any((expected == 0) & (cur > 0)):
        return math.inf, 0.0  # a category the reference never saw (scipy's answer, without its warning)
    keep = expected > 0
    if keep.sum() < 2:
        return 0.0, 1.0  # a single category: nothing can move
    result = stats.chisquare(cur[keep], expected[keep])
    return float(result.statistic), float(result.pvalue)


def ks_and_wasserstein(reference_sorted: np.ndarray, current_sorted: np.ndarray) -> tuple[float, float, float]:
    """KS statistic, KS p-value and Wasserstein-1 distance of two sorted samples, as scipy computes them.

    scipy evaluates both empirical CDFs (right-continuous) at every pooled value; here they are
    read off one stable merge, at the last of each run of equal values, where they are the same."""
    n_ref, n_cur = reference_sorted.size, current_sorted.size
    pooled = np.concatenate([reference_sorted, current_sorted])
    order = np.argsort(pooled, kind="stable")  # two sorted runs: merged in linear time
    merged = pooled[order]
    reference_seen = np.cumsum(order < n_ref)
    run_ends = np.append(np.flatnonzero(merged[1:] != merged[:-1]), merged.size - 1)
    reference_cdf = reference_seen[run_ends] / n_ref
    current_cdf = (run_ends + 1 - reference_seen[run_ends]) / n_cur
    gap = reference_cdf - current_cdf
    statistic = float(max(np.clip(-gap.min(), 0, 1), gap.max()))
    wasserstein = float(np.sum(np.abs(gap[:-1]) * np.diff(merged[run_ends])))
    return statistic, _ks_p_value(reference_sorted, current_sorted, statistic), wasserstein


def kstwo_sf(statistic: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``scipy.stats.kstwo.sf(statistic, n)`` elementwise, for many windows at once.

    scipy evaluates each element in Python (about 0.2 ms apiece, holding the interpreter lock);
    here the branches of its ``_kolmogn`` (scipy 1.17, ``cdf=False``) that large samples take
    are evaluated on whole arrays, the same formulas in the same order: ``2 smirnov(n, x)``
    for n x^2 >= 2.2 (0 from 370 on) and Pelz-Good below. Every other element (small n,
    x n^1.5 <= 1.4 where scipy uses the Durbin matrix, the Ruben-Gambino edges) is left to scipy."""
    from scipy import special

    x = np.asarray(statistic, dtype=float)
    n = np.asarray(n, dtype=float)
    x, n = np.broadcast_arrays(x, n)
    out = np.full(x.shape, np.nan)
    t = n * x
    nxsquared = t * x
    common = (n > 140) & (n == np.round(n)) & (x > 0) & (x < 0.5) & (t > 1.0) & (t < n - 1)
    zero = common & (nxsquared >= 370.0)
    smirnov = common & ~zero & (nxsquared >= 2.2)
    pelz_good = common & (nxsquared < 2.2) & ~((n <= 100000) & (n * x ** 1.5 <= 1.4))
    pelz_good &= np.sqrt(n) * x > 0.05  # scipy's own cut-off (its q underflows) is below z = 0.0418
    out[zero] = 0.0
    out[smirnov] = np.clip(2 * special.smirnov(n[smirnov], x[smirnov]), 0.0, 1.0)
    out[pelz_good] = np.clip(1.0 - _pelz_good_cdf(n[pelz_good], x[pelz_good]), 0.0, 1.0)
    rest = ~(zero | smirnov | pelz_good)
    if rest.any():
        out[rest] = stats.kstwo.sf(x[rest], n[rest])
    return out


def _pelz_good_cdf(n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """scipy.stats._ksstats._kolmogn_PelzGood(n, x, cdf=True) on arrays (0 < x < 1, z > 0.05)."""
    pi2, pi4, pi6 = np.pi ** 2, np.pi ** 4, np.pi ** 6
    sqrt2pi = np.sqrt(2 * np.pi)
    z = np.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z ** 2, z ** 3, z ** 4, z ** 6
    q = np.exp(-pi2 / 8 / zsquared)
    k1a, k1b = -zsquared, pi2 / 4
    k2a, k2b, k2c = 6 * zsix + 2 * zfour, (2 * zfour - 5 * zsquared) * pi2 / 4, pi4 * (1 - 2 * zsquared) / 16
    k3d = pi6 * (5 - 30 * zsquared) / 64
    k3c = pi4 * (-60 * zsquared + 212 * zfour) / 16
    k3b = pi2 * (135 * zfour - 96 * zsix) / 4
    k3a = -30 * zsix - 90 * z ** 8
    maxk = np.ceil(16 * z / np.pi).astype(np.int64)
    sums = np.zeros((4, z.size))
    for k in range(int(maxk.max(initial=0)), 0, -1):  # Horner over the odd terms; element i from its own maxk on
        m = 2 * k - 1
        msquared, mfour, msix = m ** 2, m ** 4, m ** 6
        active = k <= maxk
        qpower = np.power(q, 8 * k)
        coeffs = np.stack([np.ones(z.size), k1a + k1b * msquared, k2a + k2b * msquared + k2c * mfour,
                           k3a + k3b * msquared + k3c * mfour + k3d * msix])
        sums = np.where(active, sums * qpower + coeffs, sums)
    sums *= q
    sums *= sqrt2pi
    sums /= np.stack([z, 6 * zfour, 72 * z ** 7, 6480 * z ** 10])
    q = np.exp(-pi2 / 2 / zsquared)
    sqrt3z = np.sqrt(3) * z
    k2extra = np.zeros(z.size)
    k3extra = np.zeros(z.size)
    for k in range(int(maxk.max(initial=0)), 0, -1):
        active = k <= maxk
        term = k ** 2 * q ** (k ** 2)
        k2extra = np.where(active, k2extra + term, k2extra)
        k3extra = np.where(active, k3extra + (sqrt3z + np.pi * k) * (sqrt3z - np.pi * k) * term, k3extra)
    sums[2] += k2extra * (pi2 * sqrt2pi / (-36 * zthree))
    sums[3] += k3extra * (pi2 * sqrt2pi / (216 * zsix))
    sums /= np.power(n, np.arange(4)[:, None] / 2.0)
    return ((sums[0] + sums[1]) + sums[2]) + sums[3]


def _ks_p_value(reference_sorted: np.ndarray, current_sorted: np.ndarray, statistic: float) -> float:
    n_ref, n_cur = reference_sorted.size, current_sorted.size
    if max(n_ref, n_cur) <= KS_EXACT_MAX_N:
        return float(stats.ks_2samp(reference_sorted, current_sorted).pvalue)
    big, small = sorted([float(n_ref), float(n_cur)], reverse=True)
    effective_n = np.round(big * small / (big + small))
    return float(np.clip(stats.kstwo.sf(statistic, effective_n), 0, 1))


def normed_wasserstein(wasserstein: float, reference_std: float) -> float:
    return wasserstein / max(reference_std, 0.001)


def quantile_edges(sorted_values: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges: the reference's quantiles at 1/bins .. (bins-1)/bins, repeats dropped.
    ``np.quantile`` (linear) read from the sorted values, without its O(n) partition."""
    if sorted_values.size == 0:
        return np.empty(0)
    position = (sorted_values.size - 1) * (np.arange(1, bins) / bins)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, sorted_values.size - 1)
    low, high, t = sorted_values[below], sorted_values[above], position - below
    step = high - low
    edges = np.where(t >= 0.5, high - step * (1 - t), low + step * t)  # numpy's _lerp
    return np.unique(edges)


def counts_in_open_bins(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in (-inf, e0], (e0, e1], ..., (e_last, inf) of a sorted array."""
    cuts = np.searchsorted(sorted_values, edges, side="right")
    return np.diff(np.concatenate([[0], cuts, [sorted_values.size]]))


def sturges_edges(low: float, high: float, n_values: int) -> np.ndarray:
    """``np.histogram_bin_edges(values, "sturges")`` from the values' range and number only."""
    first, last = float(low), float(high)
    if first == last:
        first, last = first - 0.5, last + 0.5
    width = (float(high) - float(low)) / (np.log2(n_values) + 1.0)
    n_bins = int(np.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, n_bins + 1, endpoint=True)


def counts_in_histogram(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(values, edges)[0]`` of a sorted array: bins [e_i, e_i+1), the last one closed."""
    cuts = np.searchsorted(sorted_values, edges, side="left")
    cuts[-1] = np.searchsorted(sorted_values, edges[-1], side="right")
    return np.diff(cuts)


# -- the reference profile ------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A sorted sample: a numpy array in memory (no per-value validation), a list in JSON.
FloatArray = Annotated[
    Any,
    PlainValidator(lambda value: np.asarray(value, dtype=float)),
    PlainSerializer(lambda array: array.tolist(), return_type=list[float]),
]


class FeatureProfile(_Model):
    """One reference column, enough to test a current column against it."""

    name: str
    kind: Kind
    dtype: str
    rows: int
    missing: int
    # numeric
    values: int = 0                            # finite values
    mean: float | None = None
    std: float | None = None                   # population std of every finite value
    low: float | None = None
    high: float | None = None
    distinct: int = 0
    edges: list[float] = Field(default_factory=list)        # interior quantile edges
    bin_counts: list[int] = Field(default_factory=list)     # len(edges) + 1
    sample: FloatArray = Field(default_factory=lambda: np.empty(0))  # sorted
    sample_is_complete: bool = True
    # categorical, and numeric with few distinct values (Evidently's per-value bins)
    levels: list[Scalar] = Field(default_factory=list)
    level_counts: list[int] = Field(default_factory=list)

    @property
    def missing_rate(self) -> float:
        return self.missing / self.rows if self.rows else 0.0


class ReferenceProfile(_Model):
    """The reference side of a drift report, computed once and stored as JSON."""

    version: int = PROFILE_VERSION
    rows: int
    bins: int
    sample_size: int | None
    seed: int
    features: dict[str, FeatureProfile]

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> ReferenceProfile:
        return cls.model_validate_json(text)


def column_kind(series: pd.Series) -> Kind:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return "categorical"
    return "numeric"


def _finite_sorted(series: pd.Series) -> tuple[np.ndarray, int]:
    """The finite values, sorted (a new array), and the number missing (NaN or None)."""
    values = series.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values)
    if finite.all():
        return np.sort(values), 0
    return np.sort(values[finite]), int(np.isnan(values).sum())


def _level_counts(values: pd.Series) -> tuple[list[Scalar], np.ndarray]:
    counts = values.value_counts(dropna=True, sort=False)
    return [_plain(v) for v in counts.index.tolist()], counts.to_numpy(dtype=np.int64)


def _plain(value: Any) -> Scalar:
    return value.item() if isinstance(value, np.generic) else value


def _numeric_profile(name: str, series: pd.Series, bins: int, sample_size: int | None,
                     rng: np.random.Generator) -> FeatureProfile:
    finite, missing = _finite_sorted(series)
    profile = FeatureProfile(name=name, kind="numeric", dtype=str(series.dtype), rows=len(series),
                             missing=missing, values=finite.size)
    if finite.size == 0:
        return profile
    distinct = int(np.count_nonzero(np.diff(finite)) + 1)
    edges = quantile_edges(finite, bins)
    sample, complete = finite, True
    if sample_size is not None and finite.size > sample_size:
        sample, complete = np.sort(rng.choice(finite, size=sample_size, replace=False)), False
    update: dict[str, Any] = dict(
        mean=float(finite.mean()), std=float(finite.std()), low=float(finite[0]), high=float(finite[-1]),
        distinct=distinct, edges=edges.tolist(), bin_counts=counts_in_open_bins(finite, edges).tolist(),
        sample=sample, sample_is_complete=complete)
    if distinct <= EVIDENTLY_MAX_LEVELS:
        levels, counts = np.unique(finite, return_counts=True)
        update.update(levels=[_plain(v) for v in levels], level_counts=counts.tolist())
    return profile.model_copy(update=update)


def _categorical_profile(name: str, series: pd.Series) -> FeatureProfile:
    levels, counts = _level_counts(series)
    missing = int(series.isna().sum())
    return FeatureProfile(name=name, kind="categorical", dtype=str(series.dtype), rows=len(series),
                          missing=missing, values=len(series) - missing, distinct=len(levels),
                          levels=levels, level_counts=counts.tolist())


def reference_profile(reference: pd.DataFrame, policy: MonitoringPolicy | None = None, *,
                      sample_size: int | None = DEFAULT_SAMPLE_SIZE, seed: int = 0,
                      output: str | None = None) -> ReferenceProfile:
    """The profile of the reference's monitored columns (``policy.features`` or all, plus ``output``).
    ``sample_size=None`` keeps every value (exact KS and Wasserstein, a large profile)."""
    policy = policy or MonitoringPolicy()
    names = _monitored(reference, policy, output)
    missing = [n for n in names if n not in reference.columns]
    if missing:
        raise InvalidInput(f"the reference has no column {', '.join(map(repr, missing))} named by the policy")
    rng = np.random.default_rng(seed)
    features: dict[str, FeatureProfile] = {}
    for name in names:
        column = reference[name]
        if column_kind(column) == "numeric":
            features[name] = _numeric_profile(name, column, policy.bins, sample_size, rng)
        else:
            features[name] = _categorical_profile(name, column)
    return ReferenceProfile(rows=len(reference), bins=policy.bins, sample_size=sample_size, seed=seed,
                            features=features)


def _monitored(frame: pd.DataFrame, policy: MonitoringPolicy, output: str | None) -> list[str]:
    names = [str(c) for c in frame.columns] if policy.features is None else list(policy.features)
    if output is not None and output not in names:
        names.append(output)
    return names


# -- the report -----------------------------------------------------------------------------------


class TestResult(_Model):
    """One test on one feature. ``value`` is the statistic compared with the threshold: a
    distance (drift when >= threshold) or a p-value (drift when < threshold; KS: <=)."""

    __test__ = False  # not a pytest class

    value: float | None
    statistic: float | None = None             # KS D, chi-square statistic
    threshold: float
    drifted: bool
    warning: bool = False                      # PSI between its warn and alert levels


class FeatureDrift(_Model):
    name: str
    kind: Kind
    reference_dtype: str
    current_dtype: str
    reference_rows: int
    current_rows: int
    reference_missing_rate: float
    current_missing_rate: float
    tests: dict[str, TestResult]
    new_categories: list[Scalar] = Field(default_factory=list)
    status: Status
    worst: str | None = Field(description="the deciding test furthest past (or nearest to) its threshold")
    note: str | None = None


class SchemaChange(_Model):
    column: str
    change: Literal["new", "missing", "retyped"]
    reference_dtype: str | None = None
    current_dtype: str | None = None


class DriftSummary(_Model):
    features: int
    drifted: int
    warnings: int
    share_drifted: float
    schema_changes: int
    output_drifted: bool | None


class DriftReport(_Model):
    reference_rows: int
    current_rows: int
    binning: str
    features: dict[str, FeatureDrift]
    output: FeatureDrift | None
    schema_changes: list[SchemaChange]
    summary: DriftSummary


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, policy: MonitoringPolicy | None = None, *,
                 output: str | None = None) -> DriftReport:
    """Drift of ``current`` from ``reference``, every reference value kept (exact statistics)."""
    policy = policy or MonitoringPolicy()
    profile = reference_profile(reference, policy, sample_size=None, output=output)
    return compare_to_profile(profile, current, policy, output=output)


def compare_to_profile(profile: ReferenceProfile, current: pd.DataFrame, policy: MonitoringPolicy | None = None,
                       *, output: str | None = None) -> DriftReport:
    """Drift of ``current`` from a stored reference profile."""
    policy = policy or MonitoringPolicy()
    if policy.binning == "reference_quantiles" and policy.bins != profile.bins:
        raise InvalidInput(f"the profile was built with {profile.bins} bins, the policy asks for {policy.bins}")
    schema = _schema_changes(profile, current, policy)
    results: dict[str, FeatureDrift] = {}
    for name, feature in profile.features.items():
        if name in current.columns:
            results[name] = _feature_drift(feature, current[name], policy)
    output_result = results.pop(output, None) if output is not None else None
    drifted = sum(r.status == "drift" for r in results.values())
    summary = DriftSummary(
        features=len(results), drifted=drifted, warnings=sum(r.status == "warning" for r in results.values()),
        share_drifted=drifted / len(results) if results else 0.0, schema_changes=len(schema),
        output_drifted=None if output_result is None else output_result.status == "drift")
    return DriftReport(reference_rows=profile.rows, current_rows=len(current), binning=policy.binning,
                       features=results, output=output_result, schema_changes=schema, summary=summary)


def _schema_changes(profile: ReferenceProfile, current: pd.DataFrame, policy: MonitoringPolicy) -> list[SchemaChange]:
    changes: list[SchemaChange] = []
    if policy.features is None:
        known = set(profile.features)
        changes += [SchemaChange(column=str(c), change="new", current_dtype=str(current[c].dtype))
                    for c in current.columns if str(c) not in known]
    for name, feature in profile.features.items():
        if name not in current.columns:
            changes.append(SchemaChange(column=name, change="missing", reference_dtype=feature.dtype))
        elif _retyped(feature, current[name]):
            changes.append(SchemaChange(column=name, change="retyped", reference_dtype=feature.dtype,
                                        current_dtype=str(current[name].dtype)))
    return changes


def _retyped(feature: FeatureProfile, column: pd.Series) -> bool:
    """A change of kind (numeric <-> categorical); int64 -> float64 (NaNs arriving) is no change.
    An all-missing column says nothing about its type."""
    if column.isna().all() or feature.values == 0:
        return False
    return column_kind(column) != feature.kind


def _feature_drift(feature: FeatureProfile, column: pd.Series, policy: MonitoringPolicy) -> FeatureDrift:
    thresholds = policy.drift
    current_missing = int(column.isna().sum())
    tests: dict[str, TestResult] = {}
    new_categories: list[Scalar] = []
    note = None
    no_values = "no values to compare on one side: only the missing rate is tested"
    if column_kind(column) != feature.kind and feature.values and current_missing < len(column):
        note = "the column changed kind: only the missing rate is tested"
    elif feature.kind == "numeric":
        values = _finite_sorted(column)[0] if current_missing < len(column) else np.empty(0)  # same missing count
        if feature.values and values.size:
            tests = _numeric_tests(feature, values, policy)
        else:
            note = no_values
    else:
        current_levels, current_counts = _level_counts(column)
        if feature.values and current_counts.sum():
            tests, new_categories = _categorical_tests(feature, current_levels, current_counts, thresholds)
        else:
            note = no_values
    current_rate = current_missing / len(column) if len(column) else 0.0
    increase = current_rate - feature.missing_rate
    tests["missing_rate"] = TestResult(value=increase, threshold=thresholds.missing_rate_increase,
                                       drifted=increase > thresholds.missing_rate_increase)
    status, worst = _verdict(tests, thresholds)
    return FeatureDrift(
        name=feature.name, kind=feature.kind, reference_dtype=feature.dtype, current_dtype=str(column.dtype),
        reference_rows=feature.rows, current_rows=len(column), reference_missing_rate=feature.missing_rate,
        current_missing_rate=current_rate, tests=tests, new_categories=new_categories, status=status,
        worst=worst, note=note)


def _numeric_tests(feature: FeatureProfile, current: np.ndarray, policy: MonitoringPolicy) -> dict[str, TestResult]:
    t = policy.drift
    reference = feature.sample
    ks_d, ks_p, wasserstein = ks_and_wasserstein(reference, current)
    ref_shares, cur_shares = _numeric_shares(feature, reference, current, policy)
    psi_value = psi(ref_shares, cur_shares)
    js_value = jensen_shannon(ref_shares, cur_shares)
    w_normed = normed_wasserstein(wasserstein, feature.std or 0.0)
    return {
        "psi": _psi_result(psi_value, t),
        "ks": TestResult(value=ks_p, statistic=ks_d, threshold=t.ks_p_value, drifted=ks_p <= t.ks_p_value),
        "wasserstein": TestResult(value=w_normed, statistic=wasserstein, threshold=t.wasserstein,
                                  drifted=w_normed >= t.wasserstein),
        "jensen_shannon": TestResult(value=js_value, threshold=t.jensen_shannon, drifted=js_value >= t.jensen_shannon),
    }


def _numeric_shares(feature: FeatureProfile, reference: np.ndarray, current: np.ndarray,
                    policy: MonitoringPolicy) -> tuple[np.ndarray, np.ndarray]:
    if policy.binning == "reference_quantiles":
        edges = np.asarray(feature.edges, dtype=float)
        ref_counts = np.asarray(feature.bin_counts, dtype=float)
        return ref_counts / feature.values, counts_in_open_bins(current, edges) / current.size
    if feature.distinct <= EVIDENTLY_MAX_LEVELS:  # Evidently: one bin per value of either side
        levels, counts = np.unique(current, return_counts=True)
        ref_counts, cur_counts = _aligned(feature.levels, np.asarray(feature.level_counts), levels.tolist(), counts)
        return ref_counts / feature.values, cur_counts / current.size
    edges = sturges_edges(min(feature.low, current[0]), max(feature.high, current[-1]), feature.values + current.size)
    ref_counts = counts_in_histogram(reference, edges) * (feature.values / reference.size)  # scaled up if sampled
    return ref_counts / feature.values, counts_in_histogram(current, edges) / current.size


def _aligned(ref_levels: list[Scalar], ref_counts: np.ndarray, cur_levels: list[Scalar],
             cur_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sides' counts over the union of their levels (reference levels first)."""
    union = pd.Index(ref_levels, dtype=object).append(pd.Index(cur_levels, dtype=object)).unique()
    ref = pd.Series(ref_counts, index=pd.Index(ref_levels, dtype=object)).reindex(union, fill_value=0)
    cur = pd.Series(cur_counts, index=pd.Index(cur_levels, dtype=object)).reindex(union, fill_value=0)
    return ref.to_numpy(dtype=float), cur.to_numpy(dtype=float)


def _categorical_tests(feature: FeatureProfile, levels: list[Scalar], counts: np.ndarray,
                       t: DriftThresholds) -> tuple[dict[str, TestResult], list[Scalar]]:
    ref_counts, cur_counts = _aligned(feature.levels, np.asarray(feature.level_counts), levels, counts)
    new = [level for level, count in zip(levels, counts, strict=True) if count and level not in set(feature.levels)]
    ref_shares, cur_shares = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    statistic, p_value = chi_square(ref_counts, cur_counts)
    psi_value = psi(ref_shares, cur_shares)
    js_value = jensen_shannon(ref_shares, cur_shares)
    return {
        "psi": _psi_result(psi_value, t),
        "chi_square": TestResult(value=p_value, statistic=statistic, threshold=t.chi_square_p_value,
                                 drifted=p_value < t.chi_square_p_value),
        "jensen_shannon": TestResult(value=js_value, threshold=t.jensen_shannon, drifted=js_value >= t.jensen_shannon),
    }, new


def _psi_result(value: float, t: DriftThresholds) -> TestResult:
    return TestResult(value=value, threshold=t.psi_alert, drifted=value >= t.psi_alert,
                      warning=t.psi_warn <= value < t.psi_alert)


P_VALUE_TESTS = frozenset({"ks", "chi_square"})


def _verdict(tests: dict[str, TestResult], t: DriftThresholds) -> tuple[Status, str | None]:
    deciding = {name: r for name, r in tests.items() if name in t.decide_on and r.value is not None}
    if not deciding:
        return "stable", None
    worst = max(deciding, key=lambda name: _severity(name, deciding[name]))
    if any(r.drifted for r in deciding.values()):
        return "drift", worst
    return ("warning" if any(r.warning for r in deciding.values()) else "stable"), worst


def _severity(name: str, result: TestResult) -> float:
    """How far past its threshold a test is: > 1 past it, 1 at it."""
    assert result.value is not None
    if name in P_VALUE_TESTS:
        return math.inf if result.value == 0 else result.threshold / result.value
    return result.value / result.threshold


class DriftWindow(_Model):
    """The drift of one time window of a serving endpoint's logged inputs (services.input_drift)."""

    start: datetime
    end: datetime
    version: int | None = Field(description="None: every version's answers together")
    rows: int = Field(description="input rows compared")
    reference: str = Field(description="where the reference came from, e.g. runs:/ID/path")
    report: DriftReport


__all__ = [
    "DriftReport",
    "DriftWindow",
    "DriftSummary",
    "FeatureDrift",
    "FeatureProfile",
    "ReferenceProfile",
    "SchemaChange",
    "TestResult",
    "chi_square",
    "compare_to_profile",
    "counts_in_histogram",
    "counts_in_open_bins",
    "drift_report",
    "fill_empty_shares",
    "jensen_shannon",
    "ks_and_wasserstein",
    "normed_wasserstein",
    "psi",
    "quantile_edges",
    "reference_profile",
    "sturges_edges",
]
