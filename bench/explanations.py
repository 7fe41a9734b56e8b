"""Explanations through modelward against shap, scikit-learn and DiCE directly, in one run (issue 15, item 7).

    python bench/explanations.py --out bench/results/explanations.json [--warm 30] [--profile]

The model: a RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1) fitted here on
10,000 x 30 synthetic rows (``make_classification``, seeded; 8 informative features). It is saved
with skops and registered in a temporary modelward store (SQLite and local files in a temporary
folder), with those 10,000 rows (and their label) as its policy's evaluation dataset. Every
modelward figure is taken through the SDK's embedded ``Client`` (the REST app in this process,
over the in-process transport: the same routes, validation and JSON as a remote call, no
network), so it includes loading the version the safe way (blobs verified, folder digest
checked, skops data-only) and reading the dataset from the artifact store.

Side by side, on the same rows and the same fitted object:

* global: ``client.explain.global_`` (permutation importance, 5 repeats on every row; partial
  dependence of the top 10 features; mean |SHAP| of 200 sampled rows against a 50-row background;
  the document stored as a new revision) against scikit-learn's ``permutation_importance`` (same
  repeats, accuracy) plus ``partial_dependence`` (the same grids) plus ``shap.TreeExplainer`` on
  the same 200 rows and background, called directly;
* local: ``client.explain.local`` of one row, the first call (cold: nothing loaded or imported) and then
  ``--warm`` calls (median, p95), against ``shap.TreeExplainer`` built and applied to that one row
  directly (median of the same number of calls);
* counterfactual: ``client.explain.counterfactuals`` of the same row (1 counterfactual of the
  opposite class, every feature free within the data's range), cold (the caches emptied first) then
  warm, against DiCE
  (dice-ml 0.12, method ``random``, its default for scikit-learn; 1 counterfactual, desired class
  ``opposite``), its explainer built once, then timed per call on the same row. DiCE runs in its
  own virtualenv (``bench/counterfactuals.py`` builds it); this file is its worker.

``--profile`` prints a cProfile of warm local and counterfactual calls of the services the routes
call (top 30 by cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pickle
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROWS, FEATURES, TREES, SEED = 10_000, 30, 100, 0
MODEL = "forest-10k"
QUERY_ROW = 17
DICE_CALLS = 10
WORKER_TIMEOUT_S = 1800


def data():  # type: ignore[no-untyped-def]
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=ROWS, n_features=FEATURES, n_informative=8, n_redundant=4,
                               random_state=SEED)
    frame = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(FEATURES)])
    return frame, pd.Series(y, name="target")


def fitted(X, y):  # type: ignore[no-untyped-def]
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=TREES, random_state=SEED, n_jobs=1).fit(X, y)


def timed(call) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def cpu_timed(call) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Wall and CPU seconds of ``call``; CPU is the whole process's (the embedded app's thread included)."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def spread(seconds: list[float], cpu: list[float] | None = None) -> dict[str, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    found = {"median_ms": 1000 * statistics.median(ordered), "p95_ms": 1000 * p95, "calls": len(ordered)}
    if cpu:
        found["cpu_median_ms"] = 1000 * statistics.median(cpu)
    return found


# -- the store -------------------------------------------------------------------------------------


def registered(home: Path, model, frame) -> int:  # type: ignore[no-untyped-def]
    """Register ``model`` (skops) with ``frame`` (features and target) as its policy's evaluation dataset."""
    from modelward import models
    from modelward.domain.actors import Actor, Role
    from modelward.services import artifacts, experiments, policies, registry, runs
    from modelward.services.backend import Backend
    from modelward.settings import Settings

    admin, author = Actor(name="root"), Actor(name="alice", roles=frozenset({Role.CONTRIBUTOR}))
    backend = Backend.from_settings(Settings(home=home))
    try:
        experiment = experiments.create(backend, "bench-explanations").id
        data_run = runs.start(backend, admin, experiment_id=experiment)
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        artifacts.upload(backend, data_run.id, "data/eval.parquet", io.BytesIO(buffer.getvalue()), actor=admin)
        policies.set_policy(backend, admin, f"model: {MODEL}\nlabel: target\n"
                            f"evaluation_dataset: {{run_id: {data_run.id}, path: data/eval.parquet}}\n")
        run = runs.start(backend, author, experiment_id=experiment)
        with tempfile.TemporaryDirectory() as tmp:
            folder = models.save(model, Path(tmp) / "model", input_example=frame.drop(columns=["target"]).head())
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                artifacts.upload(backend, run.id, f"model/{path.relative_to(folder).as_posix()}",
                                 io.BytesIO(path.read_bytes()), actor=author)
        return registry.register_version(backend, author, MODEL, run_id=run.id).version
    finally:
        backend.close()


