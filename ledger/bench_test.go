package ledger_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/testenv"
)

// BenchmarkPostHotAccount posts payments from many wallets to one merchant
// account — the hot-merchant shape — with 64 concurrent callers, once per
// batch size. A payment per commit serialises on the merchant row; batches
// amortise the lock and the WAL flush. Run with:
//
//	go test -run '^$' -bench PostHotAccount -benchtime 20000x ./ledger/
func BenchmarkPostHotAccount(b *testing.B) {
	for _, batch := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			pool := testenv.Postgres(b)
			ctx := context.Background()
			l := ledger.New(pool, ledger.Options{MaxBatch: batch, Committers: 4})
			defer l.Close()
			merchant, _ := ledger.CreateAccount(ctx, pool, "merchant:hot", ledger.Merchant, "CNY")
			clearing, _ := ledger.CreateAccount(ctx, pool, "issuer", ledger.Clearing, "CNY")
			wallets := make([]ledger.Account, 256)
			for i := range wallets {
				wallets[i], _ = ledger.CreateAccount(ctx, pool, fmt.Sprint("wallet:", i), ledger.Wallet, "CNY")
				if _, err := l.Post(ctx, move(clearing.ID, wallets[i].ID, 1<<40, uuid.NewString())); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			b.SetParallelism(32) // 64 callers on 2 CPUs
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					w := wallets[i%int64(len(wallets))]
					if _, err := l.Post(ctx, move(w.ID, merchant.ID, 100, fmt.Sprint("p", i))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payments/s")
		})
	}
}
