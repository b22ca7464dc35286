#!/usr/bin/env bash
# Faults under load, with real processes: a PostgreSQL and a Redis of this
# script's own (temporary, loopback only) and a gateway built from this
# checkout, driven by the load generator (hot-cycle; every fifth paid order refunded, a withdrawal after every seventh payment) while one fault is
# injected per run:
#
#   redis-restart   Redis stopped, then started again empty
#   pg-terminate    every PostgreSQL backend of the gateway terminated (pg_terminate_backend)
#   pg-restart      PostgreSQL stopped with -m immediate, then started again
#   pg-freeze       every PostgreSQL process stopped (SIGSTOP) for longer than DB_TIMEOUT, then resumed
#   gateway-kill    the gateway killed with SIGKILL mid-run, then started again
#   webhook-down    the merchant's webhook endpoint down for 8 s: connections
#                   refused for 4 s, then every delivery answered 503 for 4 s
#
# The fault comes a quarter into the timed phase, 4 s at the latest. The
# load generator is its merchant's webhook endpoint in every run (-webhooks:
# it verifies each delivery's signature and records the events by id).
#
# For each run it checks: the load generator's invariants (ledger check, one
# transfer per acknowledged payment and none for refused ones, card counters
# equal to the ledger, every unanswered request settled by resending its
# key after the run, every payment's webhook delivered and verified by the
# end of the wait after it); that every 503 carries Retry-After; that /readyz
# went not-ready during the fault (where the fault makes a dependency
# unavailable) and ready again; and that the gateway recovered without a
# restart (the same process served to the end), except in gateway-kill. In
# webhook-down the payments must not notice: no failed step, no 5xx, no
# request unanswered, /readyz ready throughout. It prints one table row per
# run and exits non-zero if any check failed.
#
#   loadtest/faults.sh [-d DURATION] [FAULT...]     (default: 20s, every fault)
#
# Ports (loopback): free ones the system picks, unless FAULTS_PG_PORT,
# FAULTS_REDIS_PORT or FAULTS_HTTP_PORT names one (which must be free).
# PostgreSQL's binaries: PG_BIN (default: pg_config --bindir, else the newest
# /usr/lib/postgresql/*/bin). As root, PostgreSQL runs as the user postgres.
# The Go toolchain: GO (default go).
# Everything is removed on exit (FAULTS_KEEP=1 keeps the files: logs, /readyz
# polls, the load generator's results).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=20s
if [ "${1:-}" = -d ]; then duration=$2; shift 2; fi
all=(redis-restart pg-terminate pg-restart pg-freeze gateway-kill webhook-down)
faults=("$@")
[ ${#faults[@]} -gt 0 ] || faults=("${all[@]}")
for f in "${faults[@]}"; do
  [[ " ${all[*]} " == *" $f "* ]] || { echo "faults: unknown fault $f (one of: ${all[*]})" >&2; exit 2; }
done

command -v python3 >/dev/null || { echo "faults: python3 is needed" >&2; exit 1; }
# The duration in seconds (Go's syntax: 20s, 1m, 1m30s), for the time of the fault.
seconds=$(python3 -c '
import re, sys
units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", sys.argv[1])
if not parts or "".join(n + u for n, u in parts) != sys.argv[1]:
    sys.exit("faults: -d %s: want a duration such as 20s or 1m" % sys.argv[1])
print(sum(float(n) * units[u] for n, u in parts))' "$duration") || exit 2
# The fault comes a quarter into the run, 4 s at the latest, so that even a
# short run has load before it and after it has passed.
inject_after=$(python3 -c 'import sys; print(round(min(4, float(sys.argv[1]) / 4), 1))' "$seconds")

command -v redis-server >/dev/null || { echo "faults: redis-server is needed" >&2; exit 1; }
pg_bin=${PG_BIN:-$(pg_config --bindir 2>/dev/null || true)}
[ -x "$pg_bin/initdb" ] || pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$pg_bin/initdb" ] || { echo "faults: no PostgreSQL server binaries (initdb, pg_ctl) found; install them or set PG_BIN" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "faults: as root, PostgreSQL runs as the user postgres, and there is none" >&2; exit 1; }
  command -v runuser >/dev/null || { echo "faults: as root, runuser (util-linux) is needed to run PostgreSQL as postgres" >&2; exit 1; }
fi

# free_port prints a loopback port no one listens on, chosen by the system.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
taken() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
pg_port=${FAULTS_PG_PORT:-$(free_port)}
redis_port=${FAULTS_REDIS_PORT:-$(free_port)}
http_port=${FAULTS_HTTP_PORT:-$(free_port)}
for p in "$pg_port" "$redis_port" "$http_port"; do
  if taken "$p"; then
    echo "faults: port $p is taken; name free ones (FAULTS_PG_PORT, FAULTS_REDIS_PORT, FAULTS_HTTP_PORT) or leave them unset" >&2
    exit 1
  fi
done
if [ "$pg_port" = "$redis_port" ] || [ "$pg_port" = "$http_port" ] || [ "$redis_port" = "$http_port" ]; then
  echo "faults: the ports must differ ($pg_port, $redis_port, $http_port)" >&2
  exit 1
fi
url=http://127.0.0.1:$http_port
db_timeout_ms=1000

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qrpay-faults.XXXXXX")
gw_pid= watch_pid= load_pid=

# PostgreSQL refuses to run as root: as root, its commands run as postgres.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_ctl() { as_pg "$pg_bin/pg_ctl" -D "$tmp/pg" "$@"; }
pg_start() {
  pg_ctl -w -t 30 -l "$tmp/pg.log" \
    -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $tmp/pg -c fsync=off -c max_connections=100" \
    start >/dev/null
}
psql_() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
redis_start() {
  redis-server --bind 127.0.0.1 --port "$redis_port" --daemonize yes --dir "$tmp" \
    --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log" --save "" --appendonly no
  for _ in $(seq 1 50); do
    [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  echo "faults: Redis did not start" >&2
  return 1
}
redis_stop() {
  local pid
  pid=$(cat "$tmp/redis.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$tmp/redis.pid"
}
stop_pid() { # pid: SIGTERM, then SIGKILL after 20 s
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
cleanup() {
  set +e
  stop_pid "$load_pid"
  stop_pid "$watch_pid"
  stop_pid "$gw_pid"
  # A frozen PostgreSQL must be resumed before it can stop.
  [ -f "$tmp/pg/postmaster.pid" ] && pkill -CONT -P "$(head -1 "$tmp/pg/postmaster.pid")" 2>/dev/null
  [ -f "$tmp/pg/postmaster.pid" ] && kill -CONT "$(head -1 "$tmp/pg/postmaster.pid")" 2>/dev/null
  [ -f "$tmp/pg/postmaster.pid" ] && pg_ctl -m immediate stop >/dev/null 2>&1
  redis_stop
  if [ -n "${FAULTS_KEEP:-}" ]; then echo "faults: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "faults: PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port, gateway on $url; files in $tmp" >&2
mkdir -p "$tmp/pg"
if [ "$(id -u)" = 0 ]; then
  chown postgres "$tmp" "$tmp/pg"
  as_pg test -w "$tmp/pg" ||
    { echo "faults: the user postgres cannot write to $tmp/pg; set TMPDIR to a directory it can reach" >&2; exit 1; }
fi
as_pg "$pg_bin/initdb" -D "$tmp/pg" -U postgres --auth=trust -E UTF8 --no-sync >"$tmp/initdb.log" 2>&1 ||
  { cat "$tmp/initdb.log" >&2; exit 1; }
pg_start
redis_start
echo "faults: building the gateway and the load generator" >&2
"${GO:-go}" build -o "$tmp/qrpay" ./cmd/qrpay
"${GO:-go}" build -o "$tmp/loadtest" ./loadtest

# The gateway runs as loadtest/bench.sh runs it: the load generator is one
# client driving a few keys flat out, so the per-client, per-wallet and
# per-key rate limits are off, as are the risk rules it trips by design,
# while every movement is still evaluated. Short deadlines and breaker
# pauses make each fault bite and pass within the run; the idempotency
# lease and the limit reservations' grace are short so that the keys a
# killed gateway held are free again, and the card limit reservations it
# never settled are settled by the ledger, before the checks after the run
# (with the defaults, 60 s and 2 min later). Webhooks may come to this
# machine (the load generator's endpoint); an undelivered event is retried
# within seconds, not the production schedule's 10 s to 8 h, and a delivery
# a killed gateway had claimed is free again after 2 × WEBHOOK_TIMEOUT, so
# that every event is delivered within the load generator's wait. PostgreSQL
# runs with fsync off, which loses nothing when a process dies, only when the
# machine does; commits stay synchronous, so an immediate stop loses nothing
# acknowledged.
gw_start() { # database
  env -i PATH="$PATH" HOME="$tmp" PORT="$http_port" \
    DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/$1?sslmode=disable" \
    REDIS_URL="redis://127.0.0.1:$redis_port/0" \
    OPERATOR_TOKEN=faults-operator-token SECRET_PEPPER=faults-pepper-0123456789 \
    CARD_TOKEN_KEY=faults-card-key-0123456789 MERCHANT_SECRET_KEY=faults-merchant-key-0123456789 \
    OTP_DELIVERY=outbox OTP_LIMIT_PER_PHONE=off ARGON2_MEMORY_KIB=1024 ARGON2_TIME=1 \
    LOGIN_LIMIT_PER_CLIENT=off PIN_LIMIT_PER_WALLET=off MERCHANT_KEY_LIMIT=off \
    RISK_RULES=true RISK_CARD_PAYMENTS_PER_MINUTE=0 RISK_CARD_PAYMENTS_DECLINE=0 RISK_CARD_MERCHANTS_PER_10M=0 \
    RISK_NEW_CARD_AMOUNT=0 RISK_NEW_RECIPIENT_AGE=0 \
    DB_TIMEOUT=${db_timeout_ms}ms REDIS_TIMEOUT=500ms BREAKER_OPEN_FOR=1s DB_MAX_CONNS=16 IDEMPOTENCY_LEASE=10s \
    LIMIT_RESERVATION_GRACE=5s \
    WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8 WEBHOOK_TIMEOUT=2s WEBHOOK_RETRY_SCHEDULE=1s,1s,2s,2s,3s,5s,5s,10s,10s,10s,10s \
    LOG_LEVEL=warn ACCESS_LOG=false \
    "$tmp/qrpay" serve >>"$tmp/gateway.log" 2>&1 &
  gw_pid=$!
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && return 0
    kill -0 "$gw_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "faults: the gateway did not become ready:" >&2
  tail -20 "$tmp/gateway.log" >&2
  return 1
}

# watch_ready writes one line per /readyz poll: the status, 000 when no
# answer came.
watch_ready() {
  while :; do
    curl -s -o /dev/null -m 2 -w '%{http_code}\n' "$url/readyz" || true
    sleep 0.1
  done
}

inject() { # fault
  case $1 in
  redis-restart)
    redis_stop
    sleep 3
    redis_start
    ;;
  pg-terminate)
    for _ in 1 2 3; do
      psql_ -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
        WHERE datname = '$db' AND pid <> pg_backend_pid()" >/dev/null
      sleep 0.5
    done
    ;;
  pg-restart)
    pg_ctl -m immediate stop >/dev/null
    sleep 3
    pg_start
    ;;
  pg-freeze)
    local pm
    pm=$(head -1 "$tmp/pg/postmaster.pid")
    kill -STOP "$pm"
    pkill -STOP -P "$pm"
    sleep $((3 * db_timeout_ms / 1000))
    pkill -CONT -P "$pm"
    kill -CONT "$pm"
    ;;
  gateway-kill)
    kill -9 "$gw_pid"
    wait "$gw_pid" 2>/dev/null || true
    sleep 1
    gw_start "$db"
    ;;
  webhook-down)
    # The load generator's endpoint goes down itself (-webhook-outage).
    sleep "$webhook_outage"
    ;;
  esac
}

webhook_outage=8
failed=0
rows=()
for fault in "${faults[@]}"; do
  db=faults_${fault//-/_}
  psql_ -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  redis-cli -p "$redis_port" flushall >/dev/null
  : >"$tmp/gateway.log"
  gw_start "$db"
  first_pid=$gw_pid
  # Emptied here, not by the redirection of the background job, which may
  # come after the first look for the line that says the load runs.
  : >"$tmp/load.log"
  : >"$tmp/result.json"
  outage=()
  [ "$fault" = webhook-down ] && outage=(-webhook-outage "${inject_after}s+${webhook_outage}s")
  OPERATOR_TOKEN=faults-operator-token "$tmp/loadtest" -url "$url" -scenario hot-cycle -duration "$duration" \
    -concurrency 8 -payers 20 -refund-every 5 -withdraw-every 7 -webhooks 127.0.0.1:0 -webhook-wait 60s "${outage[@]}" -json >"$tmp/result.json" 2>"$tmp/load.log" &
  load_pid=$!
  for _ in $(seq 1 1200); do grep -q '^running' "$tmp/load.log" && break; sleep 0.1; done
  grep -q '^running' "$tmp/load.log" || { cat "$tmp/load.log" >&2; echo "faults: $fault: the load never started" >&2; exit 1; }
  sleep "$inject_after"
  echo "faults: $fault: injecting" >&2
  watch_ready >"$tmp/ready.log" 2>/dev/null &
  watch_pid=$!
  inject "$fault"
  status=0
  wait "$load_pid" || status=$?
  load_pid=
  sleep 0.5
  stop_pid "$watch_pid"
  watch_pid=

  checks=()
  unset ok requests s2 s4 s5 s503 s503bad none lost unresolved dup errors hooks hook_dups hook_503 hook_last codes
  [ -s "$tmp/result.json" ] || { cat "$tmp/load.log" >&2; checks+=("the load generator printed no result (exit $status)"); }
  if [ -s "$tmp/result.json" ]; then
    read -r ok requests s2 s4 s5 s503 s503bad none lost unresolved dup errors hooks hook_dups hook_503 hook_last codes < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1])); a = r["answers"]; h = r.get("webhooks") or {}
