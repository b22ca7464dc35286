package risk

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/qrpay/qrpay/testenv"
)

func TestEngineCounts(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	e := NewEngine(rdb, prefix, DefaultThresholds())
	ctx := context.Background()
	at := time.Now()
	pay := func(key, merchant string, amount int64) (Decision, Counters) {
		t.Helper()
		d, c, err := e.Evaluate(ctx, Facts{Kind: Payment, WalletID: "w1", CardID: "c1", MerchantID: merchant, Amount: amount,
			Key: key, Now: at, CardBoundAt: at.Add(-48 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return d, c
	}
	for i := range 5 {
		if d, c := pay(fmt.Sprint("k", i), "m1", 3000); d.Outcome != Allow || c.CardPayments != int64(i+1) {
			t.Fatalf("payment %d: %v, %d payments; want allow, %d", i, d.Outcome, c.CardPayments, i+1)
		}
	}
	// A retry under the same key counts once.
	if _, c := pay("k4", "m1", 3000); c.CardPayments != 5 || c.Amounts != 5 {
		t.Errorf("retry: %d payments, %d amounts; want 5, 5", c.CardPayments, c.Amounts)
	}
	if d, _ := pay("k5", "m2", 3000); d.Outcome != StepUp || d.Findings[0].Rule != "card_velocity" {
		t.Errorf("6th payment: %+v; want a velocity step-up", d)
	}
	// A minute later the window is empty again.
	at = at.Add(61 * time.Second)
	if d, c := pay("k6", "m3", 3000); d.Outcome != Allow || c.CardPayments != 1 || c.CardMerchants != 3 {
		t.Errorf("a minute later: %v, %d payments, %d merchants; want allow, 1, 3", d.Outcome, c.CardPayments, c.CardMerchants)
	}
	// Declines are counted apart, once per key.
	for _, k := range []string{"d1", "d2", "d2", "d3"} {
		if err := e.Declined(ctx, "w1", k, at); err != nil {
			t.Fatal(err)
		}
	}
	if d, c := pay("k7", "m3", 3000); c.Declines != 3 || d.Outcome != StepUp {
		t.Errorf("after 3 declines: %v, %d declines; want step_up, 3", d.Outcome, c.Declines)
	}
	if n, _ := testenv.Keys(ctx, rdb, prefix+"risk:{w1}:*"); len(n) != 4 {
		t.Errorf("keys = %v; want the wallet's 4 under one hash tag", n)
	}
}

// TestStatistic checks the script's incremental mean and variance against
// the same recurrence computed here, and that an outlier is folded in
// clamped.
func TestStatistic(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	th := DefaultThresholds()
	th.CardPaymentsPerMinute, th.CardPaymentsDecline = 0, 0
	e := NewEngine(rdb, prefix, th)
	ctx := context.Background()
	amounts := []int64{2500, 3100, 2800, 4000, 1900, 3300, 2700}
	var n int64
	var mean, variance float64
	for i, a := range amounts {
		_, c, err := e.Evaluate(ctx, Facts{Kind: Transfer, WalletID: "w2", Amount: a, Key: fmt.Sprint("t", i), Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if c.Amounts != n || math.Abs(c.Mean-mean) > 1e-12 || math.Abs(c.Var-variance) > 1e-12 {
			t.Fatalf("before amount %d: n, mean, var = %d, %g, %g; want %d, %g, %g", i, c.Amounts, c.Mean, c.Var, n, mean, variance)
		}
		x := math.Log(float64(a))
		if n == 0 {
			mean = x
		} else {
			d := x - mean
			mean += 0.1 * d
			variance = 0.9 * (variance + 0.1*d*d)
		}
		n++
	}
	d, c, err := e.Evaluate(ctx, Facts{Kind: Transfer, WalletID: "w2", Amount: 1_000_000, Key: "big", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if d.Outcome != StepUp || d.Findings[0].Rule != "unusual_amount" {
		t.Errorf("1,000,000 after ~3,000s: %+v; want an unusual amount step-up", d)
	}
	_, after, err := e.Evaluate(ctx, Facts{Kind: Transfer, WalletID: "w2", Amount: 3000, Key: "next", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	capped := c.Mean + 0.1*(th.AmountZ*math.Max(math.Sqrt(c.Var), StdFloor))
	if math.Abs(after.Mean-capped) > 1e-9 {
		t.Errorf("mean after the outlier = %g; want it folded in clamped: %g", after.Mean, capped)
	}
}
