#!/usr/bin/env bash
# The cost of the risk checks on the hot pay path: hot-pay against a gateway
# with the rules off, then on, then off and on again, in one run on one
# database, each with fresh wallets and orders. "On" evaluates every
# payment (one Redis script call: docs/risk.md) with the velocity and
# new-card thresholds turned off, since the load generator pays each card
# dozens of times a minute right after binding it; so the figure is the
# cost of evaluating, not of refusing. The machine is shared: compare the
# ratio of each on-run to the off-run before it.
#
#   loadtest/risk.sh [DURATION]            # default 15s per run
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15s}
out=${OUT:-bench-results}
port=${BENCH_PORT:-18191}
payers=${PAYERS:-1000}
db=qrpay_riskbench
mkdir -p "$out"
export PGHOST=127.0.0.1 PGUSER=postgres
psql -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
CGO_ENABLED=0 go build -o bin/qrpay ./cmd/qrpay
go build -o bin/loadtest ./loadtest
export OPERATOR_TOKEN=bench-operator-token
prefix="riskbench$(date +%s):"
gw=
cleanup() {
	if [ -n "$gw" ]; then kill "$gw" 2>/dev/null; wait "$gw" 2>/dev/null || true; fi
	redis-cli --scan --pattern "$prefix*" | xargs -r -n 1000 redis-cli del >/dev/null || true
}
trap cleanup EXIT
for rules in false true false true; do
	DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" REDIS_PREFIX="$prefix" \
		PORT=$port ACCESS_LOG=false LOG_LEVEL=warn \
		SECRET_PEPPER=bench-pepper-0123456789 CARD_TOKEN_KEY=bench-card-key-0123456789 \
		ARGON2_MEMORY_KIB=1024 ARGON2_TIME=1 \
		LOGIN_LIMIT_PER_CLIENT=off PIN_LIMIT_PER_WALLET=off MERCHANT_KEY_LIMIT=off \
		RISK_RULES=$rules RISK_CARD_PAYMENTS_PER_MINUTE=0 RISK_CARD_PAYMENTS_DECLINE=0 RISK_NEW_CARD_AMOUNT=0 \
		MERCHANT_SECRET_KEY=bench-merchant-key-0123456789 ./bin/qrpay serve >"$out/risk-gateway.log" 2>&1 &
	gw=$!
	for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
	./bin/loadtest -url "http://127.0.0.1:$port" -scenario hot-pay -duration "$duration" -payers "$payers" -cards 1 \
		-json >"$out/risk-$rules.json" || true
	python3 - "$out/risk-$rules.json" "$rules" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f'rules {sys.argv[2]:5}: hot-pay {r["payments_per_sec"]:.0f} payments/s; p50 {r["p50_ms"]:.1f} p99 {r["p99_ms"]:.1f} ms;'
      f' errors {r["errors"]}; invariants_ok {r["invariants_ok"]}')
PY
	kill "$gw"; wait "$gw" 2>/dev/null || true
	gw=
done
