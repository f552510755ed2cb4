#!/usr/bin/env bash
# make bench: starts solar on loopback, runs the fixed load scenarios with
# solar-bench, prints one table and writes each scenario's JSON to build/bench/.
#
# The rows follow the seed's benchmark table (Workerman: 50-byte echo, 1.5 KB
# echo, 1.5 KB written to disk then echoed), plus 1,000 connections and UDP.
# A row whose server side solar does not have yet (the config is refused by
# `solar -t`) prints n/a with the reason, and starts working by itself once
# solar accepts that config.
#
# Environment (all optional):
#   BENCH_DURATION=5s  BENCH_WARMUP=1s   measured time and warm-up per scenario
#   BENCH_THREADS=2                      solar-bench threads
#   BENCH_LISTENERS=1  BENCH_WORKERS=2   solar processes (TCP); UDP workers = BENCH_WORKERS
#   BENCH_HOL_DURATION=10s               measured time of each head-of-line run
#   BENCH_ROUNDS=3                       runs per scenario (solar and direct-echo
#                                        interleaved); the table gives medians
#   BENCH_ONLY="echo diskecho udp hol"   the scenario groups to run
#   BENCH_OUT=build/bench                where the JSON and summary.txt go
#   BENCH_CONFIG="..."                   config lines added to every solar config,
#                                        e.g. "worker_scheduling: BATCH" to A/B a knob
#                                        (not a field the script sets itself: listen,
#                                        listeners, workers, protocol, worker, pid_file,
#                                        user, log_dir, dispatch, udp)
#   SOLAR_BIN, SOLAR_BENCH               the binaries (default build/solar, build/solar-bench)
#
# Every scenario also runs against build/direct-echo, a one-process epoll echo
# server with no hop (tools/direct_echo), and the table gives each server's CPU
# time per request (user+system of all its processes over the measured run,
# from /proc) and their ratio: what solar's listener -> worker hop costs,
# measured in the same run on the same machine, so the figure travels between
# machines where absolute rates do not (issue 11).
#
# The TCP echo rows also run against `direct-echo --hop $BENCH_WORKERS`: the
# same loop, but each read crosses a UNIX datagram socketpair to one of that
# many worker processes and back, batched per loop pass, pinned as solar pins
# its children, with no framing, validation, scoreboard or libevent. It is the
# least this architecture (one process reads, another answers) costs on this
# machine; a block under the table gives its CPU per request over direct's
# (the hop's own price) and solar's over it (what solar's code adds). And
# against `direct-echo --hop-shm $BENCH_WORKERS`, the same hop over shared-
# memory rings with eventfd wake-ups instead of socketpairs: what the hop
# would cost without the kernel's datagrams (a transport solar does not have).
#
# The head-of-line scenario (group hol) asks what a slow request does to the
# connections around it: builtin:debug on 1 listener and 8 workers, 24 fast
# connections (50 B echo, closed loop) beside 2 slow ones that loop
# "sleep:200". With a pinned dispatch (ROUND_ROBIN) the fast connections that
# share a worker with a slow one wait behind it; with PER_REQUEST any free
# worker takes the next request. It runs a baseline without the slow
# connections, then ROUND_ROBIN and PER_REQUEST with them, and prints their
# fast p50/p99/max and the share of fast connections whose own median is
# above 20 ms. A solar without PER_REQUEST (refused by `solar -t`) shows
# "n/a (server has no PER_REQUEST)".
#
# Exit status: 0 when every scenario that ran had no errors, 1 otherwise.
# Sends traffic to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

SOLAR=${SOLAR_BIN:-build/solar}
BENCH=${SOLAR_BENCH:-build/solar-bench}
DIRECT=${DIRECT_ECHO:-build/direct-echo}
DURATION=${BENCH_DURATION:-5s}
WARMUP=${BENCH_WARMUP:-1s}
THREADS=${BENCH_THREADS:-2}
LISTENERS=${BENCH_LISTENERS:-1}
WORKERS=${BENCH_WORKERS:-2}
HOL_DURATION=${BENCH_HOL_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-3}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: BENCH_ROUNDS must be a positive number, not '$ROUNDS'" >&2; exit 2; }
ONLY=" ${BENCH_ONLY:-echo diskecho udp hol} "
OUT=${BENCH_OUT:-build/bench}

