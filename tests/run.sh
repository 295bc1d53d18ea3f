#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions below run from traps
# tests/run.sh — THE test command of Oversight (README, CI via .ci/run).
#
#   tests/run.sh                          # everything
#   tests/run.sh --filter Category=Unit   # any extra arguments go to `dotnet test`
#
# What it does, every time, on a fresh Debian 12 machine (run as root; CI runs it with
# CI=true and no stdin):
#   1. If a Docker engine answers (DOCKER_HOST set, or /var/run/docker.sock answers), it
#      starts no server and exports OVERSIGHT_TEST_USE_TESTCONTAINERS=1: the tests start
#      pinned Testcontainers themselves (tests/Oversight.Testing/TestServers.cs).
#      OVERSIGHT_TEST_USE_TESTCONTAINERS=0 forces local servers, =1 forces Testcontainers.
#   2. Otherwise it installs what is missing with apt (redis-server, rabbitmq-server,
#      postgresql) and starts throw-away servers bound to 127.0.0.1 only, on NON-default
#      ports, with all state under .test-servers/ (git-ignored, wiped at every start):
#        Redis       127.0.0.1:16379  (no persistence)
#        RabbitMQ    127.0.0.1:15673  AMQP, guest/guest; node rabbit-oversight-test-15673@localhost,
#                    distribution port 25673, its own epmd on 127.0.0.1:14369
#        PostgreSQL  127.0.0.1:15432  user postgres, trust auth, fsync=off
#      Leftovers of an earlier run (found through the pid files under .test-servers/) are
#      killed first. A port still taken by anything else fails the run (no guessing):
#      move them with OVERSIGHT_TEST_PORT_{REDIS,RABBITMQ,RABBITMQ_DIST,EPMD,POSTGRES}.
#      A server that does not come up fails the run, naming it and printing its log tail.
#   3. Runs `dotnet test Oversight.sln -c Release` with a trx logger into TestResults/.
#   4. Whatever happens (success, failure, Ctrl-C, TERM), stops every server it started
#      (and every private server a test left behind under .test-servers/private/), then
#      prints as its very last line `N passed, N failed` (`, N skipped` when some were not
#      executed), summed over the trx files. Exit status is non-zero when a test failed,
#      when `dotnet test` failed (e.g. build error) or when no trx file was produced.
#
# Environment exported to the tests (read by Oversight.Testing.TestServers):
#   OVERSIGHT_TEST_REDIS            127.0.0.1:16379   (StackExchange.Redis configuration)
#   OVERSIGHT_TEST_RABBITMQ         amqp://guest:guest@127.0.0.1:15673/
#   OVERSIGHT_TEST_POSTGRES         Host=127.0.0.1;Port=15432;Username=postgres;Password=postgres;Database=postgres
#   OVERSIGHT_TEST_STATE_DIR        .test-servers/ (absolute); tests that stop a server start
#                                   their OWN instance under $OVERSIGHT_TEST_STATE_DIR/private/
#   OVERSIGHT_TEST_REDIS_SERVER_BIN path of redis-server (for private instances)
#   OVERSIGHT_TEST_RABBITMQ_BIN_DIR directory holding rabbitmq-server and rabbitmqctl
#   OVERSIGHT_TEST_EPMD_PORT        epmd port used by every test RabbitMQ node (14369)
#   OVERSIGHT_TEST_USE_TESTCONTAINERS  1 when a Docker engine is used instead
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Erlang keeps its cookie in $HOME; CI's environment may not set it.
if [ -z "${HOME:-}" ]; then HOME="$(getent passwd "$(id -u)" | cut -d: -f6)"; export HOME; fi

STATE="$ROOT/.test-servers"

# One run at a time per checkout: a second run waits here instead of killing the first
# one's servers as "leftovers". flock -o keeps the lock in flock itself, so that no server
# started below inherits it.
if [ -z "${OVERSIGHT_TEST_RUN_LOCKED:-}" ]; then
  export OVERSIGHT_TEST_RUN_LOCKED=1
  exec flock -o "$ROOT/.test-servers.lock" bash "${BASH_SOURCE[0]}" "$@"
