package risk

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/qrpay/qrpay/testenv"
)

// BenchmarkEvaluate times one evaluation of a payment: the script call
// that counts it and reads the counters, and the rules.
func BenchmarkEvaluate(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	e := NewEngine(rdb, prefix, DefaultThresholds())
	ctx := context.Background()
	now := time.Now()
	b.ResetTimer()
	for i := range b.N {
		w := strconv.Itoa(i % 1000)
		if _, _, err := e.Evaluate(ctx, Facts{Kind: Payment, WalletID: "w" + w, CardID: "c" + w, MerchantID: "m",
			Amount: 1200, Key: strconv.Itoa(i), Now: now, CardBoundAt: now.Add(-48 * time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
}