for bin in "$SOLAR" "$BENCH" "$DIRECT"; do
  [ -x "$bin" ] || { echo "bench.sh: $bin is missing; run 'make' first" >&2; exit 2; }
done
# The server runs from the scratch directory: make the path absolute.
SOLAR=$(readlink -f "$SOLAR")
DIRECT=$(readlink -f "$DIRECT")
TICK=$(getconf CLK_TCK)
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/summary.txt "$OUT"/rounds.tsv
printf 'scenario\tround\treq/s\tus/req\tdirect req/s\tdirect us/req\tratio\thop us/req\tsolar/hop\tshm us/req\n' >"$OUT/rounds.tsv"

# 1,000 client connections here and 1,000 accepted ones in solar.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d /tmp/solar-bench-XXXXXX)
# The workers drop to nobody: they must be able to enter the run directory
# (and write in data/, where a disk-writing worker keeps its file).
chmod 0755 "$WORK"
mkdir -m 1777 "$WORK/data"

SERVER_PID=""
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
cleanup() {
  end_direct 2>/dev/null || true
  end_hop 2>/dev/null || true
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A UDP port nobody on this host has bound (from /proc/net/udp*), so the
# config can name it before the server starts.
free_udp_port() {
  local used="" hex port
  # Column 2 is LOCAL_ADDRESS:PORT with the port in hex (awk here may be mawk:
  # no strtonum, so bash converts).
  for hex in $(awk 'FNR > 1 { n = split($2, a, ":"); print a[n] }' /proc/net/udp /proc/net/udp6 2>/dev/null); do
    used+=" $((16#$hex)) "
  done
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 40000))
    [[ "$used" == *" $port "* ]] || { echo "$port"; return 0; }
  done
  return 1
}

# write_config NAME WORKER [EXTRA]: the config file's path on stdout.
write_config() {
  local conf="$WORK/$1.conf"
  cat >"$conf" <<EOF
listen: "127.0.0.1:0"
listeners: $LISTENERS
workers: $WORKERS
protocol: FRAME32
worker { name: "$2" }
pid_file: "$WORK/$1.pid"
user: "nobody"
log_dir: ""
${3:-}
${BENCH_CONFIG:-}
EOF
  echo "$conf"
}

# start_server NAME CONF: sets SERVER_PID and PORT, or returns 1 with the
# reason in NOTE.
start_server() {
  local log="$WORK/$1.log"
  (cd "$WORK/data" && exec "$SOLAR" -c "$2") >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 200); do
    if grep -q "ready" "$log"; then
      PORT=$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
      [ -n "$PORT" ] && return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  NOTE="solar did not start: $(tail -1 "$log")"
  stop_server
  return 1
}

# start_direct [--udp|--disk DIR]: the reference server on a free port; sets
# SERVER_PID and PORT.
start_direct() {
  local log="$WORK/direct$(tr -c 'a-z0-9' _ <<<"$*").log"  # one log per kind: two may run at once
  "$DIRECT" "$@" 127.0.0.1:0 >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    if grep -q "^ready" "$log"; then
      PORT=$(sed -n 's/^ready .*:\([0-9]*\)$/\1/p' "$log")
      return 0
    fi
    sleep 0.05
  done
  NOTE="direct-echo did not start: $(tail -1 "$log")"
  stop_server
  return 1
}

