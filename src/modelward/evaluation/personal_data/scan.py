"""The scan: a bounded seeded sample per column, its name, its type and its content.

Local only: no network, no model; the reference data (name lists, phone metadata) ships
with the ``faker`` and ``phonenumbers`` packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from modelward.errors import InvalidInput
from modelward.evaluation.personal_data import detectors
from modelward.evaluation.personal_data.column_names import NameHint, name_hints
from modelward.evaluation.personal_data.locale_data import (
    DEFAULT_LOCALES,
    check_locales,
    names_and_titles,
    phone_regions,
    street_patterns,
)
from modelward.evaluation.personal_data.masking import mask
from modelward.evaluation.personal_data.results import Finding, ScanResult, summarise

DEFAULT_SAMPLE_ROWS = 10_000
DEFAULT_MIN_SHARE = 0.3      # of sampled non-null values, for a content finding
MAX_EXAMPLES = 3
MIN_SAMPLE_TO_CONTRADICT = 20  # below this, content that does not match a name hint says little
DATE_FORMATS = ("ISO8601", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d-%m-%Y")
OLDEST_AGE_YEARS = 120


@dataclass(frozen=True)
class Context:
    regions: tuple[str, ...]
    street_patterns: tuple[str, ...]
    names: frozenset[str]
    titles: frozenset[str]


@dataclass
class ContentResult:
    kind: str
    scheme: str | None
    share: float
    strength: float
    evidence: str          # "content" or "type"
    examples: list[str]


def scan(
    frame: pd.DataFrame,
    *,
    locales: tuple[str, ...] | list[str] = DEFAULT_LOCALES,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
    min_share: float = DEFAULT_MIN_SHARE,
) -> ScanResult:
    """Personal data in ``frame``'s columns, by column name, type and sampled content."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"scan takes a pandas DataFrame, not {type(frame).__name__}")
    if isinstance(sample_rows, bool) or not isinstance(sample_rows, int) or sample_rows < 1:
        raise InvalidInput(f"sample_rows must be a positive integer, not {sample_rows!r}")
    if not 0 < min_share <= 1:
        raise InvalidInput(f"min_share must be in (0, 1], not {min_share!r}")
    locales = check_locales(locales)
    names, titles = names_and_titles(locales)
    context = Context(phone_regions(locales), street_patterns(locales), names, titles)
    positions = _sample_positions(len(frame), sample_rows, seed)
    findings: list[Finding] = []
    for index in range(frame.shape[1]):
        column = frame.iloc[:, index]
        sample = _sample(column, positions, sample_rows, seed)
        findings += _column_findings(str(frame.columns[index]), column.dtype, sample, context, min_share)
    return ScanResult(
        rows=len(frame), columns=frame.shape[1], sample_rows=sample_rows,
        locales=list(locales), seed=seed, findings=findings, summary=summarise(findings),
    )


def _sample_positions(rows: int, sample_rows: int, seed: int) -> np.ndarray | None:
    if rows <= sample_rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(rows, size=sample_rows, replace=False))


def _sample(column: pd.Series, positions: np.ndarray | None, sample_rows: int, seed: int) -> pd.Series:
    """Up to ``sample_rows`` non-null values; a sparse column is sampled among its non-null rows."""
    picked = column if positions is None else column.iloc[positions]
    sample = picked.dropna()
    if positions is not None and len(sample) < sample_rows // 10:
        present = np.flatnonzero(column.notna().to_numpy())
        if len(present) > len(sample):
            size = min(sample_rows, len(present))
            chosen = np.sort(np.random.default_rng(seed).choice(present, size=size, replace=False))
            sample = column.iloc[chosen]
    return sample.reset_index(drop=True)


def _column_findings(
    column: str, dtype, sample: pd.Series, context: Context, min_share: float,
) -> list[Finding]:
    hints = name_hints(column)
    content, checked_kinds = _content(sample, dtype, context, min_share, hints)
    findings = []
    absorbed: set[str] = set()
    for result in content:
        hint = next((hint for hint in hints if hint.kind == result.kind), None)
        if hint is not None:
            absorbed.add(hint.kind)
        findings.append(_content_finding(column, result, hint, len(sample)))
    for hint in hints:
        if hint.kind not in absorbed:
            absorbed.add(hint.kind)
            findings.append(_name_finding(column, hint, sample, checked_kinds))
    return findings


def _content_finding(column: str, result: ContentResult, hint: NameHint | None, size: int) -> Finding:
    confidence = result.strength * result.share
    evidence = [result.evidence]
    if hint is not None:
        confidence = 1 - (1 - confidence) * (1 - hint.confidence)
        evidence = ["name", result.evidence]
    return Finding(
        column=column, kind=result.kind, scheme=result.scheme, evidence=evidence,
        confidence=round(confidence, 3), matched_share=round(result.share, 4), sample_size=size,
        examples=result.examples,
    )


