#!/usr/bin/env python3
"""Personal-data scan on 1,000,000 rows x 30 columns: target under 10 s.

The frame is mixed the way a logged training set is: 8 personal columns (a name, an
e-mail, a phone number, a street address, an IBAN, a card number, a US SSN under a
name that says nothing, a date of birth), 8 float and 5 integer columns, 4 categorical,
3 free-text, a UUID and an order date. Personal values are drawn from pools of 20,000
Faker values (seeded, no real people) so building the frame takes seconds, not minutes;
the scan samples 10,000 non-null values per column either way.

    python bench/personal_data.py [--rows 1000000] [--repeats 3] [--out bench/results/personal_data.json]

Prints one JSON object: the median and every time of ``scan(frame)``, the frame's shape,
what was found, and whether the 10 s target was met.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
from faker import Faker

from modelward.evaluation.personal_data import scan

TARGET_SECONDS = 10.0
POOL = 20_000
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR")


def pooled(rng: np.random.Generator, rows: int, make) -> np.ndarray:
    pool = np.array([make() for _ in range(POOL)], dtype=object)
    return pool[rng.integers(0, POOL, rows)]


def build_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    us, de = Faker("en_US"), Faker("de_DE")
    us.seed_instance(seed)
    de.seed_instance(seed + 1)
    columns: dict[str, object] = {
        "customer_name": pooled(rng, rows, us.name),
        "email": pooled(rng, rows, us.email),
        "col_phone": pooled(rng, rows, de.phone_number),
        "shipping": pooled(rng, rows, us.street_address),
        "col_iban": pooled(rng, rows, de.iban),
        "col_card": pooled(rng, rows, us.credit_card_number),
        "col_ssn": pooled(rng, rows, us.ssn),
        "date_of_birth": pd.to_datetime(pooled(rng, rows, us.date_of_birth)),
    }
    for index in range(8):
        columns[f"feature_{index}"] = rng.normal(size=rows)
    for index in range(5):
        columns[f"count_{index}"] = rng.integers(0, 10_000, rows)
    for index, levels in enumerate((["a", "b", "c"], ["red", "green", "blue", "grey"],
                                     ["basic", "plus", "pro"], [f"region_{i}" for i in range(40)])):
        columns[f"category_{index}"] = pd.Categorical(np.array(levels, dtype=object)[rng.integers(0, len(levels), rows)])
    for index in range(3):
        columns[f"text_{index}"] = pooled(rng, rows, lambda: us.sentence(nb_words=12))
    columns["product_uuid"] = pooled(rng, rows, us.uuid4)
    columns["order_date"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, rows), unit="D")
    return pd.DataFrame(columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    frame = build_frame(args.rows)
    build_seconds = time.perf_counter() - started
    times, result = [], None
    for _ in range(args.repeats):
        started = time.perf_counter()
        result = scan(frame, locales=LOCALES)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    report = {
        "rows": len(frame), "columns": frame.shape[1], "sample_rows": result.sample_rows,
        "locales": list(LOCALES), "build_seconds": round(build_seconds, 2),
        "scan_seconds_median": round(median, 3), "scan_seconds": [round(t, 3) for t in times],
        "target_seconds": TARGET_SECONDS, "target_met": median < TARGET_SECONDS,
        "found": {f.column: f"{f.kind}{'/' + f.scheme if f.scheme else ''} {f.evidence} {f.confidence}"
                  for f in result.findings},
        "python": platform.python_version(), "pandas": pd.__version__, "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
