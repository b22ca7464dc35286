#!/usr/bin/env bash
# One comparable run on this machine: the PostgreSQL limits (limit/limit.sh)
# and then each load scenario against a freshly built gateway on its own
# database, one after the other, so that the ratios in docs/performance.md
# come from one run. Results go to $OUT (default bench-results/): one JSON
# object per scenario and limits.json; with PROFILE=1 also a CPU profile of
# the gateway during each scenario's timed phase. The gateway runs with a
# cheap argon2 setting (ARGON2_MEMORY_KIB=1024, ARGON2_TIME=1) so that
# opening $PAYERS wallets takes seconds; wallet-mix's transfers verify the
# PIN with it too, so they cost less CPU than with production settings.
# The load generator is one client signing in every wallet and driving a
# few merchant keys flat out, so the per-address, per-wallet and per-key
# rate limits are off. So are the risk rules that a load generator trips by
# design — a card paying dozens of times a minute, at hundreds of merchants,
# right after it was bound, to wallets opened a moment ago (docs/risk.md) —
# while every movement is still evaluated: RISK_RULES=false turns the
# evaluation off too (loadtest/risk.sh compares the two).
#
# The limits are each the best of several client counts; so is each
# scenario, run once per number of steps in flight in $CONCURRENCY (default
# "32 128"): the gateway's batches, shared reads and pipelines amortize over
# what is in flight, so its figure, like PostgreSQL's, depends on it. Each
# run is printed, and the best of each scenario at the end.
#
#   loadtest/bench.sh [DURATION]            # default 20s per scenario and concurrency
#   SCENARIOS="hot-pay hot-cycle" loadtest/bench.sh 30s
#   CONCURRENCY="32 64 128 256" SCENARIOS=hot-pay loadtest/bench.sh 15s
#   RATE=160 SCENARIOS=hot-cycle loadtest/bench.sh 30s   # a fixed arrival rate (steps/s) instead of flat out (at most $CONCURRENCY in flight)
#   PGPORT=5433 PGSTAT=1 loadtest/bench.sh 15s          # another server; each statement's cost per payment
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20s}
out=${OUT:-bench-results}
scenarios=${SCENARIOS:-"hot-pay hot-cycle spread-cycle static-pay wallet-mix"}
concurrency=${CONCURRENCY:-"32 128"}
port=${BENCH_PORT:-18181}
# Many wallets, each paying rarely, as in life: with a few hundred, two
# committers' batches often want the same wallet's row and wait for it.
payers=${PAYERS:-1000}
debug=${BENCH_DEBUG_PORT:-18182}
db=qrpay_bench
mkdir -p "$out"
batches() { # the gateway's ledger batch counters: batches, transfers, seconds
	curl -s "http://127.0.0.1:$debug/metrics" | awk '
		/^qrpay_ledger_batch_size_count/ {n = $2} /^qrpay_ledger_batch_size_sum/ {t = $2}
		/^qrpay_ledger_batch_seconds_sum/ {d = $2} END {print n + 0, t + 0, d + 0}'
}
seconds() { # a Go duration of whole seconds or minutes: 20s, 1m
	case "$1" in
	*m) echo $(( ${1%m} * 60 )) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}
export PGHOST=127.0.0.1 PGUSER=postgres PGPORT=${PGPORT:-5432}
psql -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
# PGSTAT=1: the statements' cost per payment, from pg_stat_statements, after
# each scenario. The server must preload it (shared_preload_libraries =
# 'pg_stat_statements', and pg_stat_statements.track_planning = on for the
# planning column); docs/performance.md shows a scratch server that does.
if [ "${PGSTAT:-0}" = 1 ] && ! psql -q -d "$db" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
	-c "SELECT 1 FROM pg_stat_statements LIMIT 1" >/dev/null 2>&1; then
	echo "PGSTAT=1: the server on port $PGPORT does not load pg_stat_statements; no statement costs" >&2
	PGSTAT=0
fi

