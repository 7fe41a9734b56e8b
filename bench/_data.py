"""Deterministic run contents shared by the modelward and MLflow search benchmarks.

The shape follows /work/shared/bench/mlflow_workload.py's ``run_data``: 20 params with
``p1`` cycling through x, y, z, w (25% of runs have p1 = 'x'), 10 tags, 10 metrics;
for search we log ``steps`` points per metric instead of 100 so large experiments can
be populated quickly. The same generator feeds both stores, so both searches see the
same data.
"""

from __future__ import annotations

import random

N_PARAMS = 20
N_TAGS = 10
N_METRICS = 10
SEARCH_FILTER = "metrics.m0 > 0.5 and params.p1 = 'x'"
SEARCH_ORDER = ["metrics.m1 DESC"]
SEARCH_MAX = 50


def search_run_data(i: int, base_ts: int, steps: int = 3):
    """(params, tags, keys, values, steps, timestamps_ms) for run number ``i``."""
    rnd = random.Random(1000003 * i + 17)
    params = {"p0": f"{rnd.choice([0.1, 0.01, 0.001, 0.0001])}", "p1": ["x", "y", "z", "w"][i % 4]}
    for j in range(2, N_PARAMS):
        params[f"p{j}"] = f"val_{j}_{rnd.randint(0, 9)}"
    tags = {f"t{j}": f"tag_{j}_{rnd.randint(0, 99)}" for j in range(N_TAGS)}
    keys, values, step_list, stamps = [], [], [], []
    for k in range(N_METRICS):
        for step in range(steps):
            keys.append(f"m{k}")
            values.append(rnd.random())
            step_list.append(step)
            stamps.append(base_ts + step)
    return params, tags, keys, values, step_list, stamps