# CPU ticks (user + system) of PID and its children: solar's master, listeners
# and workers; direct-echo alone. /proc/PID/stat fields 14 and 15, counted
# after the ")" that ends the command name (which may hold spaces).
tree_ticks() {
  local root=$1 total=0 stat line pid rest
  local -a f
  for stat in /proc/[0-9]*/stat; do
    { read -r line <"$stat"; } 2>/dev/null || continue  # a process may end between the glob and the read
    pid=${line%% *}
    rest=${line##*) }
    read -r -a f <<<"$rest"
    # f[0] state, f[1] ppid, ..., f[11] utime, f[12] stime
    if [ "$pid" = "$root" ] || [ "${f[1]}" = "$root" ]; then total=$((total + f[11] + f[12])); fi
  done
  echo "$total"
}

# Checks CONF with `solar -t`; on refusal sets NOTE and returns 1.
config_supported() {
  local why
  if why=$("$SOLAR" -t -c "$1" 2>&1); then return 0; fi
  why=$(grep -v 'configuration test failed' <<<"$why" | head -1)
  NOTE="solar refuses the config: ${why#solar: $1: }"
  return 1
}

json_field() {  # FILE KEY: the number after "KEY": (solar-bench writes one field per line)
  sed -n "s/^ *\"$2\": *\([-0-9.]*\).*/\1/p" "$1" | head -1
}

commas() {  # 1234567.8 -> 1,234,568 (printf's ' flag depends on the locale)
  printf '%.0f' "$1" | sed ':a; s/\B[0-9]\{3\}\>/,&/; ta'
}

latency() {  # microseconds -> 850us / 1.20ms / 3.05s
  awk -v us="$1" 'BEGIN {
    if (us < 1000) printf "%.0fus", us; else if (us < 1e6) printf "%.2fms", us / 1e3; else printf "%.2fs", us / 1e6 }'
}

ROWS=()
FAILED=0
row() {  # LABEL REQS P50 P99 ERRORS SOLAR-US DIRECT-REQS DIRECT-US RATIO (empty: -)
  local -a f=()
  local v
  for v in "$@"; do f+=("${v:--}"); done
  ROWS+=("$(printf '%-36s %10s %9s %9s %6s %8s %10s %8s %7s' "${f[@]}")")
}
na_row() {  # LABEL NOTE
  ROWS+=("$(printf '%-38s %12s   %s' "$1" "n/a" "$2")")
}

# measure ID SOLAR-BENCH-ARGS...: one run against the server at PORT (pid
# SERVER_PID); sets CPU_US to its CPU microseconds per measured request.
measure() {
  local id=$1
  shift
  local json="$OUT/$id.json" rc=0 t0 t1 requests
  "$BENCH" "$@" -t "$THREADS" -d "$DURATION" -w "$WARMUP" --json "$json" "127.0.0.1:$PORT" \
    >"$OUT/$id.txt" 2>&1 &
  local bench_pid=$!
  sleep "$WARMUP"  # the measured part starts now
  t0=$(tree_ticks "$SERVER_PID")
  wait "$bench_pid" || rc=$?
  t1=$(tree_ticks "$SERVER_PID")
  requests=$(json_field "$json" requests 2>/dev/null || true)
  CPU_US=$(awk -v t="$((t1 - t0))" -v hz="$TICK" -v n="${requests:-0}" \
    'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n }')
  return "$rc"
}

# median V...: the middle value (the mean of the two middle ones for an even
# count); empty values are skipped, nothing at all prints nothing.
median() {
  printf '%s\n' "$@" | awk 'NF { v[n++] = $1 } END {
    if (n == 0) exit
    for (i = 1; i < n; i++) for (j = i; j > 0 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    if (n % 2) printf "%.2f", v[(n - 1) / 2]; else printf "%.2f", (v[n / 2 - 1] + v[n / 2]) / 2 }'
}

# reference KIND PORT PID ID ROUND SOLAR-BENCH-ARGS...: the same run against a
# reference server (direct-echo and its hops); keeps the round's JSON as
# KIND_ID.rROUND.json and sets CPU_US. False when the run failed.
reference() {
  local kind=$1 port=$2 pid=$3 id=$4 round=$5 rc=0
  shift 5
  local saved_port=$PORT saved_pid=$SERVER_PID
  PORT=$port SERVER_PID=$pid
  measure "${kind}_$id" "$@" || rc=$?
  PORT=$saved_port SERVER_PID=$saved_pid
  [ "$rc" -eq 0 ] || return 1
  cp "$OUT/${kind}_$id.json" "$OUT/${kind}_$id.r$round.json"
}

quotient() {  # A B: A / B to 4 places; nothing when either is missing
  awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.4f", a / b }'
}

declare -A MEDIAN_RPS=()
RATIO_SPREAD=()
HOP_ROWS=()

