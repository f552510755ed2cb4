#!/usr/bin/env bash
# KV throughput, one run: solar's builtin:kv on SQLite and on PostgreSQL
# (solar-bench --workload kv), and the same workload by a client that opens a
# new PostgreSQL connection per request (solar-cli bench-direct-pg) — the
# set-up a middle tier replaces (seed 003). Prints one table; the JSON of each
# row goes to $KV_BENCH_OUT.
#
# PostgreSQL runs from a fresh cluster in a temp dir (as user postgres when
# this runs as root) with its default durability (fsync and synchronous_commit
# on) and password authentication over TCP (scram-sha-256), as a production
# server would have; solar's workers authenticate once, the direct client on
# every request. SQLite runs in WAL mode with synchronous=NORMAL (the KV
# default): a commit survives any process crash, not a power cut.
#
# Environment (all optional):
#   KV_BENCH_DURATION=5s   measured time per row (after KV_BENCH_WARMUP=1s)
#   KV_BENCH_CLIENTS=32    connections (solar-bench) / client threads (direct)
#   KV_BENCH_THREADS=2     solar-bench threads
#   KV_BENCH_WORKERS=4     solar KV worker processes (they block on the database)
#   KV_BENCH_KEYS=10000    key space      KV_BENCH_VALUE=100  value bytes
#   KV_BENCH_OUT=build/bench/kv
#   SOLAR_BIN SOLAR_BENCH SOLAR_CLI   the binaries (default build/...)
# Exit status: 0 when every row ran without a failed request.
set -euo pipefail
cd "$(dirname "$0")/.."

