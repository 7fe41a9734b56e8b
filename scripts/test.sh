#!/usr/bin/env bash
# Install what the test suite needs and run it: the README's test command and CI's.
#   bash scripts/test.sh [pytest arguments]
# As root it installs Debian's postgresql when missing; it starts a throw-away
# PostgreSQL server for the run and stops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# WeasyPrint (PDF reports) needs Debian's pango; the PDF tests read pages with poppler's tools.
for lib in libpango-1.0-0 libpangoft2-1.0-0; do
  dpkg -s "$lib" >/dev/null 2>&1 || missing+=("$lib")
done
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
if [ "$(id -u)" = "0" ] && [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "== installing modelward with its test extras"
python -m pip install -q --disable-pip-version-check -e ".[test]"

export MODELWARD_PG_DIR=${MODELWARD_PG_DIR:-$(mktemp -d /tmp/modelward-pg.XXXXXX)}
export MODELWARD_PG_PORT=${MODELWARD_PG_PORT:-$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
stop_postgres() {
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$bin/pg_ctl" -D "$MODELWARD_PG_DIR" -m fast stop >/dev/null 2>&1 || true
  else "$bin/pg_ctl" -D "$MODELWARD_PG_DIR" -m fast stop >/dev/null 2>&1 || true; fi
  rm -rf "$MODELWARD_PG_DIR"
}
if MODELWARD_TEST_POSTGRES_URL=$(bash scripts/start-postgres.sh); then
  export MODELWARD_TEST_POSTGRES_URL
  trap stop_postgres EXIT
  echo "== PostgreSQL for the tests: $MODELWARD_TEST_POSTGRES_URL"
else
  echo "== PostgreSQL could not be started: its tests will be skipped (and fail under CI=true)"
fi

echo "== running the tests"
python -m pytest "$@"