# scenario ID LABEL SOLAR-BENCH-ARGS...: ROUNDS runs against the current
# solar, each followed by the same run against direct-echo when with_direct
# started it (interleaved, so that both see the same drift of the machine),
# and one row of medians: req/s, p50, p99 and us/req of each server, and the
# median of the per-round ratios. Errors are summed over the rounds. Round
# R's JSON is ID.rR.json and direct_ID.rR.json (ID.json: the last round);
# rounds.tsv has every round's figures.
scenario() {
  local id=$1 label=$2
  shift 2
  local round rc json errors=0 ran=0
  local -a rps=() p50=() p99=() solar_us=() direct_rate=() direct_us=() ratio=() hop_us=() hop_direct=() solar_hop=()
  local -a shm_us=() shm_direct=()
  for round in $(seq "$ROUNDS"); do
    echo "bench.sh: $label$([ "$ROUNDS" -gt 1 ] && echo " (round $round/$ROUNDS)")" >&2
    json="$OUT/$id.json"
    rc=0
    measure "$id" "$@" || rc=$?
    if [ ! -s "$json" ]; then
      na_row "$label" "solar-bench failed (exit $rc): $(tail -1 "$OUT/$id.txt")"
      FAILED=1
      return
    fi
    cp "$json" "$OUT/$id.r$round.json"
    [ "$rc" -eq 0 ] || FAILED=1
    ran=$((ran + 1))
    errors=$((errors + $(json_field "$json" total)))
    rps+=("$(json_field "$json" requests_per_second)")
    p50+=("$(json_field "$json" p50)")
    p99+=("$(json_field "$json" p99)")
    solar_us+=("$CPU_US")
    # Indexed by round (i = round - 1): a reference that failed in one round
    # leaves a gap there, and its ratios come only from rounds where both
    # sides ran (median and "${a[@]}" skip the gaps).
    local i=$((round - 1))
    if [ -n "${DIRECT_PORT:-}" ] && reference direct "$DIRECT_PORT" "$DIRECT_PID" "$id" "$round" "$@"; then
      direct_us[i]=$CPU_US
      direct_rate[i]=$(json_field "$OUT/direct_$id.json" requests_per_second)
      ratio[i]=$(quotient "${solar_us[i]}" "$CPU_US")
    fi
    if [ -n "${HOP_PORT:-}" ] && reference hop "$HOP_PORT" "$HOP_PID" "$id" "$round" "$@"; then
      hop_us[i]=$CPU_US
      solar_hop[i]=$(quotient "${solar_us[i]}" "$CPU_US")
      hop_direct[i]=$(quotient "$CPU_US" "${direct_us[i]:-}")
    fi
    if [ -n "${SHM_PORT:-}" ] && reference shm "$SHM_PORT" "$SHM_PID" "$id" "$round" "$@"; then
      shm_us[i]=$CPU_US
      shm_direct[i]=$(quotient "$CPU_US" "${direct_us[i]:-}")
    fi
  done
  MEDIAN_RPS[$id]=$(median "${rps[@]}")
  for round in $(seq "$ran"); do  # every round's figures, for whoever wants more than the medians
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$round" "${rps[round - 1]}" "${solar_us[round - 1]}" \
      "${direct_rate[round - 1]:-}" "${direct_us[round - 1]:-}" "${ratio[round - 1]:-}" \
      "${hop_us[round - 1]:-}" "${solar_hop[round - 1]:-}" "${shm_us[round - 1]:-}" >>"$OUT/rounds.tsv"
  done
  [ "${#ratio[@]}" -gt 1 ] && RATIO_SPREAD+=("$(printf '%-36s' "$label") $(printf '%.2f ' "${ratio[@]}")")
  if [ "${#hop_us[@]}" -gt 0 ]; then
    local m_hop_direct m_solar_hop m_shm_direct
    m_hop_direct=$(median "${hop_direct[@]}")
    m_solar_hop=$(median "${solar_hop[@]}")
    m_shm_direct=$(median "${shm_direct[@]}")
    HOP_ROWS+=("$(printf '%-36s %10s %10s %9s %10s %9s   %s' "$label" "$(median "${hop_us[@]}")" \
      "${m_hop_direct:+${m_hop_direct}x}" "${m_solar_hop:+${m_solar_hop}x}" "$(median "${shm_us[@]}")" \
      "${m_shm_direct:+${m_shm_direct}x}" "$(printf '%.2f ' "${solar_hop[@]}")")")
  fi
  local m_direct_rate m_ratio
  m_direct_rate=$(median "${direct_rate[@]}")
  m_ratio=$(median "${ratio[@]}")
  row "$label" "$(commas "${MEDIAN_RPS[$id]}")" \
    "$(latency "$(median "${p50[@]}")")" "$(latency "$(median "${p99[@]}")")" "$errors" \
    "$(median "${solar_us[@]}")" "${m_direct_rate:+$(commas "$m_direct_rate")}" "$(median "${direct_us[@]}")" \
    "${m_ratio:+${m_ratio}x}"
}