# -- modelward and directly, interleaved -----------------------------------------------------------------


def run_side_by_side(home: Path, version: int, model, X, y, row_frame, warm: int,  # type: ignore[no-untyped-def]
                     profile: bool) -> tuple[dict, dict]:
    """modelward through the embedded client and the same work directly, each warm call of one side
    followed by one of the other, so the machine's load falls on both alike."""
    import numpy as np
    import shap
    from sklearn.inspection import partial_dependence, permutation_importance

    import modelward
    from modelward.evaluation.explain import MAX_SHAP_ROWS, PD_GRID, background
    from modelward.services import analysis_cache
    from modelward.settings import Settings

    row = {str(k): float(v) for k, v in row_frame.iloc[0].items()}
    base = background(X, SEED)
    parts: dict[str, float] = {}

    def direct_global() -> list[str]:
        started = time.perf_counter()
        found = permutation_importance(model, X, y, scoring="accuracy", n_repeats=5, random_state=SEED)
        leaders = [X.columns[i] for i in np.argsort(-found.importances_mean)[:10]]
        parts["permutation_importance_s"] = time.perf_counter() - started
        started = time.perf_counter()
        for name in leaders:
            grid = np.unique(np.quantile(X[name].to_numpy(), np.linspace(0.05, 0.95, PD_GRID)))
            partial_dependence(model, X, [name], custom_values={name: grid}, kind="average",
                               response_method="predict_proba", method="brute")
        parts["partial_dependence_s"] = time.perf_counter() - started
        started = time.perf_counter()
        rows = X.sample(min(len(X), MAX_SHAP_ROWS), random_state=SEED)
        shap.TreeExplainer(model, data=base, feature_perturbation="interventional", model_output="raw")(
            rows, check_additivity=False)
        parts["shap_s"] = time.perf_counter() - started
        return leaders

    def direct_local() -> object:
        explainer = shap.TreeExplainer(model, data=base, feature_perturbation="interventional", model_output="raw")
        return explainer(row_frame, check_additivity=False)

    client = modelward.Client(settings=Settings(home=home))
    explain = client.explain
    try:
        def ours_local() -> object:
            return explain.local(MODEL, version, row)

        def ours_cf() -> dict:
            return explain.counterfactuals(MODEL, version, row, count=1)

        cold_local, _ = timed(ours_local)  # loads the model and reads the data (shap is imported above)
        direct_cold, _ = timed(direct_local)
        local_ours: list[tuple[float, float]] = []
        local_direct: list[tuple[float, float]] = []
        for _ in range(warm):
            local_ours.append(cpu_timed(ours_local))
            local_direct.append(cpu_timed(direct_local))
        analysis_cache.clear()  # the embedded app shares this process: its counterfactual starts cold too
        cold_cf, found = timed(ours_cf)
        warm_cf = [cpu_timed(ours_cf) for _ in range(warm)]
        if profile:
            _profile_services(home, version, row)
        global_ours = cpu_timed(lambda: explain.global_(MODEL, version))
        document = explain.latest(MODEL, version)
    finally:
        client.close()
    global_direct_cpu = time.process_time()
    global_direct_s, leaders = timed(direct_global)
    global_direct_cpu = time.process_time() - global_direct_cpu
    ours = {
        "global_s": global_ours[0], "global_cpu_s": global_ours[1], "global_shap_rows": document["shap"]["rows"],
        "global_top": [item["feature"] for item in document["permutation_importance"][:5]],
        "global_shap_top": [item["feature"] for item in document["shap"]["mean_abs"][:5]],
        "local_cold_ms": 1000 * cold_local,
        "local_warm": spread([w for w, _ in local_ours], [c for _, c in local_ours]),
        "counterfactual_cold_ms": 1000 * cold_cf,
        "counterfactual_warm": spread([w for w, _ in warm_cf], [c for _, c in warm_cf]),
        "counterfactual_found": len(found["counterfactuals"]), "counterfactual_evaluations": found["evaluations"],
    }
    direct = {"global_s": global_direct_s, "global_cpu_s": global_direct_cpu, "global_parts": parts,
              "global_top": leaders[:5], "local_cold_ms": 1000 * direct_cold,
              "local_warm": spread([w for w, _ in local_direct], [c for _, c in local_direct])}
    return ours, direct


