"""modelward's drift report against Evidently's DataDriftPreset, on the same data, in one run.

    python bench/drift_vs_evidently.py                      # 1,000,000 rows x 30 features
    python bench/drift_vs_evidently.py --rows 200000 --json out.json

Reference and current frames (20 numeric, 10 categorical; a shift in some of each, missing
values in two, a category only in the current data) are written once to Parquet under
bench/.cache/ (or $MW_DRIFT_CACHE). Evidently runs from its own virtualenv there
(evidently==0.7.23 with pandas<3: it does not import under pandas 3, and it would downgrade
the project's plotly), never the system site-packages; this same file is its worker.

Timed, excluding reading the Parquet files on each side:

* modelward ``drift_report`` (every value kept, all tests: PSI, KS, Wasserstein, JS, chi-square,
  missing rate), with the default reference-quantile bins and with ``binning: evidently``;
* modelward with a stored reference profile (``reference_profile`` once, then
  ``compare_to_profile`` on the current data: the production path);
* Evidently ``DataDriftPreset()`` with its defaults (for this size: normed Wasserstein for
  numeric and Jensen-Shannon for categorical columns), then the presets that give the other
  values (PSI; KS and chi-square; JS for numeric columns): the sum is what it takes Evidently
  to produce the values our one report holds.

The values are compared per method over every column where Evidently reports them (ours with
``binning: evidently`` for PSI and JS of numeric columns) and the largest absolute difference
is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVIDENTLY_VERSION = "0.7.23"
REQUIREMENTS = [f"evidently=={EVIDENTLY_VERSION}", "pandas<3", "pyarrow"]
N_NUMERIC, N_CATEGORICAL = 20, 10
# Evidently's method names (as its ValueDrift configs name them) -> our test names
METHODS = {"psi": "psi", "ks": "ks", "wasserstein": "wasserstein", "Wasserstein distance (normed)": "wasserstein",
           "jensenshannon": "jensen_shannon", "Jensen-Shannon distance": "jensen_shannon", "chisquare": "chi_square"}
# The Evidently runs: (label, num_method, cat_method); None = DataDriftPreset's own choice
EVIDENTLY_RUNS = [("default", None, None), ("psi", "psi", "psi"), ("ks+chisquare", "ks", "chisquare"),
                  ("jensenshannon (numeric)", "jensenshannon", None)]
WORKER_TIMEOUT_S = 3600


def cache_dir() -> Path:
    return Path(os.environ.get("MW_DRIFT_CACHE", HERE / ".cache"))


# -- data -------------------------------------------------------------------------------------------


def make_frames(rows: int, seed: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)

    def numeric(i: int, shifted: bool):
        shift = 0.15 if shifted and i % 4 == 0 else 0.0
        kind = i % 5
        if kind == 0:
            return rng.normal(shift, 1.0, rows)
        if kind == 1:
            return rng.lognormal(0.0 + shift, 0.5, rows)
        if kind == 2:
            return rng.uniform(0.0, 1.0 + shift, rows)
        if kind == 3:
            return rng.poisson(10 + 10 * shift, rows).astype(np.float64)  # many repeated values
        return rng.integers(0, 12 + (2 if shift else 0), rows).astype(np.float64)  # <= 20 levels

    def categorical(i: int, shifted: bool):
        levels = np.array([f"v{k}" for k in range(3 + 4 * i)], dtype=object)
        weights = np.linspace(1.0, 2.0, levels.size)
        if shifted and i % 3 == 0:
            weights = weights[::-1]
        values = rng.choice(levels, rows, p=weights / weights.sum())
        if shifted and i == 1:
            values[rng.random(rows) < 0.001] = "only-in-current"
        return values

    def frame(shifted: bool):
        data = {f"num_{i}": numeric(i, shifted) for i in range(N_NUMERIC)}
        data.update({f"cat_{i}": categorical(i, shifted) for i in range(N_CATEGORICAL)})
        df = pd.DataFrame(data)
        for column, rate in (("num_1", 0.02 if shifted else 0.01), ("cat_2", 0.05)):
            df.loc[rng.random(rows) < rate, column] = None
        return df

    return frame(False), frame(True)


def ensure_data(rows: int, seed: int) -> Path:
    folder = cache_dir() / f"drift-data-{rows}-{seed}"
    if not (folder / "current.parquet").exists():
        folder.mkdir(parents=True, exist_ok=True)
        reference, current = make_frames(rows, seed)
        reference.to_parquet(folder / "reference.parquet")
        current.to_parquet(folder / "current.parquet")
    return folder


def columns(kind: str) -> list[str]:
    return [f"num_{i}" for i in range(N_NUMERIC)] if kind == "numeric" else [f"cat_{i}" for i in range(N_CATEGORICAL)]


# -- Evidently, in its own virtualenv ------------------------------------------------------------


def ensure_venv() -> Path:
    venv = cache_dir() / f"venv-evidently-{EVIDENTLY_VERSION}"
    python = venv / "bin" / "python"
    marker = venv / ".requirements"
    if python.exists() and marker.exists() and marker.read_text() == "\n".join(REQUIREMENTS):
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    marker.write_text("\n".join(REQUIREMENTS))
    return python


def evidently_worker(data: Path, out: Path) -> None:
    """Runs under the Evidently virtualenv: times each preset, writes timings and values as JSON."""
    import warnings

    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    warnings.filterwarnings("ignore")
    reference = pd.read_parquet(data / "reference.parquet")
    current = pd.read_parquet(data / "current.parquet")
    definition = DataDefinition(numerical_columns=columns("numeric"), categorical_columns=columns("categorical"))
    result: dict = {"timings_s": {}, "values": {}, "pandas": pd.__version__}
    for label, num_method, cat_method in EVIDENTLY_RUNS:
        started = time.perf_counter()
        preset = DataDriftPreset(num_method=num_method, cat_method=cat_method)
        snapshot = Report([preset]).run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=Dataset.from_pandas(reference, data_definition=definition))
        metrics = snapshot.dict()["metrics"]
        result["timings_s"][label] = time.perf_counter() - started
        for metric in metrics:
            config = metric["config"]
            if config.get("type", "").endswith("ValueDrift"):
                test = METHODS[config["method"]]
                result["values"].setdefault(test, {})[config["column"]] = metric["value"]
        print(f"  evidently {label}: {result['timings_s'][label]:.1f} s", file=sys.stderr, flush=True)
    out.write_text(json.dumps(result))


# -- ours, and the comparison -------------------------------------------------------------------


def run_modelward(data: Path) -> tuple[dict, dict]:
    import pandas as pd

    from modelward.domain.monitoring import MonitoringPolicy
    from modelward.evaluation.drift import compare_to_profile, drift_report, reference_profile

    reference = pd.read_parquet(data / "reference.parquet")
    current = pd.read_parquet(data / "current.parquet")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    drift_report(reference, current, MonitoringPolicy())
    timings["drift_report (reference quantiles)"] = time.perf_counter() - started
    started = time.perf_counter()
    evidently_bins = drift_report(reference, current, MonitoringPolicy(binning="evidently"))
    timings["drift_report (binning: evidently)"] = time.perf_counter() - started
    started = time.perf_counter()
    profile = reference_profile(reference, MonitoringPolicy())
    timings["reference_profile (once, 10,000-value samples)"] = time.perf_counter() - started
    started = time.perf_counter()
    compare_to_profile(profile, current, MonitoringPolicy())
    timings["compare_to_profile (current data only)"] = time.perf_counter() - started
    values: dict[str, dict[str, float]] = {}
    for name, feature in evidently_bins.features.items():
        for test, result in feature.tests.items():
            if result.value is not None:
                values.setdefault(test, {})[name] = result.value
    return timings, values


def compare(ours: dict, theirs: dict) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for method, by_column in theirs.items():
        diffs = {c: abs(float(v) - ours.get(method, {}).get(c, float("nan"))) for c, v in by_column.items()}
        finite = [d for d in diffs.values() if d == d]
        table[method] = {"columns": len(by_column), "compared": len(finite),
                         "max_abs_diff": max(finite) if finite else None,
                         "worst_column": max(diffs, key=lambda c: diffs[c] if diffs[c] == diffs[c] else -1)}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", nargs=2, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        evidently_worker(Path(args.worker[0]), Path(args.worker[1]))
        return
    data = ensure_data(args.rows, args.seed)
    python = ensure_venv()
    print(f"{args.rows:,} rows x {N_NUMERIC + N_CATEGORICAL} features, reference and current", flush=True)
    ours_timings, ours_values = run_modelward(data)
    for label, seconds in ours_timings.items():
        print(f"  modelward {label}: {seconds:.2f} s", flush=True)
    out = data / "evidently.json"
    subprocess.run([str(python), __file__, "--worker", str(data), str(out)], check=True, timeout=WORKER_TIMEOUT_S)
    theirs = json.loads(out.read_text())
    evidently_default = theirs["timings_s"]["default"]
    evidently_all = sum(theirs["timings_s"].values())
    ours_report = ours_timings["drift_report (reference quantiles)"]
    result = {
        "rows": args.rows, "features": N_NUMERIC + N_CATEGORICAL,
        "modelward_s": ours_timings, "evidently_s": theirs["timings_s"],
        "speedup_vs_default_preset": evidently_default / ours_report,
        "speedup_vs_all_evidently_runs": evidently_all / ours_report,
        "values": compare(ours_values, theirs["values"]),
    }
    print(f"speed-up, our full report vs Evidently's default preset: {result['speedup_vs_default_preset']:.1f}x; "
          f"vs the {len(EVIDENTLY_RUNS)} Evidently runs giving the same values: "
          f"{result['speedup_vs_all_evidently_runs']:.1f}x")
    for method, row in result["values"].items():
        print(f"  {method:14} {row['compared']:>2}/{row['columns']:<2} columns, max |ours - evidently| = "
              f"{row['max_abs_diff']:.3g} ({row['worst_column']})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