# start_reference NAME ARGS...: starts `direct-echo ARGS` beside the running
# solar for the scenarios that follow and sets NAME_PORT and NAME_PID (both
# empty when it did not start); stop_reference NAME stops it.
start_reference() {
  local name=$1 saved_port=$PORT saved_pid=$SERVER_PID
  shift
  SERVER_PID=""
  if ! start_direct "$@"; then PORT="" SERVER_PID=""; fi
  printf -v "${name}_PORT" '%s' "$PORT"
  printf -v "${name}_PID" '%s' "$SERVER_PID"
  PORT=$saved_port SERVER_PID=$saved_pid
}
stop_reference() {
  local pid_var="${1}_PID" saved_pid=$SERVER_PID
  SERVER_PID=${!pid_var:-}
  stop_server
  SERVER_PID=$saved_pid
  printf -v "${1}_PID" '%s' ""
  printf -v "${1}_PORT" '%s' ""
}
# The references of the echo rows: direct-echo (DIRECT), and with_hop N its
# two hops, --hop N (HOP) and --hop-shm N (SHM).
with_direct() { start_reference DIRECT "$@"; }
end_direct() { stop_reference DIRECT; }
with_hop() {
  start_reference HOP --hop "$1"
  start_reference SHM --hop-shm "$1"
}
end_hop() {
  stop_reference HOP
  stop_reference SHM
}

wanted() { [[ "$ONLY" == *" $1 "* ]]; }
PR_RATIOS=()

# --- TCP echo: 50 B and 1500 B over 100 connections, 50 B over 1,000 ---
if wanted echo; then
  labels_echo=("echo 50 B, 100 connections" "echo 1500 B, 100 connections" "echo 50 B, 1000 connections")
  CONF=$(write_config echo builtin:echo)
  NOTE=""
  if config_supported "$CONF" && start_server echo "$CONF"; then
    with_direct
    with_hop "$WORKERS"
    scenario echo_50b_100c "${labels_echo[0]}" -c 100 -s 50
    scenario echo_1500b_100c "${labels_echo[1]}" -c 100 -s 1500
    scenario echo_50b_1000c "${labels_echo[2]}" -c 1000 -s 50
    end_hop
    end_direct
    stop_server
  else
    for label in "${labels_echo[@]}"; do na_row "$label" "$NOTE"; done
    FAILED=1  # the basic echo server must work
  fi
  # The same echo load with dispatch: PER_REQUEST: what choosing a worker per
  # request (and reordering replies) costs beside pinning at accept.
  labels_pr=("echo 50 B, 100 conn, PER_REQUEST" "echo 1500 B, 100 conn, PER_REQUEST")
  CONF=$(write_config echo_pr builtin:echo "dispatch: PER_REQUEST")
  NOTE=""
  if config_supported "$CONF" && start_server echo_pr "$CONF"; then
    scenario echo_pr_50b_100c "${labels_pr[0]}" -c 100 -s 50
    scenario echo_pr_1500b_100c "${labels_pr[1]}" -c 100 -s 1500
    stop_server
    for size in 50b 1500b; do
      pinned=${MEDIAN_RPS[echo_${size}_100c]:-}
      per_request=${MEDIAN_RPS[echo_pr_${size}_100c]:-}
      [ -n "$pinned" ] && [ -n "$per_request" ] && PR_RATIOS+=("${size%b} B: $(awk -v a="$per_request" \
        -v b="$pinned" 'BEGIN { printf "%.3f", a / b }')")
    done
  else
    for label in "${labels_pr[@]}"; do na_row "$label" "$NOTE"; done
  fi
