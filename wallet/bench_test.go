package wallet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/testenv"
)

// The bills benchmarks run against one wallet with benchMovements movements
// spread over the last 365 days, among other wallets' postings, in a fresh
// schema each. Seeding writes the ledger's tables directly (a few seconds);
// through the API it would take minutes. Run them with
//
//	go test -run '^$' -bench 'History|Statement|Analysis' -benchtime=2s ./wallet/
const (
	benchMovements = 100_000
	benchNoise     = 50_000 // top-ups of 500 other wallets, interleaved in time
)

// seedBills writes n movements of one wallet straight into accounts,
// transfers and postings: every tenth a top-up (+20000), then a transfer out
// (−2000), a transfer in (+1000), six payments at 20 merchants of different
// MCCs (−100 to −2099), and a refund (+500) of the payment before it. The
// balance never goes negative, each posting's balance_after is the running
// sum of its account, ids and created_at grow together, and transfer ids
// are time-ordered like the ledger's UUIDv7. The ledger checks out.
func seedBills(tb testing.TB, pool *pgxpool.Pool, n, noise int) (*Service, Principal) {
	tb.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, q := range []string{
		`INSERT INTO accounts (owner, kind, currency, allow_negative, created_at)
		SELECT 'wallet:bench', 'wallet', 'CNY', false, now() - interval '400 days'
		UNION ALL SELECT 'wallet:friend', 'wallet', 'CNY', false, now() - interval '400 days'
		UNION ALL SELECT 'issuer', 'clearing', 'CNY', true, now() - interval '400 days'
		UNION ALL SELECT 'merchant:' || m, 'merchant', 'CNY', true, now() - interval '400 days' FROM generate_series(0, 19) m
		UNION ALL SELECT 'wallet:other' || w, 'wallet', 'CNY', false, now() - interval '400 days' FROM generate_series(0, 499) w`,

		`CREATE TEMP TABLE seed ON COMMIT DROP AS
		SELECT g, kind, amount, created_at, merchant,
			(lpad(to_hex((extract(epoch FROM created_at) * 1000)::bigint), 12, '0') || '7' ||
				substr(md5('b' || g), 1, 3) || '8' || substr(md5('b' || g), 4, 15))::uuid AS id
		FROM (SELECT g,
			CASE (g - 1) % 10 WHEN 0 THEN 'topup' WHEN 1 THEN 'transfer' WHEN 2 THEN 'transfer' WHEN 9 THEN 'refund' ELSE 'payment' END AS kind,
			CASE (g - 1) % 10 WHEN 0 THEN 20000 WHEN 1 THEN -2000 WHEN 2 THEN 1000 WHEN 9 THEN 500
				ELSE -((g * 37) % 2000 + 100) END::bigint AS amount,
			now() - ($1 - g) * (interval '365 days' / $1) AS created_at,
			(CASE WHEN (g - 1) % 10 = 9 THEN g - 1 ELSE g END * 7) % 20 AS merchant
			FROM generate_series(1, $1::int) g) s`,

		`INSERT INTO transfers (id, kind, currency, amount, idem_scope, idem_key, fingerprint, metadata, created_at,
			merchant_id, mcc, order_id)
		SELECT id, kind, 'CNY', abs(amount), 'wallet:bench', 'seed-' || g, '\x00', CASE
			WHEN kind = 'topup' THEN jsonb_build_object('card', '**** 1111')
			WHEN kind = 'transfer' AND amount < 0 THEN jsonb_build_object('to_phone', '+86139****0001', 'from_phone', '+86138****0000')
			WHEN kind = 'transfer' THEN jsonb_build_object('from_phone', '+86139****0001', 'to_phone', '+86138****0000', 'note', 'rent')
			ELSE jsonb_build_object('card', '**** 1111', 'merchant', 'Merchant ' || merchant)
			END, created_at,
			CASE WHEN kind IN ('payment', 'refund') THEN md5('merchant-' || merchant)::uuid END,
			CASE WHEN kind IN ('payment', 'refund') THEN (ARRAY['5814','5411','4111','4511','5541','5651','7832','8062','8220','4900',
				'5815','7230','9311','6011','5999','5812','5912','4121','7011','5732'])[merchant + 1] END,
			CASE WHEN kind IN ('payment', 'refund') THEN md5('order-' || CASE WHEN kind = 'refund' THEN g - 1 ELSE g END)::uuid END
		FROM seed`,

		`INSERT INTO postings (transfer_id, account_id, amount, balance_after, created_at)
		SELECT id, account, amount, sum(amount) OVER (PARTITION BY account ORDER BY g, side), created_at FROM (
			SELECT s.g, 0 AS side, s.id, (SELECT id FROM accounts WHERE owner = 'wallet:bench') AS account, s.amount, s.created_at
			FROM seed s
			UNION ALL
			SELECT s.g, 1, s.id, a.id, -s.amount, s.created_at FROM seed s JOIN accounts a ON a.owner = CASE
				WHEN s.kind = 'topup' THEN 'issuer' WHEN s.kind = 'transfer' THEN 'wallet:friend' ELSE 'merchant:' || s.merchant END
		) x ORDER BY g, side`,

		`CREATE TEMP TABLE noise ON COMMIT DROP AS
		SELECT g, 'wallet:other' || (g % 500) AS owner, ((g * 13) % 5000 + 100)::bigint AS amount, created_at,
			(lpad(to_hex((extract(epoch FROM created_at) * 1000)::bigint), 12, '0') || '7' ||
				substr(md5('n' || g), 1, 3) || '8' || substr(md5('n' || g), 4, 15))::uuid AS id
		FROM (SELECT g, now() - ($1 - g) * (interval '365 days' / greatest($1, 1)) AS created_at FROM generate_series(1, $1::int) g) s`,

		`INSERT INTO transfers (id, kind, currency, amount, idem_scope, idem_key, fingerprint, metadata, created_at)
		SELECT id, 'topup', 'CNY', amount, owner, 'noise-' || g, '\x00', '{"card": "**** 4444"}', created_at FROM noise`,

		`INSERT INTO postings (transfer_id, account_id, amount, balance_after, created_at)
		SELECT id, account, amount, sum(amount) OVER (PARTITION BY account ORDER BY g, side), created_at FROM (
			SELECT n.g, 0 AS side, n.id, a.id AS account, n.amount, n.created_at FROM noise n JOIN accounts a ON a.owner = n.owner
			UNION ALL
			SELECT n.g, 1, n.id, (SELECT id FROM accounts WHERE owner = 'issuer'), -n.amount, n.created_at FROM noise n
		) x ORDER BY created_at, g, side`,

		`UPDATE accounts a SET balance = s.total
		FROM (SELECT account_id, sum(amount) AS total FROM postings GROUP BY account_id) s WHERE s.account_id = a.id`,
	} {
		var args []any
		switch {
		case strings.Contains(q, "TABLE noise"):
			args = []any{noise}
		case strings.Contains(q, "$1"):
			args = []any{n}
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			tb.Fatalf("seed: %v\n%s", err, q)
		}
	}
	var p Principal
	if err := tx.QueryRow(ctx, `SELECT id FROM accounts WHERE owner = 'wallet:bench'`).Scan(&p.AccountID); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
	// What autovacuum would have done by now: statistics, and the
	// visibility map that index-only scans rely on.
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE accounts, transfers, postings`); err != nil {
		tb.Fatal(err)
	}
	p.WalletID = "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		tb.Fatal(err)
	}
	return &Service{cfg: Config{Currency: "CNY", Location: loc, Now: time.Now}, pool: postgres.NewDB(pool, postgres.DBOptions{}), log: slog.New(slog.DiscardHandler)}, p
}

func benchWallet(b *testing.B) (*Service, Principal) {
	b.Helper()
	start := time.Now()
	s, p := seedBills(b, testenv.Postgres(b), benchMovements, benchNoise)
	b.Logf("seeded %d movements (+%d other) in %s", benchMovements, benchNoise, time.Since(start).Round(time.Millisecond))
	return s, p
}

// tracer records the queries a service runs.
type tracer struct {
	mu      sync.Mutex
	queries []pgx.TraceQueryStartData
}

func (t *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	t.mu.Lock()
	t.queries = append(t.queries, d)
	t.mu.Unlock()
	return ctx
}

func (t *tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// explain runs call once on a copy of s whose queries are recorded, then
// logs EXPLAIN ANALYZE of each (run twice, so the cache is warm) and checks
// that the plans use the indexes named in want: the benchmark shows the
// plan it times.
func explain(b *testing.B, s *Service, call func(s *Service) error, want ...string) {
	b.Helper()
	ctx := context.Background()
	cfg := s.pool.Pool().Config()
	tr := &tracer{}
	cfg.ConnConfig.Tracer = tr
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	traced := &Service{cfg: s.cfg, pool: postgres.NewDB(pool, postgres.DBOptions{}), log: s.log}
	if err := call(traced); err != nil {
		b.Fatal(err)
	}
	var plans strings.Builder
	for _, q := range tr.queries {
		verb := strings.ToUpper(strings.Fields(q.SQL)[0])
		if verb != "SELECT" && verb != "WITH" {
			continue
		}
		var plan string
		for range 2 {
			rows, err := s.pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+q.SQL, q.Args...)
			if err != nil {
				b.Fatalf("explain %s: %v", q.SQL, err)
			}
			plan = ""
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					b.Fatal(err)
				}
				plan += line + "\n"
			}
			rows.Close()
		}
		fmt.Fprintf(&plans, "%s\n%s\n", strings.Join(strings.Fields(q.SQL), " "), plan)
	}
	b.Logf("plans:\n%s", plans.String())
	for _, index := range want {
		if !strings.Contains(plans.String(), index) {
			b.Errorf("no plan uses %s", index)
		}
	}
}

// pastMonth is the month three months back: complete, with ~8,300 movements.
func pastMonth(s *Service) string {
	now := time.Now().In(s.cfg.Location)
	return time.Date(now.Year(), now.Month()-3, 1, 0, 0, 0, 0, s.cfg.Location).Format("2006-01")
}

func BenchmarkHistoryFirstPage(b *testing.B) {
	s, p := benchWallet(b)
	ctx := context.Background()
	explain(b, s, func(s *Service) error { _, err := s.History(ctx, p, HistoryQuery{Limit: 20}); return err },
		"Index Only Scan Backward using postings_account_history")
	for b.Loop() {
		page, err := s.History(ctx, p, HistoryQuery{Limit: 20})
		if err != nil || len(page.Data) != 20 {
			b.Fatalf("history = %d items, %v", len(page.Data), err)
		}
	}
}

func BenchmarkHistoryPageDeepFiltered(b *testing.B) {
	s, p := benchWallet(b)
	ctx := context.Background()
	first, err := s.History(ctx, p, HistoryQuery{Limit: 100})
	if err != nil {
		b.Fatal(err)
	}
	// Half a year back, refunds only, one month of dates.
	from := time.Now().In(s.cfg.Location).AddDate(0, -6, 0)
	q := HistoryQuery{Limit: 20, StartingAfter: first.NextCursor, Types: []string{TypeRefund},
		From: from.Format(time.DateOnly), To: from.AddDate(0, 1, 0).Format(time.DateOnly)}
	explain(b, s, func(s *Service) error { _, err := s.History(ctx, p, q); return err },
		"Index Only Scan Backward using postings_account_history")
	for b.Loop() {
		page, err := s.History(ctx, p, q)
		if err != nil || len(page.Data) != 20 {
			b.Fatalf("history = %d items, %v", len(page.Data), err)
		}
	}
}

func BenchmarkStatementMonth(b *testing.B) {
	s, p := benchWallet(b)
	ctx := context.Background()
	month := pastMonth(s)
	// The first statement computes the month's days and stores them; the
	// plans are those of the second, which the loop times.
	if _, err := s.Statement(ctx, p, month, nil); err != nil {
		b.Fatal(err)
	}
	explain(b, s, func(s *Service) error { _, err := s.Statement(ctx, p, month, nil); return err },
		"Index Only Scan Backward using postings_account_time", "wallet_statement_days_pkey")
	for b.Loop() {
		st, err := s.Statement(ctx, p, month, nil)
		if err != nil || st.Movements < 8000 {
			b.Fatalf("statement = %d movements, %v", st.Movements, err)
		}
	}
}

func BenchmarkStatementCurrentMonth(b *testing.B) {
	s, p := benchWallet(b)
	ctx := context.Background()
	month := time.Now().In(s.cfg.Location).Format("2006-01")
	for b.Loop() {
		if _, err := s.Statement(ctx, p, month, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatementMonthFromLedger is a month's statement without the
// stored days: what the first statement of a month costs.
func BenchmarkStatementMonthFromLedger(b *testing.B) {
	s, p := benchWallet(b)
	ctx := context.Background()
	month := pastMonth(s)
	explain(b, s, func(s *Service) error { _, err := s.statement(ctx, p, month, nil, false); return err },
		"Index Only Scan using postings_account_time")
	for b.Loop() {
		if _, err := s.statement(ctx, p, month, nil, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStatementMonthCSV(b *testing.B) {
	s, p := benchWallet(b)
	ctx := context.Background()
	month := pastMonth(s)
	for b.Loop() {
		if _, err := s.Statement(ctx, p, month, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnalysisMonth(b *testing.B) {
	s, p := benchWallet(b)
	ctx := context.Background()
	month := pastMonth(s)
	m, _ := time.ParseInLocation("2006-01", month, s.cfg.Location)
	q := AnalysisQuery{From: m.Format(time.DateOnly), To: m.AddDate(0, 1, -1).Format(time.DateOnly), Top: 5}
	for b.Loop() {
		a, err := s.Analysis(ctx, p, q)
		if err != nil || a.Spending.PaymentCount < 4000 {
			b.Fatalf("analysis = %+v, %v", a.Spending, err)
		}
	}
}
