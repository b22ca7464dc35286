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

cpu=$(mktemp)
trap 'rm -f "$cpu"' EXIT
# best SCRIPT CLIENTS...: the best rate, its clients, and the CPU that
# PostgreSQL and pgbench used per payment in that run (ms; ../cpu.py samples
# all but the run's first and last second).
best() {
	local script=$1 best=0 at=0 pg=0 client=0
	shift
	for c in "$@"; do
		local tps
		../cpu.py "$(( duration - 2 ))" 0 >"$cpu" &
		local sampler=$!
		tps=$(pgbench -n -M prepared -c "$c" -j "$(( c < 2 ? c : 2 ))" -T "$duration" -f "$script" "$db" 2>/dev/null \
			| awk '/^tps = / {printf "%d", $3}')
		wait $sampler || true
		if [ "${tps:-0}" -gt "$best" ]; then
			best=$tps at=$c
			read -r pg client < <(python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); n = int(sys.argv[2]) * c["window_s"]
print("%.2f %.2f" % (1000 * c["postgres"] / n, 1000 * c["pgbench"] / n))' "$cpu" "$tps")
		fi
	done
	echo "$best $at $pg $client"
}
read -r hot hot_c hot_pg hot_client < <(best hot.pgbench 1 2 4 8)
read -r spread spread_c spread_pg spread_client < <(best spread.pgbench 2 4 8 16)
if $json; then
	printf '{"hot_payments_per_sec": %d, "hot_clients": %d, "spread_payments_per_sec": %d, "spread_clients": %d, "duration_s": %d, ' \
		"$hot" "$hot_c" "$spread" "$spread_c" "$duration"
	printf '"hot_cpu_ms": {"postgres": %s, "pgbench": %s}, "spread_cpu_ms": {"postgres": %s, "pgbench": %s}}\n' \
		"$hot_pg" "$hot_client" "$spread_pg" "$spread_client"
else
	echo "limit hot:    $hot payments/s (one commit each, one merchant, best at $hot_c clients);" \
		"CPU per payment: PostgreSQL $hot_pg ms, pgbench $hot_client ms"
	echo "limit spread: $spread payments/s (one commit each, 1,000 merchants, best at $spread_c clients);" \
		"CPU per payment: PostgreSQL $spread_pg ms, pgbench $spread_client ms"
fi
