"""modelward's counterfactual search against DiCE (dice-ml, MIT) on the same models and inputs, in one run.

    python bench/counterfactuals.py                    # 20 rows, 3 counterfactuals each
    python bench/counterfactuals.py --json out.json

Models: a LogisticRegression (standardised inputs) and a 100-tree RandomForestClassifier, fitted
once here on scikit-learn's breast cancer data (569 rows x 30 features) and pickled under
bench/.cache/ for DiCE's worker. Inputs: 20 rows (every 28th). Each side asks for 3 counterfactuals
of the opposite class per row, with every feature free within the data's observed range (DiCE's
default ``permitted_range``; ours: ``Constraints.from_data``).

DiCE runs from its own virtualenv there (dice-ml 0.12 pulls xgboost and lightgbm; scikit-learn is
pinned to ours so the pickles load, pandas<3), never the system site-packages; this same file is its
worker. Its methods ``random`` (its default for scikit-learn models) and ``genetic`` are timed.

Both sides' counterfactuals are scored here by the same code and the same models:

* validity: the share of the returned counterfactuals the model really predicts as the other
  class (and ``rows``: the share of inputs with at least one valid counterfactual);
* proximity: mean L1 distance of the valid ones, each feature's change divided by its MAD in the
  training data (what our search minimises; DiCE's own proximity is this divided by the number of
  features);
* sparsity: mean number of features a valid counterfactual changes;
* time per counterfactual: wall time of the search for all rows / counterfactuals returned.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DICE_VERSION = "0.12"
REQUIREMENTS = [f"dice-ml=={DICE_VERSION}", "scikit-learn==1.9.1", "pandas<3"]
DICE_METHODS = ("random", "genetic")
ROWS, COUNT, SEED = 20, 3, 0
WORKER_TIMEOUT_S = 3600


def cache_dir() -> Path:
    return Path(os.environ.get("MW_CF_CACHE", HERE / ".cache"))


def data():  # type: ignore[no-untyped-def]
    from sklearn.datasets import load_breast_cancer

    loaded = load_breast_cancer(as_frame=True)
    return loaded.data, loaded.target


def models(X, y) -> dict:  # type: ignore[no-untyped-def]
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y),
        "random forest (100 trees)": RandomForestClassifier(n_estimators=100, random_state=SEED, n_jobs=1).fit(X, y),
    }


def query_rows(X):  # type: ignore[no-untyped-def]
    return X.iloc[::28].head(ROWS)


# -- DiCE, in its own virtualenv ---------------------------------------------------------------------


def ensure_venv() -> Path:
    venv = cache_dir() / f"venv-dice-{DICE_VERSION}"
    python = venv / "bin" / "python"
    marker = venv / ".requirements"
    if python.exists() and marker.exists() and marker.read_text() == "\n".join(REQUIREMENTS):
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    marker.write_text("\n".join(REQUIREMENTS))
    return python


def dice_worker(folder: Path, out: Path) -> None:
    """Runs under the DiCE virtualenv: each model, each method, each row; the counterfactual rows and times."""
    import warnings

    import dice_ml
    import pandas as pd

    warnings.filterwarnings("ignore")
    bundle = pickle.loads((folder / "bundle.pkl").read_bytes())
    features, fitted = bundle["columns"], bundle["models"]
    train = pd.DataFrame(bundle["train"], columns=features).assign(target=bundle["target"])
    queries = pd.DataFrame(bundle["queries"], columns=features)
    description = dice_ml.Data(dataframe=train, continuous_features=features, outcome_name="target")
    result: dict = {}
    for label, model in fitted.items():
        wrapped = dice_ml.Model(model=model, backend="sklearn")
        for method in DICE_METHODS:
            explainer = dice_ml.Dice(description, wrapped, method=method)
            rows, seconds = [], 0.0
            for index in range(len(queries)):
                started = time.perf_counter()
                try:
                    seeded = {"random_seed": SEED} if method == "random" else {}  # genetic takes none
                    found = explainer.generate_counterfactuals(queries.iloc[[index]], total_CFs=COUNT,
                                                               desired_class="opposite", verbose=False, **seeded)
                    frame = found.cf_examples_list[0].final_cfs_df
                    rows.append([] if frame is None else frame[features].to_dict("records"))
                except Exception as exc:  # noqa: BLE001  DiCE says it found none by raising
                    rows.append([])
                    print(f"  dice {method} {label} row {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
                seconds += time.perf_counter() - started
            result.setdefault(label, {})[method] = {"rows": rows, "seconds": seconds}
            print(f"  dice {method} {label}: {seconds:.1f} s", file=sys.stderr, flush=True)
    out.write_text(json.dumps(result))


# -- ours, and the scoring ------------------------------------------------------------------------------


def run_modelward(fitted: dict, X, queries) -> dict:  # type: ignore[no-untyped-def]
    from modelward.evaluation.counterfactuals import Constraints, search

    constraints = Constraints.from_data(X)
    result = {}
    for label, model in fitted.items():
        rows, started = [], time.perf_counter()
        for index in range(len(queries)):
            found = search(model, queries.iloc[[index]], constraints=constraints, count=COUNT, seed=SEED)
            rows.append([cf.values for cf in found])
        result[label] = {"rows": rows, "seconds": time.perf_counter() - started}
    return result


def score(model, X, queries, rows: list[list[dict]], seconds: float) -> dict:  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    mad = (X - X.median()).abs().median().to_numpy()
    original = model.predict(queries)
    returned = valid = rows_with_valid = 0
    distances, changed = [], []
    for index, found in enumerate(rows):
        if not found:
            continue
        frame = pd.DataFrame(found)[list(X.columns)].astype(float)
        returned += len(frame)
        flipped = model.predict(frame) != original[index]
        valid += int(flipped.sum())
        rows_with_valid += int(flipped.any())
        delta = np.abs(frame.to_numpy() - queries.iloc[index].to_numpy(dtype=float))[flipped]
        distances.extend((delta / mad).sum(axis=1))
        changed.extend((delta > 1e-9).sum(axis=1))
    return {"returned": returned, "validity": valid / returned if returned else None,
            "rows_with_valid": rows_with_valid / len(rows),
            "proximity_l1_mad": float(np.mean(distances)) if distances else None,
            "sparsity": float(np.mean(changed)) if changed else None,
            "seconds_per_counterfactual": seconds / returned if returned else None, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", nargs=2, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        dice_worker(Path(args.worker[0]), Path(args.worker[1]))
        return
    X, y = data()
    fitted = models(X, y)
    queries = query_rows(X)
    folder = cache_dir() / "counterfactuals"
    folder.mkdir(parents=True, exist_ok=True)
    bundle = {"models": fitted, "columns": list(X.columns), "train": X.to_numpy(), "target": y.to_numpy(),
              "queries": queries.to_numpy()}  # numpy arrays: the worker's pandas is another major version
    (folder / "bundle.pkl").write_bytes(pickle.dumps(bundle))  # our own file, read by our own worker
    python = ensure_venv()
    print(f"breast cancer: {len(X)} rows x {X.shape[1]} features; {len(queries)} inputs, {COUNT} counterfactuals "
          "each, the opposite class", flush=True)
    ours = run_modelward(fitted, X, queries)
    out = folder / "dice.json"
    subprocess.run([str(python), __file__, "--worker", str(folder), str(out)], check=True, timeout=WORKER_TIMEOUT_S,
                   env={**os.environ, "TQDM_DISABLE": "1"})
    theirs = json.loads(out.read_text())
    table: dict = {}
    for label, model in fitted.items():
        table[label] = {"modelward": score(model, X, queries, ours[label]["rows"], ours[label]["seconds"])}
        for method in DICE_METHODS:
            run = theirs[label][method]
            table[label][f"dice {method}"] = score(model, X, queries, run["rows"], run["seconds"])
    for label, sides in table.items():
        print(label)
        for side, row in sides.items():
            print(f"  {side:14} returned {row['returned']:>3}, validity {_f(row['validity'], '.0%')} "
                  f"(rows with one: {_f(row['rows_with_valid'], '.0%')}), proximity {_f(row['proximity_l1_mad'], '.2f')}, "
                  f"sparsity {_f(row['sparsity'], '.2f')}, {_f(row['seconds_per_counterfactual'], '.3f')} s per "
                  "counterfactual", flush=True)
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))


def _f(value, spec: str) -> str:  # type: ignore[no-untyped-def]
    return "-" if value is None else format(value, spec)


if __name__ == "__main__":
    main()