echo "== PostgreSQL limits (one payment per commit)"
loadtest/limit/limit.sh -json | tee "$out/limits.json"

CGO_ENABLED=0 go build -o bin/qrpay ./cmd/qrpay
go build -o bin/loadtest ./loadtest
export OPERATOR_TOKEN=bench-operator-token
prefix="bench$(date +%s):"
DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/$db?sslmode=disable" REDIS_PREFIX="$prefix" \
	PORT=$port DEBUG_ADDR=127.0.0.1:$debug ACCESS_LOG=false LOG_LEVEL=warn \
	SECRET_PEPPER=bench-pepper-0123456789 CARD_TOKEN_KEY=bench-card-key-0123456789 \
	ARGON2_MEMORY_KIB=1024 ARGON2_TIME=1 \
	LOGIN_LIMIT_PER_CLIENT=off PIN_LIMIT_PER_WALLET=off MERCHANT_KEY_LIMIT=off \
	OTP_DELIVERY=outbox OTP_LIMIT_PER_PHONE=off \
	RISK_RULES=${RISK_RULES:-true} RISK_CARD_PAYMENTS_PER_MINUTE=0 RISK_CARD_PAYMENTS_DECLINE=0 RISK_CARD_MERCHANTS_PER_10M=0 \
	RISK_NEW_CARD_AMOUNT=0 RISK_NEW_RECIPIENT_AGE=0 \
	MERCHANT_SECRET_KEY=bench-merchant-key-0123456789 ./bin/qrpay serve >"$out/gateway.log" 2>&1 &
gw=$!
cleanup() {
	kill $gw 2>/dev/null; wait $gw 2>/dev/null || true
	# The run's Redis keys (idempotency records live 48 h) would slow every
	# later SCAN of the keyspace: delete them.
	redis-cli --scan --pattern "$prefix*" | xargs -r -n 1000 redis-cli del >/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done

for s in $scenarios; do
	for c in $concurrency; do
		tag="$s-c$c"
		echo "== $s, $c in flight ($duration)"
		before=$(batches)
		profile=()
		if [ -n "${RATE:-}" ]; then
			profile+=(-rate "$RATE")
		fi
		if [ "${PROFILE:-0}" = 1 ]; then
			profile+=(-profile "http://127.0.0.1:$debug" -profile-out "$out/$tag.cpu.pprof")
		fi
		# The CPU each process of the stack used during the timed phase (less
		# its first and last second): loadtest/cpu.py waits for the load
		# generator's "running" line.
		: >"$out/$tag.log"
		loadtest/cpu.py "$(( $(seconds "$duration") - 2 ))" "$gw" "$out/$tag.log" >"$out/$tag.cpu.json" &
		cpu=$!
		if [ "${PGSTAT:-0}" = 1 ]; then
			# The statistics of the timed phase (less its first second, as the CPU
			# sample), kept in a table when the load generator starts its checks.
			(until grep -q running "$out/$tag.log" 2>/dev/null; do sleep 0.1; done; sleep 1
				psql -q -d "$db" -c "SELECT pg_stat_statements_reset()" >/dev/null
				until grep -q checking "$out/$tag.log" 2>/dev/null; do sleep 0.1; done
				psql -q -d "$db" -c "DROP TABLE IF EXISTS bench_statements" -c "CREATE TABLE bench_statements AS
					SELECT * FROM pg_stat_statements WHERE toplevel AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())" \
					>/dev/null) &
			pgstat=$!
		fi
		./bin/loadtest -url "http://127.0.0.1:$port" -scenario "$s" -duration "$duration" -concurrency "$c" -payers "$payers" -cards 1 \
			"${profile[@]}" -json >"$out/$tag.json" 2> >(tee "$out/$tag.log" >&2) || true
		# By now its window has closed; if the run failed before it opened, stop it.
		kill $cpu 2>/dev/null || true
		wait $cpu 2>/dev/null || true
		python3 - "$out/$tag.json" "$out/limits.json" "$out/$tag.cpu.json" "$c" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); l = json.load(open(sys.argv[2]))
