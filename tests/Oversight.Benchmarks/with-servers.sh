#!/usr/bin/env bash
# tests/Oversight.Benchmarks/with-servers.sh: runs the enforcement benchmark against a real
# PostgreSQL and Redis (as tests/run.sh starts them: throw-away, loopback only, non-default
# ports, state in a temporary folder), then stops them. Arguments go to the harness:
#
#   bash tests/Oversight.Benchmarks/with-servers.sh authorize --seconds 20 --accounts 10000 --connections 50
#
# Ports: OVERSIGHT_BENCH_PORT_REDIS (46379), OVERSIGHT_BENCH_PORT_POSTGRES (45432).
# Needs redis-server and PostgreSQL (apt-get install redis-server postgresql); run as root
# (PostgreSQL runs as the postgres user), like tests/run.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
REDIS_PORT="${OVERSIGHT_BENCH_PORT_REDIS:-46379}"
PG_PORT="${OVERSIGHT_BENCH_PORT_POSTGRES:-45432}"
STATE="$(mktemp -d /tmp/oversight-bench.XXXXXX)"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$PG_BIN/pg_ctl" ] || { echo "PostgreSQL not found (apt-get install postgresql)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server not found (apt-get install redis-server)" >&2; exit 1; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
  set +e
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1
  [ -f "$STATE/pg/data/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$STATE/pg/data" -m fast -w stop >/dev/null 2>&1
  rm -rf "$STATE"
}
trap cleanup EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
  --dir "$STATE" --logfile "$STATE/redis.log" --pidfile "$STATE/redis.pid"
mkdir -p "$STATE/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$STATE" "$STATE/pg"
as_postgres "$PG_BIN/initdb" -D "$STATE/pg/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
as_postgres "$PG_BIN/pg_ctl" -D "$STATE/pg/data" -l "$STATE/pg/postgres.log" -w \
  -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=300" start >/dev/null
for _ in $(seq 1 100); do [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done

export OVERSIGHT_TEST_USE_TESTCONTAINERS=0
export OVERSIGHT_TEST_REDIS="127.0.0.1:$REDIS_PORT"
export OVERSIGHT_TEST_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Password=postgres;Database=postgres"
unset OVERSIGHT_TEST_RABBITMQ   # the benchmark needs no events across hosts
cd "$ROOT"
dotnet run -c Release --project tests/Oversight.Benchmarks -- "$@"