SOLAR=$(realpath "${SOLAR_BIN:-build/solar}")
BENCH=$(realpath "${SOLAR_BENCH:-build/solar-bench}")
CLI=$(realpath "${SOLAR_CLI:-build/solar-cli}")
DURATION=${KV_BENCH_DURATION:-5s}
WARMUP=${KV_BENCH_WARMUP:-1s}
CLIENTS=${KV_BENCH_CLIENTS:-32}
THREADS=${KV_BENCH_THREADS:-2}
WORKERS=${KV_BENCH_WORKERS:-4}
KEYS=${KV_BENCH_KEYS:-10000}
VALUE=${KV_BENCH_VALUE:-100}
OUT=${KV_BENCH_OUT:-build/bench/kv}
PGBIN=${SOLAR_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

for bin in "$SOLAR" "$BENCH" "$CLI" "$PGBIN/postgres"; do
  [ -x "$bin" ] || { echo "kv_bench.sh: $bin is missing (make; make deps)" >&2; exit 2; }
done
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/summary.txt
OUT=$(realpath "$OUT")
ulimit -n 65536 2>/dev/null || true

WORK=$(mktemp -d /tmp/solar-kv-bench-XXXXXX)
chmod 0755 "$WORK"
RUNAS=()
PGUSER_OS=$(id -un)
if [ "$(id -u)" = 0 ]; then
  PGUSER_OS=postgres
  id postgres >/dev/null 2>&1 || PGUSER_OS=nobody
  RUNAS=(runuser -u "$PGUSER_OS" --)
fi
PG_PID=""
SERVER_PID=""

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
cleanup() {
  stop_server
  if [ -n "$PG_PID" ]; then
    kill -INT "$PG_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- PostgreSQL: a fresh cluster, password auth over TCP ---
PGDIR=$WORK/pg
mkdir -p "$PGDIR"
PASSWORD=kvbench-$RANDOM$RANDOM
echo "$PASSWORD" >"$PGDIR/pw"
chown -R "$PGUSER_OS" "$PGDIR"
chmod 0700 "$PGDIR"
(cd "$PGDIR" && "${RUNAS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --pwfile="$PGDIR/pw" \
  --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C --no-instructions >"$WORK/initdb.log" 2>&1) ||
  { cat "$WORK/initdb.log" >&2; exit 1; }
PGPORT=$(free_port)
(cd "$PGDIR" && exec "${RUNAS[@]}" "$PGBIN/postgres" -D "$PGDIR/data" -p "$PGPORT" -k "$PGDIR" \
  -c listen_addresses=127.0.0.1 -c max_connections=200) >"$WORK/pg.log" 2>&1 &
PG_PID=$!
DSN="host=127.0.0.1 port=$PGPORT dbname=postgres user=postgres password=$PASSWORD"
for _ in $(seq 300); do
  "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break
  sleep 0.1
done
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" || { cat "$WORK/pg.log" >&2; exit 1; }
# A second role that logs in without a password (trust), to show how much of
# the per-request cost is the password exchange and how much the connection.
"$PGBIN/psql" -q -h "$PGDIR" -p "$PGPORT" -U postgres -d postgres -c "CREATE ROLE kv_trust LOGIN" >/dev/null
sed -i '1i host all kv_trust 127.0.0.1/32 trust' "$PGDIR/data/pg_hba.conf"
"$PGBIN/psql" -q -h "$PGDIR" -p "$PGPORT" -U postgres -d postgres -c "SELECT pg_reload_conf()" >/dev/null
DSN_TRUST="host=127.0.0.1 port=$PGPORT dbname=postgres user=kv_trust"

# --- solar ---
# start_server NAME KV-SETTINGS: sets SERVER_PID and PORT. KV-SETTINGS are the
# builtin:kv worker's settings entries (docs/kv.md).
start_server() {
  local dir=$WORK/$1
  mkdir -p "$dir/var/kv"
  chown nobody "$dir/var/kv" 2>/dev/null || true
  cat >"$dir/solar.conf" <<CONF
listen: "127.0.0.1:0"
listeners: 1
workers: $WORKERS
worker {
  name: "builtin:kv"
  $2
}
pid_file: "$dir/solar.pid"
admin_listen: ""
CONF
  (cd "$dir" && exec "$SOLAR" -c "$dir/solar.conf") >"$dir/solar.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 200); do
    PORT=$(grep -o 'ready: listening on 127\.0\.0\.1:[0-9]*' "$dir/solar.log" | head -1 | sed 's/.*://' || true)
    [ -n "$PORT" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "kv_bench.sh: solar did not start:" >&2
  tail -5 "$dir/solar.log" >&2
  exit 1
}

json_field() { sed -n "s/^ *\"$2\": *\([-0-9.]*\).*/\1/p" "$1" | head -1; }
latency() {  # microseconds -> 850us / 1.20ms / 3.05s
  awk -v us="$1" 'BEGIN {
    if (us < 1000) printf "%.0fus", us; else if (us < 1e6) printf "%.2fms", us / 1e3; else printf "%.2fs", us / 1e6 }'
}
ROWS=()
FAILED=0
row() { ROWS+=("$(printf '%-46s %12s %10s %10s %8s' "$@")"); }

# bench ID LABEL GET_RATIO: solar-bench against the running server.
bench() {
  local json=$OUT/$1.json rc=0
  echo "kv_bench.sh: $2" >&2
  "$BENCH" --workload kv --kv-get-ratio "$3" --kv-keys "$KEYS" -s "$VALUE" -c "$CLIENTS" -t "$THREADS" \
    -d "$DURATION" -w "$WARMUP" --json "$json" "127.0.0.1:$PORT" >"$OUT/$1.txt" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || FAILED=1
  row "$2" "$(printf '%.0f' "$(json_field "$json" requests_per_second)")" "$(latency "$(json_field "$json" p50)")" \
    "$(latency "$(json_field "$json" p99)")" "$(json_field "$json" total)"
}

# direct ID LABEL GET_RATIO [DSN]: a new PostgreSQL connection per request.
direct() {
  local json=$OUT/$1.json rc=0 secs=${DURATION%s}
  echo "kv_bench.sh: $2" >&2
  "$CLI" bench-direct-pg --dsn "${4:-$DSN}" --get-ratio "$3" --keys "$KEYS" --value-size "$VALUE" -c "$CLIENTS" \
    -d "$secs" --json "$json" >"$OUT/$1.txt" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || FAILED=1
  row "$2" "$(printf '%.0f' "$(json_field "$json" requests_per_second)")" "$(latency "$(json_field "$json" p50)")" \
    "$(latency "$(json_field "$json" p99)")" "$(json_field "$json" errors)"
}

# Each backend starts empty, is filled by a put-only warm-up over the whole
# key space, then measured: gets, puts, and a 90/10 mix.
start_server sqlite 'settings { key: "backend" value: "sqlite" }'
"$BENCH" --workload kv --kv-get-ratio 0 --kv-keys "$KEYS" -s "$VALUE" -c "$CLIENTS" -t "$THREADS" -d 3s \
  "127.0.0.1:$PORT" >/dev/null 2>&1 || true
bench sqlite_get "solar kv, SQLite: get" 1
bench sqlite_put "solar kv, SQLite: put" 0
bench sqlite_mix "solar kv, SQLite: 90% get / 10% put" 0.9
stop_server

start_server postgres "settings { key: \"backend\" value: \"postgres\" } settings { key: \"postgres_dsn\" value: \"$DSN\" }"
"$BENCH" --workload kv --kv-get-ratio 0 --kv-keys "$KEYS" -s "$VALUE" -c "$CLIENTS" -t "$THREADS" -d 3s \
  "127.0.0.1:$PORT" >/dev/null 2>&1 || true
bench pg_get "solar kv, PostgreSQL: get" 1
bench pg_put "solar kv, PostgreSQL: put" 0
bench pg_mix "solar kv, PostgreSQL: 90% get / 10% put" 0.9
stop_server

direct direct_get "direct PostgreSQL, conn/request: get" 1
direct direct_put "direct PostgreSQL, conn/request: put" 0
direct direct_mix "direct PostgreSQL, conn/request: 90/10" 0.9
"$PGBIN/psql" -q -h "$PGDIR" -p "$PGPORT" -U postgres -d postgres -c "GRANT ALL ON kv TO kv_trust" >/dev/null
direct direct_trust_get "direct, conn/request, no password: get" 1 "$DSN_TRUST"
direct direct_trust_put "direct, conn/request, no password: put" 0 "$DSN_TRUST"

{
  echo
  echo "KV: $(nproc) CPUs; solar 1 listener, $WORKERS KV workers; $CLIENTS client connections" \
    "($THREADS solar-bench threads), closed loop; $KEYS keys, $VALUE-byte values;" \
    "$DURATION measured after $WARMUP warm-up; PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}')" \
    "defaults (fsync, synchronous_commit on), scram-sha-256 over TCP; SQLite WAL, synchronous=NORMAL"
  printf '%-46s %12s %10s %10s %8s\n' "scenario" "requests/s" "p50" "p99" "errors"
  printf '%s\n' "${ROWS[@]}"
  echo "JSON: $OUT/*.json"
} | tee "$OUT/summary.txt"
exit "$FAILED"
