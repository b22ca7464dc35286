package merchant

import "testing"

func TestFee(t *testing.T) {
	tests := []struct {
		amount int64
		bps    int
		want   int64
	}{
		{10000, 60, 60},
		{1, 60, 0},   // 0.006 rounds down
		{84, 60, 1},  // 0.504 rounds up
		{83, 60, 0},  // 0.498 rounds down
		{250, 20, 1}, // exactly 0.5 rounds up
		{249, 20, 0}, // 0.498
		{1200, 0, 0}, // no fee
		{1200, 10000, 1200},
		{1_000_000_000_000_000, 60, 6_000_000_000_000},
	}
	for _, tt := range tests {
		if got := Fee(tt.amount, tt.bps); got != tt.want {
			t.Errorf("Fee(%d, %d) = %d; want %d", tt.amount, tt.bps, got, tt.want)
		}
	}
}

func TestRefundFeeAddsUp(t *testing.T) {
	const amount = 1001
	fee := Fee(amount, 60) // 6.006 → 6
	var refunded, feeBack int64
	for _, part := range []int64{1, 333, 333, 167, 167} {
		feeBack += RefundFee(amount, fee, refunded, part)
		refunded += part
		if feeBack > fee {
			t.Fatalf("after refunding %d, fee returned %d exceeds the fee %d", refunded, feeBack, fee)
		}
	}
	if refunded != amount || feeBack != fee {
		t.Errorf("refunded %d with %d of fee back; want %d with all %d", refunded, feeBack, amount, fee)
	}
	if got := RefundFee(10000, 60, 0, 5000); got != 30 {
		t.Errorf("RefundFee(10000, 60, 0, 5000) = %d; want 30", got)
	}
}
