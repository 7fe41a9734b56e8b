#!/usr/bin/env bash
# docs/deploy.md's recipe on one machine: PostgreSQL (Debian's packages, via start-postgres.sh),
# moto's server mode as S3, `modelward db upgrade` once, three `modelward server` processes and
# the tests' round-robin in front of them on http://127.0.0.1:${MODELWARD_CLUSTER_PORT:-5000}.
# Ctrl-C stops everything it started. Run from the repository's root.
set -euo pipefail

cd "$(dirname "$0")/.."
POSTGRES_URL=${MODELWARD_TEST_POSTGRES_URL:-$(scripts/start-postgres.sh)}
exec python -m tests.fixtures.cluster --postgres "$POSTGRES_URL" \
  --processes "${MODELWARD_CLUSTER_PROCESSES:-3}" --port "${MODELWARD_CLUSTER_PORT:-5000}" "$@"