def _name_finding(column: str, hint: NameHint, sample: pd.Series, checked: dict) -> Finding:
    """The name alone; weaker when enough content was checked for the kind and did not match."""
    share = checked.get(hint.kind)
    confidence = hint.confidence
    if share is not None and len(sample) >= MIN_SAMPLE_TO_CONTRADICT:
        confidence *= 0.5
    examples = _masked(hint.kind, sample.astype(str))
    return Finding(
        column=column, kind=hint.kind, scheme=hint.scheme, evidence=["name"],
        confidence=round(confidence, 3),
        matched_share=None if share is None else round(share, 4),
        sample_size=len(sample), examples=examples,
    )


def _masked(kind: str, values: pd.Series) -> list[str]:
    examples: list[str] = []
    for value in values.iloc[:200]:
        masked = mask(kind, value)
        if masked not in examples:
            examples.append(masked)
            if len(examples) == MAX_EXAMPLES:
                break
    return examples


def _content(sample: pd.Series, dtype, context: Context, min_share: float, hints: list[NameHint]):
    """Content results at or over ``min_share``, and the best share of every kind checked."""
    if sample.empty or pd.api.types.is_bool_dtype(dtype):
        return [], {}
    birth_hint = any(hint.kind == "date_of_birth" for hint in hints)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        result = _birth_dates(pd.to_datetime(sample), birth_hint, "type", min_share)
        return ([result] if result else []), {"date_of_birth": result.share if result else 0.0}
    if pd.api.types.is_integer_dtype(dtype):
        strings = sample.astype("str")
        if strings.str.len().min() < 11:
            return [], {}
        return _run(detectors.INTEGER_DETECTORS, strings, context, min_share)
    if pd.api.types.is_float_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        return [], {}
    results, checked = [], {}
    dates = _as_dates(sample)
    if dates is not None:
        result = _birth_dates(dates, birth_hint, "content", min_share)
        checked["date_of_birth"] = result.share if result else 0.0
        if result:
            results.append(result)
    strings = sample.astype("str").str.strip()
    found, more = _run(detectors.STRING_DETECTORS, strings, context, min_share)
    return results + found, {**more, **checked}


def _run(chain, strings: pd.Series, context: Context, min_share: float):
    size = len(strings)
    prepared = detectors.Prepared(strings)
    remaining = pd.Series(True, index=strings.index)
    results, checked = [], {}
    for kind, scheme, detector in chain:
        if not remaining.any():
            break
        values = strings[remaining]
        match = detector(values, prepared, context)
        accepted = match.accepted
        share = (accepted.sum() if match.share is None else match.share * len(values)) / size
        checked[kind] = max(checked.get(kind, 0.0), float(share))
        if share >= min_share:
            examples = _masked(kind, values[accepted])
            results.append(ContentResult(kind, scheme, float(share), match.strength, "content", examples))
            remaining[accepted[accepted].index] = False
    return results, checked


def _as_dates(sample: pd.Series) -> pd.Series | None:
    """The sample as timestamps if most of it is dates (date objects or date strings)."""
    first = sample.iloc[0]
    if isinstance(first, (date, pd.Timestamp, np.datetime64)):
        parsed = pd.to_datetime(sample, errors="coerce")
        return parsed if parsed.notna().mean() >= 0.5 else None
    if not isinstance(first, str):
        return None
    strings = sample.astype("str").str.strip()
    if detectors.date_like(strings).mean() < 0.5:
        return None
    best = None
    for date_format in DATE_FORMATS:
        parsed = pd.to_datetime(strings, format=date_format, errors="coerce")
        if best is None or parsed.notna().sum() > best.notna().sum():
            best = parsed
    return best if best is not None and best.notna().mean() >= 0.5 else None


def _birth_dates(dates: pd.Series, name_hint: bool, evidence: str, min_share: float):
    """Dates that could be birth dates: in the past, at most 120 years ago. Without a name hint,
    the column must also look like a population: nearly all plausible, spread over at least 20
    years, a median age of 18 to 90."""
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    today = pd.Timestamp(date.today())
    oldest = today - pd.DateOffset(years=OLDEST_AGE_YEARS)
    plausible = dates.notna() & (dates <= today) & (dates >= oldest)
    share = float(plausible.mean())
    examples = _masked("date_of_birth", dates[plausible].dt.strftime("%Y-%m-%d"))
    if name_hint:
        if share < min_share:
            return None
        return ContentResult("date_of_birth", None, share, 0.9, evidence, examples)
    valid = dates[plausible]
    if share < 0.95 or valid.empty:
        return None
    spread_years = (valid.max() - valid.min()).days / 365.25
    median_age = (today - valid.median()).days / 365.25
    if spread_years < 20 or not 18 <= median_age <= 90:
        return None
    return ContentResult("date_of_birth", None, share, 0.45, evidence, examples)
