"""Data expectations: modelward's check against pandera run directly on the same schema.

    python bench/data_checks.py                       # 1,000,000 rows x 30 columns, 3 repeats
    python bench/data_checks.py --rows 100000 --repeats 5 --json out.json
    python bench/data_checks.py --service             # also the whole server-side check

One frame (10 integer, 10 float, 10 categorical columns; a few planted faults: out-of-range
values, duplicate ids, a missing-heavy column, a shifted column) and one declaration touching
every column: a type on each, ranges, allowed values, a unique id, missing limits, a row-count
bound and two distribution bounds (PSI and KS) against a reference frame of the same size.

Timed, each the median of ``--repeats`` runs, the frame already in memory:

* pandera: ``schema.validate(frame, lazy=True)`` of the schema ``build_schema`` makes (built
  once, outside the timing: its PSI bins and KS reference are already prepared), until it
  raises ``SchemaErrors`` with the failure cases;
* modelward ``check_frame``: the declaration to that schema (preparing the reference again),
  the same validation, and the failure cases folded into one result per expectation;
* with ``--service``: ``client.data_checks.check`` on an embedded store, which also reads the
  stored Parquet snapshot and the reference's, verified against their digests, and stores
  the result with an audit event.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

N_INT, N_FLOAT, N_CAT = 10, 10, 10
CATEGORIES = ["a", "b", "c", "d", "e"]


def frames(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(current, reference): the current one with the planted faults."""
    rng = np.random.default_rng(seed)

    def make(shift: float) -> pd.DataFrame:
        data: dict[str, Any] = {"id": np.arange(rows, dtype="int64")}
        for i in range(1, N_INT):
            data[f"i{i}"] = rng.integers(0, 1000, rows)
        for i in range(N_FLOAT):
            data[f"f{i}"] = rng.normal(100.0 + (shift if i == 0 else 0.0), 15.0, rows)
        for i in range(N_CAT):
            data[f"c{i}"] = pd.Categorical(rng.choice(CATEGORIES, rows)) if i % 2 else rng.choice(CATEGORIES, rows)
        return pd.DataFrame(data)

    reference, current = make(0.0), make(5.0)
    current.loc[::50_000, "i1"] = 5000                        # out of range
    current.loc[[7, 8], "id"] = [3, 3]                        # duplicate ids
    current.loc[current.index % 4 == 0, "f1"] = np.nan        # a missing-heavy column
    current.loc[::100_000, "c0"] = "z"                        # a value not allowed
    return current, reference


def declaration() -> dict[str, Any]:
    columns: dict[str, Any] = {"id": {"type": "int", "unique": True, "missing_max": 0}}
    for i in range(1, N_INT):
        columns[f"i{i}"] = {"type": "int", "min": 0, "max": 999}
    for i in range(N_FLOAT):
        columns[f"f{i}"] = {"type": "float", "min": -1000, "max": 1000, "missing_max": 0.05}
    for i in range(N_CAT):
        columns[f"c{i}"] = {"allowed": CATEGORIES, "missing_max": 0.01}
    return {"columns": columns, "rows": {"min": 1000},
            "distribution": {"f0": {"reference": {"dataset": "reference"}, "max_psi": 0.1, "max_ks": 0.1},
                             "f2": {"reference": {"dataset": "reference"}, "max_psi": 0.1}}}


def _median(fn: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def run(rows: int, repeats: int, service: bool) -> dict[str, Any]:
    import pandera

    from modelward.domain.expectations import parse_expectations
    from modelward.evaluation.expectations import build_schema, check_frame, run_schema

    current, reference = frames(rows)
    declared = parse_expectations(declaration())
    references = {name: reference[name] for name in declared.distribution}
    schema = build_schema(declared, references).schema
    direct_s, failures = _median(lambda: run_schema(schema, current), repeats)
    ours_s, result = _median(lambda: check_frame(current, declared, references), repeats)
    figures: dict[str, Any] = {
        "rows": rows, "columns": len(current.columns), "repeats": repeats, "pandera": pandera.__version__,
        "pandas": pd.__version__, "expectations": len(result.expectations), "failed": len(result.failed()),
        "failure_cases": 0 if failures is None else len(failures),
        "pandera_direct_s": round(direct_s, 3), "modelward_s": round(ours_s, 3), "ratio": round(ours_s / direct_s, 3),
    }
    if service:
        figures["service_s"] = round(_service(current, reference, repeats), 3)
    return figures


def _service(current: pd.DataFrame, reference: pd.DataFrame, repeats: int) -> float:
    from modelward.sdk.client import Client
    from modelward.settings import Settings

    settings = Settings(home=Path(home := tempfile.mkdtemp()), max_request_bytes=1 << 30)  # snapshots of 1M rows
    with Client(settings=settings) as client:
        run_id = client.runs.create(client.experiments.get_or_create("bench").id).id
        ref = client.datasets.log(reference, name="reference", run_id=run_id, snapshot=True)
        logged = client.datasets.log(current, name="current", run_id=run_id, snapshot=True)
        declared = declaration()
        for spec in declared["distribution"].values():
            spec["reference"] = {"dataset": ref.id}
        seconds, _ = _median(lambda: client.data_checks.check(logged.id, declared), repeats)
    shutil.rmtree(home, ignore_errors=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--service", action="store_true", help="also time the server-side check on an embedded store")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    figures = run(args.rows, args.repeats, args.service)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
