package settlement_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/settlement"
	"github.com/qrpay/qrpay/testenv"
)

// BenchmarkSettleMillion settles one business day of 1,000 merchants ×
// 1,000 payments (1M detail rows) and reports the time and the peak Go
// heap, which stays flat because rows stream from the database into the
// files. The day is seeded straight into the tables (orders, transfers and
// postings as the pay path writes them); balances are not kept consistent,
// which settlement does not read. Run with:
//
//	go test -run '^$' -bench SettleMillion -benchtime 1x -timeout 30m ./settlement/
func BenchmarkSettleMillion(b *testing.B) {
	const merchants, perMerchant = 1000, 1000
	pool := testenv.Postgres(b)
	ctx := context.Background()
	day := "2026-02-02"
	start, _ := time.ParseInLocation(time.DateOnly, day, shanghai)
	seedStart := time.Now()
	for _, q := range []string{
		`INSERT INTO accounts (owner, kind, currency, allow_negative) VALUES ('wallet:bench', 'wallet', 'CNY', true), ('platform', 'fee', 'CNY', false)`,
		fmt.Sprintf(`INSERT INTO accounts (owner, kind, currency, allow_negative)
			SELECT 'merchant:' || g, k, 'CNY', true FROM generate_series(1, %d) g, unnest(ARRAY['merchant', 'payout']) k`, merchants),
		`INSERT INTO merchants (id, code, name, city, mcc, country, currency, fee_bps, account_id, payout_account_id, created_at)
			SELECT gen_random_uuid(), 'B' || lpad(split_part(a.owner, ':', 2), 9, '0'), 'Bench ' || split_part(a.owner, ':', 2), 'Shanghai',
				'5814', 'CN', 'CNY', 60, a.id, p.id, '2026-02-02 00:00:00+08'
			FROM accounts a JOIN accounts p ON p.owner = a.owner AND p.kind = 'payout' WHERE a.kind = 'merchant'`,
		fmt.Sprintf(`CREATE TABLE seed AS
			SELECT g AS n, gen_random_uuid() AS tid, gen_random_uuid() AS oid, m.id AS merchant_id, m.account_id,
				100 + (g %% 9000) AS amount, $1::timestamptz + ((g::bigint * 86399 / %d) * interval '1 second') AS at
			FROM generate_series(0, %d) g
			JOIN (SELECT id, account_id, row_number() OVER (ORDER BY id) - 1 AS i FROM merchants) m ON m.i = g %% %d`,
			merchants*perMerchant, merchants*perMerchant-1, merchants),
		`INSERT INTO transfers (id, kind, currency, amount, idem_scope, idem_key, fingerprint, created_at, merchant_id, order_id)
			SELECT tid, 'payment', 'CNY', amount, 'wallet:bench', n::text, '\x00', at, merchant_id, oid FROM seed`,
		`INSERT INTO orders (id, merchant_id, merchant_order_no, ref, amount, currency, terminal_id, status, fee,
				card_masked, payment_id, expires_at, created_at, paid_at)
			SELECT oid, merchant_id, 'B-' || n, 'R' || n, amount, 'CNY', 'POS1', 'paid', (amount * 60 + 5000) / 10000,
				'**** 1111', tid, at + interval '15 minutes', at, at FROM seed`,
		`INSERT INTO postings (transfer_id, account_id, amount, balance_after, created_at)
			SELECT tid, account_id, amount - (amount * 60 + 5000) / 10000, 0, at FROM seed
			UNION ALL SELECT tid, (SELECT id FROM accounts WHERE kind = 'fee'), (amount * 60 + 5000) / 10000, 0, at FROM seed
				WHERE (amount * 60 + 5000) / 10000 > 0
			UNION ALL SELECT tid, (SELECT id FROM accounts WHERE kind = 'wallet'), -amount, 0, at FROM seed`,
		`DROP TABLE seed`,
		`ANALYZE`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, start)
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
	b.Logf("seeded %d payments in %v", merchants*perMerchant, time.Since(seedStart).Round(time.Second))

	db := postgres.NewDB(pool, postgres.DBOptions{})
	led := ledger.New(pool, ledger.Options{})
	defer led.Close()
	svc := settlement.New(settlement.Config{Location: shanghai, Now: func() time.Time { return start.AddDate(0, 0, 2) }},
		db, led, settlement.PGFiles{Pool: db})

	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	runtime.GC()
	b.ResetTimer()
	var out []settlement.Outcome
	for range b.N {
		pool.Exec(ctx, `DELETE FROM settlement_file_chunks`)
		pool.Exec(ctx, `DELETE FROM settlements`)
		pool.Exec(ctx, `DELETE FROM postings WHERE transfer_id IN (SELECT id FROM transfers WHERE kind = 'settlement')`)
		pool.Exec(ctx, `DELETE FROM transfers WHERE kind = 'settlement'`)
		var err error
		if out, err = svc.Run(ctx, day, "", false); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	var rows, files int64
	for _, o := range out {
		if o.Result == "settled" {
			files++
		}
	}
	pool.QueryRow(ctx, `SELECT coalesce(sum(payments_count), 0) FROM settlements WHERE status = 'settled'`).Scan(&rows)
	if files != merchants || rows != merchants*perMerchant {
		b.Fatalf("settled %d files with %d rows; want %d and %d", files, rows, merchants, merchants*perMerchant)
	}
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
