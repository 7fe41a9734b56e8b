"""Technical validation of a saved model: it loads in a clean process, its signature fits the
evaluation data, it is small and fast enough, and its dependencies are pinned.

Every check returns a plain dict with ``passed`` (or a measured value) and the evidence.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from modelward.errors import InvalidInput

# The data-only loader: the clean-load check never imports a model's code (a code-bearing
# model's clean load is its load in the isolated worker, see modelward.evaluation.sandbox).
DEFAULT_LOADER = "modelward.formats.loader:load_data_only"
_OUTPUT_TAIL = 2000

# Run with ``python -I``: no PYTHONPATH, no user site-packages, no current directory on sys.path,
# so the model must load from what is installed. The folder arrives as an argument, never as code.
_LOAD_SCRIPT = """
import importlib, json, sys
module_name, _, function_name = sys.argv[1].partition(":")
model = getattr(importlib.import_module(module_name), function_name)(sys.argv[2])
signature = getattr(model, "signature", None)
print(json.dumps({"type": type(model).__name__, "has_predict": hasattr(model, "predict"),
                  "has_signature": signature is not None}))
"""


def check_loads_in_clean_process(model_dir: str | Path, *, loader: str = DEFAULT_LOADER, timeout: float = 120) -> dict[str, Any]:
    """Load the model folder in a fresh isolated interpreter with ``loader`` ("module:function",
    always one of modelward's own: never a name taken from a model or a request)."""
    started = time.perf_counter()
    command = [sys.executable, "-I", "-c", _LOAD_SCRIPT, loader, str(Path(model_dir).resolve())]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"passed": False, "reason": f"loading did not finish within {timeout:g} s", "seconds": timeout}
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"passed": False, "reason": f"loading failed: {last_line}", "returncode": done.returncode,
                "seconds": seconds, "stderr": done.stderr[-_OUTPUT_TAIL:]}
    report = json.loads(done.stdout.strip().splitlines()[-1])
    passed = bool(report["has_predict"])
    reason = "the model loads in a clean process" if passed else "the loaded object has no predict method"
    return {"passed": passed, "reason": reason, "seconds": seconds, **report}


def artifact_size_mb(model_dir: str | Path) -> float:
    """Total size of the files under the folder, in MiB (symbolic links are not followed)."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a model folder")
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    return total / (1024 * 1024)


def measure_latency(model: Any, sample: Any, *, single_rows: int = 50, repeats: int = 1) -> dict[str, Any]:
    """p50/p95 of single-row predictions over up to ``single_rows`` rows, and the time of one batch."""
    if len(sample) == 0:
        raise InvalidInput("latency needs at least one row of evaluation data")
    model.predict(sample.iloc[:1])  # warm-up: first calls pay for lazy imports and caches
    timings = []
    for _ in range(repeats):
        for i in range(min(single_rows, len(sample))):
            row = sample.iloc[i:i + 1]
            started = time.perf_counter()
            model.predict(row)
            timings.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    model.predict(sample)
    batch_ms = (time.perf_counter() - started) * 1000
    return {
        "p50_latency_ms": statistics.median(timings), "p95_latency_ms": _percentile(timings, 95),
        "single_row_calls": len(timings), "batch_rows": len(sample), "batch_latency_ms": batch_ms,
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)  # nearest-rank: an observed value, never interpolated
    return ordered[rank]


def signature_check(signature: Any, columns: list[str], sample: Any = None) -> dict[str, Any]:
    """Is there a signature, and does the evaluation data hold every input it names (with fitting types)?"""
    if signature is None:
        return {"signature_present": False, "signature_matches": False,
                "reason": "the model has no signature"}
    expected = list(signature.column_names) if signature.input_kind == "dataframe" else []
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected] if expected else []
    result: dict[str, Any] = {"signature_present": True, "expected_columns": expected,
                              "missing_columns": missing, "extra_columns": extra}
    if missing:
        return {**result, "signature_matches": False,
                "reason": f"the evaluation data lacks column(s) {', '.join(missing)} named by the signature"}
    if sample is not None:
        from modelward.formats.signature import enforce

        try:
            enforce(signature, sample[expected] if expected else sample)
        except InvalidInput as exc:
            return {**result, "signature_matches": False, "reason": str(exc)}
    return {**result, "signature_matches": True, "reason": "the evaluation data fits the signature"}


def dependencies_pinned(requirements: list[str]) -> dict[str, Any]:
    """Every requirement names an exact version (``name==1.2.3``); an empty list does not pass."""
    lines = [r.strip() for r in requirements if r.strip() and not r.strip().startswith("#")]
    unpinned = [r for r in lines if "==" not in r.split(";")[0]]
    if not lines:
        return {"passed": False, "requirements": [], "unpinned": [], "reason": "the model records no requirements"}
    reason = "every requirement is pinned" if not unpinned else f"not pinned with ==: {', '.join(unpinned)}"
    return {"passed": not unpinned, "requirements": lines, "unpinned": unpinned, "reason": reason}


def requirements_of(model: Any, model_dir: str | Path | None) -> list[str] | None:
    """The model's recorded requirements: its metadata, its manifest, or requirements.txt (None if unknown)."""
    recorded = (getattr(model, "metadata", None) or {}).get("requirements")
    if recorded is not None:
        return list(recorded)
    if model_dir is None:
        return None
    folder = Path(model_dir)
    from modelward.formats import flavors

    if (folder / flavors.MANIFEST).is_file():
        return flavors.Manifest.read(folder).requirements
    if (folder / "requirements.txt").is_file():
        return (folder / "requirements.txt").read_text("utf-8").splitlines()
    return None


__all__ = [
    "DEFAULT_LOADER",
    "artifact_size_mb",
    "check_loads_in_clean_process",
    "dependencies_pinned",
    "measure_latency",
    "requirements_of",
    "signature_check",
]