def _profile_services(home: Path, version: int, row: dict) -> None:
    """cProfile the services the routes call (the app runs them on another thread, out of a profiler's sight)."""
    from modelward.services import counterfactuals, explanations
    from modelward.services.backend import Backend
    from modelward.settings import Settings

    backend = Backend.from_settings(Settings(home=home))
    try:
        _profile("local, warm", lambda: explanations.local(backend, MODEL, version, row))
        _profile("counterfactual, warm", lambda: counterfactuals.for_version(backend, MODEL, version, row, count=1))
    finally:
        backend.close()


def _profile(what: str, call, repeat: int = 5) -> None:  # type: ignore[no-untyped-def]
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        call()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    print(f"--- cProfile: {repeat} x {what}\n{out.getvalue()}", flush=True)


# -- DiCE, in its own virtualenv ----------------------------------------------------------------------


def dice_worker(folder: Path, out: Path) -> None:
    """Runs under DiCE's virtualenv: the explainer built once, then DICE_CALLS calls on the row."""
    import warnings

    import dice_ml
    import pandas as pd

    warnings.filterwarnings("ignore")
    bundle = pickle.loads((folder / "bundle.pkl").read_bytes())  # our own file, written by main()
    features = bundle["columns"]
    train = pd.DataFrame(bundle["train"], columns=features).assign(target=bundle["target"])
    query = pd.DataFrame([bundle["query"]], columns=features)
    started = time.perf_counter()
    description = dice_ml.Data(dataframe=train, continuous_features=features, outcome_name="target")
    explainer = dice_ml.Dice(description, dice_ml.Model(model=bundle["model"], backend="sklearn"), method="random")
    setup_s = time.perf_counter() - started
    seconds, cpu_seconds, found = [], [], []
    for _ in range(DICE_CALLS):
        started, cpu = time.perf_counter(), time.process_time()
        result = explainer.generate_counterfactuals(query, total_CFs=1, desired_class="opposite", verbose=False,
                                                    random_seed=SEED)
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu)
        frame = result.cf_examples_list[0].final_cfs_df
        found.append(0 if frame is None else len(frame))
    out.write_text(json.dumps({"setup_s": setup_s, "seconds": seconds, "cpu_seconds": cpu_seconds, "found": found}))


def run_dice(model, X, y, row_frame) -> dict:  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(HERE))
    from counterfactuals import cache_dir, ensure_venv

    folder = cache_dir() / "explanations"
    folder.mkdir(parents=True, exist_ok=True)
    bundle = {"model": model, "columns": list(X.columns), "train": X.to_numpy(), "target": y.to_numpy(),
              "query": row_frame.to_numpy()[0]}
    (folder / "bundle.pkl").write_bytes(pickle.dumps(bundle))  # for our own worker, never a stored model
    out = folder / "dice.json"
    python = ensure_venv()
    subprocess.run([str(python), __file__, "--worker", str(folder), str(out)], check=True, timeout=WORKER_TIMEOUT_S,
                   env={**os.environ, "TQDM_DISABLE": "1"})
    found = json.loads(out.read_text())
    return {"setup_s": found["setup_s"], "counterfactual_cold_ms": 1000 * found["seconds"][0],
            "counterfactual_warm": spread(found["seconds"][1:], found["cpu_seconds"][1:]),
            "counterfactual_found": found["found"]}