lim = l["spread_payments_per_sec"] if r["scenario"] == "spread-cycle" else l["hot_payments_per_sec"]
print(f'{r["scenario"]} ({sys.argv[4]} in flight): {r["payments_per_sec"]:.0f} payments/s = {r["payments_per_sec"]/lim:.2f}x the limit {lim}/s;'
      f' cycles/s {r.get("cycles_per_sec", 0):.0f}; p50 {r["p50_ms"]:.1f} p99 {r["p99_ms"]:.1f} p99.9 {r["p999_ms"]:.1f} ms;'
      f' errors {r["errors"]}; invariants_ok {r["invariants_ok"]}')
try:
    c = json.load(open(sys.argv[3]))
except (OSError, ValueError):
    sys.exit(0)
n = r["payments_per_sec"] * c["window_s"]
if n > 0:
    parts = ("gateway", "postgres", "redis", "loadtest", "other")
    busy = sum(c[k] for k in parts)
    lc = l.get("spread_cpu_ms" if r["scenario"] == "spread-cycle" else "hot_cpu_ms")
    print("    CPU ms per payment: " + ", ".join(f"{k} {1000 * c[k] / n:.2f}" for k in parts) +
          f"; total {1000 * busy / n:.2f} ({100 * busy / (c['window_s'] * c['cores']):.0f}% of {c['cores']} cores busy)" +
          (f"; the limit's: postgres {lc['postgres']:.2f}, pgbench {lc['pgbench']:.2f}" if lc else ""))
PY
		if [ "${PGSTAT:-0}" = 1 ]; then
			# It took its snapshot as the checks began; if the run failed before, stop it.
			for _ in $(seq 1 50); do kill -0 $pgstat 2>/dev/null || break; sleep 0.2; done
			kill $pgstat 2>/dev/null || true
			wait $pgstat 2>/dev/null || true
			# Per payment of the timed phase (less its first second, before the reset).
			n=$(python3 -c 'import json, sys; print(max(1, round(json.load(open(sys.argv[1]))["payments_per_sec"] * (int(sys.argv[2]) - 1))))' \
				"$out/$tag.json" "$(seconds "$duration")")
			psql -q -d "$db" -P footer=off -c "SELECT round((total_exec_time / $n)::numeric, 3) AS exec_ms_per_payment,
					round((total_plan_time / $n)::numeric, 3) AS plan_ms_per_payment, calls, plans,
					left(regexp_replace(query, '\s+', ' ', 'g'), 70) AS statement
				FROM bench_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 12" | tee "$out/$tag.pgstat.txt" || true
		fi
		# The ledger's batches of this run, its setup included (the gateway's
		# counters run on across runs).
		echo "$before $(batches)" | awk '{n = $4 - $1; if (n > 0) printf "    ledger: %d batches of %.1f transfers, %.1f ms each\n", n, ($5 - $2) / n, 1000 * ($6 - $3) / n}'
	done
done

echo "== best of each scenario (in flight: $concurrency)"
python3 - "$out" "$concurrency" $scenarios <<'PY'
import json, sys
out, levels = sys.argv[1], sys.argv[2].split()
l = json.load(open(f"{out}/limits.json"))
for s in sys.argv[3:]:
    runs = []
    for c in levels:
        try:
            runs.append((json.load(open(f"{out}/{s}-c{c}.json")), c))
        except (OSError, ValueError):
            pass
    if not runs:
        continue
    r, c = max(runs, key=lambda rc: rc[0]["payments_per_sec"])
    lim = l["spread_payments_per_sec"] if s == "spread-cycle" else l["hot_payments_per_sec"]
    print(f'{s}: {r["payments_per_sec"]:.0f} payments/s = {r["payments_per_sec"]/lim:.2f}x the limit {lim}/s, with {c} in flight'
          f' (p99 {r["p99_ms"]:.1f} ms; errors {r["errors"]}; invariants_ok {r["invariants_ok"]})')
PY
