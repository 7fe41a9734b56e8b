#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for the test suite and print its URL.
# Uses Debian's postgresql package (installed by scripts/test.sh when missing).
# Data lives in $MODELWARD_PG_DIR (default /tmp/modelward-pg); port $MODELWARD_PG_PORT (55432).
set -euo pipefail

PG_DIR=${MODELWARD_PG_DIR:-/tmp/modelward-pg}
PG_PORT=${MODELWARD_PG_PORT:-55432}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$BIN" ]; then
  echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 1
fi

as_postgres() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if ! as_postgres "$BIN/pg_ctl" -D "$PG_DIR" status >/dev/null 2>&1; then
  if [ ! -f "$PG_DIR/PG_VERSION" ]; then
    mkdir -p "$PG_DIR"
    [ "$(id -u)" = "0" ] && chown postgres:postgres "$PG_DIR"
    as_postgres "$BIN/initdb" -D "$PG_DIR" -U modelward -A trust --no-sync >/dev/null
  fi
  as_postgres "$BIN/pg_ctl" -D "$PG_DIR" -l "$PG_DIR/server.log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=300" start >/dev/null
fi
echo "postgresql://modelward@127.0.0.1:$PG_PORT/postgres"
