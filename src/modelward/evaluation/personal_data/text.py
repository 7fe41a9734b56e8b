"""Regular expressions over a Series of strings, run by pyarrow's RE2 kernels directly.

pandas would send most of these patterns to pyarrow too, but it first re-parses each
pattern with Python's ``re`` to see whether RE2 may run it: for the street patterns, with
their hundreds of alternatives, that check costs more than the match. Our patterns are
written for RE2 (no lookarounds, no backreferences), so we call the kernels ourselves.
RE2's ``$`` matches only at the very end of the text; ``fullmatch`` anchors both ends.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _arrow(values: pd.Series) -> pa.Array:
    try:
        return pa.array(values.array)
    except (TypeError, pa.ArrowInvalid):
        return pa.array(values.astype(str).tolist(), type=pa.large_string())


def _bools(result, values: pd.Series) -> pd.Series:
    array = result.to_numpy(zero_copy_only=False)
    return pd.Series(np.asarray(array, dtype=bool), index=values.index)


def fullmatch(values: pd.Series, pattern: str) -> pd.Series:
    if values.empty:
        return pd.Series(False, index=values.index, dtype=bool)
    return _bools(pc.match_substring_regex(_arrow(values), f"^(?:{pattern})$"), values)


def contains(values: pd.Series, pattern: str) -> pd.Series:
    if values.empty:
        return pd.Series(False, index=values.index, dtype=bool)
    return _bools(pc.match_substring_regex(_arrow(values), pattern), values)


def count(values: pd.Series, pattern: str) -> pd.Series:
    if values.empty:
        return pd.Series(0, index=values.index, dtype="int64")
    counted = pc.count_substring_regex(_arrow(values), pattern).to_numpy(zero_copy_only=False)
    return pd.Series(counted.astype("int64"), index=values.index)


def replace(values: pd.Series, pattern: str, replacement: str) -> pd.Series:
    if values.empty:
        return values
    replaced = pc.replace_substring_regex(_arrow(values), pattern, replacement)
    return pd.Series(pd.array(replaced, dtype=values.dtype), index=values.index)


@lru_cache(maxsize=64)
def _value_set(words: frozenset[str]) -> pa.Array:
    return pa.array(sorted(words), type=pa.large_string())


def is_in(values: pd.Series, words: frozenset[str]) -> pd.Series:
    """Whether each value is one of ``words`` (hashed once per word set)."""
    if values.empty:
        return pd.Series(False, index=values.index, dtype=bool)
    return _bools(pc.fill_null(pc.is_in(_arrow(values), value_set=_value_set(words)), False), values)