fi

# --- 1500 B written to a file by the worker before it replies ---
if wanted diskecho; then
  label="disk write + echo 1500 B, 100 conn"
  CONF=$(write_config diskecho builtin:diskecho)
  NOTE=""
  if config_supported "$CONF" && start_server diskecho "$CONF"; then
    mkdir -p "$WORK/direct-data"
    with_direct --disk "$WORK/direct-data"
    scenario diskecho_1500b_100c "$label" -c 100 -s 1500
    end_direct
    stop_server
  else
    na_row "$label" "$NOTE"
  fi
fi

# --- UDP echo, 50 B ---
if wanted udp; then
  label="udp echo 50 B, 100 sockets"
  NOTE=""
  if UDP_PORT=$(free_udp_port); then
    CONF=$(write_config udp builtin:echo "udp { listen: \"127.0.0.1:$UDP_PORT\" workers: $WORKERS }")
    if config_supported "$CONF" && start_server udp "$CONF"; then
      with_direct --udp
      PORT=$UDP_PORT scenario udp_50b_100s "$label" --proto udp -c 100 -s 50
      end_direct
      stop_server
    else
      na_row "$label" "$NOTE"
    fi
  else
    na_row "$label" "no free UDP port found"
  fi
fi

# --- head of line: fast connections beside slow requests, pinned vs per-request dispatch ---
HOL_WORKERS=8
HOL_FAST=24
HOL_SLOW=2
HOL_PAYLOAD="sleep:200"
HOL_THRESHOLD=20ms
HOL_ROWS=()
hol_row() {  # LABEL REQ/S P50 P99 MAX WORST-MEDIAN STALLED ERRORS
  HOL_ROWS+=("$(printf '%-34s %10s %9s %9s %9s %9s %-16s %6s' "$@")")
}
hol_na_row() {  # LABEL NOTE
  HOL_ROWS+=("$(printf '%-34s %10s   %s' "$1" "n/a" "$2")")
}

# hol_run ID LABEL SLOW-CONNECTIONS: one run against the solar at PORT, one row.
hol_run() {
  local id=$1 label=$2 slow=$3 json="$OUT/$1.json" rc=0
  echo "bench.sh: head of line: $label" >&2
  "$BENCH" -c "$HOL_FAST" --slow-connections "$slow" --slow-payload "$HOL_PAYLOAD" --stall-threshold "$HOL_THRESHOLD" \
    -t "$THREADS" -d "$HOL_DURATION" -w "$WARMUP" --json "$json" "127.0.0.1:$PORT" >"$OUT/$id.txt" 2>&1 || rc=$?
  if [ ! -s "$json" ]; then
    hol_na_row "$label" "solar-bench failed (exit $rc): $(tail -1 "$OUT/$id.txt")"
    FAILED=1
    return
  fi
  [ "$rc" -eq 0 ] || FAILED=1
  local stalled judged share
  stalled=$(json_field "$json" stalled_connections)
  judged=$(json_field "$json" judged_connections)
  share=$(awk -v s="$(json_field "$json" stalled_share)" 'BEGIN { printf "%.0f%%", s * 100 }')
  hol_row "$label" "$(commas "$(json_field "$json" requests_per_second)")" \
    "$(latency "$(json_field "$json" p50)")" "$(latency "$(json_field "$json" p99)")" \
    "$(latency "$(json_field "$json" max)")" "$(latency "$(json_field "$json" highest_median_us)")" \
    "$stalled/$judged ($share)" "$(json_field "$json" total)"
}

