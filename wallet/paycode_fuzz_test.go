package wallet

import (
	"fmt"
	"testing"

	"github.com/qrpay/qrpay/errs"
)

// wellFormed is what a payment code looks like, said independently of
// parseCode: 18 ASCII digits starting with the prefix.
func wellFormed(code string) bool {
	if len(code) != CodeLength || code[:len(CodePrefix)] != CodePrefix {
		return false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// FuzzParseCode reads any text as a payment code, as a charge does with
// what a POS scanned: it never panics; it accepts exactly the well-formed
// codes, and refuses the rest as bad input; what it accepts re-encodes to
// the same text, with a key index, step digit and MAC in their ranges; and
// the step digit names one of the last ten steps at any time.
func FuzzParseCode(f *testing.F) {
	f.Add("280001042067335342", int64(58_800_000))
	f.Add("", int64(0))
	f.Add("2899999999999999999", int64(1))
	f.Fuzz(func(t *testing.T, code string, now int64) {
		idx, digit, mac, err := parseCode(code)
		if want := wellFormed(code); (err == nil) != want {
			t.Fatalf("parseCode(%q) = %v; want accepted %v", code, err, want)
		}
		if verr := ValidCodeFormat(code); (verr == nil) != (err == nil) {
			t.Fatalf("ValidCodeFormat(%q) = %v; parseCode says %v", code, verr, err)
		}
		if err != nil {
			if errs.CodeOf(err) != errs.Invalid {
				t.Fatalf("parseCode(%q) = %v; want an %s error", code, err, errs.Invalid)
			}
			return
		}
		if idx < 0 || idx > maxCodeIndex || digit < 0 || digit > 9 || mac >= codeMACModulo {
			t.Fatalf("parseCode(%q) = %d, %d, %d; out of range", code, idx, digit, mac)
		}
		if again := CodePrefix + fmt.Sprintf("%0*d%d%0*d", codeIndexLen, idx, digit, codeMACLen, mac); again != code {
			t.Fatalf("parseCode(%q) = %d, %d, %d, which encode as %q", code, idx, digit, mac, again)
		}
		if now < 0 {
			now = -(now + 1) // time steps are counted from 1970
		}
		step, back := codeStepOf(now, digit)
		if back < 0 || back > 9 || step != now-back || (step%10+10)%10 != digit {
			t.Fatalf("codeStepOf(%d, %d) = %d, %d; want the step ending in %d of the last ten", now, digit, step, back, digit)
		}
	})
}

// FuzzPaymentCode makes the code of any seed, key index and time step, as
// a phone does: it is well formed and parses back to its key index, the
// last digit of its step and its MAC; during its own step and the nine
// after, its digit names its step.
func FuzzPaymentCode(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3}, int64(1042), int64(58_800_000), uint8(1))
	f.Add([]byte{}, int64(0), int64(0), uint8(0))
	f.Add(make([]byte, 64), int64(maxCodeIndex), int64(1<<62), uint8(9))
	f.Fuzz(func(t *testing.T, seed []byte, idx, step int64, later uint8) {
		idx = int64(uint64(idx) % (maxCodeIndex + 1))
		step = int64(uint64(step) >> 1) // the Unix time in steps: not negative
		code := PaymentCode(seed, idx, step)
		gotIdx, digit, mac, err := parseCode(code)
		if err != nil || !wellFormed(code) {
			t.Fatalf("PaymentCode(%x, %d, %d) = %q, which parseCode refuses: %v", seed, idx, step, code, err)
		}
		if gotIdx != idx || digit != step%10 || mac != codeMAC(seed, idx, step) {
			t.Fatalf("parseCode(%q) = %d, %d, %d; want %d, %d, %d", code, gotIdx, digit, mac, idx, step%10, codeMAC(seed, idx, step))
		}
		back := int64(later % 10)
		if step > (1<<63-1)-back {
			return
		}
		if got, gotBack := codeStepOf(step+back, digit); got != step || gotBack != back {
			t.Fatalf("codeStepOf(%d, %d) = %d, %d; want the code's step %d, %d back", step+back, digit, got, gotBack, step, back)
		}
	})
}
