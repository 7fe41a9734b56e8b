"""Check a DataFrame against a declaration of expectations, with pandera.

``build_schema`` turns an ``Expectations`` declaration into a ``pandera.DataFrameSchema``:
ranges, allowed values and patterns are pandera's built-in checks, uniqueness and a zero
missing limit its ``unique`` and ``nullable``; the column kind, a missing-share limit, the row
count and the distribution bounds (PSI, KS against reference data) are custom ``Check``s.
``check_frame`` validates lazily (pandera collects every failure) and folds pandera's failure
cases into one result per expectation: how many rows break it, which share, a few examples.

PSI uses the quantile bins of the reference and Evidently's epsilon for empty bins, as the
drift monitor does (``modelward.evaluation.drift``); KS is ``scipy.stats.ks_2samp``'s statistic.
Missing values and infinities are left out of both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types

from modelward.domain.expectations import CheckResult, ColumnExpectation, DistributionExpectation, ExpectationResult, Expectations
from modelward.errors import InvalidInput

MAX_EXAMPLES = 5
MAX_EXAMPLE_CHARS = 80
_KIND_TESTS = {
    "int": types.is_integer_dtype,
    "float": types.is_float_dtype,
    "number": lambda dtype: types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype),
    "str": lambda dtype: types.is_string_dtype(dtype) or types.is_object_dtype(dtype),
    "bool": types.is_bool_dtype,
    "datetime": types.is_datetime64_any_dtype,
    "category": lambda dtype: isinstance(dtype, pd.CategoricalDtype),
}


@dataclass
class _Planned:
    """One expectation as it went into the schema: what to call it and what pandera reports for it."""

    column: str | None
    check: str
    expected: Any
    observed: Any = None  # set by custom checks while pandera runs them


@dataclass
class Plan:
    """The schema and, for every expectation, how pandera names its failures."""

    schema: Any
    by_number: dict[tuple[str | None, int], _Planned] = field(default_factory=dict)  # (column, check_number)
    by_name: dict[tuple[str, str], _Planned] = field(default_factory=dict)  # (column, pandera check name)
    order: list[_Planned] = field(default_factory=list)


def library() -> dict[str, str]:
    import pandera

    return {"name": "pandera", "version": pandera.__version__}


def build_schema(expectations: Expectations, references: dict[str, pd.Series] | None = None) -> Plan:
    """The pandera schema for ``expectations``; ``references`` holds the reference data of each
    column with a distribution expectation."""
    import pandera.pandas as pa

    references = references or {}
    plan = Plan(schema=None)
    columns: dict[str, Any] = {}
    names = list(dict.fromkeys([*expectations.columns, *expectations.distribution]))
    for name in names:
        spec = expectations.columns.get(name, ColumnExpectation())
        if spec.required:
            plan.by_name[(name, "column_in_dataframe")] = _add(plan, name, "present", True)
        checks = _column_checks(plan, name, spec)
        distribution = expectations.distribution.get(name)
        if distribution is not None:
            if name not in references:
                raise InvalidInput(f"distribution.{name}: no reference data was given for the column")
            checks += _distribution_checks(plan, name, distribution, references[name])
        for number, (planned, _check) in enumerate(checks):
            plan.by_number[(name, number)] = planned
        zero_missing = spec.missing_max is not None and spec.missing_max == 0
        columns[name] = pa.Column(checks=[check for _planned, check in checks], nullable=not zero_missing,
                                  unique=spec.unique, required=spec.required, coerce=False)
        if spec.unique:
            plan.by_name[(name, "field_uniqueness")] = _add(plan, name, "unique", True)
        if zero_missing:
            plan.by_name[(name, "not_nullable")] = _add(plan, name, "missing_max", 0)
    plan.schema = pa.DataFrameSchema(columns, checks=_row_checks(plan, expectations), strict=False)
    return plan


def _add(plan: Plan, column: str | None, check: str, expected: Any) -> _Planned:
    planned = _Planned(column=column, check=check, expected=expected)
    plan.order.append(planned)
    return planned


def _column_checks(plan: Plan, name: str, spec: ColumnExpectation) -> list[tuple[_Planned, Any]]:
    import pandera.pandas as pa

    checks: list[tuple[_Planned, Any]] = []
    if spec.type is not None:
        kind_test = _KIND_TESTS[spec.type]
        planned = _add(plan, name, "type", spec.type)

        def is_kind(series: pd.Series, planned: _Planned = planned) -> bool:
            planned.observed = str(series.dtype)
            return bool(kind_test(series.dtype))

        checks.append((planned, pa.Check(is_kind, name="type", ignore_na=False)))
    if spec.min is not None:
        checks.append((_add(plan, name, "min", spec.min), pa.Check.ge(spec.min)))
    if spec.max is not None:
        checks.append((_add(plan, name, "max", spec.max), pa.Check.le(spec.max)))
    if spec.allowed is not None:
        checks.append((_add(plan, name, "allowed", list(spec.allowed)), pa.Check.isin(list(spec.allowed))))
    if spec.pattern is not None:
        checks.append((_add(plan, name, "pattern", spec.pattern), pa.Check.str_matches(spec.pattern)))
    if spec.missing_max is not None and spec.missing_max > 0:
        limit = float(spec.missing_max)
        planned = _add(plan, name, "missing_max", spec.missing_max)

        def few_missing(series: pd.Series, planned: _Planned = planned) -> bool:
            share = float(series.isna().mean()) if len(series) else 0.0
            planned.observed = round(share, 6)
            return share <= limit

        checks.append((planned, pa.Check(few_missing, name="missing_max", ignore_na=False)))
    return checks


def _distribution_checks(plan: Plan, name: str, spec: DistributionExpectation,
                         reference: pd.Series) -> list[tuple[_Planned, Any]]:
    import pandera.pandas as pa

    checks: list[tuple[_Planned, Any]] = []
    bounds = [("psi", spec.max_psi), ("ks", spec.max_ks)]
    for statistic, bound in bounds:
        if bound is None:
            continue
        planned = _add(plan, name, statistic, bound)
        measure = _psi_of(reference, spec.bins) if statistic == "psi" else _ks_of(reference)

        def within(series: pd.Series, planned: _Planned = planned, measure: Any = measure,
                   bound: float = float(bound)) -> bool:
            value = measure(series)
            planned.observed = None if value is None else round(value, 6)
            return value is not None and value <= bound

        checks.append((planned, pa.Check(within, name=statistic, ignore_na=False)))
    return checks


def _row_checks(plan: Plan, expectations: Expectations) -> list[Any]:
    import pandera.pandas as pa

    checks: list[Any] = []
    rows = expectations.rows
    for check, bound in (("rows_min", rows.min if rows else None), ("rows_max", rows.max if rows else None)):
        if bound is None:
            continue
        planned = _add(plan, None, check, bound)
        plan.by_number[(None, len(checks))] = planned

        def counted(frame: pd.DataFrame, planned: _Planned = planned, bound: int = bound) -> bool:
            planned.observed = len(frame)
            return len(frame) >= bound if planned.check == "rows_min" else len(frame) <= bound

        checks.append(pa.Check(counted, name=check))
    return checks


# -- distribution statistics ----------------------------------------------------------------------


def _finite(series: pd.Series) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return values[np.isfinite(values)]


def _is_numeric(series: pd.Series) -> bool:
    return types.is_numeric_dtype(series.dtype) and not types.is_bool_dtype(series.dtype)


def _psi_of(reference: pd.Series, bins: int) -> Any:
    from modelward.evaluation.drift import counts_in_open_bins, psi, quantile_edges

    if _is_numeric(reference):
        ref_sorted = np.sort(_finite(reference))
        edges = quantile_edges(ref_sorted, bins)
        ref_counts = counts_in_open_bins(ref_sorted, edges)

        def numeric(series: pd.Series) -> float | None:
            current = np.sort(_finite(series))
            if not ref_sorted.size or not current.size:
                return None
            counts = counts_in_open_bins(current, edges)
            return float(psi(ref_counts / ref_counts.sum(), counts / counts.sum()))

        return numeric
    ref_shares = reference.dropna().astype(str).value_counts(normalize=True)

    def categorical(series: pd.Series) -> float | None:
        current = series.dropna().astype(str).value_counts(normalize=True)
        if ref_shares.empty or current.empty:
            return None
        levels = ref_shares.index.union(current.index)
        return float(psi(ref_shares.reindex(levels, fill_value=0).to_numpy(),
                         current.reindex(levels, fill_value=0).to_numpy()))

    return categorical


def _ks_of(reference: pd.Series) -> Any:
    from scipy import stats

    ref_values = _finite(reference)

    def ks(series: pd.Series) -> float | None:
        current = _finite(series)
        if not ref_values.size or not current.size:
            return None
        return float(stats.ks_2samp(ref_values, current, method="asymp").statistic)

    return ks


# -- running it -------------------------------------------------------------------------------------


def check_frame(frame: pd.DataFrame, expectations: Expectations,
                references: dict[str, pd.Series] | None = None) -> CheckResult:
    """Validate ``frame`` lazily and report every expectation, failing or not."""
    started = time.perf_counter()
    plan = build_schema(expectations, references)
    failures = run_schema(plan.schema, frame)
    results = _results(plan, failures, frame)
    passed = all(item.passed for item in results)
    return CheckResult(status="passed" if passed else "failed", passed=passed, rows=len(frame),
                       columns=len(frame.columns), expectations=results, library=library(),
                       duration_seconds=round(time.perf_counter() - started, 4))


def run_schema(schema: Any, frame: pd.DataFrame) -> pd.DataFrame | None:
    """pandera's failure cases of ``frame`` (None when it passes): the library's own run."""
    import pandera.errors

    try:
        schema.validate(frame, lazy=True, inplace=True)
    except pandera.errors.SchemaErrors as exc:
        return exc.failure_cases
    return None


WHOLE_CHECKS = ("present", "type", "psi", "ks", "rows_min", "rows_max")  # pass or fail as a whole


def _results(plan: Plan, failures: pd.DataFrame | None, frame: pd.DataFrame) -> list[ExpectationResult]:
    found = _found(plan, failures)
    absent = {planned.column for planned in plan.order if planned.check == "present" and id(planned) in found}
    rows = len(frame)
    results = []
    for planned in plan.order:
        count, examples, errored = found.get(id(planned), (0, [], False))
        observed = planned.observed
        if planned.column in absent and planned.check != "present":
            count, examples, observed = max(rows, 1), [], "not checked: the column is missing"
        elif errored and planned.column in frame.columns:
            count = int(frame[planned.column].notna().sum()) or 1  # the check could not run on these values
        elif planned.check == "missing_max" and planned.column in frame.columns:
            count = int(frame[planned.column].isna().sum()) if count else 0
            observed = round(count / rows, 6) if rows else 0.0
        whole = planned.check in WHOLE_CHECKS
        if whole:
            count = min(count, 1)
        share = float(count) if whole or not rows else min(round(count / rows, 6), 1.0)
        results.append(ExpectationResult(column=planned.column, check=planned.check, expected=planned.expected,
                                         passed=count == 0, failure_count=count, failure_share=share,
                                         examples=examples, observed=observed))
    return results


def _found(plan: Plan, failures: pd.DataFrame | None) -> dict[int, tuple[int, list[str], bool]]:
    """id(planned) -> (failing rows, a few failing values, whether the check itself raised)."""
    found: dict[int, tuple[int, list[str], bool]] = {}
    if failures is None or not len(failures):
        return found
    missing_columns = failures["check"] == "column_in_dataframe"
    for name in failures.loc[missing_columns, "failure_case"]:
        planned = plan.by_name.get((str(name), "column_in_dataframe"))
        if planned is not None:
            found[id(planned)] = (1, [str(name)], False)
    for key, group in failures[~missing_columns].groupby(["column", "check", "check_number"], dropna=False, sort=False):
        planned = _planned_for(plan, key)
        if planned is None:
            continue
        count, examples, errored = _fold(group)
        before = found.get(id(planned))
        if before is not None:
            count, examples = count + before[0], list(dict.fromkeys(before[1] + examples))[:MAX_EXAMPLES]
        found[id(planned)] = (count, examples, errored)
    return found


def _planned_for(plan: Plan, key: tuple[Any, Any, Any]) -> _Planned | None:
    column, check, number = (None if _missing(part) else part for part in key)
    if number is not None and (column, int(number)) in plan.by_number:
        return plan.by_number[(column, int(number))]
    return plan.by_name.get((column, str(check))) if column is not None else None


def _missing(value: Any) -> bool:
    return value is None or isinstance(value, float) and np.isnan(value)


def _fold(group: pd.DataFrame) -> tuple[int, list[str], bool]:
    """How many rows fail, a few distinct failing values, and whether the check itself raised
    (pandera then reports the error text with no row)."""
    indexed = group["index"].notna()
    values = group["failure_case"].head(200).tolist()
    if not indexed.any():  # a whole-column check: False (or 0) when it failed, the error's text when it raised
        errors = [_text(value) for value in values if isinstance(value, str)]
        return 1, errors[:1], bool(errors)
    examples = list(dict.fromkeys(_text(value) for value in values))[:MAX_EXAMPLES]
    return int(indexed.sum()), examples, False


def _text(value: Any) -> str:
    text = "missing" if _missing(value) else str(value)
    return text if len(text) <= MAX_EXAMPLE_CHARS else text[: MAX_EXAMPLE_CHARS - 3] + "..."
