#!/usr/bin/env bash
# Run the modelward SDK benchmark and the MLflow baseline, saving JSON under bench/results/.
#
# The source tree changes under concurrent work, so modelward is measured from a clean
# snapshot of HEAD (git archive) put first on PYTHONPATH; the commit is recorded in the JSON.
# Each step stays under ~3 minutes on a 2-core machine.
#
#   bench/run_all.sh                 # everything
#   PY=/path/to/python bench/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/tmp/venv1/bin/python}
RESULTS=bench/results
mkdir -p "$RESULTS"
SNAP=$(mktemp -d /tmp/modelward-snap-XXXX)
COMMIT=$(git rev-parse --short HEAD)
git archive HEAD src | tar -x -C "$SNAP"
export PYTHONPATH="$SNAP/src" BENCH_SRC_COMMIT="$COMMIT"
echo "measuring modelward at $COMMIT from $SNAP; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. ingest paths: bulk log_metric_columns, fluent background log_metric, synchronous log_metric
"$PY" bench/sdk_bench.py --phases bulk,fluent,sync --json-out "$RESULTS/modelward_ingest.json" | grep -v '^{'
# 2. search at 1,000 and 10,000 runs (first 1,000 runs created through the SDK, the rest via the store)
SEARCH_HOME=${BENCH_SEARCH_HOME:+--home $BENCH_SEARCH_HOME}  # keep the populated store for bench/profile_paths.py
"$PY" bench/sdk_bench.py --phases search --search-sizes 1000,10000 $SEARCH_HOME --json-out "$RESULTS/modelward_search.json" | grep -v '^{'
# 3. MLflow in-process baseline: the shared workload (small scale) + a 1,000-run search
unset PYTHONPATH
"$PY" bench/compare_mlflow.py --scale small --search-runs 1000 --results "$RESULTS"
rm -rf "$SNAP"
