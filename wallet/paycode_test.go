package wallet

import (
	"testing"
	"time"

	"github.com/qrpay/qrpay/errs"
)

// The vectors of docs/payment-codes.md: seed 00 01 02 … 1f.
func TestPaymentCodeVectors(t *testing.T) {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	for _, tt := range []struct {
		idx, step int64
		want      string
	}{
		{1042, 58_800_000, "280001042067335342"},
		{1042, 58_800_001, "280001042111424099"},
		{1, 0, "280000001058342506"},
	} {
		if got := PaymentCode(seed, tt.idx, tt.step); got != tt.want {
			t.Errorf("PaymentCode(seed, %d, %d) = %s; want %s", tt.idx, tt.step, got, tt.want)
		}
	}
}

func TestParseCode(t *testing.T) {
	idx, digit, mac, err := parseCode("280001042067335342")
	if err != nil || idx != 1042 || digit != 0 || mac != 67335342 {
		t.Errorf("parseCode = %d, %d, %d, %v; want 1042, 0, 67335342", idx, digit, mac, err)
	}
	for _, bad := range []string{"", "28000104206733534", "2800010420673353420", "290001042067335342", "28000104206733534x",
		"28000104206733534\u0663", "+28001042067335342"} {
		if _, _, _, err := parseCode(bad); err == nil {
			t.Errorf("parseCode(%q) = nil error; want one", bad)
		}
	}
}

func TestCodeStepAt(t *testing.T) {
	at := time.Unix(1_764_000_000, 0)
	if got := CodeStepAt(at); got != 58_800_000 {
		t.Errorf("CodeStepAt(%v) = %d; want 58800000", at, got)
	}
	if got := CodeStepAt(at.Add(29 * time.Second)); got != 58_800_000 {
		t.Errorf("CodeStepAt(+29 s) = %d; want the same step", got)
	}
	if got := CodeStepAt(at.Add(30 * time.Second)); got != 58_800_001 {
		t.Errorf("CodeStepAt(+30 s) = %d; want the next step", got)
	}
}

func TestCodeFunding(t *testing.T) {
	for source, want := range map[string]string{string(FundingBalance): "", string(FundingCard): "",
		string(FundingBalanceThenCard): "", "": "invalid", "wallet": "invalid", "Card": "invalid"} {
		err := codeFunding(source)
		got := ""
		if err != nil {
			got = string(errs.CodeOf(err))
		}
		if got != want {
			t.Errorf("codeFunding(%q) = %v; want %q", source, err, want)
		}
	}
}
