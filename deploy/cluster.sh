#!/bin/bash
# deploy/cluster.sh: the whole KV deployment on one machine, on loopback
# addresses: etcd, two PostgreSQL nodes under Patroni (synchronous
# replication), two solar hosts, HAProxy in front. For trying the kit, and for
# the cluster test (test/cluster/cluster_test.py). On real machines, use the
# same files with the real addresses (deploy/README.md).
#
#   deploy/cluster.sh up      [DIR]   start everything, wait until it serves
#   deploy/cluster.sh down    [DIR]   stop everything, remove DIR
#   deploy/cluster.sh status  [DIR]   who runs, who leads, what HAProxy sees
#   deploy/cluster.sh start-solar a|b [DIR]   start one solar host (again)
#   deploy/cluster.sh start-pg 1|2 [DIR]      start one Patroni node (again)
#
# DIR defaults to /tmp/solar-cluster; it holds every data directory, config,
# log and pid file, and nothing is left outside it. Must run as root: each
# engine runs as its own unprivileged user (etcd, postgres, haproxy; solar's
# workers as nobody). Exit status 3: an engine is not installed (`make deps`
# installs them: packages etcd-server, patroni, haproxy, postgresql).
#
# Addresses (distinct loopback addresses, the same ports as on real hosts):
#   etcd 127.0.0.10:2379   pg1 127.0.0.11:5432 (Patroni 8008)   pg2 127.0.0.12
#   HAProxy 127.0.0.20:7700 (stats :8404)   solar a 127.0.0.21:7700 (admin
#   :7702)   solar b 127.0.0.22
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CMD=${1:-}
ARG=""
case "$CMD" in
  start-solar|start-pg) ARG=${2:?"usage: $0 $CMD NAME [DIR]"}; DIR=${3:-/tmp/solar-cluster} ;;
  *) DIR=${2:-/tmp/solar-cluster} ;;
esac

ETCD_ADDR=127.0.0.10
PG_ADDR=(127.0.0.11 127.0.0.12)
FRONTEND=127.0.0.20
SOLAR_ADDR=(127.0.0.21 127.0.0.22)
SOLAR_BIN=${SOLAR_BIN:-$HERE/../build/solar}
SUPERUSER_PASSWORD=${SUPERUSER_PASSWORD:-cluster-superuser}
REPLICATION_PASSWORD=${REPLICATION_PASSWORD:-cluster-replication}
SOLAR_DB_PASSWORD=${SOLAR_DB_PASSWORD:-cluster-solar}

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }

pg_bin() {
  local best=""
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/postgres" ] && best=$d; done
  echo "$best"
}

check_installed() {
  local missing=""
  for tool in etcd etcdctl patroni patronictl haproxy curl setpriv; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
  done
  [ -n "$(pg_bin)" ] || missing="$missing postgresql"
  [ -x "$SOLAR_BIN" ] || missing="$missing solar($SOLAR_BIN; run make)"
  if [ -n "$missing" ]; then
    log "not installed:$missing (make deps installs them)"
    exit 3
  fi
  [ "$(id -u)" = 0 ] || die "must run as root (each engine then runs as its own user)"
}

