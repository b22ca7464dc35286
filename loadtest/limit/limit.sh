#!/usr/bin/env bash
# Measures the one-payment-per-commit PostgreSQL limit on this machine, for
# the pay path's figures to stand beside (docs/performance.md):
#   hot    — every payment to one merchant, best of 1, 2, 4 and 8 clients;
#   spread — merchants drawn from 1,000, best of 2, 4, 8 and 16 clients.
# Each payment is one round trip to pay() in schema.sql. Uses its own
# database (LIMIT_DATABASE, default qrpay_limit) on the server of
# DATABASE_URL's host, and prints one line per scenario, or JSON with -json.
#
#   loadtest/limit/limit.sh [-duration 10] [-json]
set -euo pipefail
cd "$(dirname "$0")"
duration=10
json=false
while [ $# -gt 0 ]; do
	case "$1" in
	-duration) duration="$2"; shift 2 ;;
	-json) json=true; shift ;;
	*) echo "usage: $0 [-duration SECONDS] [-json]" >&2; exit 2 ;;
	esac
done
host=${PGHOST:-127.0.0.1}
port=${PGPORT:-5432}
user=${PGUSER:-postgres}
db=${LIMIT_DATABASE:-qrpay_limit}
export PGHOST=$host PGPORT=$port PGUSER=$user
psql -qAt -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
	|| psql -q -d postgres -c "CREATE DATABASE $db" >/dev/null
psql -q -d "$db" -v ON_ERROR_STOP=1 -f schema.sql >/dev/null 2>&1

best() { # script, clients...
	local script=$1 best=0 at=0
	shift
	for c in "$@"; do
		local tps
		tps=$(pgbench -n -M prepared -c "$c" -j "$(( c < 2 ? c : 2 ))" -T "$duration" -f "$script" "$db" 2>/dev/null \
			| awk '/^tps = / {printf "%d", $3}')
		if [ "${tps:-0}" -gt "$best" ]; then best=$tps; at=$c; fi
	done
	echo "$best $at"
}
read -r hot hot_c < <(best hot.pgbench 1 2 4 8)
read -r spread spread_c < <(best spread.pgbench 2 4 8 16)
if $json; then
	printf '{"hot_payments_per_sec": %d, "hot_clients": %d, "spread_payments_per_sec": %d, "spread_clients": %d, "duration_s": %d}\n' \
		"$hot" "$hot_c" "$spread" "$spread_c" "$duration"
else
	echo "limit hot:    $hot payments/s (one commit each, one merchant, best at $hot_c clients)"
	echo "limit spread: $spread payments/s (one commit each, 1,000 merchants, best at $spread_c clients)"
fi