codes = ",".join("%s %d" % kv for kv in sorted(r["errors_by_code"].items())) or "none"
print(r["invariants_ok"], a["requests"], a["2xx"], a["4xx"], a["5xx"], a["503"], a["503_without_retry_after"],
      a["no_answer"], a["lost"], a["unresolved"], a["duplicated"], r["errors"],
      "%s/%s" % (h.get("delivered", "?"), h.get("expected", "?")), h.get("duplicates", "?"), h.get("refused", "?"),
      "%.1f" % h.get("settled_after_s", 0), codes)' "$tmp/result.json")
    [ "$ok" = True ] || checks+=("invariants violated: $(python3 -c 'import json,sys; print("; ".join(json.load(open(sys.argv[1]))["violations"][:5]))' "$tmp/result.json")")
    [ "$s503bad" = 0 ] || checks+=("$s503bad answers 503 without Retry-After")
    if [ "$fault" = webhook-down ]; then
      [ "$errors" = 0 ] && [ "$s5" = 0 ] && [ "$none" = 0 ] ||
        checks+=("the payments noticed the webhook endpoint down: $errors failed steps ($codes), $s5 5xx, $none unanswered")
      [ "$hook_503" != 0 ] || checks+=("no delivery came while the endpoint answered 503")
    fi
  fi
  # The gateway's record of its webhook deliveries: attempts that got no
  # answer (a refused or cut connection, a timeout), attempts answered 5xx,
  # and the most attempts one event took.
  hook_attempts=$(psql_ -d "$db" -At -F ' ' -c "SELECT count(*) FILTER (WHERE status_code IS NULL),
      count(*) FILTER (WHERE status_code >= 500), coalesce(max(attempt), 0) FROM webhook_attempts" 2>/dev/null |
    awk '{printf "%d unanswered, %d 5xx; at most %d per event", $1, $2, $3}') || hook_attempts="?"
  # /readyz from the fault on: not ready at some point (no answer counts),
  # and ready at the end.
  not_ready=$(grep -cv '^200$' "$tmp/ready.log" || true)
  last=$(tail -1 "$tmp/ready.log")
  case $fault in
  pg-terminate) ;; # the pool opens new connections at once: /readyz need not notice
  webhook-down) [ "$not_ready" = 0 ] || checks+=("/readyz went not-ready $not_ready times: a merchant's endpoint is no dependency") ;;
  *) [ "$not_ready" -gt 0 ] || checks+=("/readyz never went not-ready") ;;
  esac
  [ "$last" = 200 ] || checks+=("/readyz not ready at the end ($last)")
  if [ "$fault" != gateway-kill ] && [ "$gw_pid" != "$first_pid" ]; then
    checks+=("the gateway was restarted")
  fi
  kill -0 "$gw_pid" 2>/dev/null || checks+=("the gateway is not running at the end")
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] || checks+=("the gateway is not ready at the end")
  stop_pid "$gw_pid"
  gw_pid=

  verdict=ok
  if [ ${#checks[@]} -gt 0 ]; then
    verdict="FAILED: $(IFS='; '; echo "${checks[*]}")"
    failed=1
    echo "faults: $fault: $verdict" >&2
    tail -20 "$tmp/gateway.log" >&2
  fi
  [ -n "${FAULTS_KEEP:-}" ] && cp "$tmp/result.json" "$tmp/result-$fault.json" && cp "$tmp/ready.log" "$tmp/ready-$fault.log" &&
    cp "$tmp/gateway.log" "$tmp/gateway-$fault.log"
  rows+=("| $fault | ${requests:-?} | ${s2:-?} | ${s4:-?} | ${s5:-?} | ${s503:-?} | ${none:-?} | ${lost:-?} | ${unresolved:-?} | ${dup:-?} | $not_ready | ${codes:-?} | ${hooks:-?} | ${hook_dups:-?} | ${hook_attempts:-?} | ${hook_last:-?} | ${ok:-?} | $verdict |")
  echo "faults: $fault: done" >&2
done

echo "| fault | requests | 2xx | 4xx | 5xx | 503 | unanswered | lost, resent after the run | still unknown | duplicated | /readyz polls not ready | failed steps by code | webhooks delivered/expected | duplicate deliveries | failed webhook attempts | last webhook, s after the load | invariants | result |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | --- | --- |"
printf '%s\n' "${rows[@]}"
exit $failed