# fill TEMPLATE OUT KEY=VALUE...: the template with @KEY@ replaced.
fill() {
  local template=$1 out=$2
  shift 2
  local text
  text=$(cat "$template")
  for kv in "$@"; do text=${text//@${kv%%=*}@/${kv#*=}}; done
  printf '%s\n' "$text" >"$out"
}

# run_as USER LOGFILE PIDFILE COMMAND...: starts COMMAND as USER in the
# background (setpriv execs it: the pid is the engine's own).
run_as() {
  local user=$1 logfile=$2 pidfile=$3
  shift 3
  # Started in its own directory (where the pid file goes), which the user
  # owns: the working directory may be a checkout it cannot enter (a clone
  # under a 0700 directory), and Patroni's workers chdir back to it.
  (cd "$(dirname "$pidfile")" && exec setsid setpriv --reuid="$user" --regid="$user" --init-groups -- "$@") \
    >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { log "$what: not within ${seconds}s"; return 1; }
    sleep 0.2
  done
}

http_ok() { [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1")" = 200 ]; }

start_etcd() {
  local d=$DIR/etcd
  mkdir -p "$d/data"
  chown -R etcd:etcd "$d"
  chmod 700 "$d/data"
  fill "$HERE/etcd.conf.yml.in" "$d/etcd.conf.yml" NAME=etcd1 DIR="$d" ADDR=$ETCD_ADDR
  run_as etcd "$d/etcd.log" "$d/pid" etcd --config-file "$d/etcd.conf.yml"
  wait_for 30 "etcd" etcdctl --endpoints "http://$ETCD_ADDR:2379" endpoint health
}

start_pg() {
  local n=$1 addr=${PG_ADDR[$(($1 - 1))]} d=$DIR/pg$1
  mkdir -p "$d/log"
  # Patroni runs the hook as postgres, who may not reach the checkout (a
  # clone under a 0700 directory, as mktemp -d makes): it runs a copy in $d.
  cp "$HERE/post_bootstrap.sh" "$d/post_bootstrap.sh"
  chmod 755 "$d/post_bootstrap.sh"
  if [ ! -f "$d/patroni.yml" ]; then
    fill "$HERE/patroni.yml.in" "$d/patroni.yml" NAME="pg$n" ADDR="$addr" DIR="$d" ETCD="$ETCD_ADDR:2379" \
      PGBIN="$(pg_bin)" DEPLOY="$d" SUPERUSER_PASSWORD="$SUPERUSER_PASSWORD" \
      REPLICATION_PASSWORD="$REPLICATION_PASSWORD"
  fi
  chown -R postgres:postgres "$d"
  chmod 700 "$d"
  run_as postgres "$d/patroni.out" "$d/pid" env HOME="$d" SOLAR_DB_PASSWORD="$SOLAR_DB_PASSWORD" \
    patroni "$d/patroni.yml"
}

# The Patroni REST API: 200 on /primary from the leader, on /replica from a
# streaming standby, on /sync from the synchronous standby.
pg_is() { http_ok "http://${PG_ADDR[$(($1 - 1))]}:8008/$2"; }

start_solar() {
  local i=$1 name=solar-$1 idx
  idx=$([ "$1" = a ] && echo 0 || echo 1)
  local d=$DIR/$name
  mkdir -p "$d/log" "$d/state"
  chmod 755 "$d"
  chown nobody "$d/state"  # the workers' own (nothing is kept there with PostgreSQL)
  fill "$HERE/solar-host.conf.in" "$d/solar.conf" ADDR="${SOLAR_ADDR[$idx]}" DIR="$d" \
    PG_HOSTS="${PG_ADDR[0]},${PG_ADDR[1]}" SOLAR_DB_PASSWORD="$SOLAR_DB_PASSWORD"
  chmod 600 "$d/solar.conf"  # it holds the database password
  setsid "$SOLAR_BIN" -c "$d/solar.conf" >>"$d/solar.out" 2>&1 </dev/null &
  echo $! >"$d/pid"
  wait_for 30 "solar $i" http_ok "http://${SOLAR_ADDR[$idx]}:7702/health"
}

start_haproxy() {
  local d=$DIR/haproxy servers=""
  mkdir -p "$d"
  servers+="    server a ${SOLAR_ADDR[0]}:7700 check port 7702"$'\n'
  servers+="    server b ${SOLAR_ADDR[1]}:7700 check port 7702"
  fill "$HERE/haproxy.cfg.in" "$d/haproxy.cfg" FRONTEND=$FRONTEND SERVERS="$servers"
  haproxy -c -q -f "$d/haproxy.cfg" || die "haproxy refuses $d/haproxy.cfg"
  # -db: stay in the foreground (this script keeps the pid); it drops to the
  # haproxy user itself.
  setsid haproxy -db -f "$d/haproxy.cfg" >>"$d/haproxy.log" 2>&1 </dev/null &
  echo $! >"$d/pid"
  wait_for 30 "haproxy, both solar hosts up" haproxy_up 2
}

# haproxy_up N: HAProxy sees N solar hosts UP.
haproxy_up() {
  [ "$(curl -s -m 2 "http://$FRONTEND:8404/;csv" | grep -c '^solar,[ab],.*,UP')" -ge "$1" ]
}

up() {
  check_installed
  if [ -d "$DIR" ] && ls "$DIR"/*/pid >/dev/null 2>&1; then
    die "$DIR holds a cluster already (deploy/cluster.sh down $DIR first)"
  fi
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  log "etcd on $ETCD_ADDR"
  start_etcd
  log "PostgreSQL pg1 on ${PG_ADDR[0]} (Patroni initialises the cluster)"
  start_pg 1
  wait_for 90 "pg1 as primary" pg_is 1 primary
  log "PostgreSQL pg2 on ${PG_ADDR[1]} (a copy of pg1, then its synchronous standby)"
  start_pg 2
  wait_for 90 "pg2 as synchronous standby" pg_is 2 sync
  log "solar hosts on ${SOLAR_ADDR[0]} and ${SOLAR_ADDR[1]}"
  start_solar a
  start_solar b
  log "HAProxy on $FRONTEND:7700"
  start_haproxy
  log "up: KV through HAProxy at $FRONTEND:7700 (status: $0 status $DIR)"
}

# stop PIDFILE SECONDS: TERM, then KILL after SECONDS.
stop_pid() {
  local pidfile=$1 seconds=$2
  alive "$pidfile" || return 0
  local pid
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + seconds))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$pidfile: pid $pid did not stop in ${seconds}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

# A postmaster whose Patroni is gone (killed, say) is stopped by its pid file.
stop_postmaster() {
  local pidfile=$1/data/postmaster.pid
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(head -1 "$pidfile")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q postgres "/proc/$pid/comm" 2>/dev/null; then
    kill -QUIT "$pid" 2>/dev/null || true
    sleep 1
  fi
}

down() {
  [ -d "$DIR" ] || { log "$DIR: nothing to stop"; return 0; }
  stop_pid "$DIR/haproxy/pid" 10
  for h in a b; do stop_pid "$DIR/solar-$h/pid" 20; done
  for n in 2 1; do
    stop_pid "$DIR/pg$n/pid" 30
    stop_postmaster "$DIR/pg$n"
  done
  stop_pid "$DIR/etcd/pid" 10
  rm -rf "$DIR"
  log "down: $DIR removed"
}

status() {
  for f in "$DIR"/*/pid; do
    [ -f "$f" ] || continue
    printf '%-10s pid %-8s %s\n' "$(basename "$(dirname "$f")")" "$(cat "$f")" "$(alive "$f" && echo running || echo stopped)"
  done
  patronictl -c "$DIR/pg1/patroni.yml" list 2>/dev/null || true
  curl -s -m 2 "http://$FRONTEND:8404/;csv" | awk -F, '$1 == "solar" { print "haproxy: " $2 " " $18 }' || true
}

case "$CMD" in
  up) up ;;
  down) down ;;
  status) status ;;
  start-solar) check_installed; start_solar "$ARG" ;;
  start-pg) check_installed; start_pg "$ARG" ;;
  *) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