# -- main -----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    parser.add_argument("--warm", type=int, default=30, help="warm calls per measurement")
    parser.add_argument("--profile", action="store_true", help="cProfile the warm local and counterfactual calls")
    parser.add_argument("--skip-dice", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        dice_worker(Path(args.worker[0]), Path(args.worker[1]))
        return
    X, y = data()
    fit_s, model = timed(lambda: fitted(X, y))
    row_frame = X.iloc[[QUERY_ROW]]
    print(f"{ROWS} rows x {FEATURES} features; RandomForestClassifier({TREES} trees) fitted in {fit_s:.1f} s",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="mw-bench-explain-") as tmp:
        home = Path(tmp)
        version = registered(home, model, X.assign(target=y))
        ours, direct = run_side_by_side(home, version, model, X, y, row_frame, args.warm, args.profile)
    dice = None if args.skip_dice else run_dice(model, X, y, row_frame)
    report = {"rows": ROWS, "features": FEATURES, "trees": TREES, "warm_calls": args.warm,
              "cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "modelward": ours, "direct": direct,
              "dice_random": dice}
    _print(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


def _print(report: dict) -> None:
    ours, direct, dice = report["modelward"], report["direct"], report["dice_random"]

    def ratio(a: float, b: float | None) -> str:
        return f"{a / b:.2f}x" if b else ""

    lw, dw = ours["local_warm"], direct["local_warm"]
    cw, xw = ours["counterfactual_warm"], (dice or {}).get("counterfactual_warm")
    lines = [
        ("global explanation, wall (s)", ours["global_s"], direct["global_s"], "{:.1f}"),
        ("global explanation, CPU (s)", ours["global_cpu_s"], direct["global_cpu_s"], "{:.1f}"),
        ("local, cold (ms)", ours["local_cold_ms"], direct["local_cold_ms"], "{:.0f}"),
        ("local, warm median (ms)", lw["median_ms"], dw["median_ms"], "{:.0f}"),
        ("local, warm p95 (ms)", lw["p95_ms"], dw["p95_ms"], "{:.0f}"),
        ("local, warm CPU median (ms)", lw["cpu_median_ms"], dw["cpu_median_ms"], "{:.0f}"),
        ("counterfactual, cold (ms)", ours["counterfactual_cold_ms"], dice and dice["counterfactual_cold_ms"],
         "{:.0f}"),
        ("counterfactual, warm median (ms)", cw["median_ms"], xw and xw["median_ms"], "{:.0f}"),
        ("counterfactual, warm p95 (ms)", cw["p95_ms"], xw and xw["p95_ms"], "{:.0f}"),
        ("counterfactual, warm CPU median (ms)", cw["cpu_median_ms"], xw and xw["cpu_median_ms"], "{:.0f}"),
    ]
    print(f"{'':38}{'modelward':>11}{'direct':>11}{'ratio':>9}")
    for name, a, b, spec in lines:
        print(f"{name:38}{spec.format(a):>11}{spec.format(b) if b is not None else '-':>11}{ratio(a, b):>9}")
    print("direct: scikit-learn + shap.TreeExplainer for global and local; DiCE random for the counterfactual")
    print("direct global, by part: " + ", ".join(f"{k.removesuffix('_s')} {v:.1f} s"
                                                 for k, v in direct["global_parts"].items()))
    print(f"load average at the end: {', '.join(f'{v:.1f}' for v in report['load_average'])}")


if __name__ == "__main__":
    main()
