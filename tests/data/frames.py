"""Generated frames (no real people) with faults planted where the tests look for them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

ROWS = 2_000
OUT_OF_RANGE_AGES = {3: 150, 17: -4, 1500: 131}  # row -> planted age
DUPLICATED_ID_ROWS = (10, 11)  # row 11 takes row 10's id
MISSING_SHARE = 0.3  # of the 'email' column
SHIFT = 8.0  # added to 'income' (std 10): a shifted distribution


def clean(seed: int = 0, rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(rows, dtype="int64"),
        "age": rng.integers(18, 90, rows),
        "country": rng.choice(["DE", "FR", "NL"], rows),
        "income": rng.normal(50.0, 10.0, rows),
        "email": [f"user{i}@example.org" for i in range(rows)],
    })


def faulty(seed: int = 1) -> pd.DataFrame:
    frame = clean(seed)
    for row, age in OUT_OF_RANGE_AGES.items():
        frame.loc[row, "age"] = age
    frame.loc[DUPLICATED_ID_ROWS[1], "id"] = frame.loc[DUPLICATED_ID_ROWS[0], "id"]
    frame.loc[frame.index[: int(len(frame) * MISSING_SHARE)], "email"] = None
    frame["income"] = frame["income"] + SHIFT
    return frame


def declaration(reference: dict[str, Any] | None = None) -> dict[str, Any]:
    declared: dict[str, Any] = {
        "columns": {
            "id": {"type": "int", "unique": True, "missing_max": 0},
            "age": {"type": "int", "min": 0, "max": 120},
            "country": {"allowed": ["DE", "FR", "NL"]},
            "email": {"missing_max": 0.05, "pattern": "^[^@]+@[^@]+$"},
        },
        "rows": {"min": 1000},
    }
    if reference is not None:
        declared["distribution"] = {"income": {"reference": reference, "max_psi": 0.2, "max_ks": 0.15}}
    return declared


def failed(check: Any) -> dict[str, Any]:
    """'column.check' -> the failing expectation, of a CheckResult or a stored DataCheck."""
    result = getattr(check, "result", check)
    return {f"{item.column}.{item.check}" if item.column else item.check: item for item in result.failed()}
