"""Timings the test suite does not hold (machines are shared; tests assert behaviour, not speed).

* ``compare``: ``compare_models`` on 5,000 rows, accuracy and roc_auc, 1,000 paired bootstrap
  resamples (the module promises well under a second; the old test allowed 2 s).
* ``capture``: ``capture_environment`` in a git repository, importlib caches warm (five git
  commands and one walk over the installed distributions; the old test allowed 2 s).

    python bench/small_paths.py [--repeat 5] [--repo PATH]

Prints one JSON object: per path, the median and the slowest of ``--repeat`` runs, in ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modelward.evaluation.compare import compare_models
from modelward.sdk.environment import capture_environment


def _compare() -> Callable[[], object]:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 5000)
    weak = np.clip(y * 0.2 + rng.random(len(y)) * 0.8, 0, 1)
    strong = np.clip(y * 0.5 + rng.random(len(y)) * 0.5, 0, 1)
    return lambda: compare_models(
        "classification", y, (weak > 0.5).astype(int), (strong > 0.5).astype(int),
        champion_proba=np.c_[1 - weak, weak], challenger_proba=np.c_[1 - strong, strong],
        metrics=["accuracy", "roc_auc"], n_bootstrap=1000,
    )


def _timed(call: Callable[[], object], repeat: int) -> dict[str, float]:
    call()  # warm: imports, importlib.metadata caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    print(json.dumps({
        "compare": _timed(_compare(), args.repeat),
        "capture": _timed(lambda: capture_environment(str(args.repo)), args.repeat),
    }))


if __name__ == "__main__":
    main()