fi
RESULTS="$ROOT/TestResults"
# Results of an earlier run must never be counted as this run's.
rm -rf "$RESULTS"

# Ports can be moved (e.g. two checkouts on one machine) with OVERSIGHT_TEST_PORT_*.
REDIS_PORT="${OVERSIGHT_TEST_PORT_REDIS:-16379}"
AMQP_PORT="${OVERSIGHT_TEST_PORT_RABBITMQ:-15673}"
RABBIT_DIST_PORT="${OVERSIGHT_TEST_PORT_RABBITMQ_DIST:-25673}"
EPMD_PORT="${OVERSIGHT_TEST_PORT_EPMD:-14369}"
PG_PORT="${OVERSIGHT_TEST_PORT_POSTGRES:-15432}"
RABBIT_NODE="rabbit-oversight-test-$AMQP_PORT@localhost"
RABBIT_BIN_DIR="/usr/lib/rabbitmq/bin"   # direct scripts, not the /usr/sbin wrapper that su's to rabbitmq

STARTED_REDIS=0
STARTED_RABBIT=0
STARTED_EPMD=0
STARTED_PG=0
PG_DATA=""
PG_BIN=""
DOTNET_PGID=""
DOTNET_RC=""
FINISHED=0

log() { printf '[run.sh] %s\n' "$*"; }
die() { printf '[run.sh] ERROR: %s\n' "$*" >&2; exit 1; }
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
read_pid() { cat "$1" 2>/dev/null | head -n 1 | tr -dc '0-9' || true; }
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
kill_pid() { # kill_pid PID: TERM, wait up to 10 s, then KILL
  local pid="$1"
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do pid_alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
tail_log() { # tail_log NAME FILE...
  local name="$1"; shift
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    printf '[run.sh] ---- last lines of %s log %s ----\n' "$name" "$f" >&2
    tail -n 40 "$f" >&2 || true
  done
}
rabbit_env() {
  export RABBITMQ_NODENAME="$RABBIT_NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$AMQP_PORT" RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT" \
    ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$EPMD_PORT" \
    RABBITMQ_MNESIA_BASE="$STATE/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$STATE/rabbitmq/log" \
    RABBITMQ_PID_FILE="$STATE/rabbitmq/rabbit.pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$STATE/rabbitmq/enabled_plugins" \
    RABBITMQ_CONFIG_FILE="$STATE/rabbitmq/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$STATE/rabbitmq/advanced.config" \
    RABBITMQ_CONF_ENV_FILE="$STATE/rabbitmq/rabbitmq-env.conf"
}

# ---------------------------------------------------------------- leftovers, cleanup
kill_private_leftovers() {
  # Private servers started by tests (Oversight.Testing RedisServerInstance /
  # RabbitMqServerInstance) write *.pid files under $STATE/private.
  [ -d "$STATE/private" ] || return 0
  local f pid
  while IFS= read -r f; do
    pid="$(read_pid "$f")"
    if pid_alive "$pid" && grep -qaE 'redis-server|beam' "/proc/$pid/cmdline" 2>/dev/null; then
      log "stopping private test server left behind (pid $pid, $f)"
      kill_pid "$pid"
    fi
  done < <(find "$STATE/private" -name '*.pid' -type f 2>/dev/null)
}

kill_leftovers() {
  # Servers of an earlier run of this script that was killed before it could clean up.
  local pid f
  f="$STATE/redis/redis.pid"
  if [ -f "$f" ]; then
    pid="$(read_pid "$f")"
    if pid_alive "$pid" && grep -qa redis-server "/proc/$pid/cmdline" 2>/dev/null; then
      log "killing leftover Redis (pid $pid)"; kill_pid "$pid"
    fi
  fi
  f="$STATE/rabbitmq/rabbit.pid"
  if [ -f "$f" ]; then
    pid="$(read_pid "$f")"
    if pid_alive "$pid" && grep -qa beam "/proc/$pid/cmdline" 2>/dev/null; then
      log "killing leftover RabbitMQ (pid $pid)"; kill_pid "$pid"
    fi
  fi
  kill_private_leftovers
  if [ -f "$STATE/postgres.datadir" ]; then
    local d; d="$(cat "$STATE/postgres.datadir")"
    if [ -f "$d/postmaster.pid" ]; then
      pid="$(read_pid "$d/postmaster.pid")"
      if pid_alive "$pid"; then log "killing leftover PostgreSQL (pid $pid)"; kill_pid "$pid"; fi
    fi
    case "$d" in
      "$STATE"/*) rm -rf "$d" ;;
      /tmp/oversight-test-pg.*) rm -rf "$(dirname "$d")" ;;
    esac
  fi
  # Our own epmd (non-default port, so it is never someone else's).
  if command -v epmd >/dev/null 2>&1 && ERL_EPMD_PORT="$EPMD_PORT" epmd -names >/dev/null 2>&1; then
    log "killing leftover epmd on port $EPMD_PORT"
    ERL_EPMD_PORT="$EPMD_PORT" epmd -kill >/dev/null 2>&1 || true
  fi
}

stop_servers() {
  set +e
  kill_private_leftovers
  if [ "$STARTED_REDIS" = 1 ]; then
    log "stopping Redis"
    timeout 20 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1
    kill_pid "$(read_pid "$STATE/redis/redis.pid")"
  fi
  if [ "$STARTED_RABBIT" = 1 ]; then
    log "stopping RabbitMQ"
    rabbit_env
    timeout 60 "$RABBIT_BIN_DIR/rabbitmqctl" shutdown >/dev/null 2>&1
    kill_pid "$(read_pid "$STATE/rabbitmq/rabbit.pid")"
  fi
  if [ "$STARTED_EPMD" = 1 ]; then
    ERL_EPMD_PORT="$EPMD_PORT" epmd -kill >/dev/null 2>&1
  fi
  if [ "$STARTED_PG" = 1 ]; then
    log "stopping PostgreSQL"
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      kill_pid "$(read_pid "$PG_DATA/postmaster.pid")"
    cp "$(dirname "$PG_DATA")/postgres.log" "$STATE/postgres.log" 2>/dev/null
    rm -rf "$PG_DATA"
    case "$PG_DATA" in /tmp/oversight-test-pg.*) rm -rf "$(dirname "$PG_DATA")" ;; esac
  fi
  # Data is thrown away; logs stay in .test-servers/ for inspection until the next run.
  rm -rf "$STATE/rabbitmq/mnesia" 2>/dev/null
  set -e
}

summarize() {
  # Sum the <Counters .../> of every trx file. Prints "passed failed skipped files".
  local files=()
  if [ -d "$RESULTS" ]; then
    while IFS= read -r f; do files+=("$f"); done < <(find "$RESULTS" -name '*.trx' -type f 2>/dev/null)
  fi
  if [ "${#files[@]}" = 0 ]; then echo "0 0 0 0"; return; fi
  cat "${files[@]}" | tr '\n' ' ' | grep -o '<Counters [^>]*>' | awk -v files="${#files[@]}" '
    function attr(s, name,   m) {
      if (match(s, " " name "=\"[0-9]+\"")) { m = substr(s, RSTART, RLENGTH); gsub(/[^0-9]/, "", m); return m + 0 }
      return 0
    }
    {
      total = attr($0, "total"); executed = attr($0, "executed")
      p += attr($0, "passed")
      f += attr($0, "failed") + attr($0, "error") + attr($0, "timeout") + attr($0, "aborted")
      ne = attr($0, "notExecuted"); if (ne == 0 && total > executed) ne = total - executed
      s += ne
    }
    END { printf "%d %d %d %d\n", p, f, s, files }'
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM HUP
  set +e
  if [ -n "$DOTNET_PGID" ] && kill -0 "$DOTNET_PGID" 2>/dev/null; then
    log "stopping dotnet test"
    kill -TERM -- "-$DOTNET_PGID" 2>/dev/null
    sleep 2
    kill -KILL -- "-$DOTNET_PGID" 2>/dev/null
  fi
  stop_servers
  local passed failed skipped files
  read -r passed failed skipped files < <(summarize)
  [ "$FINISHED" = 1 ] || { [ "$rc" = 0 ] && rc=1; }
  if [ "$FINISHED" = 1 ]; then
    if [ "$files" = 0 ]; then log "ERROR: no trx file was produced (build failure or no test project?)"; rc=1; fi
    if [ "${DOTNET_RC:-1}" != 0 ]; then log "ERROR: dotnet test exited with code $DOTNET_RC"; rc=1; fi
    if [ "$failed" != 0 ]; then rc=1; fi
  fi
  if [ "$skipped" != 0 ]; then
    printf '%s passed, %s failed, %s skipped\n' "$passed" "$failed" "$skipped"
  else
    printf '%s passed, %s failed\n' "$passed" "$failed"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM HUP

# ---------------------------------------------------------------- Docker engine?
docker_engine_answers() {
  [ -n "${DOCKER_HOST:-}" ] && return 0
  [ -S /var/run/docker.sock ] || return 1
  if command -v docker >/dev/null 2>&1; then
    timeout 10 docker info >/dev/null 2>&1 && return 0
  fi
  if command -v curl >/dev/null 2>&1; then
    timeout 5 curl -fsS --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1 && return 0
  fi
  return 1
}

USE_TC="${OVERSIGHT_TEST_USE_TESTCONTAINERS:-}"
if [ -z "$USE_TC" ]; then
  if docker_engine_answers; then USE_TC=1; else USE_TC=0; fi
fi

# ---------------------------------------------------------------- install
find_pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
  fi
}

install_missing() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 || missing+=(redis-server)
  [ -x "$RABBIT_BIN_DIR/rabbitmq-server" ] && [ -x "$RABBIT_BIN_DIR/rabbitmqctl" ] || missing+=(rabbitmq-server)
  [ -n "$(find_pg_bin)" ] || missing+=(postgresql)
  [ "${#missing[@]}" = 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root"
  log "installing ${missing[*]} with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$STATE/apt.log" 2>&1 ||
    { tail -n 30 "$STATE/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
}

# ---------------------------------------------------------------- start servers
start_redis() {
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  mkdir -p "$STATE/redis"
  port_open "$REDIS_PORT" && die "Redis: port $REDIS_PORT is already in use by another process"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes --daemonize yes \
    --save '' --appendonly no --dir "$STATE/redis" \
    --pidfile "$STATE/redis/redis.pid" --logfile "$STATE/redis/redis.log" ||
    { tail_log Redis "$STATE/redis/redis.log"; die "Redis failed to start"; }
  STARTED_REDIS=1

  for _ in $(seq 1 300); do
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  tail_log Redis "$STATE/redis/redis.log"; die "Redis did not answer PING on port $REDIS_PORT within 30 s"
}

start_rabbitmq() {
  log "starting RabbitMQ on 127.0.0.1:$AMQP_PORT (node $RABBIT_NODE)"
  mkdir -p "$STATE/rabbitmq/log" "$STATE/rabbitmq/mnesia"
  port_open "$AMQP_PORT" && die "RabbitMQ: port $AMQP_PORT is already in use by another process"
  port_open "$RABBIT_DIST_PORT" && die "RabbitMQ: distribution port $RABBIT_DIST_PORT is already in use"
  echo '[].' > "$STATE/rabbitmq/enabled_plugins"
  : > "$STATE/rabbitmq/rabbitmq-env.conf"
  echo '[].' > "$STATE/rabbitmq/advanced.config"
  cat > "$STATE/rabbitmq/rabbitmq.conf" <<'EOF'
loopback_users.guest = true
disk_free_limit.absolute = 50MB
vm_memory_high_watermark.relative = 0.8
EOF
  rabbit_env
  if ! ERL_EPMD_PORT="$EPMD_PORT" epmd -names >/dev/null 2>&1; then
    ERL_EPMD_PORT="$EPMD_PORT" epmd -address 127.0.0.1 -port "$EPMD_PORT" -daemon ||
      die "RabbitMQ: could not start epmd on port $EPMD_PORT"
    STARTED_EPMD=1
  fi
  "$RABBIT_BIN_DIR/rabbitmq-server" -detached >"$STATE/rabbitmq/log/startup.log" 2>&1 ||
    { tail_log RabbitMQ "$STATE/rabbitmq/log/startup.log"; die "RabbitMQ failed to start"; }
  STARTED_RABBIT=1
  # `wait` waits for the pid file and then for the app; await_startup confirms it.
  if ! timeout 150 "$RABBIT_BIN_DIR/rabbitmqctl" wait --timeout 120 "$RABBITMQ_PID_FILE" \
        >"$STATE/rabbitmq/log/wait.log" 2>&1 ||
     ! timeout 150 "$RABBIT_BIN_DIR/rabbitmqctl" await_startup --timeout 120 \
        >>"$STATE/rabbitmq/log/wait.log" 2>&1; then
    tail_log RabbitMQ "$STATE/rabbitmq/log/wait.log" "$STATE/rabbitmq/log/startup.log" \
      "$STATE/rabbitmq/log/$RABBIT_NODE.log"
    die "RabbitMQ did not start within 120 s"
  fi

  for _ in $(seq 1 100); do port_open "$AMQP_PORT" && return 0; sleep 0.1; done
  tail_log RabbitMQ "$STATE/rabbitmq/log/$RABBIT_NODE.log"
  die "RabbitMQ started but does not listen on 127.0.0.1:$AMQP_PORT"
}

start_postgres() {
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  PG_BIN="$(find_pg_bin)"
  [ -n "$PG_BIN" ] || die "PostgreSQL: initdb/pg_ctl not found"
  port_open "$PG_PORT" && die "PostgreSQL: port $PG_PORT is already in use by another process"
  local parent="$STATE/postgres"
  mkdir -p "$parent"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$parent"
    # The postgres user must be able to reach the repository; if not (e.g. a clone
    # under /root), keep the data directory in /tmp instead.
    if ! runuser -u postgres -- test -w "$parent"; then
      parent="$(mktemp -d /tmp/oversight-test-pg.XXXXXX)"
      chown postgres: "$parent"
    fi
  fi
  PG_DATA="$parent/data"
  echo "$PG_DATA" > "$STATE/postgres.datadir"
  local pglog="$parent/postgres.log"   # written by the postgres user
  as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --no-sync \
    >"$STATE/postgres-initdb.log" 2>&1 ||
    { tail_log PostgreSQL "$STATE/postgres-initdb.log"; die "PostgreSQL initdb failed"; }
  STARTED_PG=1
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$pglog" -w -t 60 \
    -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=300" \
    start >/dev/null 2>&1 ||
    { tail_log PostgreSQL "$pglog"; die "PostgreSQL failed to start"; }

  for _ in $(seq 1 300); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres && return 0
    sleep 0.1
  done
  tail_log PostgreSQL "$pglog"; die "PostgreSQL is not ready on port $PG_PORT after 30 s"
}

mkdir -p "$STATE"
kill_leftovers
if [ "$USE_TC" = 1 ]; then
  log "a Docker engine answers (or OVERSIGHT_TEST_USE_TESTCONTAINERS=1): tests use Testcontainers"
  export OVERSIGHT_TEST_USE_TESTCONTAINERS=1
  unset OVERSIGHT_TEST_REDIS OVERSIGHT_TEST_RABBITMQ OVERSIGHT_TEST_POSTGRES
  rm -rf "$STATE/private"
  export OVERSIGHT_TEST_STATE_DIR="$STATE"
else
  # Fresh state every run (leftovers were killed above).
  find "$STATE" -mindepth 1 -maxdepth 1 ! -name apt.log -exec rm -rf {} + 2>/dev/null || true
  install_missing
  t0=$SECONDS
  start_redis
  start_rabbitmq
  start_postgres
  log "servers ready in $((SECONDS - t0)) s"
  mkdir -p "$STATE/private"
  export OVERSIGHT_TEST_USE_TESTCONTAINERS=0
  export OVERSIGHT_TEST_REDIS="127.0.0.1:$REDIS_PORT"
  export OVERSIGHT_TEST_RABBITMQ="amqp://guest:guest@127.0.0.1:$AMQP_PORT/"
  export OVERSIGHT_TEST_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Password=postgres;Database=postgres"
  export OVERSIGHT_TEST_STATE_DIR="$STATE"
  OVERSIGHT_TEST_REDIS_SERVER_BIN="$(command -v redis-server)"
  export OVERSIGHT_TEST_REDIS_SERVER_BIN
  export OVERSIGHT_TEST_RABBITMQ_BIN_DIR="$RABBIT_BIN_DIR"
  export OVERSIGHT_TEST_EPMD_PORT="$EPMD_PORT"
  # The RabbitMQ variables above must not leak into the tests' private nodes.
  unset RABBITMQ_NODENAME RABBITMQ_NODE_IP_ADDRESS RABBITMQ_NODE_PORT RABBITMQ_DIST_PORT \
    RABBITMQ_MNESIA_BASE RABBITMQ_LOG_BASE RABBITMQ_PID_FILE RABBITMQ_ENABLED_PLUGINS_FILE \
    RABBITMQ_CONFIG_FILE RABBITMQ_ADVANCED_CONFIG_FILE RABBITMQ_CONF_ENV_FILE \
    ERL_EPMD_ADDRESS ERL_EPMD_PORT
fi

# ---------------------------------------------------------------- deployment tools
# docker-compose (offline `config`), helm and the Kubernetes schema validator for
# tests/Oversight.Deployment.Tests; quick when already present.
log "installing deployment test tools (deploy/ci/install-tools.sh)"
bash "$ROOT/deploy/ci/install-tools.sh"

# ---------------------------------------------------------------- node client test
# tests/node-client (Oversight.IntegrationTests' NodeClientTests): @grpc/grpc-js and
# @grpc/proto-loader at the versions of its package-lock.json (node_modules/ is git-ignored);
# installed again only when the lock file is newer than the installed tree.
NODE_CLIENT="$ROOT/tests/node-client"
if [ ! -f "$NODE_CLIENT/node_modules/.package-lock.json" ] ||
   [ "$NODE_CLIENT/package-lock.json" -nt "$NODE_CLIENT/node_modules/.package-lock.json" ]; then
  log "installing the node client test's packages (npm ci in tests/node-client)"
  (cd "$NODE_CLIENT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci in tests/node-client failed"
fi

# ---------------------------------------------------------------- dotnet test
SOLUTION="${OVERSIGHT_TEST_SOLUTION:-Oversight.sln}"
[ -f "$SOLUTION" ] || { [ -f Oversight.slnx ] && SOLUTION=Oversight.slnx; }
[ -f "$SOLUTION" ] || die "solution $SOLUTION not found in $ROOT"
rm -rf "$RESULTS"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
log "dotnet test $SOLUTION -c Release $*"
# In its own process group, so an interrupt can stop dotnet and its test hosts together.
set +e
setsid dotnet test "$SOLUTION" -c Release --logger "trx;LogFilePrefix=results" \
  --results-directory "$RESULTS" "$@" </dev/null &
DOTNET_PGID=$!
wait "$DOTNET_PGID"
DOTNET_RC=$?
set -e
DOTNET_PGID=""
FINISHED=1
exit 0   # the EXIT trap stops the servers, prints the counts and sets the exit status