if wanted hol; then
  # The pinned mode: the baseline without slow connections, then with them.
  label_base="baseline, no slow (ROUND_ROBIN)"
  label_rr="ROUND_ROBIN + $HOL_SLOW slow"
  CONF=$(LISTENERS=1 WORKERS=$HOL_WORKERS write_config hol_rr builtin:debug "dispatch: ROUND_ROBIN")
  NOTE=""
  if config_supported "$CONF" && start_server hol_rr "$CONF"; then
    hol_run hol_baseline "$label_base" 0
    hol_run hol_round_robin "$label_rr" "$HOL_SLOW"
    stop_server
  else
    hol_na_row "$label_base" "$NOTE"
    hol_na_row "$label_rr" "$NOTE"
  fi

  # Per-request dispatch, once solar has it (proto/config.proto DispatchMode PER_REQUEST).
  label_pr="PER_REQUEST + $HOL_SLOW slow"
  CONF=$(LISTENERS=1 WORKERS=$HOL_WORKERS write_config hol_pr builtin:debug "dispatch: PER_REQUEST")
  NOTE=""
  if ! config_supported "$CONF"; then
    echo "bench.sh: head of line: $NOTE" >&2
    hol_na_row "$label_pr" "(server has no PER_REQUEST)"
  elif start_server hol_pr "$CONF"; then
    hol_run hol_per_request "$label_pr" "$HOL_SLOW"
    stop_server
  else
    hol_na_row "$label_pr" "$NOTE"
  fi
fi

{
  if [ "${#ROWS[@]}" -gt 0 ]; then
    echo
    echo "solar $(nproc) CPUs; $LISTENERS listener(s), $WORKERS worker(s); solar-bench $THREADS threads," \
      "closed loop, pipeline 1; $DURATION measured after $WARMUP warm-up;" \
      "medians of $ROUNDS round(s)"
    [ -z "${BENCH_CONFIG:-}" ] || echo "config added (BENCH_CONFIG): $(tr '\n' ' ' <<<"$BENCH_CONFIG")"
    printf '%-36s %10s %9s %9s %6s %8s %10s %8s %7s\n' "scenario" "req/s" "p50" "p99" "errors" \
      "us/req" "direct/s" "us/req" "ratio"
    printf '%s\n' "${ROWS[@]}"
    echo "us/req: server CPU (user+system, all its processes) per measured request; direct: build/direct-echo,"
    echo "one epoll process with no hop, under the same load; ratio: median of each round's solar us/req over direct's (lower is better)"
    if [ "${#RATIO_SPREAD[@]}" -gt 0 ]; then
      echo "each round's ratio, in the order run (their spread is this machine's noise):"
      printf '  %s\n' "${RATIO_SPREAD[@]}"
    fi
    if [ "${#HOP_ROWS[@]}" -gt 0 ]; then
      echo
      echo "the hop alone: direct-echo --hop $WORKERS (the same loop, each read sent to one of $WORKERS worker processes"
      echo "over a UNIX datagram socketpair and back, batched per pass, pinned like solar; nothing else)"
      printf '%-36s %10s %10s %9s %10s %9s   %s\n' "scenario" "hop us/req" "hop/direct" "solar/hop" \
        "shm us/req" "shm/direct" "solar/hop each round"
      printf '%s\n' "${HOP_ROWS[@]}"
      echo "hop/direct: what the hop itself costs here; solar/hop: what solar's own code adds to it; shm: the same hop"
      echo "over shared-memory rings and eventfd wake-ups (direct-echo --hop-shm), a transport solar does not have"
      echo "(medians of rounds)"
    fi
    if [ "${#PR_RATIOS[@]}" -gt 0 ]; then
      echo "PER_REQUEST req/s over ROUND_ROBIN req/s (medians), same load, this run: ${PR_RATIOS[*]}"
    fi
  fi
  if [ "${#HOL_ROWS[@]}" -gt 0 ]; then
    echo
    echo "head of line: builtin:debug, 1 listener, $HOL_WORKERS workers; $HOL_FAST fast connections (echo 50 B)" \
      "+ $HOL_SLOW looping $HOL_PAYLOAD; closed loop, $HOL_DURATION measured after $WARMUP warm-up"
    printf '%-34s %10s %9s %9s %9s %9s %-16s %6s\n' "run" "fast req/s" "fast p50" "fast p99" "fast max" \
      "worst med" "stalled" "errors"
    printf '%s\n' "${HOL_ROWS[@]}"
    echo "stalled: fast connections whose own median latency is above $HOL_THRESHOLD (a pinned dispatch leaves"
    echo "those sharing a worker with a slow request waiting behind it); p50/p99/max: the fast requests only;"
    echo "worst med: the highest median latency of any single fast connection"
  fi
  echo "JSON: $OUT/*.json"
} | tee "$OUT/summary.txt"
exit "$FAILED"
