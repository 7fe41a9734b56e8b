#!/usr/bin/env bash
# The MLflow workload through the real mlflow client against `mlflow server` and against
# `modelward server`, one after the other on this machine, both on SQLite.
#   bash bench/server_compare.sh [small|medium] [results-folder]
# Then bench/client_overhead.py against each (how much of a call is the mlflow client itself),
# and the side-by-side table (bench/server_table.py).
set -euo pipefail
scale=${1:-medium}
out=${2:-bench/results}
workload=${MLFLOW_WORKLOAD:-../shared/bench/mlflow_workload.py}
work=$(mktemp -d /tmp/mw-server-bench.XXXXXX)
mkdir -p "$out"
wait_ready() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done; echo "server at $1 never became ready" >&2; return 1; }

echo "== mlflow server ($scale)"
mlflow server --backend-store-uri "sqlite:///$work/mlflow.db" --artifacts-destination "$work/mlflow-artifacts" \
  --host 127.0.0.1 --port 5055 --workers 1 >"$work/mlflow-server.log" 2>&1 &
mlflow_pid=$!
wait_ready http://127.0.0.1:5055/health
python "$workload" --tracking-uri http://127.0.0.1:5055 --scale "$scale" --label mlflow-server \
  --json-out "$out/server_mlflow_$scale.json" | grep -v '^{' || true
python bench/client_overhead.py --tracking-uri http://127.0.0.1:5055 >"$out/client_overhead_mlflow.json"
kill $mlflow_pid; wait $mlflow_pid 2>/dev/null || true

echo "== modelward server ($scale)"
MODELWARD_HOME="$work/modelward" modelward server --host 127.0.0.1 --port 5056 >"$work/modelward-server.log" 2>&1 &
mw_pid=$!
wait_ready http://127.0.0.1:5056/ready
python "$workload" --tracking-uri http://127.0.0.1:5056 --scale "$scale" --label modelward-server \
  --json-out "$out/server_modelward_$scale.json" | grep -v '^{' || true
python bench/client_overhead.py --tracking-uri http://127.0.0.1:5056 >"$out/client_overhead_modelward.json"
kill $mw_pid; wait $mw_pid 2>/dev/null || true
rm -rf "$work"
python bench/server_table.py "$out/server_mlflow_$scale.json" "$out/server_modelward_$scale.json"
